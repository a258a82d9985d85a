"""Success check of a sim episode: goal region in front of the cup, collisions, side of passing.

Owns the rule and the bookkeeping (`EpisodeTracker`, fed one pose per physics step) and the result
with its reason. It imports no MuJoCo: the world reports poses and contacts to it.

Success means all of:
- the robot ends in the region in front of the cup: the gap between its front and the cup is
  0.05-0.40 m, its centre is within 0.15 m of the cup across the path, and it faces the cup
  (yaw within 0.35 rad);
- it never touched a box, the cup or a wall;
- it went past the obstacle, and whenever it was alongside it (the robot's and the obstacle's
  extents along x overlap) it was on the instructed side of the obstacle's centre line (left = +y).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from mvla_tui.sim.layout import ROBOT_HALF_LENGTH, Layout

GOAL_GAP_M = (0.05, 0.40)
GOAL_LATERAL_M = 0.15
GOAL_YAW_RAD = 0.35


@dataclass(frozen=True)
class Pose:
    x: float  # m, world
    y: float  # m, world
    yaw: float  # rad, counter-clockwise from +x


@dataclass(frozen=True)
class EpisodeResult:
    success: bool
    reason: str  # "reached the cup on the left side", or why not
    collision: str | None  # name of the first thing hit, or None
    passed_side: str | None  # "left", "right", "both" (switched sides) or None (never alongside)
    in_goal: bool


def goal_gap(layout: Layout, pose: Pose) -> float:
    """Distance from the robot's front to the cup's surface along x, m."""
    cup = layout.cup
    return cup.center[0] - cup.radius - (pose.x + ROBOT_HALF_LENGTH)


def in_goal(layout: Layout, pose: Pose) -> bool:
    gap = goal_gap(layout, pose)
    return (
        GOAL_GAP_M[0] <= gap <= GOAL_GAP_M[1]
        and abs(pose.y - layout.cup.center[1]) <= GOAL_LATERAL_M
        and abs(_wrap(pose.yaw)) <= GOAL_YAW_RAD
    )


def _wrong_side_reason(side: str | None, instructed: str) -> str:
    if side == "both":
        return f"switched sides alongside the obstacle instead of passing it on the {instructed} side"
    if side is None:
        return f"got past the obstacle without ever being alongside it on the {instructed} side"
    return f"passed the obstacle on the {side} side instead of the {instructed}"


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class EpisodeTracker:
    """Collects what happens during an episode; `result()` judges it."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.collision: str | None = None
        self.collision_time: float | None = None
        self.sides: set[str] = set()
        self.passed = False
        self.pose = Pose(0.0, 0.0, 0.0)

    def update(self, pose: Pose, t: float, touching: str | None = None) -> None:
        self.pose = pose
        if touching is not None and self.collision is None:
            self.collision, self.collision_time = touching, t
        near, far = self.layout.obstacle_x
        if pose.x - ROBOT_HALF_LENGTH <= far and pose.x + ROBOT_HALF_LENGTH >= near:
            self.sides.add("left" if pose.y > self.layout.obstacle_center_y else "right")
        if pose.x - ROBOT_HALF_LENGTH > far:
            self.passed = True

    def result(self) -> EpisodeResult:
        layout = self.layout
        side = None if not self.sides else next(iter(self.sides)) if len(self.sides) == 1 else "both"
        reached = in_goal(layout, self.pose)
        if self.collision is not None:
            reason = f"hit {self.collision} at t={self.collision_time:.2f} s"
        elif not self.passed:
            reason = "never got past the obstacle"
        elif side != layout.side:
            reason = _wrong_side_reason(side, layout.side)
        elif not reached:
            pose = self.pose
            reason = (
                f"ended outside the goal region (gap to cup {goal_gap(layout, pose):.2f} m, "
                f"lateral offset {pose.y - layout.cup.center[1]:+.2f} m, yaw {_wrap(pose.yaw):+.2f} rad)"
            )
        else:
            reason = f"reached the cup, passing on the {layout.side} side"
        success = self.collision is None and self.passed and side == layout.side and reached
        return EpisodeResult(success, reason, self.collision, side, reached)
