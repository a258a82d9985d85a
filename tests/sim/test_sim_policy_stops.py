"""The simulator ends a policy's run as the robot would: a policy that drives into the box is stopped by the
collision the sim link reports (latched like an e-stop, the robot still), in simulated time and on the wall
clock; in real time the camera is drawn on demand, stamped when the scene was taken; and an episode whose
policy cannot run ends at once, saying why."""

from __future__ import annotations

import time

import pytest

from mvla_tui.core.intents import RunPolicy, SetInstruction
from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.session import Session
from mvla_tui.core.sim_episode import EpisodeSpec, run_sim_episode
from mvla_tui.robot.link import STOP
from mvla_tui.sim.link import SimLink
from recorder.catalogue import load_catalogue
from tests.core.core_helpers import ScriptedRuntime, wait_until
from tests.sim.sim_configs import sim_config

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"


@pytest.mark.parametrize("realtime", [False, True], ids=["simulated time", "real time"])
def test_a_policy_driving_into_the_box_is_stopped_by_the_collision(realtime: bool) -> None:
    config = sim_config("1box_left", "close", "center", seed=0, width=48, height=32, realtime=realtime)
    link = SimLink(config)
    session = Session(config, link=link)
    session.worker.adopt(ScriptedRuntime([(1.15, 0.0, 0.0)]), "straight ahead")
    session.submit(SetInstruction(INSTRUCTION))
    wait_until(lambda: (session.loop.tick(), session.policy.loaded)[1])
    session.submit(RunPolicy())
    policy = session.policy
    give_up = time.monotonic() + 30.0
    states = []

    def over() -> bool:
        if policy.ended is not None:
            states.append(session.state)
        return policy.ended is not None or time.monotonic() > give_up

    session.run(should_stop=over)
    state = states[0]  # as the run ended, before the loop closed
    assert policy.ended == "collision", "the policy was not stopped by the collision"
    assert state.robot.collision is not None and state.robot.collision.startswith("box")
    assert state.robot.estop and state.robot.estop_reason.startswith("collision: the robot touched box")
    assert "collision" in state.policy.stop_reason and not state.policy.running
    assert not state.robot.moving and state.robot.twist == STOP, "the robot was still commanded to move"
    assert 2 <= policy.steps <= 6  # close: the box is 0.35 m ahead, a press moves 0.17 m


def test_in_real_time_the_camera_draws_a_fresh_frame_when_asked_for_one() -> None:
    link = SimLink(sim_config(width=48, height=32, realtime=True))
    link.connect()
    try:
        first = link.latest_frame()
        assert first is not None  # connect returns once the camera is ready
        wanted = time.monotonic() + 0.05
        assert link.latest_frame(not_before=wanted) is first  # never waits: the caller looks again
        wait_until(lambda: link.latest_frame(not_before=wanted).stamp >= wanted, timeout_s=5.0)
        fresh = link.latest_frame()
        assert fresh.stamp >= wanted and fresh.stamp <= time.monotonic()
        # Nothing is drawn that nobody asked for: half a second later, the newest is still the one asked for.
        asked = time.monotonic()
        link.latest_frame()
        time.sleep(0.5)
        assert link.latest_frame().stamp < asked + 0.25, "the camera drew frames nobody asked for"
    finally:
        link.close()


def test_the_sim_judges_a_policy_run_when_it_ends() -> None:
    """The session's verdict is what `mvla eval --sim` would count: here, the box the policy drove into."""
    config = sim_config("1box_left", "close", "center", seed=0, width=48, height=32)
    session = Session(config, link=SimLink(config))
    session.worker.adopt(ScriptedRuntime([(1.15, 0.0, 0.0)]), "straight ahead")
    session.submit(SetInstruction(INSTRUCTION))
    wait_until(lambda: (session.loop.tick(), session.policy.loaded)[1])
    assert session.state.sim_result is None
    session.submit(RunPolicy())
    give_up = time.monotonic() + 30.0
    session.run(should_stop=lambda: session.state.sim_result is not None or time.monotonic() > give_up)
    result = session.state.sim_result
    assert result is not None and not result.success and result.collision.startswith("box")
    assert result.reason.startswith("hit box")


@pytest.mark.timeout(60)
def test_an_episode_whose_policy_cannot_run_ends_at_once_saying_why() -> None:
    """A `run` the driver refuses (here: the worker holds no policy) ends the episode with the reason; the
    simulation does not go on for ever waiting for a policy that never drives."""
    config = sim_config("1box_left", "medium", "center", seed=3, width=48, height=32)
    worker = PolicyWorker()
    try:
        episode = run_sim_episode(
            config, EpisodeSpec("1box_left", "core", "medium", "center", 3), load_catalogue(), worker=worker
        )
    finally:
        worker.close()
    assert episode.ended.startswith("policy refused: no policy loaded") and episode.steps == 0
    assert not episode.result.success
