"""The training loop of `mvla train`: HF Accelerate for devices, mixed precision and several processes;
our own epoch schedule, so that a resumed run continues exactly.

One run, one folder (`TrainConfig.output`):
- `train_config.yaml`: the resolved config; `--resume` refuses a run folder with another one;
- `index.json`: the cached file checks (`trainer.index`); `split.json`: train / validation episodes;
- `checkpoints/step-N/`: resumable checkpoints (`trainer.state`) every `checkpoint_every` steps, at the
  end and on Ctrl-C; `best/`: the policy checkpoint with the best validation value; `final/`: the
  policy at the last step;
- `tensorboard/`: loss, learning rate, gradient norm, samples/s and validation metrics;
- `metrics.jsonl`: one line per step (loss, lr) and per validation.

Fine-tuning (`init_from`): the run starts from a checkpoint's weights, with its policy config and its
action normalisation (not recomputed from the data, so the fine-tuned policy keeps its units); the
config's `policy_config` must name the same policy. Intervention episodes weigh their steps as
`trainer.data.step_weights` says, and the training data's intervention rate goes in the log and
TensorBoard (`data/takeovers_per_100_steps`).

A step: `optim.accumulation` batches of `data.episodes_per_batch` whole episodes (every window of
each, frames encoded once: `policies.batch`), AdamW with a linear warm-up then a cosine schedule (one
scheduler step per optimiser step, whatever the number of processes), the global gradient norm
clipped. Mixed precision (`precision`): bf16 where the GPU has it, else fp16 with loss scaling, fp32
on a CPU. Several GPUs or nodes: start the same command under `accelerate launch -m mvla_tui.cli train
...`; each process takes its share of every epoch's batches (`trainer.data.EpochSchedule`). A single
process needs no launcher.

Resume is exact (`tests/trainer/test_trainer_resume.py`): the model's trainable weights, the
optimiser, the scheduler, the step, the RNG states and the position inside the epoch are restored, and
augmentation is seeded per item, so on a CPU the losses after the resume equal those of an
uninterrupted run bit for bit, also when the checkpoint falls inside an epoch (where re-creating a
shuffled loader, the usual failure, would repeat or skip batches). Ctrl-C finishes the step in flight,
writes a resumable checkpoint and returns; a second Ctrl-C stops at once.

Why one module of this size: the step, its bookkeeping (position, best value, logs) and the
checkpoint/resume code must agree on the same state, and are safest read together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
import yaml

from configs import ConfigError, MvlaError, to_dict
from configs.crashes import enable_faulthandler
from configs.files import write_atomic
from policies import registry
from policies.base import Policy
from policies.batch import EpisodeSteps, collate
from policies.checkpoint import CheckpointHeader, Provenance, git_commit, load_weights, save_checkpoint
from policies.config import PolicyConfig
from policies.normalisation import ActionNormalisation
from recorder.catalogue import load_catalogue
from trainer.augment import swap_sides
from trainer.config import TrainConfig
from trainer.data import (
    EpisodeDataset,
    EpochSchedule,
    Position,
    discrete_classes,
    list_collate,
    normalisation_from,
)
from trainer.features import FeatureCache
from trainer.index import DatasetIndex, EpisodeRecord, build_index, split, takeovers_per_100_steps
from trainer.reports import Progress, Validation, validate
from trainer.state import RunState, load_state, save_state, step_dirs


@dataclass
class TrainResult:
    run: Path
    steps: int  # optimiser steps done when it returned
    losses: dict[int, float] = field(default_factory=dict)  # step -> training loss, of this call's steps
    validations: dict[int, Validation] = field(default_factory=dict)  # step -> its validation
    interrupted: bool = False
    best: Path | None = None
    final: Path | None = None
    index: DatasetIndex | None = None
    train_episodes: int = 0
    val_episodes: int = 0
    samples_per_s: float | None = None  # windows per second over this call's steps
    note: str = ""
    takeovers_per_100_steps: float | None = None  # of the training split's intervention episodes


@dataclass
class Setup:
    """Everything a run needs before its first step; deterministic given the config."""

    index: DatasetIndex
    train: list[EpisodeRecord]
    val: list[EpisodeRecord]
    name: str
    policy_config: PolicyConfig
    normalisation: ActionNormalisation
    init: tuple[Path, CheckpointHeader] | None = None  # `init_from`: the checkpoint and what it says


def config_digest(config: TrainConfig) -> str:
    return hashlib.sha256(json.dumps(to_dict(config), sort_keys=True, default=str).encode()).hexdigest()[:16]


def _merge(base: dict, overrides: dict) -> dict:
    out = dict(base)
    for key, value in overrides.items():
        out[key] = (
            _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        )
    return out


def prepare_data(config: TrainConfig, run: Path, on_file: Callable[[Path], None] | None = None) -> Setup:
    """Index, split, normalisation and the policy config (discrete classes filled from the data)."""
    index = build_index(
        config.data.dirs,
        load_catalogue(),
        include_failed=config.data.include_failed,
        timeout_s=config.data.check_timeout_s,
        cache=run / "index.json",
        max_episodes=config.data.max_episodes,
        on_file=on_file,
    )
    if not index.episodes:
        detail = "; ".join(index.describe_skipped(3))
        raise MvlaError(f"no usable episode in {', '.join(config.data.dirs)} ({detail})")
    train, val = split(index.episodes, config.data.val_fraction, config.data.split_seed)
    data = _merge(_load_policy_yaml(config.policy_config), config.policy)
    source = f"{config.policy_config} with the train config's policy:"
    if config.init_from:
        return _fine_tune_setup(config, index, train, val, data.get("policy"))
    head = dict(data.get("head") or {})
    fill_classes = head.get("kind") == "discrete" and not head.get("classes")
    if fill_classes:  # validated without its classes first: they come from the data, below
        _, provisional = registry.config_from_dict(
            {**data, "head": {**head, "kind": "regression"}}, source=source
        )
    else:
        _, provisional = registry.config_from_dict(data, source=source)
    norm = normalisation_from(train, config.data.normalisation, provisional.action_dim)
    if fill_classes:
        classes, weights = discrete_classes(
            train, norm, provisional.fwd_pred_next_n, config.data.stop_targets
        )
        data = {
            **data,
            "head": {**head, "classes": [list(c) for c in classes], "class_weights": list(weights)},
        }
    data["predicts_stop"] = config.data.stop_targets
    name, pcfg = registry.config_from_dict(data, source=source)
    if config.gradient_checkpointing is not None:
        pcfg = pcfg.with_gradient_checkpointing(config.gradient_checkpointing)
    return Setup(index, train, val, name, pcfg, norm)


def _fine_tune_setup(
    config: TrainConfig,
    index: DatasetIndex,
    train: list[EpisodeRecord],
    val: list[EpisodeRecord],
    wanted: object,
) -> Setup:
    """The `Setup` of a run that starts from `config.init_from`: the checkpoint's policy config (its
    discrete classes too) and normalisation; the run's own stop targets and gradient checkpointing."""
    import dataclasses

    from policies.checkpoint import inspect_checkpoint
    from policies.default_policy import resolve

    assert config.init_from is not None
    path = resolve(config.init_from, "init_from")
    try:
        header = inspect_checkpoint(path)
    except MvlaError as exc:
        raise MvlaError(f"init_from {config.init_from}: {exc}") from None
    if header.name != wanted:
        raise ConfigError(
            f"init_from {config.init_from}: a {header.name!r} policy, but policy_config "
            f"{config.policy_config} is {wanted!r}; fine-tune with a config of the same policy"
        )
    clash = _first_override_clash(registry.config_to_dict(header.name, header.config), config.policy)
    if clash:
        raise ConfigError(
            f"init_from {config.init_from}: the checkpoint's policy has {clash}; the policy config comes "
            "from the checkpoint: remove that override, or fine-tune from a checkpoint that has it"
        )
    pcfg = dataclasses.replace(header.config, predicts_stop=config.data.stop_targets)
    if config.gradient_checkpointing is not None:
        pcfg = pcfg.with_gradient_checkpointing(config.gradient_checkpointing)
    return Setup(index, train, val, header.name, pcfg, header.normalisation, (path, header))


def _first_override_clash(checkpoint: dict, overrides: dict, prefix: str = "") -> str | None:
    """The first of the train config's `policy:` overrides that a fine-tune's checkpoint contradicts, as
    "KEY X, the train config's policy: sets Y"; None when the checkpoint agrees with every one."""
    for key, value in overrides.items():
        have = checkpoint.get(key)
        if isinstance(value, dict) and isinstance(have, dict):
            found = _first_override_clash(have, value, f"{prefix}{key}.")
            if found:
                return found
        elif _first_difference(have, value) is not None:
            return f"{prefix}{key} {have!r}, the train config's policy: sets {value!r}"
    return None


def _shown(folder: str) -> str:
    """A data folder as the checkpoint's provenance records it: relative to the current folder when
    inside or beside it (a checkpoint travels; the training machine's layout need not), else absolute."""
    relative = os.path.relpath(folder)
    return relative if not relative.startswith(("../../", "..\\..\\")) else folder


def _taught_instructions(
    train: list[EpisodeRecord], dataset: EpisodeDataset, config: TrainConfig
) -> set[str]:
    """Every instruction training can show: the episodes', the paraphrases, and their mirrors."""
    taught = {e.instruction for e in train}
    if dataset.paraphrases:
        taught |= {t for side in dataset.paraphrases.values() for t in side}
    if config.augment.mirror:
        taught |= {swap_sides(t) for t in taught}
    return taught


def _forget_unseen(policy: Policy, taught: set[str] | None, log: Callable[[str], None]) -> None:
    """Before a policy checkpoint is written: `Policy.forget_unseen_instructions`, said once. None: a
    fine-tune, whose base learnt words this data may lack (and whose unused buckets, zero, stay zero)."""
    if taught is None:
        return
    reset = policy.forget_unseen_instructions(taught)
    if reset:
        log(f"text encoder: {reset} word buckets no training instruction uses reset to zero")


def _load_policy_yaml(path: str) -> dict:
    from configs import load_yaml

    return load_yaml(path)


def _lr_lambda(config: TrainConfig) -> Callable[[int], float]:
    warmup, total, floor = config.optim.warmup_steps, config.steps, config.optim.min_lr_ratio

    def factor(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if config.optim.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def _param_groups(policy: Policy, weight_decay: float) -> list[dict]:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for _, p in policy.named_parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)  # no decay on biases, norms, temperatures
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _mixed_precision(config: TrainConfig, cuda: bool) -> str:
    if config.precision == "auto":
        if not cuda:
            return "no"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if config.precision == "fp16" and not cuda:
        raise ConfigError("precision fp16 needs a GPU; use fp32 (or bf16) on a CPU")
    return {"fp32": "no", "bf16": "bf16", "fp16": "fp16"}[config.precision]


class _StopFlag:
    """Ctrl-C once: finish the step, checkpoint, return. Twice: KeyboardInterrupt at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Callable[[int, FrameType | None], Any] | int | None = None

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _worker_init(_: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the training process's to handle
    torch.set_num_threads(1)
    # Torch's worker replaces the inherited handler with one that prints no Python stack; this one prints
    # the stack, then hands the signal on to torch's.
    enable_faulthandler(replace=True)


@contextlib.contextmanager
def _loader_deaths(step: Callable[[], int]) -> Iterator[None]:
    """A data loader worker that dies (a crash reading or decoding an episode) is one line naming the
    step. Torch reports it as a RuntimeError, raised wherever the training process is when it notices:
    while waiting for a batch, or from its SIGCHLD handler in the middle of a step."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc).strip()
        if not text.startswith("DataLoader worker"):
            raise
        raise MvlaError(
            f"step {step()}: a data loader worker process died ({text.rstrip('.')}); a crash prints its "
            "Python stack above; the checkpoints already written are complete; data.workers=0 reads in "
            "this process"
        ) from None


def _batches(
    schedule: EpochSchedule, dataset: EpisodeDataset, start: Position, workers: int, seed: int
) -> Iterator[tuple[Position, list[EpisodeSteps]]]:
    """(position after the batch, its episodes) from `start` on; one loader per epoch, over exactly
    the batches of that epoch still to come."""
    from torch.utils.data import DataLoader

    epoch, first = start.epoch, start.batch
    while True:
        batches = schedule.batches(epoch)[first:]
        items = [[(epoch, e) for e in b] for b in batches]
        # Its own generator: creating the loader must not draw from the global RNG (resume exactness).
        loader = DataLoader(
            dataset,
            batch_sampler=items,
            collate_fn=list_collate,
            num_workers=workers,
            worker_init_fn=_worker_init if workers else None,
            prefetch_factor=2 if workers else None,
            generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch),
        )
        for i, episodes in enumerate(loader):
            yield Position(epoch, first + i + 1), episodes
        epoch, first = epoch + 1, 0


def _check_run_folder(run: Path, config: TrainConfig, resume: bool) -> None:
    saved = run / "train_config.yaml"
    has_checkpoints = bool(step_dirs(run))
    if resume:
        if not has_checkpoints:
            raise MvlaError(f"--resume: {run} holds no checkpoint to resume from; run without --resume")
        if saved.is_file():
            before = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
            now = to_dict(config)
            diff = _first_difference(before, now)
            if diff:
                raise ConfigError(
                    f"--resume: the config differs from the run's ({diff}); resume with the same config, "
                    "or start a new run (another output)"
                )
        return
    if has_checkpoints:
        raise MvlaError(
            f"{run} already holds a run with checkpoints; add --resume to continue it, or set output elsewhere"
        )


def _first_difference(a: object, b: object, prefix: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _first_difference(a.get(key), b.get(key), f"{prefix}{key}.")
            if found:
                return found
        return None
    a = list(a) if isinstance(a, tuple) else a
    b = list(b) if isinstance(b, tuple) else b
    return None if a == b else f"{prefix.rstrip('.')}: {a!r} then, {b!r} now"


def train(
    config: TrainConfig,
    resume: bool = False,
    *,
    progress: Callable[[Progress], None] | None = None,
    stop_after: int | None = None,
    log: Callable[[str], None] = print,
) -> TrainResult:
    """Run (or resume) training as `config` says; see the module docstring.

    `stop_after`: return after that many optimiser steps of this call, as if interrupted (the resume
    test stops at step k this way); `progress` gets a `Progress` per step."""
    from accelerate import Accelerator

    run = Path(config.output)
    _check_run_folder(run, config, resume)
    run.mkdir(parents=True, exist_ok=True)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    want_cuda = config.device != "cpu" and torch.cuda.is_available()
    if config.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda: CUDA is not available here; use device: cpu")
    accelerator = Accelerator(cpu=not want_cuda, mixed_precision=_mixed_precision(config, want_cuda))
    main = accelerator.is_main_process

    random.seed(config.seed)
    np.random.seed(config.seed % 2**32)
    torch.manual_seed(config.seed)
    setup = prepare_data(config, run)
    split_file = run / "split.json"
    split_now = {"train": [e.name for e in setup.train], "val": [e.name for e in setup.val]}
    if resume and split_file.is_file() and json.loads(split_file.read_text(encoding="utf-8")) != split_now:
        raise MvlaError(
            f"--resume: the episodes in {', '.join(config.data.dirs)} changed since the run started "
            f"(see {split_file}); resume on the same data, or start a new run"
        )
    if main:
        (run / "train_config.yaml").write_text(
            yaml.safe_dump(to_dict(config), sort_keys=False), encoding="utf-8"
        )
        split_file.write_text(json.dumps(split_now, indent=1), encoding="utf-8")
    torch.manual_seed(config.seed)  # the same initial weights whatever the index cost
    policy = registry.build_policy(setup.name, setup.policy_config)
    if setup.init is not None and not resume:  # a resume loads its own checkpoint below
        try:
            load_weights(policy, *setup.init)
        except MvlaError as exc:
            raise MvlaError(f"init_from {config.init_from}: {exc}") from None
        log(f"fine-tuning from {setup.init[0]}: its weights, policy config and action normalisation")
    policy.train()
    norm = setup.normalisation

    optimizer = torch.optim.AdamW(
        _param_groups(policy, config.optim.weight_decay),
        lr=config.optim.lr,
        betas=config.optim.betas,
        eps=config.optim.eps,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config))
    model, optimizer = accelerator.prepare(policy, optimizer)
    device = accelerator.device

    digest = config_digest(config)
    state = RunState(0, 0, 0, None, None, digest)
    if resume:
        latest = step_dirs(run)[-1]
        state, resume_state = load_state(latest)
        from safetensors.torch import load_file

        tensors = load_file(str(latest / "policy" / "model.safetensors"))
        missing, unexpected = policy.load_state_dict(tensors, strict=False)
        if unexpected:
            raise MvlaError(
                f"{latest}: unexpected weight {unexpected[0]!r}; the checkpoint is of another model"
            )
        optimizer.load_state_dict(resume_state.optimizer)
        scheduler.load_state_dict(resume_state.scheduler)
        resume_state.rng.restore()
        log(f"resumed {run} at step {state.step} (epoch {state.epoch}, batch {state.batch})")

    cache = None
    if (
        config.cache_features == "auto"
        and policy.frame_encoder_frozen()
        and not config.augment.touches_images
    ):
        cache = FeatureCache(run / "features", policy.feature_identity())
    schedule = EpochSchedule(
        len(setup.train),
        config.data.episodes_per_batch,
        config.seed,
        accelerator.process_index,
        accelerator.num_processes,
    )
    dataset = EpisodeDataset(setup.train, norm, config.augment, config.seed, cache, weighting=config.data)
    taught = _taught_instructions(setup.train, dataset, config) if setup.init is None else None
    batches = _batches(
        schedule, dataset, Position(state.epoch, state.batch), config.data.workers, config.seed
    )

    writer = None
    if main and config.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            log("TensorBoard logs off: install the 'train' extra of mobile-vla (tensorboard)")
        else:
            writer = SummaryWriter(str(run / "tensorboard"), purge_step=state.step + 1 if resume else None)
    metrics_log = run / "metrics.jsonl"
    if main:
        _truncate_log(metrics_log, state.step)
    intervention_rate = takeovers_per_100_steps(setup.train)
    if intervention_rate is not None:
        interventions = sum(e.intervention for e in setup.train)
        log(
            f"intervention data: {interventions} of {len(setup.train)} training episodes, "
            f"{intervention_rate:.1f} takeovers per 100 steps"
        )
        if writer is not None:
            writer.add_scalar("data/takeovers_per_100_steps", intervention_rate, state.step)

    result = TrainResult(
        run,
        state.step,
        train_episodes=len(setup.train),
        val_episodes=len(setup.val),
        index=setup.index,
        takeovers_per_100_steps=intervention_rate,
    )
    if cache is not None:
        result.note = f"frame features cached in {cache.directory} (frozen frame encoder)"
    provenance = Provenance(
        data=[_shown(d) for d in config.data.dirs],
        commit=git_commit(),
        notes="mvla train" + (f", fine-tuned from {setup.init[0]}" if setup.init is not None else ""),
        held_out=[e.name for e in setup.val],
    )
    unwrapped: Policy = accelerator.unwrap_model(model)
    accumulation = config.optim.accumulation
    trainable = [p for p in unwrapped.parameters() if p.requires_grad]
    since_log: list[float] = []
    started = time.perf_counter()
    windows_done = 0
    steps_this_call = 0
    position = Position(state.epoch, state.batch)

    def checkpoint() -> Path:
        provenance.steps = state.step
        state.epoch, state.batch = position.epoch, position.batch
        path = save_state(
            run, unwrapped, norm, provenance, optimizer, scheduler, state, config.keep_checkpoints
        )
        return path

    with _StopFlag() as stop, _loader_deaths(lambda: state.step + 1):
        while state.step < config.steps:
            step_loss = 0.0
            step_windows = 0
            for micro in range(accumulation):
                position, episodes = next(batches)
                if cache is not None:
                    episodes = cache.fill(unwrapped, episodes, device)
                batch = collate(episodes, unwrapped.preprocess, unwrapped.window, unwrapped.horizon).to(
                    device
                )
                sync = micro == accumulation - 1
                with contextlib.nullcontext() if sync else accelerator.no_sync(model):
                    out = model(batch)
                    loss = out.loss / accumulation
                    accelerator.backward(loss)
                step_loss += float(loss.detach())
                step_windows += batch.num_windows
            grad_norm = None
            if config.optim.grad_clip is not None:
                grad_norm = float(accelerator.clip_grad_norm_(trainable, config.optim.grad_clip))
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state.step += 1
            steps_this_call += 1
            windows_done += step_windows
            result.losses[state.step] = step_loss
            since_log.append(step_loss)
            lr = float(scheduler.get_last_lr()[0])
            elapsed = time.perf_counter() - started
            rate = windows_done / elapsed if elapsed > 0 else None
            if main:
                _append(
                    metrics_log, {"step": state.step, "loss": step_loss, "lr": lr, "grad_norm": grad_norm}
                )
                if writer is not None and (state.step % config.log_every == 0 or state.step == config.steps):
                    writer.add_scalar("train/loss", float(np.mean(since_log)), state.step)
                    writer.add_scalar("train/lr", lr, state.step)
                    if grad_norm is not None:
                        writer.add_scalar("train/grad_norm", grad_norm, state.step)
                    if rate is not None:
                        writer.add_scalar("train/samples_per_s", rate, state.step)
                    since_log = []
            last = state.step == config.steps
            if state.step % config.eval_every == 0 or last:
                validation = validate(unwrapped, setup.val, norm, device) if main else None
                if validation is not None:
                    result.validations[state.step] = validation
                    values = validation.record()
                    _append(metrics_log, {"step": state.step, **values})
                    if writer is not None:
                        for name, value in values.items():
                            writer.add_scalar(f"val/{name.removeprefix('val_')}", value, state.step)
                    score = validation.score(config.best_metric)
                    if state.best is None or score < state.best:
                        state.best, state.best_step = score, state.step
                        provenance.steps = state.step
                        _forget_unseen(unwrapped, taught, log)
                        result.best = save_checkpoint(unwrapped, run / "best", norm, provenance)
            if progress is not None:
                progress(
                    Progress(
                        step=state.step,
                        total=config.steps,
                        loss=step_loss,
                        lr=lr,
                        samples_per_s=rate,
                        epoch=position.epoch,
                        validation=result.validations.get(state.step),
                    )
                )
            interrupted = stop.requested or (stop_after is not None and steps_this_call >= stop_after)
            if main and (state.step % config.checkpoint_every == 0 or last or interrupted):
                checkpoint()
            if interrupted and not last:
                result.interrupted = True
                break
    if writer is not None:
        writer.close()
    result.steps = state.step
    if windows_done and steps_this_call:
        result.samples_per_s = windows_done / (time.perf_counter() - started)
    if not result.interrupted and main:
        provenance.steps = state.step
        _forget_unseen(unwrapped, taught, log)
        result.final = save_checkpoint(unwrapped, run / "final", norm, provenance)
        if (run / "best").is_dir():
            result.best = run / "best"
    return result


def _append(path: Path, record: dict) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def _truncate_log(path: Path, step: int) -> None:
    """Drop log lines of steps after `step` (left by a run that crashed after its last checkpoint)."""
    if not path.is_file():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if json.loads(line).get("step", 0) <= step
    ]
    write_atomic(path, "".join(f"{line}\n" for line in kept))
