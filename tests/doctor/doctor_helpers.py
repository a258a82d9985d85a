"""What the doctor tests share: a quiet machine (a fake root with no GPU, no sensors), short waits, and a
lookup of one line of the report by name."""

from __future__ import annotations

from pathlib import Path

from mvla_tui.doctor import Check, DoctorRequest, Machine, diagnose
from mvla_tui.robot.config import RobotConfig

FAST = {"timeout_s": 0.3, "window_s": 0.3}  # every ROS 2 wait and the camera's rate window


def quiet_machine(root: Path, **kwargs) -> Machine:
    """A machine with nothing but what a test puts under `root` (no GPU, no jtop, no sensors)."""
    root.mkdir(parents=True, exist_ok=True)
    defaults = {"environ": {}, "tensorrt_version": lambda: None, "cwd": root}
    return Machine(root=root, **{**defaults, **kwargs})


def run(config: RobotConfig, machine: Machine, **request) -> list[Check]:
    return diagnose(DoctorRequest(config, **{**FAST, **request}), machine)


def line(checks: list[Check], name: str) -> Check:
    found = [c for c in checks if c.name == name]
    assert len(found) == 1, f"expected one {name!r} line in {[c.name for c in checks]}"
    return found[0]
