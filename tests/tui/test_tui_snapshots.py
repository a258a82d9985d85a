"""Snapshots of the dashboard in the states an operator sees most (pytest-textual-snapshot, Textual pinned
in pyproject.toml). Deterministic: the fake robot on a clock the test moves by hand, fixed telemetry, a
fixed log clock, a scripted policy with a fixed latency, and no camera frames (which loop tick takes
one is a matter of thread timing; the camera panel has its own tests).
Update with `pytest tests/tui --snapshot-update` after looking at the difference report."""

from __future__ import annotations

import time
from pathlib import Path

from mvla_tui.panels.policy import PolicyPanel
from tests.core.core_helpers import Clock, ScriptedRuntime
from tests.tui.tui_helpers import make_app

SIZE = (160, 48)


def _app(tmp_path: Path | None = None, runtime=None):
    clock = Clock(100.0)
    app, session, _ = make_app(tmp_path, runtime=runtime, clock=clock)
    app.frames.enabled = False  # which loop ticks catch a frame is a matter of thread timing
    return app, session, clock


async def _step(pilot, app, clock: Clock, predicate, what: str, seconds: float = 0.2) -> None:
    """Move the robot's clock (so the loop emits a new state) and wait until the screen shows it."""
    clock.t += seconds
    deadline = time.monotonic() + 20

    def shown() -> bool:  # the loop has run at the new time and the state says what we wait for
        state = app.state
        return (
            state is not None
            and state.robot.t == clock.t
            and app.monitor.sample is not None
            and predicate(state)
        )

    while not shown():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.02)
    await pilot.pause(0.1)


def test_dashboard_idle(snap_compare) -> None:
    """Idle on the fake robot, no data folder, no policy. A reviewer should see: the status bar saying
    `fake ok`, control manual and `no policy`;
    the teleop key map with mode step, throttle 50% and a zero twist; the recording panel asking for
    --data; the policy panel saying how to get a policy; fixed telemetry (Orin NX figures, GPU memory
    shared with the CPU); the log with the robot line; the footer with E-STOP first."""
    app, _, clock = _app()

    async def run_before(pilot) -> None:
        await _step(pilot, app, clock, lambda s: s.robot.running, "the control loop")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dashboard_recording(snap_compare, tmp_path: Path) -> None:
    """Recording 1box_left core medium after one `w`: the status bar shows `REC 2/18` in red, the
    recording panel `● REC 1box_left core medium  2/18 frames` with the guide's next key `w` and no
    mismatch, the teleop panel moving (teleop) at 0.575 m/s forward, the progress table all zero but
    counted; the footer offers save, save failed and discard, and dims `new episode`."""
    app, _, clock = _app(tmp_path)

    async def run_before(pilot) -> None:
        await _step(pilot, app, clock, lambda s: s.recording.progress_counted, "the folder count")
        await pilot.press("n", "1", "c", "k", "enter")
        await _step(pilot, app, clock, lambda s: s.recording.frames == 1, "frame 0")
        await pilot.press("w")
        await _step(pilot, app, clock, lambda s: s.recording.frames == 2 and s.robot.moving, "the press")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dashboard_estop(snap_compare) -> None:
    """E-stop latched while moving: the status bar's E-STOP in white on red with `ctrl+e clears`, the
    twist zero and the robot still, the log's error line; the footer offers `clear e-stop`."""
    app, _, clock = _app()

    async def run_before(pilot) -> None:
        await _step(pilot, app, clock, lambda s: s.robot.running, "the control loop")
        await pilot.press("w")
        await _step(pilot, app, clock, lambda s: s.robot.moving, "the press")
        await pilot.press("escape")
        await _step(pilot, app, clock, lambda s: s.robot.estop and not s.robot.moving, "the e-stop")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_dashboard_policy_running(snap_compare) -> None:
    """A (scripted) policy driving: control `policy` in the status bar and the policy panel, its label
    and device, the instruction typed, one step done with action ↑ [+0.50 +0.00 +0.00] and 3.0 ms latency,
    the teleop panel moving (policy), and the typed lines echoed in the output."""
    app, session, clock = _app(runtime=ScriptedRuntime([(0.5, 0.0, 0.0)]))

    async def run_before(pilot) -> None:
        await _step(pilot, app, clock, lambda s: bool(s.policy.label), "the policy")
        for line in ("navigate around the obstacle on the left side and reach the cup", "run"):
            app.policy_panel.say(f"> {line}", "bold")
            app.policy_panel.post_message(PolicyPanel.CommandEntered(line))
            await pilot.pause()  # the app obeys each line before the next is echoed
        await _step(pilot, app, clock, lambda s: s.policy.running and s.policy.steps == 1, "a policy step")

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
