"""Resumable training checkpoints: written atomically, read back exactly.

`<run>/checkpoints/step-00000500/` holds
- `policy/`: a policy checkpoint (`policies.checkpoint`): what `mvla eval` and `mvla drive` load;
- `state.pt`: optimiser and scheduler state and the RNG states (torch CPU and CUDA, numpy, Python),
  read back with `torch.load(weights_only=True)` (tensors and plain values only, no code);
- `state.json`: step, position in the epoch schedule (epoch, batches consumed), the best validation
  value so far, the config digest.
The folder is built under a hidden name, fsynced and renamed into place (`configs.files.staged_dir`),
so a crash leaves either the previous checkpoint or the new one, never half of one. Only the newest
`keep` are kept (`best/` of the run is kept apart). This module must not import textual.
"""

from __future__ import annotations

import json
import random
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.lr_scheduler import LRScheduler

from configs import MvlaError
from configs.files import staged_dir
from policies.base import Policy
from policies.checkpoint import Provenance, save_checkpoint, verify_checkpoint
from policies.normalisation import ActionNormalisation

STEP_DIR = re.compile(r"^step-(\d{8})$")


@dataclass
class RunState:
    step: int  # optimiser steps done
    epoch: int  # position in the epoch schedule: the epoch ...
    batch: int  # ... and the batches of it already consumed
    best: float | None  # best validation value so far (lower is better; accuracies are negated)
    best_step: int | None
    config_digest: str


NumpyRng = tuple[str, torch.Tensor, int, int, float]  # np.random.get_state(), keys as int64 tensor
PythonRng = tuple[int, torch.Tensor, float | None]  # random.getstate(), internal state as a tensor


@dataclass(frozen=True)
class RngState:
    """Every random generator training draws from, in tensors and plain values (`weights_only` loads it)."""

    torch_state: torch.Tensor
    numpy_state: NumpyRng
    python_state: PythonRng
    cuda_states: list[torch.Tensor] | None = None  # one per device; None without CUDA

    @classmethod
    def now(cls) -> RngState:
        kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)
        version, internal, gauss_next = random.getstate()
        return cls(
            torch.get_rng_state(),
            (str(kind), torch.from_numpy(np.asarray(keys, np.int64)), int(pos), int(has_gauss), float(gauss)),
            (version, torch.tensor(internal, dtype=torch.int64), gauss_next),
            torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        )

    def restore(self) -> None:
        torch.set_rng_state(self.torch_state)
        if self.cuda_states is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(self.cuda_states)
        kind, keys, pos, has_gauss, gauss = self.numpy_state
        np.random.set_state(
            (kind, np.asarray(keys.numpy(), np.uint32), int(pos), int(has_gauss), float(gauss))
        )
        version, internal, gauss_next = self.python_state
        random.setstate((int(version), tuple(int(v) for v in internal.tolist()), gauss_next))

    def to_dict(self) -> dict[str, object]:
        """As `state.pt` holds it: {"torch", "numpy", "python"} and "cuda" where there was CUDA."""
        out: dict[str, object] = {
            "torch": self.torch_state,
            "numpy": self.numpy_state,
            "python": self.python_state,
        }
        if self.cuda_states is not None:
            out["cuda"] = self.cuda_states
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RngState:
        return cls(data["torch"], tuple(data["numpy"]), tuple(data["python"]), data.get("cuda"))


@dataclass(frozen=True)
class ResumeState:
    """`state.pt`: what a step checkpoint holds besides the weights and `RunState`."""

    optimizer: dict[str, Any]  # `Optimizer.state_dict()`
    scheduler: dict[str, Any]  # `LRScheduler.state_dict()`
    rng: RngState


def step_dirs(run: Path) -> list[Path]:
    """The step checkpoints of a run, oldest first."""
    folder = run / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if STEP_DIR.match(p.name)), key=lambda p: p.name)


def save_state(
    run: Path,
    policy: Policy,
    normalisation: ActionNormalisation,
    provenance: Provenance,
    optimizer: torch.optim.Optimizer,
    scheduler: LRScheduler,
    state: RunState,
    keep: int,
) -> Path:
    final = run / "checkpoints" / f"step-{state.step:08d}"
    # The same step saved again (Ctrl-C right after a periodic checkpoint) replaces the earlier one.
    with staged_dir(final) as tmp:
        save_checkpoint(policy, tmp / "policy", normalisation, provenance)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "rng": RngState.now().to_dict(),
            },
            tmp / "state.pt",
        )
        (tmp / "state.json").write_text(json.dumps(asdict(state), indent=2) + "\n", encoding="utf-8")
    for old in step_dirs(run)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_state(path: Path) -> tuple[RunState, ResumeState]:
    """The run state and the `ResumeState` of a step checkpoint; `MvlaError` if damaged."""
    try:
        verify_checkpoint(path / "policy")
        state = RunState(**json.loads((path / "state.json").read_text(encoding="utf-8")))
        blobs = torch.load(path / "state.pt", weights_only=True)
        resume = ResumeState(blobs["optimizer"], blobs["scheduler"], RngState.from_dict(blobs["rng"]))
    except (OSError, ValueError, TypeError, KeyError, RuntimeError) as exc:
        raise MvlaError(
            f"{path}: not a complete training checkpoint ({exc}); resume from an older one"
        ) from None
    return state, resume
