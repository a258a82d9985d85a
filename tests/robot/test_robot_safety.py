"""Safety invariants that do not depend on a link: SIGHUP / SIGTERM stop the robot and end the loop (in a
child process whose fake robot logs what it was sent, and in-process), commands are clamped, clean-up is
never cut short, and a guard that cannot stop the robot ends the loop."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from configs.limits import LimitsConfig
from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.robot.safety import UnsafeCommandError, clamp_twist, install_signal_stop, run_every
from mvla_tui.robot.state import RobotState

CHILD = """
import sys
from pathlib import Path
from mvla_tui.robot.config import FakeConfig, RobotConfig, TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.robot.safety import install_signal_stop

link = FakeLink(RobotConfig(kind="fake", fake=FakeConfig(log_path=Path(sys.argv[1]))))
loop = ControlLoop(link, TeleopConfig(mode="latch"))
install_signal_stop(loop)
loop.submit(TeleopKey("w"))
loop.run(duration_s=60)
print("loop ended:", loop._quit_reason)
"""


def _log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_signal_in_a_child_process_stops_the_robot(tmp_path: Path, sig: signal.Signals) -> None:
    log = tmp_path / "sent.jsonl"
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not any(e["twist"][0] > 0 for e in _log(log)):
            assert child.poll() is None, "child died before moving"
            assert time.monotonic() < deadline, "child never moved the robot"
            time.sleep(0.02)
        child.send_signal(sig)
        out, _ = child.communicate(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 0
    assert f"loop ended: {sig.name} received" in out
    entries = _log(log)
    assert entries[-1]["twist"] == [0.0, 0.0, 0.0]
    first_stop = next(i for i, e in enumerate(entries) if e["kind"] == "stop")
    assert all(e["twist"] == [0.0, 0.0, 0.0] for e in entries[first_stop:])


def test_sigterm_in_process_stops_the_robot_and_restores_handlers() -> None:
    link = FakeLink()
    loop = ControlLoop(link, TeleopConfig(mode="latch"))
    before = signal.getsignal(signal.SIGTERM)
    restore = install_signal_stop(loop)
    try:
        thread = threading.Thread(target=loop.run, kwargs={"duration_s": 30.0})
        thread.start()
        loop.submit(TeleopKey("d"))
        deadline = time.monotonic() + 10
        while link.last_twist is None or link.last_twist.is_zero:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        thread.join(timeout=10)
    finally:
        restore()
    assert not thread.is_alive()
    assert link.last_twist == STOP and link.closed
    assert signal.getsignal(signal.SIGTERM) == before


def test_clamp_twist_limits_each_axis() -> None:
    limits = LimitsConfig(max_linear_x=0.5, max_linear_y=0.25, max_angular_z=1.0)
    assert clamp_twist(Twist(2.0, -2.0, 0.3), limits) == Twist(0.5, -0.25, 0.3)
    assert clamp_twist(Twist(-0.1, 0.1, -9.0), limits) == Twist(-0.1, 0.1, -1.0)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_clamp_twist_refuses_non_finite(value: float) -> None:
    with pytest.raises(UnsafeCommandError, match="not finite"):
        clamp_twist(Twist(0.0, value, 0.0), LimitsConfig())


def test_fake_link_refuses_non_finite_too() -> None:
    link = FakeLink()
    link.connect()
    with pytest.raises(UnsafeCommandError):
        link.send(Twist(math.nan, 0.0, 0.0))
    assert link.sent == []


def test_run_every_runs_all_steps_and_raises_the_first_error() -> None:
    ran: list[str] = []

    def fail(name: str, exc: BaseException):
        def step() -> None:
            ran.append(name)
            raise exc

        return step

    with pytest.raises(ZeroDivisionError, match="first"):
        run_every(
            fail("stop", ZeroDivisionError("first")),
            fail("close", KeyError("second")),
            lambda: ran.append("end"),
        )
    assert ran == ["stop", "close", "end"]
    with pytest.raises(RuntimeError, match="earlier"):
        run_every(fail("close", ValueError("later")), error=RuntimeError("earlier"))
    run_every(lambda: ran.append("ok"))
    assert ran[-1] == "ok"


class GuardCannotStopLink(FakeLink):
    """A link whose stop fails with a bug when the guard thread calls it."""

    def stop(self) -> None:
        if threading.current_thread().name == "mvla-deadline-guard":
            raise ZeroDivisionError("stop bug in the guard thread")
        super().stop()


@pytest.mark.slow
def test_a_guard_that_cannot_stop_the_robot_ends_the_loop() -> None:
    link = GuardCannotStopLink()
    stalled = threading.Event()

    def stalling_state(state: RobotState) -> None:
        if state.moving and not stalled.is_set():
            stalled.set()
            time.sleep(0.5)  # blocks past stall_s: the guard tries to stop the robot and fails

    loop = ControlLoop(link, TeleopConfig(mode="latch", stall_s=0.1), on_state=stalling_state)
    loop.submit(TeleopKey("w"))
    with pytest.raises(ZeroDivisionError, match="guard thread"):
        loop.run(duration_s=10.0)
    assert stalled.is_set() and link.last_twist == STOP and link.closed
