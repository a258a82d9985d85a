"""What a policy acts on and when its run ends, on the fake robot and an injected clock: in step mode it never
acts on a frame taken before the robot came to rest (a camera whose frames lag waits for a fresh one, counts
a stale frame when none comes in time, and stops the policy with a reason when they stay stale); a run ends
when the policy predicts a stop (nothing latches), when it used its step budget (latched, and said why), and
when the link reports a collision (latched like an e-stop, the motion cut at once)."""

from __future__ import annotations

import numpy as np
import pytest

from mvla_tui.core.intents import RunPolicy, SetInstruction
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.intents import ClearEStop
from mvla_tui.robot.link import STOP, Twist
from tests.core.core_helpers import ScriptedRuntime, at, fake_session, run_for, wait_until

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"
FORWARD = (0.5, 0.0, 0.0)


class StampingLink(FakeLink):
    """The fake robot, remembering the stamp of each frame it served (by the image's identity)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stamps: dict[int, float] = {}

    def latest_frame(self, not_before=None):
        frame = super().latest_frame(not_before)
        self.stamps[id(frame.image)] = frame.stamp - 100.0
        return frame


class StampedRuntime(ScriptedRuntime):
    """Also remembers, for each step, the stamp of the frame it was given."""

    def __init__(self, link: StampingLink, commands) -> None:
        super().__init__(commands)
        self.link = link
        self.stamps: list[float] = []

    def step(self, frame: np.ndarray):
        self.stamps.append(self.link.stamps[id(frame)])
        return super().step(frame)


def lagging_session(lag_s: float, commands=(FORWARD,), **policy):
    session, link, clock = fake_session(frame_lag_s=lag_s, link_factory=StampingLink, **policy)
    runtime = StampedRuntime(link, commands)
    session.worker.adopt(runtime, "scripted")
    wait_until(lambda: (session.loop.tick(), session.policy.loaded)[1])
    return session, link, clock, runtime


def action_starts(link) -> list[float]:
    """When each motion began (a send after a stop; not the re-sends of a motion under way)."""
    starts, moving = [], False
    for sent in link.sent:
        if sent.kind == "send" and not sent.twist.is_zero and not moving:
            starts.append(round(sent.t - 100.0, 3))
        moving = sent.kind == "send" and not sent.twist.is_zero
    return starts


def motion_stops(link) -> list[float]:
    """When each motion was stopped (the first stop after a motion)."""
    stops, moving = [], False
    for sent in link.sent:
        if sent.kind == "stop" and moving:
            stops.append(round(sent.t - 100.0, 3))
        moving = (sent.kind == "send" and not sent.twist.is_zero) or (moving and sent.kind != "stop")
    return stops


def test_step_mode_waits_for_a_frame_taken_after_the_rest_when_frames_lag() -> None:
    session, link, clock, runtime = lagging_session(0.1)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 2.5)
    starts, stops = action_starts(link), motion_stops(link)
    # Each press lasts 0.4 s and the robot rests 0.15 s; a frame read at 0.55 was taken at 0.45, while the
    # robot still moved, so the step waits until the frame read at 0.65, taken at 0.55.
    assert starts[:2] == [0.0, 0.65] and len(starts) >= 4
    for k in range(1, len(runtime.stamps)):
        rest = stops[k - 1] + 0.15
        assert runtime.stamps[k] >= rest - 1e-9, f"step {k} acted on a frame taken before the rest"
        assert starts[k] == pytest.approx(runtime.stamps[k] + 0.1, abs=0.011)  # on the first fresh one
    state = session.state.policy
    assert state.stale_frames == 0 and state.frame_age_ms == pytest.approx(100.0)


def test_without_lag_the_next_step_starts_one_period_after_the_last() -> None:
    session, link, clock, runtime = lagging_session(0.0)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 1.3)
    assert action_starts(link)[:3] == [0.0, 0.6, 1.2]
    assert runtime.stamps[:3] == pytest.approx([0.0, 0.6, 1.2])


def test_a_frame_later_than_the_wait_counts_stale_and_the_policy_goes_on() -> None:
    session, link, clock, runtime = lagging_session(0.4)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 1.6)
    # The first step takes a frame at most 0.25 s old (read at 0.15), the second one taken after the rest
    # (~0.7): waiting from the rest, it counts a stale frame 0.3 s later and waits again, until the frame
    # read 0.4 s after the rest.
    starts, rest = action_starts(link), motion_stops(link)[0] + 0.15
    assert starts[0] == 0.15 and starts[1] == pytest.approx(rest + 0.4, abs=0.011)
    state = session.state.policy
    assert state.running and state.stale_frames == 1
    assert runtime.stamps[0] == pytest.approx(-0.25) and runtime.stamps[1] >= rest - 1e-9


def test_frames_that_stay_stale_stop_the_policy_with_the_reason() -> None:
    session, link, clock, runtime = lagging_session(2.0)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 2.0)
    state = session.state
    assert not state.policy.running and state.policy.ended == "stale"
    assert state.policy.stale_frames == 3 and runtime.frames == 0  # no stale frame was ever used
    assert "no fresh camera frame within 0.3 s" in state.policy.stop_reason
    assert "check the camera" in state.robot.estop_reason and state.robot.estop
    assert link.last_twist == STOP


def test_the_step_budget_stops_the_policy_and_says_so() -> None:
    session, link, clock, runtime = lagging_session(0.0, max_steps=3)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 3.0)
    state = session.state
    assert action_starts(link) == [0.0, 0.6, 1.2]
    assert not state.policy.running and state.policy.ended == "budget"
    assert state.robot.estop_reason == (
        "policy stopped: 3 steps without predicting a stop (policy.max_steps); "
        "ctrl+e clears the stop, `run` drives again"
    )
    assert state.policy.max_steps == 3 and link.last_twist == STOP
    at(session, clock, 3.1, ClearEStop(), RunPolicy())  # as the message says: the policy drives again
    assert session.state.policy.running and action_starts(link)[-1] == 3.1


def test_a_predicted_stop_ends_the_run_without_latching() -> None:
    session, link, clock, runtime = lagging_session(0.0, commands=[FORWARD, (0.05, -0.02, 0.0)])
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 2.0)
    state = session.state
    assert action_starts(link) == [0.0]  # the stop itself is not pressed
    assert not state.policy.running and state.policy.ended == "done" and state.policy.steps == 1
    assert state.policy.stop_reason == "predicted a stop after 1 steps; the robot is at rest"
    assert not state.robot.estop


@pytest.mark.parametrize(("stop_below", "ends"), [(0.1, False), (0.2, True), (0.0, False)])
def test_the_stop_threshold_is_the_runtimes(stop_below: float, ends: bool) -> None:
    """`policy.stop_below` (`eval --stop-below`) decides when a small command is "done" in the driver and
    is the threshold the runtime's own predicted stop is built with: one rule, one number."""
    from mvla_tui.core.session import runtime_options

    session, link, clock, runtime = lagging_session(
        0.0, commands=[FORWARD, (0.15, 0.0, -0.15)], stop_below=stop_below, max_steps=2
    )
    assert runtime_options(session.config).stop_below == stop_below
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 2.0)
    assert session.state.policy.ended == ("done" if ends else "budget")
    assert action_starts(link) == ([0.0] if ends else [0.0, 0.6])


def test_a_collision_the_link_reports_stops_the_policy_like_an_estop() -> None:
    session, link, clock, runtime = lagging_session(0.0)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 0.7)
    assert link.last_twist == Twist(0.5, 0.0, 0.0)  # the second press is under way
    link.collision = "box_0"
    at(session, clock, 0.71)
    state = session.state
    assert link.last_twist == STOP and state.robot.estop and state.robot.collision == "box_0"
    assert state.robot.estop_reason == "collision: the robot touched box_0"
    assert not state.policy.running and state.policy.ended == "collision"
    run_for(session, clock, 0.72, 1.5)
    assert action_starts(link) == [0.0, 0.6]  # nothing moved after it


def test_continuous_mode_acts_only_on_a_frame_at_most_max_frame_age_old() -> None:
    # Frames 0.3 s late, at most 0.25 s old when the step is due: each step waits 0.05 s for a frame that
    # young enough, never acting on an older one.
    session, link, clock, runtime = lagging_session(0.3, execution="continuous", period_s=0.3)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 1.0)
    asked = [round(stamp + 0.3, 3) for stamp in runtime.stamps]  # when each frame was read
    assert asked[:3] == pytest.approx([0.05, 0.35, 0.65], abs=0.011)
    assert session.state.policy.frame_age_ms == pytest.approx(300.0)
    assert session.state.policy.stale_frames == 0
