"""`make_link`: the only way to get a robot, and `choose_robot`: what `--robot auto` means here.

Every link is built the same way, `Link(config: RobotConfig, clock)`, from the section of the robot config
its `kind` names (`ros2:`/`camera:`, `sim:`, `fake:`), and clamps to the same `limits`. The ROS 2 and
MuJoCo modules are imported only for the kind asked for, so a machine without rclpy or MuJoCo can still
drive the others. `--robot auto` drives the real robot when ROS 2 is sourced and rclpy imports, else the
simulator, and always says which it chose and why: falling back to the simulator must never look like driving the robot.
This module must not import textual.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from configs import ConfigError
from mvla_tui.robot.config import ROBOT_KINDS, RobotConfig, load_robot_config
from mvla_tui.robot.link import RobotLink

ROBOT_CHOICES = ("auto", *ROBOT_KINDS)


@dataclass(frozen=True)
class RobotChoice:
    kind: str  # "ros2", "sim" or "fake"
    reason: str  # one line for the operator, e.g. "sim — no ROS 2 found; source ..."


def ros_found(environ: Mapping[str, str] | None = None) -> tuple[bool, str]:
    """(whether `--robot auto` drives the robot, why): ROS 2 must be sourced (`ROS_DISTRO`, set by its
    setup.bash) and rclpy import. rclpy alone (the test wheels of the `ros-test` extra in a development
    environment) is not a robot, and starting DDS there would reach out on the host's network."""
    env = os.environ if environ is None else environ
    distro = env.get("ROS_DISTRO")
    rclpy = importlib.util.find_spec("rclpy") is not None
    if distro and rclpy:
        return True, f"ROS 2 {distro} sourced"
    if rclpy:
        return False, "rclpy imports but ROS 2 is not sourced (no ROS_DISTRO)"
    if distro:
        return False, f"ROS_DISTRO={distro} but rclpy does not import"
    return False, "no ROS 2 found"


def choose_robot(choice: str, ros: Callable[[], tuple[bool, str]] | None = None) -> RobotChoice:
    """Resolve `--robot` (auto|ros2|sim|fake) to a link kind, with the line to show the operator."""
    if choice not in ROBOT_CHOICES:
        raise ConfigError(f"--robot {choice!r}: use one of {', '.join(ROBOT_CHOICES)}")
    if choice != "auto":
        return RobotChoice(choice, f"{choice} — as asked (--robot {choice})")
    found, why = (ros or ros_found)()
    if found:
        return RobotChoice("ros2", f"ros2 — {why} (--robot auto); use --robot sim to drive the simulator")
    return RobotChoice(
        "sim", f"sim — {why}; source /opt/ros/humble/setup.bash to drive the robot (--robot auto)"
    )


def robot_config_for(
    choice: RobotChoice, config: str | None = None, overrides: list[str] | None = None
) -> RobotConfig:
    """The robot config of a choice: the packaged one of its kind, or `config` (a YAML path) whose `kind`
    must agree; `overrides` are `--set key=value` items."""
    loaded = load_robot_config(config or choice.kind, overrides)
    if loaded.kind != choice.kind:
        raise ConfigError(
            f"{config}: says kind {loaded.kind!r} but --robot chose {choice.kind!r}; make them agree"
        )
    return loaded


def make_link(config: RobotConfig, clock: Callable[[], float] = time.monotonic) -> RobotLink:
    """A link of `config.kind`, not yet connected."""
    if config.kind == "fake":
        from mvla_tui.robot.fake import FakeLink

        return FakeLink(config, clock)
    if config.kind == "sim":
        if importlib.util.find_spec("mujoco") is None:
            raise ConfigError(
                "the simulator needs MuJoCo: install the 'sim' extra (pip install 'mobile-vla[sim]')"
            )
        from mvla_tui.sim.link import SimLink

        return SimLink(config, clock)
    if config.kind == "ros2":
        from mvla_tui.robot.ros2 import Ros2Link

        return Ros2Link(config, clock)
    raise ConfigError(f"robot kind {config.kind!r}: use one of {', '.join(ROBOT_KINDS)}")
