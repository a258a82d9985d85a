"""`LimitsConfig`: the one set of absolute command limits, shared by the control loop, every robot link and
the policy runtime (which is why it lives in this bottom layer that every package may import).

Units are the recorded key units, 1.15 for a full-speed key press on an axis, which are also what the
links are sent at throttle 100 %: the older collector published exactly these numbers on `/cmd_vel`
(m/s and rad/s). The policy runtime clamps its actions to them before the control loop scales them by
the throttle, and the loop and the links clamp what is sent once more. `throttled` is that scaling, the one
definition the control loop uses, and `unthrottled` its exact inverse (a rosbag's /cmd_vel read back
into key units). Imports nothing of ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class LimitsConfig:
    """Absolute limits of every command, per axis. A full-speed key press is 1.15."""

    max_linear_x: float = 1.15  # m/s at throttle 100 %
    max_linear_y: float = 1.15  # m/s
    max_angular_z: float = 1.15  # rad/s

    def __post_init__(self) -> None:
        for name in ("max_linear_x", "max_linear_y", "max_angular_z"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"limits.{name} must be a positive number, got {value!r}")

    def as_tuple(self) -> tuple[float, float, float]:
        """(|linear_x|, |linear_y|, |angular_z|), in the order of an action vector."""
        return (self.max_linear_x, self.max_linear_y, self.max_angular_z)


def throttled(action: np.ndarray, throttle: float) -> np.ndarray:
    """What the control loop sends for a key or policy `action` (key units, (3,)) at `throttle` percent,
    before the clamp to the limits: float32 `action x throttle / 100` (m/s, m/s, rad/s)."""
    return np.asarray(action, np.float32) * (throttle / 100.0)


def unthrottled(sent: np.ndarray, throttle: float) -> np.ndarray:
    """The key-unit actions (float32, same shape as `sent`) that `throttled` turns into `sent` (m/s, rad/s,
    as published): exactly, wherever such a float32 exists (every command mvla itself sent); otherwise
    (another teleop's twist) the nearest, `sent / (throttle / 100)` rounded to float32."""
    sent = np.asarray(sent, np.float64)
    guess = (sent / (throttle / 100.0)).astype(np.float32)
    best = guess.copy()
    found = throttled(guess, throttle).astype(np.float64) == sent
    below, above = guess.copy(), guess.copy()
    for _ in range(4):  # a float32 product is off by at most a few units in the last place
        below = np.nextafter(below, np.float32(-np.inf))
        above = np.nextafter(above, np.float32(np.inf))
        for candidate in (below, above):
            hit = ~found & (throttled(candidate, throttle).astype(np.float64) == sent)
            best[hit] = candidate[hit]
            found |= hit
    return best
