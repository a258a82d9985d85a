"""What the operating core tells whoever shows it, besides the state snapshots: the answer to `infer`, and
the progress and end of the jobs the operator asks for (`benchmark`, a replay, `memory`, `clear`).

Each is a small immutable value, past tense, handed to a `Reporter` by the thread that has it (the
control thread, the policy worker, a thread worker of the app); the app posts it as one message
(`messages.Reported`) and shows it. An answer is its own event, never a counter diffed across
snapshots. A replay's result (`Replay`) is here too, with the nearest-key rule it is judged by: no other
behaviour. This module must not import textual, torch or h5py.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from recorder.catalogue import key_of


def nearest_key(action: np.ndarray) -> str:
    """The operator's key whose recorded action is nearest (key units) to `action`."""
    return key_of(action, math.inf) or "?"  # None only for a non-finite action


@dataclass(frozen=True, eq=False)  # eq by identity: the fields are arrays
class Replay:
    recorded: np.ndarray  # (N, 3) key units
    predicted: np.ndarray  # (N, 3) key units: the command the policy would have sent at each frame
    latencies_ms: np.ndarray  # (N,)

    @property
    def agreement(self) -> float:
        """Fraction of frames where the policy's nearest key is the recorded one (frame 0, the
        `episode_start`, included: its recorded action is a stop)."""
        same = [nearest_key(p) == nearest_key(r) for p, r in zip(self.predicted, self.recorded, strict=True)]
        return float(np.mean(same)) if same else 0.0


@dataclass(frozen=True)
class InferAnswered:
    """The answer to `infer`: the chunk the policy predicted (key units) and the step's latency."""

    chunk: tuple[tuple[float, float, float], ...]
    latency_ms: float


@dataclass(frozen=True)
class BenchmarkProgressed:
    """`done` of `total` measured steps of a benchmark (0 when it starts, before the warm-up)."""

    done: int
    total: int


@dataclass(frozen=True)
class JobDone:
    """A job the operator asked for ended: the `lines` to show, or why it failed (`error`)."""

    task: ClassVar[str] = "job"  # the command's name, which starts the error line
    lines: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class BenchmarkDone(JobDone):
    task: ClassVar[str] = "benchmark"


@dataclass(frozen=True)
class ReplayDone(JobDone):
    """A replay of the episode named `episode` through the policy; `replay` is None when it failed."""

    task: ClassVar[str] = "replay"
    episode: str = ""
    replay: Replay | None = None


@dataclass(frozen=True)
class MemoryReported(JobDone):
    task: ClassVar[str] = "memory"


@dataclass(frozen=True)
class CachesCleared(JobDone):
    task: ClassVar[str] = "clear"


Report = InferAnswered | BenchmarkProgressed | JobDone
Reporter = Callable[[Report], None]  # called from any thread
