"""What the operating core tells whoever shows it, besides the state snapshots: the answer to `infer`, and
the progress and end of the jobs the operator asks for (`benchmark`, a replay, `memory`, `clear`).

Each is a small immutable value, past tense, handed to a `Reporter` by the thread that has it (the
control thread, the policy worker, a thread worker of the app); the app posts it as one message
(`messages.Reported`) and shows it. An answer is its own event, never a counter diffed across
snapshots. No behaviour here; this module must not import textual, torch or h5py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from mvla_tui.core.policy_jobs import Replay


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
