"""`Course`: whether the robot keeps to the scripted expert's course in a sim layout, the rule by which the
expert, playing the operator of a driving policy (`mvla sim dagger`), takes over and hands back.

A press leaves the course (`leaves`) when, on the expert's own model of a press (`ScriptedExpert.predict`):
- it would bring the footprint nearer than the expert's safety margin to a box, the cup or a wall
  ("heading for a collision"; the model of a press is the expert's, and the physics may carry the robot
  a little further, so a narrower margin would let the robot touch the cup);
- it ends alongside the obstacle on the side the instruction did not name, or, approaching the obstacle,
  moves the robot further towards that side ("heading for the wrong side");
- it ends outside the corridor: sideways more than `CORRIDOR_M` beyond the band between the start line
  and the passing lane (before the obstacle is passed) or between the lane and the cup (after), or
  turned more than `MAX_YAW_RAD` away from the path ("left the corridor").
The robot is back on course (`off` is None) when where it stands breaks none of these.
Geometry only: it imports no MuJoCo and never presses a key.
"""

from __future__ import annotations

import math

import numpy as np

from mvla_tui.sim.expert import PASSED_CLEARANCE_M, ScriptedExpert
from mvla_tui.sim.layout import ROBOT_HALF_LENGTH
from mvla_tui.sim.success import Pose

CORRIDOR_M = 0.15  # how far sideways beyond the expert's band the robot may stray
MAX_YAW_RAD = 0.45  # about two rotation presses
APPROACH_M = 0.15  # the robot's front this near the obstacle's near face: it is approaching it
_EPS = 1e-3


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class Course:
    def __init__(self, expert: ScriptedExpert) -> None:
        self.expert = expert
        self.layout = expert.layout
        self.sign = 1.0 if self.layout.side == "left" else -1.0

    def leaves(self, pose: Pose, action: np.ndarray) -> str | None:
        """Why a press of `action` (key units) from `pose` takes the robot off course, or None."""
        if not self.expert.path_clear(pose, self.expert.motion_of(action)):
            return "heading for a collision"
        end = self.expert.predict(pose, action)
        near, far = self.layout.obstacle_x
        approaching = end.x + ROBOT_HALF_LENGTH >= near - APPROACH_M and end.x - ROBOT_HALF_LENGTH <= far
        centre = self.layout.obstacle_center_y
        if approaching and self.sign * (end.y - centre) < 0 and self.sign * (end.y - pose.y) < -_EPS:
            return "heading for the wrong side"
        return self.off(end)

    def off(self, pose: Pose) -> str | None:
        """Why the robot standing at `pose` is off course, or None when it is on course."""
        near, far = self.layout.obstacle_x
        alongside = pose.x - ROBOT_HALF_LENGTH <= far and pose.x + ROBOT_HALF_LENGTH >= near
        if alongside and self.sign * (pose.y - self.layout.obstacle_center_y) < 0:
            return "heading for the wrong side"
        if abs(_wrap(pose.yaw)) > MAX_YAW_RAD:
            return "left the corridor (turned away)"
        lane = self.expert.lane_y
        passed = pose.x - ROBOT_HALF_LENGTH > far + PASSED_CLEARANCE_M
        ends = (lane, self.layout.cup.center[1]) if passed else (0.0, lane)
        if not min(ends) - CORRIDOR_M <= pose.y <= max(ends) + CORRIDOR_M:
            return "left the corridor"
        return None
