"""The scripted expert as the operator of a driving policy (DAgger): `Course` judges a press from where the
robot stands on constructed layouts, and in the simulator `ExpertOperator` takes over from a policy that
leaves the course, hands back once the robot is on course again after at least two keys, leaves a policy
that drives the expert's own course alone, and every takeover and hand-back is in the recorded file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mvla_tui.core.expert_operator import MIN_PRESSES
from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.session import runtime_options
from mvla_tui.core.sim_episode import EpisodeSpec, run_sim_episode
from mvla_tui.robot.config import TeleopConfig
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.course import Course
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.layout import ROBOT_HALF_LENGTH, make_layout
from mvla_tui.sim.success import Pose
from recorder.catalogue import KEYMAP, load_catalogue
from recorder.reader import read_episode
from tests.core.core_helpers import ScriptedRuntime
from tests.sim.sim_configs import sim_config

W, D, A = (np.array(KEYMAP[k], np.float32) for k in ("w", "d", "a"))


@pytest.fixture
def course() -> Course:
    layout = make_layout("1box_left", "medium", "center", seed=0)
    return Course(ScriptedExpert(layout, SimConfig(), TeleopConfig()))


def test_a_press_along_the_course_is_left_alone(course: Course) -> None:
    assert course.leaves(Pose(0.0, 0.0, 0.0), W) is None
    assert course.off(Pose(0.0, 0.0, 0.0)) is None


def test_a_press_into_the_box_is_heading_for_a_collision(course: Course) -> None:
    near, _ = course.layout.obstacle_x
    pose = Pose(near - ROBOT_HALF_LENGTH - 0.05, course.layout.obstacle_center_y, 0.0)
    assert course.leaves(pose, W) == "heading for a collision"


def test_stepping_towards_the_other_side_at_the_obstacle_is_heading_for_the_wrong_side(
    course: Course,
) -> None:
    near, _ = course.layout.obstacle_x
    pose = Pose(near - ROBOT_HALF_LENGTH - 0.12, course.layout.obstacle_center_y - 0.01, 0.0)
    assert course.leaves(pose, D) == "heading for the wrong side"  # instructed: left (+y)
    assert course.leaves(pose, A) is None  # towards the lane: what the expert itself does there
    alongside = Pose(near + 0.05, course.layout.obstacle_center_y - 0.3, 0.0)
    assert course.off(alongside) == "heading for the wrong side"


def test_straying_sideways_or_turning_away_leaves_the_corridor(course: Course) -> None:
    assert course.off(Pose(0.0, -0.3, 0.0)) == "left the corridor"
    assert course.leaves(Pose(0.0, -0.1, 0.0), D) == "left the corridor"
    assert course.off(Pose(0.0, 0.0, 0.6)) == "left the corridor (turned away)"


def _episode(tmp_path: Path, runtime: ScriptedRuntime):
    config = sim_config("1box_left", "medium", "center", seed=3, width=48, height=32)
    worker = PolicyWorker(runtime_options(config), config.limits)
    worker.adopt(runtime, "scripted")
    spec = EpisodeSpec("1box_left", "core", "medium", "center", 3)
    try:
        return run_sim_episode(
            config,
            spec,
            load_catalogue(),
            worker=worker,
            data_dir=tmp_path,
            keep_failed=True,
            expert_operator=True,
        )
    finally:
        worker.close()


def test_a_policy_heading_off_course_is_taken_over_and_handed_back(tmp_path: Path) -> None:
    episode = _episode(tmp_path, ScriptedRuntime([tuple(D)]))  # always steps right: a left scenario
    assert episode.takeovers >= 2 and episode.takeover_reasons[0] == "left the corridor"
    got = read_episode(episode.saved).intervention
    assert got is not None
    kinds = [e.kind for e in got.events]
    assert kinds[:4] == ["takeover", "handback", "takeover", "handback"]
    for event in got.events:
        before, at = got.sources[event.frame - 1], got.sources[event.frame]
        assert (before, at) == (
            ("policy", "operator") if event.kind == "takeover" else ("operator", "policy")
        )
    # a hand-back comes after at least MIN_PRESSES of the expert's keys, none of them the policy's step
    for take, give in zip(got.events[0::2], got.events[1::2], strict=False):
        assert give.frame - take.frame >= MIN_PRESSES
    # the corrections kept it off the box and off the side the instruction did not name
    assert episode.result.collision is None and episode.result.passed_side in (None, "left")


def test_a_policy_that_drives_the_experts_course_is_never_taken_over(tmp_path: Path) -> None:
    config = sim_config("1box_left", "medium", "center", seed=3, width=48, height=32)
    expert_run = run_sim_episode(
        config, EpisodeSpec("1box_left", "core", "medium", "center", 3), load_catalogue()
    )
    assert expert_run.result.success
    commands = [tuple(np.array(KEYMAP[k], np.float32)) for k in expert_run.keys] + [(0.0, 0.0, 0.0)]
    episode = _episode(tmp_path, ScriptedRuntime(commands))
    assert episode.takeovers == 0 and episode.operator_steps == 0
    assert episode.ended == "policy stop" and episode.result.success
