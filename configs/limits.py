"""`LimitsConfig`: the one set of absolute command limits, shared by the control loop, every robot link and
the policy runtime (which is why it lives in this bottom layer that every package may import).

Units are the recorded key units, 1.15 for a full-speed key press on an axis, which are also what the
links are sent at throttle 100 %: the older collector published exactly these numbers on `/cmd_vel`
(m/s and rad/s). The policy runtime clamps its actions to them before the control loop scales them by
the throttle, and the loop and the links clamp what is sent once more. Imports nothing of ours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


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
