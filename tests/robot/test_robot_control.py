"""The control loop with the fake robot: step timing, hold deadman, latch, e-stop latch (also against a
command already on its way), throttle, clamping, non-finite actions, capped policy durations, unknown modes,
link warnings and failures, state rate, and that every way out of `run` leaves the robot stopped and
cleaned up."""

from __future__ import annotations

import dataclasses
import threading
import time

import numpy as np
import pytest

from configs.limits import LimitsConfig
from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.intents import (
    CaptureEpisodeStart,
    ChangeThrottle,
    ClearEStop,
    EStop,
    PolicyAction,
    Quit,
    SetMode,
    TeleopKey,
)
from mvla_tui.robot.link import STOP, Frame, RobotLinkError, Twist
from mvla_tui.robot.state import RobotState, Step
from tests.robot.robot_parts import OnStep

F115 = float(np.float32(1.15))


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make(mode: str = "step", throttle: int = 100, limits: LimitsConfig | None = None, **teleop):
    clock = Clock()
    link = FakeLink(clock=clock)
    link.connect()
    steps: list[Step] = []
    states: list[RobotState] = []
    loop = ControlLoop(
        link,
        TeleopConfig(mode=mode, throttle=throttle, **teleop),
        limits,
        on_state=states.append,
        parts=[OnStep(steps.append)],
        clock=clock,
    )
    return loop, link, clock, steps, states


def at(loop: ControlLoop, clock: Clock, t: float, *intents) -> None:
    clock.t = 100.0 + t
    for intent in intents:
        loop.submit(intent)
    loop.tick()


def test_step_mode_moves_for_step_time_then_stops() -> None:
    loop, link, clock, steps, _ = make(step_s=0.4)
    at(loop, clock, 0.0, TeleopKey("w"))
    assert link.last_twist == Twist(F115, 0.0, 0.0)
    at(loop, clock, 0.39)
    assert link.last_twist == Twist(F115, 0.0, 0.0) and loop.state.moving
    at(loop, clock, 0.4)
    assert link.last_twist == STOP and not loop.state.moving
    first_move = next(s.t for s in link.sent if not s.twist.is_zero)
    first_stop = next(s.t for s in link.sent if s.twist.is_zero)
    assert first_stop - first_move == pytest.approx(0.4)


def test_step_hands_frame_taken_after_the_command_to_the_sink() -> None:
    loop, link, clock, steps, _ = make()
    at(loop, clock, 0.0, CaptureEpisodeStart())
    at(loop, clock, 1.0, TeleopKey("q"))
    assert [s.event_type for s in steps] == ["episode_start", "start_action"]
    assert steps[0].action.tolist() == [0.0, 0.0, 0.0]
    step = steps[1]
    assert step.action.dtype == np.float32 and step.action.tolist() == [F115, F115, 0.0]
    assert step.frame.synthetic and step.frame.image.dtype == np.uint8 and step.frame.image.shape[2] == 3
    command_t = next(s.t for s in link.sent if not s.twist.is_zero)
    assert step.frame.stamp >= command_t
    assert link.frames_served == 2


def test_key_during_a_step_stops_it_and_starts_a_new_step() -> None:
    loop, link, clock, steps, _ = make(step_s=0.4)
    at(loop, clock, 0.0, TeleopKey("w"))
    at(loop, clock, 0.3, TeleopKey("a"))
    kinds = [(s.kind, s.twist) for s in link.sent]
    assert kinds[-2:] == [("stop", STOP), ("send", Twist(0.0, F115, 0.0))]
    at(loop, clock, 0.69)
    assert link.last_twist == Twist(0.0, F115, 0.0)
    at(loop, clock, 0.7)
    assert link.last_twist == STOP
    assert [s.event_type for s in steps] == ["start_action", "start_action"]


def test_space_stops_and_records_stop_action_only_while_moving() -> None:
    loop, link, clock, steps, _ = make()
    at(loop, clock, 0.0, TeleopKey("space"))
    assert steps == []
    at(loop, clock, 0.1, TeleopKey("d"))
    at(loop, clock, 0.2, TeleopKey(" "))
    assert link.last_twist == STOP
    assert [s.event_type for s in steps] == ["start_action", "stop_action"]
    assert steps[1].action.tolist() == [0.0, 0.0, 0.0]


def test_hold_mode_deadman_stops_when_repeats_stop() -> None:
    loop, link, clock, _, _ = make("hold", deadman_s=0.5)
    at(loop, clock, 0.0, TeleopKey("r"))
    for t in (0.3, 0.6, 0.9):  # key repeats keep feeding the deadman
        at(loop, clock, t, TeleopKey("r"))
    at(loop, clock, 1.39)
    assert link.last_twist == Twist(0.0, 0.0, F115)
    at(loop, clock, 1.41)
    assert link.last_twist == STOP and not loop.state.moving


def test_latch_mode_moves_until_space_and_keeps_resending() -> None:
    loop, link, clock, _, _ = make("latch", republish_s=0.1)
    at(loop, clock, 0.0, TeleopKey("s"))
    for i in range(1, 61):
        at(loop, clock, i * 0.05)
    assert link.last_twist == Twist(-F115, 0.0, 0.0)
    times = [s.t for s in link.sent if not s.twist.is_zero]
    assert times[-1] - times[0] > 2.8
    assert (
        max(np.diff(times)) <= 0.15 + 1e-9
    )  # re-sent at least every republish_s + one tick: a watchdog stays fed
    at(loop, clock, 3.05, TeleopKey("space"))
    assert link.last_twist == STOP
    at(loop, clock, 4.0)
    assert link.last_twist == STOP


def test_estop_latches_until_cleared() -> None:
    loop, link, clock, _, states = make("latch")
    at(loop, clock, 0.0, TeleopKey("w"))
    loop.submit(EStop())
    assert link.last_twist == STOP  # stopped by the submitting thread, before the loop ran
    at(loop, clock, 0.1)
    at(loop, clock, 0.2, TeleopKey("w"), PolicyAction(np.array([1.0, 0.0, 0.0])))
    at(loop, clock, 0.5)
    assert all(s.twist.is_zero for s in link.sent[1:])
    assert loop.state.estop and "e-stop" in (loop.state.last_error or "")
    at(loop, clock, 0.6, ClearEStop(), TeleopKey("w"))
    assert link.last_twist == Twist(F115, 0.0, 0.0) and not loop.state.estop


def test_a_clear_queued_before_a_new_estop_does_not_clear_it() -> None:
    loop, link, clock, _, _ = make("latch")
    at(loop, clock, 0.0, EStop())
    loop.submit(ClearEStop())  # the control thread is busy: these three wait in its queue
    loop.submit(TeleopKey("w"))
    loop.submit(EStop())  # pressed again before the loop got to the clear
    at(loop, clock, 0.1)
    assert loop.state.estop and all(s.twist.is_zero for s in link.sent)
    at(loop, clock, 0.2, ClearEStop(), TeleopKey("w"))
    assert not loop.state.estop and link.last_twist == Twist(F115, 0.0, 0.0)


def test_throttle_scales_what_is_sent_not_what_is_recorded() -> None:
    loop, link, clock, steps, _ = make(throttle=50)
    at(loop, clock, 0.0, TeleopKey("w"))
    assert link.last_twist.linear_x == pytest.approx(0.575)
    assert steps[-1].action.tolist() == [F115, 0.0, 0.0]
    at(loop, clock, 0.1, ChangeThrottle(+1))
    assert loop.state.throttle == 60
    assert link.last_twist.linear_x == pytest.approx(1.15 * 0.6)  # applied to the step in progress
    for _ in range(10):
        at(loop, clock, 0.2, ChangeThrottle(+1))
    assert loop.state.throttle == 100
    for _ in range(20):
        at(loop, clock, 0.2, ChangeThrottle(-1))
    assert loop.state.throttle == 10


def test_commands_are_clamped_to_limits() -> None:
    limits = LimitsConfig(max_linear_x=0.3, max_linear_y=0.2, max_angular_z=0.5)
    loop, link, clock, steps, _ = make(throttle=100, limits=limits)
    at(loop, clock, 0.0, TeleopKey("z"))
    assert link.last_twist == Twist(-0.3, 0.2, 0.0)
    assert steps[-1].twist == Twist(-0.3, 0.2, 0.0)
    at(loop, clock, 1.0, PolicyAction(np.array([0.1, -5.0, 9.0])))
    assert link.last_twist == Twist(pytest.approx(0.1), -0.2, 0.5)


@pytest.mark.parametrize("bad", [[np.nan, 0.0, 0.0], [0.0, np.inf, 0.0], [1.0, 2.0]])
def test_non_finite_policy_action_stops_and_reports(bad: list[float]) -> None:
    loop, link, clock, _, _ = make("latch")
    at(loop, clock, 0.0, TeleopKey("w"))
    at(loop, clock, 0.1, PolicyAction(np.array(bad)))
    assert link.last_twist == STOP and not loop.state.moving
    assert "policy action" in loop.state.last_error
    assert all(np.isfinite([s.twist.linear_x, s.twist.linear_y, s.twist.angular_z]).all() for s in link.sent)


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), 0.0, -1.0, "soon"])
def test_policy_action_with_a_bad_duration_stops(duration: float) -> None:
    loop, link, clock, _, _ = make("latch")
    at(loop, clock, 0.0, TeleopKey("w"))
    at(loop, clock, 0.1, PolicyAction(np.array([0.5, 0.0, 0.0]), duration_s=duration))
    assert link.last_twist == STOP and not loop.state.moving and "duration" in loop.state.last_error


def test_policy_action_lasts_its_duration_and_a_key_overrides_it() -> None:
    loop, link, clock, _, _ = make(step_s=0.4)
    at(loop, clock, 0.0, PolicyAction(np.array([0.5, 0.0, 0.0]), duration_s=0.2))
    assert loop.state.source == "policy"
    at(loop, clock, 0.21)
    assert link.last_twist == STOP
    at(loop, clock, 0.3, PolicyAction(np.array([0.5, 0.0, 0.0]), duration_s=1.0))
    at(loop, clock, 0.4, TeleopKey("t"))
    assert loop.state.source == "teleop" and link.last_twist == Twist(0.0, 0.0, -F115)


def test_policy_action_duration_is_capped_at_the_deadman() -> None:
    loop, link, clock, _, _ = make("latch", step_s=0.4, deadman_s=0.5)
    at(loop, clock, 0.0, PolicyAction(np.array([0.5, 0.0, 0.0]), duration_s=1e9))
    assert link.last_twist == Twist(0.5, 0.0, 0.0) and "capped at 0.5 s" in loop.state.last_error
    at(loop, clock, 0.49)
    assert loop.state.moving
    at(loop, clock, 0.5)
    assert link.last_twist == STOP and not loop.state.moving


def test_mode_change_stops_the_robot() -> None:
    loop, link, clock, _, _ = make("latch")
    at(loop, clock, 0.0, TeleopKey("e"))
    at(loop, clock, 0.1, SetMode("hold"))
    assert link.last_twist == STOP and loop.state.mode == "hold"


def test_unknown_mode_is_refused_and_the_mode_kept() -> None:
    loop, link, clock, _, _ = make("step", step_s=0.4)
    at(loop, clock, 0.0, SetMode("Step"))
    assert loop.state.mode == "step" and "unknown teleop mode 'Step'" in loop.state.last_error
    at(loop, clock, 1.0, TeleopKey("w"))
    at(loop, clock, 1.4)
    assert link.last_twist == STOP  # still a step: it did not latch


def test_unknown_mode_in_the_config_is_refused() -> None:
    with pytest.raises(ValueError, match="teleop.mode"):
        TeleopConfig(mode="Step")


class BlockingSendLink(FakeLink):
    """A motion command that is still on its way (a slow link) until the test lets it through."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.in_send = threading.Event()
        self.release = threading.Event()
        self.block = True

    def send(self, twist: Twist) -> Twist:
        if self.block and not twist.is_zero:
            self.in_send.set()
            assert self.release.wait(10), "test never released the send"
        return super().send(twist)


def tick_while_a_send_is_in_flight(
    loop: ControlLoop, clock: Clock, link: BlockingSendLink, t: float, *intents
):
    """Tick in a thread until the loop is inside `link.send`; the caller acts, then calls the result."""
    worker = threading.Thread(target=at, args=(loop, clock, t, *intents))
    worker.start()
    assert link.in_send.wait(10)

    def finish() -> None:
        link.release.set()
        worker.join(10)
        assert not worker.is_alive()

    return finish


def test_estop_during_a_send_in_flight_wins() -> None:
    clock = Clock()
    link = BlockingSendLink(clock=clock)
    link.connect()
    steps: list[Step] = []
    loop = ControlLoop(link, TeleopConfig(throttle=50), parts=[OnStep(steps.append)], clock=clock)
    finish = tick_while_a_send_is_in_flight(loop, clock, link, 0.0, TeleopKey("w"))
    loop.submit(EStop())  # pressed while the `w` command is still on its way
    finish()
    late = max(i for i, s in enumerate(link.sent) if not s.twist.is_zero)
    assert link.sent[0].kind == "stop" and late > 0  # the e-stop went out first, the late command after it
    assert link.sent[late + 1 :] and all(s.twist.is_zero for s in link.sent[late + 1 :])  # stopped at once
    assert not loop.state.moving and steps == []  # no step recorded for a command that did not stand
    at(loop, clock, 0.1)
    assert link.last_twist == STOP and loop.state.estop


def test_signal_stop_during_a_resend_in_flight_wins() -> None:
    clock = Clock()
    link = BlockingSendLink(clock=clock)
    link.connect()
    loop = ControlLoop(link, TeleopConfig(mode="latch", republish_s=0.1), clock=clock)
    link.block = False
    at(loop, clock, 0.0, TeleopKey("a"))
    link.block = True
    finish = tick_while_a_send_is_in_flight(loop, clock, link, 0.2)  # the periodic re-send
    loop.emergency_stop("SIGTERM received")
    finish()
    assert link.last_twist == STOP and not loop.state.moving


@pytest.mark.slow
def test_guard_stop_during_a_resend_in_flight_wins() -> None:
    link = BlockingSendLink()
    link.block = False
    loop = ControlLoop(link, TeleopConfig(mode="latch", republish_s=0.05, stall_s=0.5))
    thread, errors = run_in_thread(loop, duration_s=20.0)
    try:
        loop.submit(TeleopKey("w"))
        deadline = time.monotonic() + 10
        while not any(not s.twist.is_zero for s in link.sent):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        link.block = True  # the next re-send hangs past stall_s: the guard stops the robot meanwhile
        assert link.in_send.wait(10)
        while not link.sent[-1].twist.is_zero:
            assert time.monotonic() < deadline, "the guard did not stop the robot"
            time.sleep(0.01)
        guard_stop = len(link.sent) - 1
        link.release.set()  # the hung command lands after the guard's stop

        def stopped_after_the_late_command() -> bool:
            later = link.sent[guard_stop + 1 :]
            late = [i for i, s in enumerate(later) if not s.twist.is_zero]
            return bool(late) and any(s.kind == "stop" for s in later[late[-1] + 1 :])

        while not stopped_after_the_late_command():  # the loop must stop it by itself, long before it ends
            assert time.monotonic() < deadline, "a command sent across the guard's stop kept the robot moving"
            time.sleep(0.01)
        assert thread.is_alive()
    finally:
        loop.submit(Quit())
        thread.join(10)
    assert not errors and link.last_twist == STOP


def test_link_failure_is_reported_and_the_loop_goes_on() -> None:
    loop, link, clock, _, _ = make()
    link.send_error = RobotLinkError("fake robot: motor driver not answering")
    at(loop, clock, 0.0, TeleopKey("w"))
    state = loop.state
    assert not state.link_ok and "motor driver" in state.last_error and not state.moving
    assert link.last_twist == STOP
    link.send_error = None
    at(loop, clock, 1.0, TeleopKey("w"))
    assert loop.state.link_ok and link.last_twist == Twist(F115, 0.0, 0.0)


def test_camera_failure_skips_the_step_record_but_still_moves() -> None:
    loop, link, clock, steps, _ = make()
    link.frame_error = RobotLinkError("camera: no frame within 5 s")
    at(loop, clock, 0.0, TeleopKey("w"))
    assert steps == [] and link.last_twist == Twist(F115, 0.0, 0.0)
    assert "not recorded" in loop.state.last_error


def test_state_snapshots_are_rate_limited() -> None:
    loop, _, clock, _, states = make(state_hz=10.0)
    for i in range(100):  # one second of ticks every 10 ms
        at(loop, clock, i * 0.01, ChangeThrottle(-1) if i == 50 else TeleopKey("space"))
    assert 9 <= len(states) <= 11
    assert states[-1].throttle == 90


def run_in_thread(loop: ControlLoop, **kwargs) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            loop.run(**kwargs)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


def test_run_for_a_duration_stops_and_closes() -> None:
    link = FakeLink()
    states: list[RobotState] = []
    loop = ControlLoop(link, TeleopConfig(mode="latch"), on_state=states.append)
    loop.submit(TeleopKey("w"))
    loop.run(duration_s=0.1)
    assert link.last_twist == STOP and link.closed
    assert not states[-1].running and not states[-1].moving


def test_quit_ends_the_loop_and_stops() -> None:
    link = FakeLink()
    loop = ControlLoop(link, TeleopConfig(mode="latch"))
    thread, errors = run_in_thread(loop, duration_s=10.0)
    loop.submit(TeleopKey("a"))
    loop.submit(Quit())
    thread.join(timeout=5.0)
    assert not thread.is_alive() and not errors
    assert any(not s.twist.is_zero for s in link.sent)
    assert link.last_twist == STOP


def test_exception_inside_the_loop_stops_the_robot() -> None:
    def broken_sink(step: Step) -> None:
        raise RuntimeError("recorder bug")

    link = FakeLink()
    loop = ControlLoop(link, TeleopConfig(mode="latch"), parts=[OnStep(broken_sink)])
    loop.submit(TeleopKey("w"))
    with pytest.raises(RuntimeError, match="recorder bug"):
        loop.run(duration_s=5.0)
    assert any(not s.twist.is_zero for s in link.sent)
    assert link.last_twist == STOP and link.closed


def test_non_link_error_from_the_link_ends_the_loop_stopped() -> None:
    link = FakeLink()
    loop = ControlLoop(link, TeleopConfig(mode="latch", republish_s=0.01))
    thread, errors = run_in_thread(loop, duration_s=5.0)
    loop.submit(TeleopKey("w"))
    while not any(not s.twist.is_zero for s in link.sent):
        thread.join(timeout=0.01)
    link.send_error = ZeroDivisionError("driver bug")
    thread.join(timeout=5.0)
    assert not thread.is_alive() and isinstance(errors[0], ZeroDivisionError)
    assert link.last_twist == STOP


def test_should_stop_predicate_ends_the_loop() -> None:
    link = FakeLink()
    done = threading.Event()
    loop = ControlLoop(link, TeleopConfig(mode="latch"))
    thread, errors = run_in_thread(loop, should_stop=done.is_set)
    loop.submit(TeleopKey("w"))
    done.set()
    thread.join(timeout=5.0)
    assert not thread.is_alive() and not errors and link.last_twist == STOP


class SlowCameraLink(FakeLink):
    """A camera call that blocks the control thread far longer than a step (a hung camera service)."""

    def latest_frame(self, not_before=None):
        time.sleep(1.0)
        return super().latest_frame(not_before)


@pytest.mark.slow
def test_guard_stops_a_step_when_the_control_thread_is_blocked() -> None:
    link = SlowCameraLink()
    steps: list[Step] = []
    loop = ControlLoop(link, TeleopConfig(step_s=0.2), parts=[OnStep(steps.append)])
    thread, errors = run_in_thread(loop, duration_s=1.5)
    loop.submit(TeleopKey("w"))
    thread.join(timeout=10)
    assert not errors and len(steps) == 1
    moved = next(s.t for s in link.sent if not s.twist.is_zero)
    stopped = next(s.t for s in link.sent if s.twist.is_zero)
    assert stopped - moved < 0.8  # stopped by the guard while the camera call still blocked (1 s)
    assert "guard stopped the robot" in (loop.state.last_error or "")


@pytest.mark.slow
def test_guard_stops_latched_motion_when_the_control_thread_stalls() -> None:
    link = FakeLink()
    stalled = threading.Event()

    def stalling_state(state: RobotState) -> None:
        if state.moving and not stalled.is_set():
            stalled.set()
            time.sleep(1.0)  # e.g. a UI callback that blocks

    loop = ControlLoop(link, TeleopConfig(mode="latch", stall_s=0.2), on_state=stalling_state)
    thread, errors = run_in_thread(loop, duration_s=1.6)
    loop.submit(TeleopKey("a"))
    thread.join(timeout=10)
    assert not errors and stalled.is_set()
    moved = next(s.t for s in link.sent if not s.twist.is_zero)
    stopped = next(s.t for s in link.sent if s.twist.is_zero)
    assert stopped - moved < 0.8
    assert "guard stopped the robot" in (loop.state.last_error or "")
    assert not any(s.t > stopped and not s.twist.is_zero for s in link.sent)  # stays stopped after the stall


class BrokenStopLink(FakeLink):
    """A link whose stop fails with a bug (not a `RobotLinkError`)."""

    def __init__(self) -> None:
        super().__init__()
        self.close_calls = 0

    def stop(self) -> None:
        raise ZeroDivisionError("stop bug")

    def close(self) -> None:
        self.close_calls += 1
        self.connected = False


def guard_threads() -> int:
    return sum(t.name == "mvla-deadline-guard" and t.is_alive() for t in threading.enumerate())


def test_a_failing_stop_does_not_skip_the_rest_of_the_clean_up() -> None:
    link = BrokenStopLink()
    states: list[RobotState] = []
    loop = ControlLoop(link, TeleopConfig(mode="latch"), on_state=states.append)
    guards_before = guard_threads()
    with pytest.raises(ZeroDivisionError, match="stop bug"):
        loop.run(duration_s=0.05)
    assert link.close_calls == 1  # the link was still closed
    assert guard_threads() == guards_before  # and the guard thread did not leak
    assert not states[-1].running  # and the final state went out


def test_the_loops_own_error_is_raised_before_a_clean_up_error() -> None:
    def broken_sink(step: Step) -> None:
        raise RuntimeError("recorder bug")

    link = FakeLink()
    loop = ControlLoop(link, TeleopConfig(mode="latch"), parts=[OnStep(broken_sink)])
    loop.submit(TeleopKey("w"))
    link.close = lambda: (_ for _ in ()).throw(RobotLinkError("close failed"))
    with pytest.raises(RuntimeError, match="recorder bug"):
        loop.run(duration_s=5.0)
    assert link.last_twist == STOP


class WarningLink(FakeLink):
    def connect(self) -> None:
        super().connect()
        self.warnings = ["no watchdog: publishing straight to /cmd_vel"]


def test_link_warnings_are_in_the_state() -> None:
    states: list[RobotState] = []
    loop = ControlLoop(WarningLink(), on_state=states.append)
    loop.run(duration_s=0.05)
    assert states[0].warnings == ("no watchdog: publishing straight to /cmd_vel",)
    assert ControlLoop(FakeLink()).state.warnings == ()


def test_connect_failure_is_raised_and_nothing_is_sent() -> None:
    link = FakeLink()
    link.connect_error = RobotLinkError("fake robot: not reachable")
    loop = ControlLoop(link)
    loop.submit(TeleopKey("w"))
    with pytest.raises(RobotLinkError, match="not reachable"):
        loop.run(duration_s=1.0)
    assert link.sent == [] and link.closed


def test_a_camera_error_leaves_the_screen_once_frames_come_back() -> None:
    """An operator must not read "camera failed" beside a live image: the camera's message clears with
    the next frame, while other errors stay."""
    loop, link, clock, _, states = make()
    link.frame_error = RobotLinkError("camera: no image for 2.0 s")
    assert loop.capture_frame() is None
    at(loop, clock, 0.1)
    assert states[-1].last_error == "camera: no image for 2.0 s"
    link.frame_error = None
    assert loop.capture_frame() is not None
    at(loop, clock, 0.5)
    assert states[-1].last_error is None

    at(loop, clock, 1.0, TeleopKey("x"))  # not a movement key: this message is not the camera's
    assert loop.capture_frame() is not None
    at(loop, clock, 1.5)
    assert "not a movement key" in states[-1].last_error


class FrameReader(LoopPart):
    """A display on the control thread: reads the tick's frame after the loop's own work."""

    def __init__(self, loop: ControlLoop) -> None:
        self.loop = loop
        self.frames: list[Frame | None] = []

    def on_tick(self, now: float) -> None:
        self.frames.append(self.loop.capture_frame())


def test_one_camera_frame_per_tick_shared_by_the_step_and_the_parts() -> None:
    """A key press records a step and a display reads the camera in the same tick: the camera is asked
    once, and both get the same image (a second call would draw the sim's camera a second time)."""
    loop, link, clock, steps, _ = make()
    display = FrameReader(loop)
    loop.add_part(display)
    at(loop, clock, 0.0, TeleopKey("w"))
    assert link.frames_served == 1
    assert len(steps) == 1 and display.frames[0] is steps[0].frame
    at(loop, clock, 0.1)  # the next tick takes a new frame
    assert link.frames_served == 2 and display.frames[1] is not steps[0].frame


def test_a_part_that_needs_a_newer_frame_than_the_ticks_asks_the_link_again() -> None:
    loop, link, clock, _, _ = make()
    link.config = dataclasses.replace(link.config, frame_lag_s=0.5)
    first = loop.capture_frame()
    assert first is not None and loop.capture_frame() is first  # shared within the tick
    fresher = loop.capture_frame(not_before=clock.t)  # the shared one is 0.5 s old: look again
    assert link.frames_served == 2 and fresher is not first


def test_the_loop_counts_motions_it_started_even_without_a_frame_to_record() -> None:
    loop, link, clock, steps, states = make()
    link.frame_error = RobotLinkError("camera: no image for 2.0 s")
    at(loop, clock, 0.0, TeleopKey("w"))
    at(loop, clock, 0.5, TeleopKey("a"))
    assert steps == [] and loop.steps == 2 and states[-1].steps == 2
    assert "start_action not recorded" in states[-1].last_error


def test_a_link_on_the_wall_clock_runs_the_loop_on_the_given_clock() -> None:
    clock = Clock()
    link = FakeLink(clock=clock)
    assert link.simulated_time() is None
    loop = ControlLoop(link, clock=clock)
    assert loop.simulated is None and loop.clock() == clock.t
