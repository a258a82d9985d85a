"""Intervention episodes recorded by the operating core: while a policy drives, every step is recorded
whoever drove it, with the frame's source, the policy's proposed action and the instruction in force; a
teleop key takes over without losing a frame, and the recording state counts policy and operator steps
and takeovers. On the fake robot with a scripted policy and an injected clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mvla_tui.core.intents import RunPolicy, SaveEpisode, SetInstruction, StartEpisode, StopPolicy
from mvla_tui.robot.intents import TeleopKey
from recorder.catalogue import KEYMAP
from recorder.check import check
from recorder.reader import read_episode
from tests.core.core_helpers import ScriptedRuntime, at, fake_session, run_for

LEFT = "Navigate around the obstacle on the left side and reach the cup"
COMMANDS = [(0.5, 0.0, 0.0), (0.25, 0.75, 0.0), (0.5, -0.25, 0.125), (0.5, 0.0, 0.0), (0.75, 0.0, 0.0)]


def test_sources_proposals_and_takeovers_are_recorded_exactly(tmp_path: Path) -> None:
    runtime = ScriptedRuntime(COMMANDS)
    session, link, clock = fake_session(tmp_path, runtime=runtime, resume_s=1.0)
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "medium"), SetInstruction(LEFT), RunPolicy())
    run_for(session, clock, 0.01, 1.30)  # the policy steps at 0.0, 0.6 and 1.2
    at(session, clock, 1.35, TeleopKey("a"))  # the operator takes over mid-motion
    at(session, clock, 1.90, TeleopKey("w"))
    state = session.state.recording
    assert (state.policy_steps, state.operator_steps, state.takeovers) == (3, 2, 1)
    run_for(session, clock, 1.91, 3.6)  # the pause ends 1.0 s after the last key: the policy again
    at(session, clock, 3.61, StopPolicy())
    steps = session.loop.steps
    at(session, clock, 3.7, SaveEpisode("success"))
    (path,) = tmp_path.glob("*.h5")
    assert check(path) == []
    episode = read_episode(path)
    got = episode.intervention
    assert got is not None
    starts = [i for i, e in enumerate(episode.event_types) if e == "start_action"]
    assert len(starts) == steps  # no motion the loop started went unrecorded, takeover or not
    sources = [got.sources[i] for i in starts]
    policy = [i for i in starts if got.sources[i] == "policy"]
    assert sources[:5] == ["policy", "policy", "policy", "operator", "operator"]
    assert sources[5:] == ["policy"] * (len(sources) - 5) and len(sources) > 5
    # the operator's frames: their keys, no proposal; the policy's: exactly the commands it answered
    np.testing.assert_allclose(episode.actions[starts[3]], KEYMAP["a"])
    np.testing.assert_allclose(episode.actions[starts[4]], KEYMAP["w"])
    assert np.isnan(got.proposed[[starts[3], starts[4]]]).all()
    answered = np.array(COMMANDS[: len(policy)], np.float32)
    np.testing.assert_array_equal(got.proposed[policy], answered)
    np.testing.assert_array_equal(episode.actions[policy], answered)
    assert set(got.instructions) == {LEFT}
    assert [(e.kind, e.frame) for e in got.events] == [("takeover", starts[3]), ("handback", starts[5])]
    assert episode.meta.attrs["takeovers"] == 1


def test_the_instruction_in_force_follows_a_new_instruction(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path, runtime=ScriptedRuntime([(0.5, 0.0, 0.0)]))
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "medium"), SetInstruction(LEFT), RunPolicy())
    run_for(session, clock, 0.01, 0.65)
    at(session, clock, 0.66, SetInstruction("go right around it"))
    run_for(session, clock, 0.67, 1.3)
    at(session, clock, 1.31, StopPolicy())
    at(session, clock, 1.4, SaveEpisode("success"))
    (path,) = tmp_path.glob("*.h5")
    got = read_episode(path).intervention
    assert got is not None
    assert got.instructions[1] == LEFT and got.instructions[-1] == "go right around it"


def test_an_operator_only_episode_in_a_session_with_a_policy_stays_plain(tmp_path: Path) -> None:
    session, _, clock = fake_session(tmp_path, runtime=ScriptedRuntime())
    at(session, clock, 0.0, StartEpisode("1box_left", "core", "medium"))
    at(session, clock, 0.5, TeleopKey("w"))
    at(session, clock, 1.0, SaveEpisode("success"))
    (path,) = tmp_path.glob("*.h5")
    assert read_episode(path).intervention is None
