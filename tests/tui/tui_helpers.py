"""The app on the fake robot with fixed telemetry, for Pilot and snapshot tests, and the operator's
typing."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from mvla_tui.app import MvlaApp
from mvla_tui.core.session import Session
from mvla_tui.robot.config import PolicyDriveConfig, RobotConfig, TeleopConfig
from mvla_tui.robot.fake import FakeLink
from mvla_tui.telemetry import ORIN_NX_SAMPLE, FixedTelemetry

FIXED_TIME = time.struct_time((2026, 12, 3, 12, 0, 0, 3, 337, 0))


def make_app(
    data_dir: Path | None = None,
    *,
    runtime=None,
    clock: Callable[[], float] = time.monotonic,
    resume_s: float = 1.5,
    sample_interval_s: float = 3600.0,
    mode: str = "step",
    deadman_s: float = 0.5,
) -> tuple[MvlaApp, Session, FakeLink]:
    policy = PolicyDriveConfig(device="cpu")
    policy.hybrid.resume_s = resume_s
    teleop = TeleopConfig(mode=mode, step_s=0.4, settle_s=0.15, deadman_s=deadman_s)
    config = RobotConfig(kind="fake", teleop=teleop, policy=policy)
    link = FakeLink(config, clock)
    session = Session(
        config, link=link, link_reason="fake — as asked (--robot fake)", data_dir=data_dir, clock=clock
    )
    app = MvlaApp(
        session,
        FixedTelemetry(ORIN_NX_SAMPLE),
        graphics=False,
        sample_interval_s=sample_interval_s,
        log_clock=lambda: FIXED_TIME,
    )
    if runtime is not None:
        session.worker.adopt(runtime, getattr(runtime, "label", "tiny compact (untrained)"))
    return app, session, link


async def type_command(pilot, line: str) -> None:
    """Type `line` into the policy panel's command line as the operator does: `i` focuses it (unless it has
    the focus already), the keys, then enter."""
    command = pilot.app.policy_panel.command
    if pilot.app.focused is not command:
        await pilot.press("i")
    await pilot.press(*line, "enter")


async def wait_for(
    pilot, predicate: Callable[[], bool], timeout_s: float = 20.0, what: str = "condition"
) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)
