"""Action normalisation: a per-dimension scale that maps robot-unit actions to [-1, 1] and back.

Policies learn normalised actions (their head ends in tanh); the scale travels with the checkpoint
as `normalisation.json` so the runtime de-normalises with exactly the numbers training used. The
scale is the largest absolute value seen per dimension (a full-speed key press is 1.15), so a
recorded action maps into [-1, 1] without clipping. This module must not import torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies import PolicyLoadError

# Robot units of each action dimension, in order (REP 103 robot frame).
ACTION_UNITS = ("linear_x m/s", "linear_y m/s", "angular_z rad/s")


@dataclass(frozen=True)
class ActionNormalisation:
    scale: tuple[float, ...]  # one positive value per action dimension, robot units

    def __post_init__(self) -> None:
        if len(self.scale) not in (2, 3):
            raise ValueError(f"normalisation scale needs 2 or 3 values, got {len(self.scale)}")
        if not all(math.isfinite(s) and s > 0 for s in self.scale):
            raise ValueError(f"normalisation scale must be finite and positive, got {list(self.scale)}")

    @property
    def action_dim(self) -> int:
        return len(self.scale)

    @classmethod
    def from_actions(cls, actions: np.ndarray, floor: float = 1e-3) -> ActionNormalisation:
        """Scale from recorded actions (N, action_dim): max |a| per dimension; a dimension that never
        moves gets scale 1 so its zeros stay zeros without dividing by ~0."""
        peak = np.abs(np.asarray(actions, dtype=np.float64)).max(axis=0)
        return cls(tuple(float(p) if p > floor else 1.0 for p in peak))

    @classmethod
    def identity(cls, action_dim: int) -> ActionNormalisation:
        return cls((1.0,) * action_dim)

    def normalise(self, actions: np.ndarray) -> np.ndarray:
        """Robot units (..., action_dim) -> [-1, 1], float32."""
        return np.clip(np.asarray(actions, np.float32) / np.asarray(self.scale, np.float32), -1.0, 1.0)

    def denormalise(self, actions: np.ndarray) -> np.ndarray:
        """[-1, 1] (..., action_dim) -> robot units, float32."""
        return np.asarray(actions, np.float32) * np.asarray(self.scale, np.float32)

    def to_json(self) -> str:
        return json.dumps(
            {"scale": list(self.scale), "units": list(ACTION_UNITS[: self.action_dim])}, indent=2
        )

    @classmethod
    def read(cls, path: Path) -> ActionNormalisation:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(tuple(float(s) for s in data["scale"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise PolicyLoadError(f"{path}: not a valid action normalisation ({exc})") from None
