"""`ScriptedExpert`: drives a sim layout to the cup with the operators' keys, passing on the instructed side.

Owns the expert's key choice only. It plans with the true layout and the true pose (the sim knows
them), one key at a time, so it recovers by itself from any detour. It never sends anything: the
caller presses the key it names (`mvla_tui.core.key_driver`, through the control loop).

How it drives, like an operator following the guides (`1box_left: w w w a a w w d d`):
1. straighten up with r/t when the heading is off by more than half a turn press;
2. before the obstacle: "core" drives forward (w) while that keeps a safe distance from the
   obstacle, then steps sideways (a/d) into the lane beside it; "variant" moves diagonally (q/e)
   into the lane from the start;
3. in the lane: forward until the robot's rear has cleared the obstacle;
4. past it: step sideways back in line with the cup (variant: diagonally while there is room),
   then forward (or back) into the region in front of the cup, and on up to it while a press still
   ends `FINAL_GAP_M` short of the cup, and stop.
Every key is checked against a prediction of where the press will take the robot (footprint kept a
margin clear of boxes, cup and walls); an unsafe key is replaced by the next best.
With `noise` > 0 a press is replaced, with that probability, by a random other safe key (never
space), and the expert recovers from it on the following presses.
"""

from __future__ import annotations

import math

import numpy as np

from mvla_tui.robot.config import TeleopConfig
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import ARENA_X, ARENA_Y, ROBOT_HALF_LENGTH, ROBOT_HALF_WIDTH, Layout
from mvla_tui.sim.success import GOAL_GAP_M, Pose, goal_gap
from recorder.catalogue import KEYMAP, MOVE_KEYS, load_catalogue

MARGIN_M = 0.04  # gap the robot keeps from boxes, cup and walls (safety check of every key)
LANE_CLEARANCE_M = 0.06  # side gap between robot and obstacle while passing it
PASSED_CLEARANCE_M = 0.06  # how far the rear must be past the obstacle before stepping back
APPROACH_CLEARANCE_M = 0.10  # "core": stop driving forward this far from the obstacle's near face
FINAL_GAP_M = 0.10  # final approach: keep driving at the cup while a press ends at least this far from it


def _wrap(angle: float) -> float:
    return (angle + math.pi) % (2 * math.pi) - math.pi


class ScriptedExpert:
    def __init__(
        self,
        layout: Layout,
        config: SimConfig,
        teleop: TeleopConfig,
        style: str = "core",
        noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        """Plans presses as the control loop will send them: `teleop.throttle` for `teleop.step_s`."""
        patterns = load_catalogue().patterns  # the expert drives each pattern in its own style
        if style not in patterns:
            raise ValueError(f"expert style must be one of {patterns}, got {style!r}")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be a probability in [0, 1], got {noise}")
        self.layout = layout
        self.config = config
        self.style = style
        self.noise = noise
        self._rng = np.random.default_rng(seed)
        self._throttle = teleop.throttle / 100.0
        self._step_s = teleop.step_s
        self._motion = {k: self.motion_of(np.array(v)) for k, v in KEYMAP.items()}
        self._step = float(self._motion["w"][0])  # m per translation press
        self._turn = float(self._motion["r"][2])  # rad per rotation press
        sign = 1.0 if layout.side == "left" else -1.0
        lo, hi = layout.obstacle_y
        edge = hi if sign > 0 else lo
        self._side_sign = sign
        self.lane_y = edge + sign * (ROBOT_HALF_WIDTH + LANE_CLEARANCE_M)  # nearest safe lane centre
        self._obstacles = [(b.x_range, b.y_range) for b in layout.boxes]
        cup = layout.cup
        self._obstacles.append(
            (
                (cup.center[0] - cup.radius, cup.center[0] + cup.radius),
                (cup.center[1] - cup.radius, cup.center[1] + cup.radius),
            )
        )

    def next_key(self, pose: Pose) -> str | None:
        """The key to press from `pose`, or None when the robot is where it should stop."""
        choices = self._preferences(pose)
        if not choices:
            return None
        safe = [k for k in choices if self.is_safe(pose, k)]
        if not safe:
            return None
        key = safe[0]
        if self.noise > 0 and self._rng.uniform() < self.noise:
            wrong = [k for k in MOVE_KEYS if k != key and self.is_safe(pose, k)]
            if wrong:
                key = str(self._rng.choice(wrong))
        return key

    def _preferences(self, pose: Pose) -> list[str]:
        """Keys in order of preference; empty when done."""
        yaw = _wrap(pose.yaw)
        if abs(yaw) > self._turn / 2:
            return ["t" if yaw > 0 else "r"]
        sidestep = "a" if self._side_sign > 0 else "d"
        diagonal = "q" if self._side_sign > 0 else "e"
        near, far = self.layout.obstacle_x
        if pose.x - ROBOT_HALF_LENGTH <= far + PASSED_CLEARANCE_M:
            if self._side_sign * (pose.y - self.lane_y) >= 0:
                return ["w", sidestep, "s"]
            if self.style == "variant":
                return [diagonal, sidestep, "s"]
            front_after = pose.x + ROBOT_HALF_LENGTH + self._step
            if front_after <= near - APPROACH_CLEARANCE_M:
                return ["w", sidestep]
            return [sidestep, "s"]
        dy = self.layout.cup.center[1] - pose.y
        gap = goal_gap(self.layout, pose)
        if abs(dy) > self._step / 2:
            toward = "a" if dy > 0 else "d"
            if self.style == "variant" and gap - self._step >= GOAL_GAP_M[1]:
                return ["q" if dy > 0 else "e", toward]
            return [toward, "s"]
        # Final approach: like an operator, drive up close to the cup rather than stopping as soon
        # as the goal region is reached, while the press still ends clear of the cup.
        if gap > GOAL_GAP_M[1] or gap - self._step >= FINAL_GAP_M:
            return ["w"]
        if gap < GOAL_GAP_M[0]:
            return ["s"]
        return []

    def is_safe(self, pose: Pose, key: str) -> bool:
        """Whether pressing `key` at `pose` keeps the footprint `MARGIN_M` clear of everything."""
        return self.path_clear(pose, self._motion[key])

    def motion_of(self, action: np.ndarray) -> np.ndarray:
        """Robot-frame displacement `[dx m, dy m, dyaw rad]` of one press of `action` (key units, e.g. a
        policy's command), as the control loop sends it."""
        return self.config.key_motion(np.asarray(action, np.float64), self._throttle, self._step_s)

    def predict(self, pose: Pose, action: np.ndarray, fraction: float = 1.0) -> Pose:
        """Where a press of `action` from `pose` ends (after `fraction` of it), on the plan's model."""
        dx, dy, dyaw = self.motion_of(action)
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        return Pose(
            pose.x + fraction * (c * dx - s * dy),
            pose.y + fraction * (s * dx + c * dy),
            pose.yaw + fraction * dyaw,
        )

    def path_clear(self, pose: Pose, motion: np.ndarray, margin: float = MARGIN_M) -> bool:
        """Whether a press moving the robot by `motion` (`[dx, dy, dyaw]`, robot frame) from `pose` keeps
        the footprint `margin` clear of everything.

        The physics can end a press a fraction of a millimetre beyond its prediction, so a robot may
        already stand nearer than the margin; then a press is safe if it brings it no nearer (moving
        along or away from the obstacle), otherwise the expert would have no key left and stop."""
        dx, dy, dyaw = (float(v) for v in motion)
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        floor = min(margin, self._clearance(pose.x, pose.y, pose.yaw)) - 1e-6
        for f in np.linspace(0.25, 1.0, 4):
            x = pose.x + f * (c * dx - s * dy)
            y = pose.y + f * (s * dx + c * dy)
            yaw = pose.yaw + f * dyaw
            if self._clearance(x, y, yaw) < floor:
                return False
        return True

    def _clearance(self, x: float, y: float, yaw: float) -> float:
        """Smallest gap between the footprint's bounding box and a wall or obstacle (m, < 0: overlap)."""
        c, s = abs(math.cos(yaw)), abs(math.sin(yaw))
        hx = c * ROBOT_HALF_LENGTH + s * ROBOT_HALF_WIDTH
        hy = s * ROBOT_HALF_LENGTH + c * ROBOT_HALF_WIDTH
        gap = min(x - hx - ARENA_X[0], ARENA_X[1] - x - hx, y - hy - ARENA_Y[0], ARENA_Y[1] - y - hy)
        for (x0, x1), (y0, y1) in self._obstacles:
            # Boxes are apart when they are apart along either axis.
            gap = min(gap, max(x0 - x - hx, x - hx - x1, y0 - y - hy, y - hy - y1))
        return gap
