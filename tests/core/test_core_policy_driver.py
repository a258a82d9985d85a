"""The policy driver on the fake robot, on an injected clock: actions reach the link the way the data was
recorded (step mode) or at a fixed period (continuous), a teleop key overrides at once and the policy
resumes on time, e-stop wins over an answer in flight, a non-finite output or a model error latches a
stop like an e-stop, and a checkpoint that does not load leaves teleop working."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.core.intents import InferOnce, LoadPolicy, RunPolicy, SetInstruction, StopPolicy
from mvla_tui.robot.intents import ClearEStop, EStop, TeleopKey
from mvla_tui.robot.link import STOP, Twist
from tests.core.core_helpers import ScriptedRuntime, at, fake_session, run_for, settle, wait_until

F115 = float(np.float32(1.15))
INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"


def policy_sends(link) -> list[tuple[float, Twist]]:
    return [(round(s.t - 100.0, 3), s.twist) for s in link.sent if s.kind == "send"]


def test_step_mode_presses_each_action_then_settles_then_takes_the_next_frame() -> None:
    runtime = ScriptedRuntime([(0.5, 0.0, 0.0), (0.0, 0.5, 0.0), (0.0, 0.0, -0.5)])
    session, link, clock = fake_session(runtime=runtime)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 1.5)
    moves = [(t, tw) for t, tw in policy_sends(link) if not tw.is_zero]
    starts = sorted({t for t, _ in moves})
    # One action per period (0.6 s): each pressed for 0.4 s, then 0.15 s at rest before the next frame.
    assert [t for t in starts if t in (0.0, 0.6, 1.2)] == [0.0, 0.6, 1.2]
    assert dict(moves)[0.0] == Twist(0.5, 0.0, 0.0) and dict(moves)[0.6] == Twist(0.0, 0.5, 0.0)
    stops = [round(s.t - 100.0, 3) for s in link.sent if s.kind == "stop"]
    assert 0.4 in stops and 1.0 in stops  # each press stopped after step_s
    assert runtime.resets == [INSTRUCTION] and runtime.frames == 3
    state = session.state.policy
    assert state.running and state.control == "policy" and state.steps == 3
    assert state.missed_deadlines == 0 and state.latency_p50_ms == pytest.approx(3.0)
    assert state.effective_hz == pytest.approx(1 / 0.6)


def test_actions_are_scaled_by_the_throttle_in_one_place() -> None:
    session, link, clock = fake_session(runtime=ScriptedRuntime([(1.15, 0.0, 0.0)]), throttle=50)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    assert link.last_twist.linear_x == pytest.approx(0.575)
    assert session.state.robot.action == pytest.approx((F115, 0.0, 0.0))  # recorded in key units


def test_a_teleop_key_overrides_at_once_and_the_policy_resumes_after_the_pause() -> None:
    runtime = ScriptedRuntime([(0.5, 0.0, 0.0)])
    session, link, clock = fake_session(runtime=runtime, resume_s=1.0)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    at(session, clock, 0.7, TeleopKey("a"))  # the operator takes over
    assert link.last_twist == Twist(0.0, F115, 0.0)
    assert session.state.policy.control == "hybrid"
    assert session.state.policy.resumes_in_s == pytest.approx(1.0)
    run_for(session, clock, 0.71, 1.69)
    assert not [t for t, tw in policy_sends(link) if 0.7 < t < 1.7 and tw == Twist(0.5, 0.0, 0.0)]
    run_for(session, clock, 1.70, 1.75)
    assert any(t == pytest.approx(1.7) and tw == Twist(0.5, 0.0, 0.0) for t, tw in policy_sends(link))
    assert session.state.policy.control == "policy"


def test_with_resume_zero_the_operator_keeps_control() -> None:
    session, link, clock = fake_session(runtime=ScriptedRuntime([(0.5, 0.0, 0.0)]), resume_s=0.0)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    at(session, clock, 0.7, TeleopKey("d"))
    run_for(session, clock, 0.71, 3.0, step=0.05)
    state = session.state.policy
    assert not state.running and state.control == "manual" and "teleop key took over" in state.stop_reason
    assert not [t for t, tw in policy_sends(link) if t > 0.7 and tw == Twist(0.5, 0.0, 0.0)]


def test_estop_during_a_policy_step_wins_over_the_answer_in_flight() -> None:
    gate = threading.Event()
    session, link, clock = fake_session(runtime=ScriptedRuntime([(0.5, 0.0, 0.0)], gate=gate))
    clock.t = 100.0
    session.submit(SetInstruction(INSTRUCTION))
    session.submit(RunPolicy())
    session.loop.tick()  # the frame went to the worker, which is still computing
    assert session.waiting()
    session.submit(EStop())  # pressed while the model runs
    gate.set()
    settle(session)
    assert all(s.twist.is_zero for s in link.sent)  # the late answer never moved the robot
    state = session.state
    assert state.robot.estop and not state.policy.running and state.policy.stop_reason == "e-stop"
    at(session, clock, 1.0, RunPolicy())
    assert not session.state.policy.running and "e-stop is latched" in session.state.policy.error


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((np.nan, 0.0, 0.0), "not finite"),
        (RuntimeError("CUDA error: an illegal memory access"), "illegal memory"),
    ],
    ids=["non-finite", "runtime-error"],
)
def test_a_bad_output_latches_a_stop_until_cleared(answer: object, reason: str) -> None:
    session, link, clock = fake_session(runtime=ScriptedRuntime([(0.5, 0.0, 0.0), answer]))
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 0.7)
    state = session.state
    assert (
        state.robot.estop
        and reason in state.robot.estop_reason
        and state.robot.estop_reason.startswith("policy")
    )
    assert not state.policy.running and reason in state.policy.stop_reason
    assert link.last_twist == STOP
    at(session, clock, 1.0, TeleopKey("w"))  # latched like an e-stop: refused
    assert link.last_twist == STOP and "latched" in session.state.robot.last_error
    at(session, clock, 2.0, ClearEStop(), TeleopKey("w"))
    assert link.last_twist == Twist(F115, 0.0, 0.0) and session.state.policy.stop_reason is None


def test_a_checkpoint_that_does_not_load_leaves_teleop_working(tmp_path: Path) -> None:
    session, link, clock = fake_session()
    at(session, clock, 0.0, LoadPolicy(str(tmp_path / "no-such-checkpoint")))
    wait_until(lambda: (session.loop.tick(), not session.state.policy.loading)[1], timeout_s=60)
    state = session.state.policy
    assert not state.loading and state.label is None
    assert "no such checkpoint directory" in state.load_error and "\n" not in state.load_error
    at(session, clock, 0.1, TeleopKey("w"))
    assert link.last_twist == Twist(F115, 0.0, 0.0)
    at(session, clock, 1.0, RunPolicy())
    assert not session.state.policy.running and "no policy loaded" in session.state.policy.error


def test_adopt_returns_once_the_worker_holds_the_runtime_and_has_answered() -> None:
    """A `run` submitted right after `adopt` must find the policy loaded, however late the worker thread gets
    to the job (a busy CI machine once let the run overtake the answer: "no policy loaded", and a sim
    episode that never ended)."""
    from mvla_tui.core.intents import PolicyLoadDone
    from mvla_tui.core.policy_worker import PolicyWorker

    worker = PolicyWorker()
    answers: list[object] = []
    worker.attach(answers.append)
    gate, busy = threading.Event(), threading.Event()
    try:
        worker.adopt(ScriptedRuntime(), "first")
        worker.call(lambda runtime: (busy.set(), gate.wait(10)), lambda result, error: None)
        assert busy.wait(10)  # the worker is in a long job: the next adopt queues behind it
        threading.Timer(0.3, gate.set).start()
        worker.adopt(ScriptedRuntime(), "second")
        assert worker.label == "second"
        assert [a.label for a in answers if isinstance(a, PolicyLoadDone)] == ["first", "second"]
    finally:
        gate.set()
        worker.close()


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (
            ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"),
            'pip install "mobile-vla[export]"',
        ),
        (KeyError("head.weight"), "cannot load (KeyError: 'head.weight')"),
    ],
)
def test_every_load_is_answered_in_one_line(error: Exception, says: str) -> None:
    """A load that fails in any way answers (the app, eval and bench wait for the answer)."""
    from mvla_tui.core.policy_worker import PolicyWorker

    def loader(source, options, limits):
        raise error

    worker = PolicyWorker(loader=loader)
    try:
        done = worker.load_and_wait("ckpt", timeout_s=30)
    finally:
        worker.close()
    assert done.error is not None and says in done.error and "\n" not in done.error


def test_infer_shows_the_chunk_and_latency_without_moving() -> None:
    runtime = ScriptedRuntime([(0.3, -0.2, 0.1)], horizon=5)
    session, link, clock = fake_session(runtime=runtime)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), InferOnce())
    state = session.state.policy
    assert state.chunk is not None and len(state.chunk) == 5
    assert state.command == pytest.approx((0.3, -0.2, 0.1)) and state.latency_ms == pytest.approx(3.0)
    assert not state.running and all(s.twist.is_zero for s in link.sent)


def test_stop_policy_stops_the_robot_and_drops_the_answer_in_flight() -> None:
    gate = threading.Event()
    session, link, clock = fake_session(runtime=ScriptedRuntime([(0.5, 0.0, 0.0)], gate=gate))
    gate.set()
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    assert link.last_twist == Twist(0.5, 0.0, 0.0)
    gate.clear()
    at(session, clock, 0.2, StopPolicy())
    assert link.last_twist == STOP and not session.state.policy.running


def test_continuous_mode_sends_every_period_and_counts_late_answers() -> None:
    clock_ref: list = []
    slow = {"on": False}

    def model_time() -> None:  # a model that takes 0.3 s of loop time when slow
        if slow["on"]:
            clock_ref[0].t += 0.3

    runtime = ScriptedRuntime([(0.5, 0.0, 0.0)], on_step=model_time)
    session, link, clock = fake_session(runtime=runtime, execution="continuous", period_s=0.2, mode="hold")
    clock_ref.append(clock)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    run_for(session, clock, 0.01, 1.0)
    sends = [t for t, tw in policy_sends(link) if tw == Twist(0.5, 0.0, 0.0)]
    assert [t for t in sends if t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)] == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert not [s for s in link.sent if s.kind == "stop" and 0.0 < s.t - 100 < 1.0]  # no gap between them
    assert session.state.policy.missed_deadlines == 0
    slow["on"] = True  # from now on each answer comes 0.3 s after its frame: later than the period
    steps = session.state.policy.steps
    deadline = time.monotonic() + 10
    while session.state.policy.steps < steps + 3:
        assert time.monotonic() < deadline
        clock.t += 0.01
        session.loop.tick()
        time.sleep(0.001)
    assert session.state.policy.missed_deadlines >= 3


def test_running_needs_an_instruction() -> None:
    session, _, clock = fake_session(runtime=ScriptedRuntime())
    at(session, clock, 0.0, RunPolicy())
    assert not session.state.policy.running and "type an instruction" in session.state.policy.error
