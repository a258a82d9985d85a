"""Work the app asks of the policy worker's runtime besides driving: a latency benchmark on the current
frame, and the replay of a recorded episode through the policy (its action next to the recorded one at
every frame, and how often they agree). Each runs on the `PolicyWorker` thread (`PolicyWorker.call`),
never while the policy drives, and leaves the runtime reset. No textual, no torch import here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recorder.catalogue import STOP_KEY, key_of


@dataclass(frozen=True)
class BenchResult:
    steps: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    steps_per_s: float
    describe: str

    def lines(self) -> list[str]:
        return [
            f"benchmark: {self.steps} steps on {self.describe}",
            f"  p50 {self.p50_ms:.2f} ms  p95 {self.p95_ms:.2f} ms  p99 {self.p99_ms:.2f} ms  "
            f"({self.steps_per_s:.1f} steps/s)",
        ]


def benchmark(
    runtime,
    frame: np.ndarray,
    instruction: str,
    steps: int,
    progress: Callable[[int, int], None] | None = None,
) -> BenchResult:
    """Per-step latency over `steps` steps on `frame` after a window of warm-up (as `mvla bench`)."""
    runtime.reset(instruction)
    for _ in range(runtime.policy.window):
        runtime.step(frame)
    latencies = []
    start = time.perf_counter()
    for i in range(steps):
        latencies.append(runtime.step(frame).latency_ms)
        if progress is not None:
            progress(i + 1, steps)
    elapsed = time.perf_counter() - start
    runtime.reset(instruction)
    lat = np.asarray(latencies)
    return BenchResult(
        steps,
        float(np.percentile(lat, 50)),
        float(np.percentile(lat, 95)),
        float(np.percentile(lat, 99)),
        steps / elapsed,
        runtime.describe(),
    )


def nearest_key(action: np.ndarray) -> str:
    """The operator's key whose recorded action is nearest (key units) to `action`."""
    return key_of(action, math.inf) or "?"  # None only for a non-finite action


@dataclass(frozen=True)
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

    def rows(self) -> list[tuple[int, str, str, bool]]:
        """(frame, recorded key, policy key, agree) per frame."""
        out = []
        for i, (r, p) in enumerate(zip(self.recorded, self.predicted, strict=True)):
            rk, pk = nearest_key(r), nearest_key(p)
            out.append((i, rk if rk != STOP_KEY else "stop", pk if pk != STOP_KEY else "stop", rk == pk))
        return out


def replay(runtime, images: np.ndarray, actions: np.ndarray, instruction: str) -> Replay:
    """Step the policy through an episode's frames from a reset, as if it had been driving."""
    runtime.reset(instruction)
    predicted, latencies = [], []
    for image in images:
        chunk = runtime.step(np.ascontiguousarray(image))
        predicted.append(np.asarray(chunk.command, np.float32))
        latencies.append(chunk.latency_ms)
    runtime.reset(instruction)
    return Replay(np.asarray(actions, np.float32), np.asarray(predicted, np.float32), np.asarray(latencies))
