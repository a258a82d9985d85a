"""Training-step figures of a policy config, measured through the real `mvla train` loop.

`train_steps` writes synthetic episodes of exactly `window` steps with the recorder's own writer (so a
batch of `batch` episodes is `batch` windows of `window` frames: RoboVLMs' batch size), trains `steps`
optimiser steps with `trainer.loop.train` (Accelerate, the configured precision and gradient
checkpointing) and reports seconds per step, windows per second, peak memory (process RSS, and CUDA's
peak allocation on a GPU), and the policy checkpoint it wrote: its size and what it holds
(`stored_parts`). A LoRA policy's checkpoint must hold the adapter, the head and the policy's own small
layers, never the backbone's weights (`backbone_tensors` names any that slipped in).

Users: `benchmarks/bench_kosmos2_train.py` (the full-size Kosmos-2 on a CPU) and
`benchmarks/gpu_check.sh` (30 bf16 steps on a GPU). It measures; it asserts nothing but the run
itself. No textual here.
"""

from __future__ import annotations

import functools
import resource
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from configs import MvlaError

# What a LoRA policy may store besides the adapter: its own layers around the backbone.
OWN_LAYERS = ("head.", "action_token", "fusion.")


@dataclass
class TrainStepsResult:
    policy: str
    gradient_checkpointing: bool
    device: str
    precision: str  # Accelerate's mixed precision: "no" (fp32), "bf16" or "fp16"
    threads: int
    window: int
    batch: int  # windows per optimiser step
    # wall clock of each optimiser step (forward, backward, AdamW); the first from the call, so it also
    # holds building the policy and checking the episode files
    step_s: list[float]
    samples_per_s: float  # windows per second over the steps after the first
    peak_rss_mb: float  # the process's peak resident memory (build, training and checkpoint)
    cuda_peak_mb: float | None
    checkpoint: str  # the policy checkpoint written at the end (`final/`)
    checkpoint_bytes: int  # its model.safetensors
    stored_values: int  # values in it: the trainable parameters
    stored_parts: dict[str, int] = field(default_factory=dict)  # part -> values (`stored_parts`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _part(key: str) -> str:
    if "lora_" in key:
        return "lora"
    return key.split(".")[0] if key.startswith(OWN_LAYERS) else "backbone"


def stored_sizes(checkpoint: Path) -> dict[str, int]:
    """Tensor name -> value count of a checkpoint's model.safetensors, read from its header only."""
    from safetensors import safe_open

    with safe_open(str(checkpoint / "model.safetensors"), "pt") as f:
        names = list(f.keys())  # noqa: SIM118 (a safetensors handle is not iterable)
        return {k: int(np.prod(f.get_slice(k).get_shape())) for k in names}


def stored_parts(sizes: dict[str, int]) -> dict[str, int]:
    """Checkpoint key -> value count, summed by part: `lora` (adapter matrices), `head`, `action_token`,
    `fusion` (the hybrid's projection) and `backbone` (any other weight: a backbone's own)."""
    parts: dict[str, int] = {}
    for key, size in sizes.items():
        parts[_part(key)] = parts.get(_part(key), 0) + size
    return parts


def backbone_tensors(checkpoint: Path) -> list[str]:
    """Names of the tensors in a checkpoint that are neither LoRA nor the policy's own layers."""
    return [k for k in stored_sizes(checkpoint) if _part(k) == "backbone"]


def _fixed(when: datetime) -> datetime:
    return when


def write_episodes(folder: Path, count: int, steps: int, size: tuple[int, int], seed: int = 0) -> None:
    """`count` successful episodes of `steps` policy steps each, random (h, w) RGB frames and key presses."""
    from recorder.catalogue import load_catalogue
    from recorder.episode import EpisodeMeta
    from recorder.writer import EpisodeWriter

    scenarios = [s.id for s in load_catalogue().scenarios]
    keys = np.array([[1.15, 0, 0], [0, 1.15, 0], [0, -1.15, 0], [0, 0, 1.15]], np.float32)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        meta = EpisodeMeta(
            scenario=scenarios[i % len(scenarios)], pattern="core", distance="medium", robot="sim"
        )
        when = datetime(2026, 1, 1) + timedelta(minutes=i)  # distinct file names, in order
        with EpisodeWriter(folder, meta, now=functools.partial(_fixed, when)) as writer:
            frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            writer.append(frame, np.zeros(3, np.float32), "episode_start")
            for _ in range(steps):
                frame = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
                writer.append(frame, keys[int(rng.integers(len(keys)))], "start_action")
            writer.finish("success")


def train_steps(
    policy_yaml: Path,
    work: Path,
    *,
    steps: int = 3,
    batch: int = 1,
    gradient_checkpointing: bool,
    precision: str = "fp32",
    device: str = "cpu",
    threads: int | None = None,
    frame_size: tuple[int, int] = (720, 1280),
    policy_overrides: dict[str, Any] | None = None,
) -> TrainStepsResult:
    """`steps` optimiser steps of the policy in `policy_yaml` on `batch` synthetic windows per step, in
    the run folder `work/run` (episodes in `work/episodes`); see the module docstring."""
    import torch

    from configs import from_dict, load_yaml
    from trainer.config import TrainConfig
    from trainer.loop import train

    if steps < 1 or batch < 1:
        raise MvlaError(f"steps and batch must be >= 1, got {steps}, {batch}")
    window = int((policy_overrides or {}).get("window") or load_yaml(policy_yaml).get("window", 8))
    episodes = work / "episodes"
    write_episodes(episodes, batch, window, frame_size)
    config = from_dict(
        TrainConfig,
        {
            "policy_config": str(policy_yaml),
            "policy": policy_overrides or {},
            "data": {"dirs": [str(episodes)], "val_fraction": 0.0, "episodes_per_batch": batch, "workers": 0},
            "optim": {"lr": 1e-4, "warmup_steps": 0},
            "steps": steps,
            "output": str(work / "run"),
            "device": device,
            "precision": precision,
            "threads": threads,
            "gradient_checkpointing": gradient_checkpointing,
            "checkpoint_every": steps,
            "eval_every": steps,
            "tensorboard": False,
        },
        source="trainer.bench",
    )
    ends: list[float] = []
    start = time.perf_counter()
    result = train(config, progress=lambda _p: ends.append(time.perf_counter()), log=lambda _: None)
    if result.final is None:
        raise MvlaError(f"training stopped at step {result.steps} of {steps}")
    step_s = [float(s) for s in np.diff([start, *ends])]  # the first also paid for the build and data check
    cuda = device != "cpu" and torch.cuda.is_available()
    sizes = stored_sizes(result.final)
    measured = step_s[1:] or step_s  # without the first step, which includes the build
    return TrainStepsResult(
        policy=str(policy_yaml),
        gradient_checkpointing=gradient_checkpointing,
        device="cuda" if cuda else "cpu",
        precision={"fp32": "no"}.get(precision, precision),
        threads=torch.get_num_threads(),
        window=window,
        batch=batch,
        step_s=step_s,
        samples_per_s=batch * len(measured) / sum(measured),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        cuda_peak_mb=torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
        checkpoint=str(result.final),
        checkpoint_bytes=(result.final / "model.safetensors").stat().st_size,
        stored_values=sum(sizes.values()),
        stored_parts=stored_parts(sizes),
    )
