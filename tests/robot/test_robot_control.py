"""The control loop with the fake robot: step timing, hold deadman, latch, e-stop latch, throttle, clamping,
non-finite actions, link failures, state rate, and that every way out of `run` leaves the robot stopped."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from mvla_tui.robot.config import LimitsConfig, TeleopConfig
from mvla_tui.robot.control import ControlLoop, ControlState, Step
from mvla_tui.robot.fake import FakeLink
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
from mvla_tui.robot.link import STOP, RobotLinkError, Twist

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
    states: list[ControlState] = []
    loop = ControlLoop(
        link,
        TeleopConfig(mode=mode, throttle=throttle, **teleop),
        limits,
        on_state=states.append,
        step_sink=steps.append,
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


@pytest.mark.parametrize("duration", [float("nan"), 0.0, -1.0])
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


def test_mode_change_stops_the_robot() -> None:
    loop, link, clock, _, _ = make("latch")
    at(loop, clock, 0.0, TeleopKey("e"))
    at(loop, clock, 0.1, SetMode("hold"))
    assert link.last_twist == STOP and loop.state.mode == "hold"


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
    states: list[ControlState] = []
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
    loop = ControlLoop(link, TeleopConfig(mode="latch"), step_sink=broken_sink)
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

    def latest_frame(self):
        time.sleep(1.0)
        return super().latest_frame()


@pytest.mark.slow
def test_guard_stops_a_step_when_the_control_thread_is_blocked() -> None:
    link = SlowCameraLink()
    steps: list[Step] = []
    loop = ControlLoop(link, TeleopConfig(step_s=0.2), step_sink=steps.append)
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

    def stalling_state(state: ControlState) -> None:
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


def test_connect_failure_is_raised_and_nothing_is_sent() -> None:
    link = FakeLink()
    link.connect_error = RobotLinkError("fake robot: not reachable")
    loop = ControlLoop(link)
    loop.submit(TeleopKey("w"))
    with pytest.raises(RobotLinkError, match="not reachable"):
        loop.run(duration_s=1.0)
    assert link.sent == [] and link.closed
