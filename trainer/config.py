"""`TrainConfig`: what `mvla train --config configs/train/FILE.yaml [--set key=value ...]` reads.

One YAML file says which policy (a policy config file plus overrides), which data, how to augment,
optimise, log and checkpoint. Paths of files that ship with a config (`policy_config`,
`augment.paraphrases`) are relative to the YAML file; the data folders and the run folder (`data.dirs`,
`output`) are relative to the current folder, as on the command line. Every default lives here;
`configs/train/*.yaml` only set what differs. No torch here: a config is validated before anything heavy
is imported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from configs import ConfigError, apply_overrides, from_dict, load_yaml
from policies.default_policy import DEFAULT

# What picks `best/`: the validation loss (lower is better) or the every-axis accuracy within 0.1 key
# units (higher is better); `trainer.reports.Validation.score` states each direction.
BestMetric = Literal["val_loss", "val_accuracy_0.1"]


@dataclass
class AugmentConfig:
    """Training-time augmentation, drawn per episode from (seed, epoch, episode): resume-exact."""

    color_jitter: float = 0.0  # max relative change of brightness, contrast and saturation (0: off)
    crop: float = 0.0  # max fraction cut from each side before resizing back (0: off)
    mirror: float = 0.0  # probability of flipping an episode left/right (image, side, actions)
    paraphrases: str | None = None  # YAML with `left:` / `right:` lists of instructions (see below)
    paraphrase_prob: float = 0.5  # probability of replacing the instruction by a paraphrase of its side

    def __post_init__(self) -> None:
        for name in ("color_jitter", "crop"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value < 0.5):
                raise ValueError(f"augment.{name} must be in [0, 0.5), got {value}")
        for name in ("mirror", "paraphrase_prob"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"augment.{name} must be a probability in [0, 1], got {value}")

    @property
    def touches_images(self) -> bool:
        return bool(self.color_jitter or self.crop or self.mirror)


@dataclass
class DataConfig:
    dirs: tuple[str, ...] = ()  # data folders of episode files (*.h5)
    val_fraction: float = 0.1  # episodes held out for validation, per scenario
    split_seed: int = 0
    include_failed: bool = False  # also train on episodes whose outcome is "failure"
    stop_targets: bool = True  # a successful episode's last steps are followed by stop targets
    normalisation: Literal["data", "keys"] = "data"  # scale from the data, or the 1.15 key magnitude
    episodes_per_batch: int = 8  # a batch holds every window of this many episodes
    workers: int = 1  # loader worker processes (0: read in the training process)
    check_timeout_s: float = 60.0  # a file whose check takes longer is unreadable (the HDF5 library hangs)
    max_episodes: int | None = None  # use at most this many (first by name), e.g. for a quick run
    # Intervention episodes (`recorder.intervention`): per-step loss weights, `trainer.data.step_weights`.
    intervention_weight: float = 2.0  # an operator's step (a correction) weighs this much
    pre_takeover_frames: int = 2  # the last N policy steps before each takeover: the policy's mistakes
    pre_takeover_weight: float = 0.0  # ... weigh this much (0: out of the loss, kept as window context)
    policy_frames: Literal["keep", "drop"] = "keep"  # other policy steps of a successful episode: 1 or 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1), got {self.val_fraction}")
        if self.episodes_per_batch < 1:
            raise ValueError(f"data.episodes_per_batch must be >= 1, got {self.episodes_per_batch}")
        if self.workers < 0:
            raise ValueError(f"data.workers must be >= 0, got {self.workers}")
        if not self.check_timeout_s > 0:
            raise ValueError(f"data.check_timeout_s must be > 0, got {self.check_timeout_s}")
        for name in ("intervention_weight", "pre_takeover_weight"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise ValueError(f"data.{name} must be a number >= 0, got {value}")
        if self.pre_takeover_frames < 0:
            raise ValueError(f"data.pre_takeover_frames must be >= 0, got {self.pre_takeover_frames}")


@dataclass
class OptimConfig:
    lr: float = 3e-4
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    warmup_steps: int = 100  # linear warm-up from 0, then the schedule
    schedule: Literal["cosine", "constant"] = "cosine"  # cosine: down to min_lr_ratio x lr at the end
    min_lr_ratio: float = 0.05
    grad_clip: float | None = 1.0  # max global gradient norm (None: no clipping)
    accumulation: int = 1  # batches per optimiser step

    def __post_init__(self) -> None:
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.warmup_steps < 0 or self.accumulation < 1:
            raise ValueError("optim.warmup_steps must be >= 0 and optim.accumulation >= 1")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"optim.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"optim.grad_clip must be > 0 or null, got {self.grad_clip}")


@dataclass
class TrainConfig:
    policy_config: str = ""  # a policy YAML (configs/policy/*.yaml), relative to this file
    policy: dict[str, Any] = field(
        default_factory=dict
    )  # overrides of its fields, e.g. {head: {kind: discrete}}
    # Fine-tune: start from this checkpoint's weights, policy config and action normalisation (a
    # checkpoint directory, relative to the current folder, or `default` for the shipped policy).
    init_from: str | None = None
    data: DataConfig = field(default_factory=DataConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    steps: int = 1000  # optimiser steps
    seed: int = 0
    output: str = "runs/train"  # run folder: checkpoints/, best/, tensorboard/, index.json
    device: Literal["auto", "cpu", "cuda"] = "auto"
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # mixed precision on GPU; auto: bf16 or fp16
    threads: int | None = None  # torch CPU threads (None: torch's choice)
    gradient_checkpointing: bool | None = None  # overrides the policy's backbone.gradient_checkpointing
    cache_features: Literal["auto", "off"] = "auto"  # cache frame features when the frame encoder is frozen
    checkpoint_every: int = 500  # steps; also at the end and on Ctrl-C
    keep_checkpoints: int = 2  # newest step checkpoints kept (best/ is kept apart)
    eval_every: int = 250  # steps between validations (loss and offline metrics on the val split)
    best_metric: BestMetric = "val_loss"
    log_every: int = 10  # steps between TensorBoard points
    tensorboard: bool = True

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        for name in ("checkpoint_every", "keep_checkpoints", "eval_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")


def load_train_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """The config at `path` with `--set` overrides; relative paths resolved against its folder."""
    path = Path(path)
    data = apply_overrides(load_yaml(path), overrides or [])
    source = f"{path} with --set {' '.join(overrides)}" if overrides else str(path)
    config = from_dict(TrainConfig, data, source=source)
    if not config.policy_config:
        raise ConfigError(f"{source}: missing 'policy_config: <policy YAML>', e.g. ../policy/compact.yaml")
    if not config.data.dirs:
        raise ConfigError(f"{source}: data.dirs lists no data folder")
    base = path.resolve().parent
    config.policy_config = str(_resolve(base, config.policy_config))
    config.data.dirs = tuple(str(_resolve(Path.cwd(), d)) for d in config.data.dirs)
    if config.augment.paraphrases:
        config.augment.paraphrases = str(_resolve(base, config.augment.paraphrases))
    config.output = str(_resolve(Path.cwd(), config.output))
    if config.init_from and config.init_from != DEFAULT:
        config.init_from = str(_resolve(Path.cwd(), config.init_from))
    return config


def _resolve(base: Path, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p
