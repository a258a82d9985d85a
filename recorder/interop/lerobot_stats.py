"""Feature statistics in LeRobot v3's layout: per episode (`meta/episodes` columns `stats/<key>/<stat>`)
and for the whole dataset (`meta/stats.json`), each `min`, `max`, `mean`, `std`, `count` and the
quantiles `q01 q10 q50 q90 q99`. Vectors have their own shape ((3,) for the action, (1,) for a scalar
column); images are per channel, scaled to [0, 1], shaped (3, 1, 1). Episodes combine as LeRobot
combines them: min of mins, max of maxes, count-weighted mean, pooled variance, count-weighted quantiles.
Only numbers here: no file is read or written.
"""

from __future__ import annotations

import numpy as np

Stats = dict[str, np.ndarray]
QUANTILES = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}
IMAGE_SIDE = 160  # images are subsampled to about this width before their statistics are taken


def vector_stats(values: np.ndarray) -> Stats:
    """Statistics of (N,) or (N, D) values along the frames; shapes (1,) or (D,)."""
    data = np.asarray(values, np.float64)
    data = data.reshape(len(data), -1)
    out = {
        "min": data.min(axis=0),
        "max": data.max(axis=0),
        "mean": data.mean(axis=0),
        "std": data.std(axis=0),
        "count": np.array([len(data)]),
    }
    for key, q in QUANTILES.items():
        out[key] = np.quantile(data, q, axis=0)
    return out


def image_stats(frames: np.ndarray) -> Stats:
    """Per-channel statistics of (N, H, W, 3) uint8 frames in [0, 1], shapes (3, 1, 1); every frame is
    used, subsampled in space (statistics of a camera image need no full resolution)."""
    step = max(1, frames.shape[2] // IMAGE_SIDE)
    pixels = frames[:, ::step, ::step].reshape(-1, 3).astype(np.float64) / 255.0
    out = vector_stats(pixels)
    out = {k: v if k == "count" else v.reshape(3, 1, 1) for k, v in out.items()}
    out["count"] = np.array([len(frames)])
    return out


def combine(a: Stats, b: Stats) -> Stats:
    """The statistics of the union of two sets of frames."""
    na, nb = float(a["count"][0]), float(b["count"][0])
    total = na + nb
    mean = (a["mean"] * na + b["mean"] * nb) / total
    var = (
        (a["std"] ** 2 + (a["mean"] - mean) ** 2) * na + (b["std"] ** 2 + (b["mean"] - mean) ** 2) * nb
    ) / total
    out = {
        "min": np.minimum(a["min"], b["min"]),
        "max": np.maximum(a["max"], b["max"]),
        "mean": mean,
        "std": np.sqrt(var),
        "count": np.array([int(total)]),
    }
    for key in QUANTILES:
        out[key] = (a[key] * na + b[key] * nb) / total
    return out


def as_json(stats: dict[str, Stats]) -> dict[str, dict[str, list]]:
    return {key: {name: value.tolist() for name, value in s.items()} for key, s in stats.items()}
