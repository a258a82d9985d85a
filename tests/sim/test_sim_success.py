"""Collisions come from MuJoCo contacts; success needs the goal region, no collision and the
instructed side."""

from __future__ import annotations

import numpy as np

from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import ROBOT_HALF_LENGTH, make_layout
from mvla_tui.sim.success import EpisodeTracker, Pose
from mvla_tui.sim.world import SimWorld


def _drive(world: SimWorld, command: tuple[float, float, float], seconds: float) -> None:
    world.set_command(np.array(command))
    world.step(seconds)
    world.set_command(np.zeros(3))
    world.step(0.2)


def test_driving_into_the_box_is_a_collision() -> None:
    world = SimWorld(make_layout("1box_left", "close", "center", seed=0), SimConfig(), 32, 32)
    _drive(world, (0.5, 0.0, 0.0), 3.0)
    result = world.result()
    assert result.collision == "box0"
    assert not result.success and result.reason.startswith("hit box0")
    near = world.layout.obstacle_x[0]
    assert world.pose().x + ROBOT_HALF_LENGTH < near + 0.05, "the box stops the robot"


def test_driving_into_a_wall_is_a_collision() -> None:
    world = SimWorld(make_layout("1box_left", "close", "center", seed=0), SimConfig(), 32, 32)
    _drive(world, (0.0, -0.6, 0.0), 4.0)
    assert world.result().collision == "wall_right"


def test_driving_clear_of_everything_is_not_a_collision() -> None:
    world = SimWorld(make_layout("1box_left", "close", "center", seed=0), SimConfig(), 32, 32)
    _drive(world, (-0.3, 0.0, 0.0), 0.5)
    _drive(world, (0.0, 0.0, 0.5), 1.0)
    result = world.result()
    assert result.collision is None
    assert result.reason == "never got past the obstacle"


def _pass(layout, lateral: float, end_y: float) -> EpisodeTracker:
    """Poses of a robot that goes forward at `lateral`, past the obstacle, then to `end_y` in front of the cup."""
    tracker = EpisodeTracker(layout)
    goal_x = layout.cup.center[0] - layout.cup.radius - ROBOT_HALF_LENGTH - 0.2
    for t, x in enumerate(np.linspace(0.0, goal_x, 60)):
        tracker.update(Pose(float(x), lateral, 0.0), t * 0.05)
    tracker.update(Pose(goal_x, end_y, 0.0), 3.1)
    return tracker


def test_success_needs_the_instructed_side() -> None:
    layout = make_layout("1box_left", "medium", "center", seed=4)
    cup_y = layout.cup.center[1]
    lo, hi = layout.obstacle_y
    left = _pass(layout, hi + 0.3, cup_y).result()
    assert left.success and left.passed_side == "left"
    right = _pass(layout, lo - 0.3, cup_y).result()
    assert not right.success and right.passed_side == "right"
    assert "right side instead of the left" in right.reason


def test_switching_sides_alongside_the_obstacle_fails() -> None:
    layout = make_layout("1box_right", "medium", "center", seed=4)
    tracker = EpisodeTracker(layout)
    near, far = layout.obstacle_x
    lo, hi = layout.obstacle_y
    tracker.update(Pose(near - 0.1, lo - 0.3, 0.0), 0.0)
    tracker.update(Pose(far, hi + 0.3, 0.0), 1.0)
    tracker.update(Pose(far + 0.5, layout.cup.center[1], 0.0), 2.0)
    result = tracker.result()
    assert result.passed_side == "both" and not result.success


def test_success_needs_the_goal_region() -> None:
    layout = make_layout("2box_right", "far", "left", seed=9)
    lo, _ = layout.obstacle_y
    cup_y = layout.cup.center[1]
    assert _pass(layout, lo - 0.3, cup_y).result().success
    off = _pass(layout, lo - 0.3, cup_y - 0.4).result()
    assert not off.success and not off.in_goal and "outside the goal region" in off.reason


def test_every_wrong_side_has_a_readable_reason() -> None:
    layout = make_layout("1box_left", "medium", "center", seed=4)
    near, far = layout.obstacle_x
    lo, hi = layout.obstacle_y
    after = Pose(far + ROBOT_HALF_LENGTH + 0.3, layout.cup.center[1], 0.0)
    poses = {
        "right": [Pose(near, lo - 0.3, 0.0)],
        "both": [Pose(near, lo - 0.3, 0.0), Pose(far, hi + 0.3, 0.0)],
        None: [Pose(near - ROBOT_HALF_LENGTH - 0.1, 0.0, 0.0)],  # jumps past: never seen alongside
    }
    reasons = {}
    for side, path in poses.items():
        tracker = EpisodeTracker(layout)
        for t, pose in enumerate([*path, after]):
            tracker.update(pose, float(t))
        result = tracker.result()
        assert result.passed_side == side and not result.success
        reasons[side] = result.reason
    assert reasons["right"] == "passed the obstacle on the right side instead of the left"
    assert reasons["both"] == "switched sides alongside the obstacle instead of passing it on the left side"
    assert reasons[None] == "got past the obstacle without ever being alongside it on the left side"
    assert not any("both side" in r or "None" in r for r in reasons.values())
