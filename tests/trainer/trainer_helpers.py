"""Small episode folders and tiny train configs for the trainer tests: episodes written by the recorder's
own writer (frames that are random, or that encode their step), and a train config YAML pointing at a
tiny policy config, so a run of a few steps takes seconds on a CPU."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import yaml

from recorder.episode import EpisodeMeta
from recorder.writer import EpisodeWriter

SCENARIOS = ("1box_left", "1box_right", "2box_left", "2box_right")
KEYS = {"w": (1.15, 0, 0), "a": (0, 1.15, 0), "d": (0, -1.15, 0), "r": (0, 0, 1.15)}


def write_episode(
    folder: Path,
    index: int,
    steps: int = 6,
    scenario: str | None = None,
    outcome: str = "success",
    size: tuple[int, int] = (24, 32),
    instruction: str | None = None,
    seed: int | None = None,
) -> Path:
    """Frame 0 episode_start, then `steps` key presses; each frame's image is random (seeded)."""
    rng = np.random.default_rng(index if seed is None else seed)
    scenario = scenario or SCENARIOS[index % len(SCENARIOS)]
    meta = EpisodeMeta(
        scenario=scenario, pattern="core", distance="medium", instruction=instruction, robot="sim"
    )
    when = datetime(2026, 1, 1) + timedelta(minutes=index)
    keys = list(KEYS)
    with EpisodeWriter(folder, meta, now=lambda: when) as writer:
        writer.append(
            rng.integers(0, 256, (*size, 3), dtype=np.uint8), np.zeros(3, np.float32), "episode_start"
        )
        for _ in range(steps):
            key = keys[int(rng.integers(len(keys)))]
            writer.append(
                rng.integers(0, 256, (*size, 3), dtype=np.uint8),
                np.array(KEYS[key], np.float32),
                "start_action",
            )
        return writer.finish(outcome)


def write_folder(folder: Path, count: int, **kwargs) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [write_episode(folder, i, **kwargs) for i in range(count)]


TINY_COMPACT = {
    "policy": "compact",
    "window": 4,
    "fwd_pred_next_n": 3,
    "image_height": 24,
    "image_width": 32,
    "channels": [8, 16],
    "text_buckets": 64,
    "text_dim": 8,
    "feature_dim": 16,
    "head": {"hidden": 16},
}


def train_config(tmp: Path, data: list[Path], policy: dict | str | None = None, **fields) -> Path:
    """A train config YAML in `tmp` (and its policy YAML): tiny compact unless `policy` says otherwise."""
    tmp.mkdir(parents=True, exist_ok=True)
    if isinstance(policy, str):
        policy_path = Path(policy)
    else:
        policy_path = tmp / "policy.yaml"
        policy_path.write_text(yaml.safe_dump(policy or TINY_COMPACT), encoding="utf-8")
    config = {
        "policy_config": str(policy_path),
        "data": {"dirs": [str(d) for d in data], "episodes_per_batch": 2, "workers": 0, "val_fraction": 0.0},
        "optim": {"lr": 3e-3, "warmup_steps": 2},
        "steps": 6,
        "output": str(tmp / "run"),
        "checkpoint_every": 100,
        "eval_every": 100,
        "tensorboard": False,
        "threads": 1,
    }
    for key, value in fields.items():
        node = config
        parts = key.split("__")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    path = tmp / "train.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
