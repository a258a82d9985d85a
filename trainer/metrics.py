"""Offline metrics of predicted against recorded actions, per axis, in robot (key) units.

For predictions `p` and recorded actions `a` of N steps (N, 3) `[linear_x, linear_y, angular_z]`:
- `mae` = mean |p - a|, `rmse` = sqrt(mean (p - a)^2), per axis;
- `accuracy@t` for t in 0.3, 0.2, 0.15, 0.1: the fraction of steps with |p - a| <= t on that axis, and
  `accuracy_all@t` on every axis at once (a key press is 1.15, so 0.3 tells the key apart);
- `r2` = 1 - sum (p - a)^2 / sum (a - mean a)^2 (None when the axis never varies), and `pearson`
  correlation (None when either side is constant), per axis;
- `sign_accuracy`: the fraction of steps whose direction is right, a value's direction being -1, 0 or
  +1 with |value| < `dead_zone` (0.1 key units, the stop threshold of `mvla eval --sim`) counting as 0;
- for a discrete head, `confusion`: counts of (recorded key, predicted key), keys named by the caller.
Everything is plain numpy; `tests/trainer/test_trainer_metrics.py` checks each against hand-computed
values. This module must not import torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from recorder.catalogue import STOP_KEY, key_of

AXES = ("linear_x", "linear_y", "angular_z")
THRESHOLDS = (0.3, 0.2, 0.15, 0.1)
DEAD_ZONE = 0.1


@dataclass
class AxisMetrics:
    mae: float
    rmse: float
    accuracy: dict[float, float]  # threshold (key units) -> fraction of steps within it
    r2: float | None
    pearson: float | None
    sign_accuracy: float


@dataclass
class Metrics:
    steps: int
    axes: dict[str, AxisMetrics]
    accuracy_all: dict[float, float]  # threshold -> fraction of steps with every axis within it
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)  # recorded key -> predicted -> count

    def to_dict(self) -> dict:
        """As `mvla eval --json` writes it: thresholds named as numbers are ("0.3")."""
        return {
            "steps": self.steps,
            "axes": {k: {**vars(v), "accuracy": threshold_names(v.accuracy)} for k, v in self.axes.items()},
            "accuracy_all": threshold_names(self.accuracy_all),
            "confusion": self.confusion,
        }


def threshold_names(by_threshold: dict[float, float]) -> dict[str, float]:
    """{0.3: fraction} -> {"0.3": fraction}: thresholds as written in JSON and metric names."""
    return {f"{t:g}": v for t, v in by_threshold.items()}


def direction(values: np.ndarray, dead_zone: float = DEAD_ZONE) -> np.ndarray:
    return np.where(np.abs(values) < dead_zone, 0, np.sign(values)).astype(np.int8)


def _r2(p: np.ndarray, a: np.ndarray) -> float | None:
    total = float(np.square(a - a.mean()).sum())
    if total == 0.0:
        return None
    return 1.0 - float(np.square(p - a).sum()) / total


def _pearson(p: np.ndarray, a: np.ndarray) -> float | None:
    dp, da = p - p.mean(), a - a.mean()
    denom = float(np.sqrt(np.square(dp).sum() * np.square(da).sum()))
    if denom == 0.0:
        return None
    return float((dp * da).sum()) / denom


def compute(
    predicted: np.ndarray,
    recorded: np.ndarray,
    key_of: Callable[[np.ndarray], str] | None = None,
    dead_zone: float = DEAD_ZONE,
) -> Metrics:
    """Metrics of (N, A) predictions against (N, A) recorded actions (A = 2 or 3, robot units)."""
    p = np.asarray(predicted, np.float64)
    a = np.asarray(recorded, np.float64)
    if p.shape != a.shape or p.ndim != 2 or len(p) == 0:
        raise ValueError(f"predicted {p.shape} and recorded {a.shape} must be the same (N, A) with N > 0")
    err = np.abs(p - a)
    axes = {}
    for i in range(p.shape[1]):
        axes[AXES[i]] = AxisMetrics(
            mae=float(err[:, i].mean()),
            rmse=float(np.sqrt(np.square(p[:, i] - a[:, i]).mean())),
            accuracy={t: float((err[:, i] <= t).mean()) for t in THRESHOLDS},
            r2=_r2(p[:, i], a[:, i]),
            pearson=_pearson(p[:, i], a[:, i]),
            sign_accuracy=float((direction(p[:, i], dead_zone) == direction(a[:, i], dead_zone)).mean()),
        )
    accuracy_all = {t: float((err <= t).all(axis=1).mean()) for t in THRESHOLDS}
    confusion: dict[str, dict[str, int]] = {}
    if key_of is not None:
        pairs = Counter((key_of(a[j]), key_of(p[j])) for j in range(len(p)))
        for (true, pred), n in sorted(pairs.items()):
            confusion.setdefault(true, {})[pred] = n
    return Metrics(len(p), axes, accuracy_all, confusion)


def per_group(
    predicted: np.ndarray,
    recorded: np.ndarray,
    groups: Sequence[str],
    key_of: Callable[[np.ndarray], str] | None = None,
) -> dict[str, Metrics]:
    """Metrics per group (scenario) in order first seen, then "all"."""
    names = np.asarray(list(groups), dtype=object)
    out = {}
    for g in dict.fromkeys(names.tolist()):
        rows = names == g
        out[g] = compute(predicted[rows], recorded[rows], key_of)
    out["all"] = compute(predicted, recorded, key_of)
    return out


KEY_TOLERANCE = 0.3  # key units: a press is 1.15 on an axis, so 0.3 tells the presses apart


def key_name(action: np.ndarray) -> str:
    """An action named by its operator's key (`recorder.catalogue.key_of` within `KEY_TOLERANCE`), the zero
    action as "stop", anything else as "other"."""
    key = key_of(action, KEY_TOLERANCE)
    return "other" if key is None else "stop" if key == STOP_KEY else key
