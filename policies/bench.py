"""Step-latency benchmark of a `PolicyRuntime`, and the naive full-window recompute to compare with.

One measurement (`measure_runtimes`) for both of its users: `mvla bench` (`measure`, on new runtimes)
and the app's `benchmark` command (the policy worker's runtime, with the operator's step count). Frames:
`mvla bench` steps synthetic random RGB at the camera's resolution (`frame_size`, default the robot
camera's 1280x720), the app the current camera frame, so every measured step includes `preprocess`
(the resize to the model input) as on the robot. The first steps are warm-up and are not measured
(`warmup_steps`): at least one window, so every measured step decodes a full window as on the robot,
and at least the frames `auto` precision runs in fp32 before it chooses (`RuntimeConfig.auto_frames`,
CUDA only), so every measured step runs the chosen precision. Peak RSS is sampled with psutil after
every step; CUDA memory is the peak allocated by torch, including that of the auto choice. With
`--compare naive` both runtimes step in turn on the same frames, so the ratio is fair on a busy
machine; they share the one policy (same device and precision, see `policies.precision`), so the model
is in memory once and an auto choice made by one applies to both; the memory figures cover both.
This module must not import textual or h5py; `mvla bench` (mvla_tui/commands/bench.py) is its
command line.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import psutil
import torch

from configs import MvlaError
from policies.base import Policy
from policies.normalisation import ActionNormalisation
from policies.packed import parameter_count
from policies.runtime import PolicyRuntime, RuntimeConfig

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"
CAMERA_SIZE = (720, 1280)  # (h, w) of the robot camera's frames
WARMUP = 10  # unmeasured steps first, at the least (`warmup_steps`)


@dataclass
class BenchResult:
    mode: str  # "per-step" (the runtime) or "naive" (whole window recomputed every step)
    runtime: str  # "torch", or the exported policy's "onnx" / "trt"
    device: str
    device_name: str
    precision: str
    precision_note: str
    window: int
    frame_size: tuple[int, int]  # (h, w) of the synthetic camera frames
    input_size: tuple[int, int]  # (h, w) of the model input `preprocess` resizes them to
    parameters: int
    warmup: int
    steps: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    steps_per_s: float
    peak_rss_mb: float
    cuda_peak_mb: float | None


@dataclass
class BenchReport:
    policy: str
    runs: list[BenchResult]
    speedup: float | None = None  # the second run's p50 / the first's, when compared (naive, or a runtime)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def input_size(policy: Policy) -> tuple[int, int]:
    """(h, w) the policy's preprocessing produces, found by preprocessing one small frame."""
    probe = policy.preprocess(np.zeros((1, 32, 32, 3), np.uint8))
    return int(probe.shape[-2]), int(probe.shape[-1])


def synthetic_frames(size: tuple[int, int], count: int = 8, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(count)]


def warmup_steps(runtimes: Sequence[PolicyRuntime], warmup: int = WARMUP) -> int:
    """The unmeasured steps before the measured ones: at least `warmup`, one window (so every measured
    step decodes a full window, as on the robot), and the frames `auto` precision runs in fp32 before it
    chooses (so every measured step runs the chosen precision)."""
    return max(
        warmup,
        *(r.policy.window for r in runtimes),
        *(r.config.auto_frames for r in runtimes if r.precision_pending),
    )


def measure(
    policy: Policy,
    normalisation: ActionNormalisation,
    configs: list[RuntimeConfig],
    steps: int = 100,
    warmup: int = WARMUP,
    instruction: str = INSTRUCTION,
    frame_size: tuple[int, int] = CAMERA_SIZE,
    policies: list[Policy] | None = None,
) -> list[BenchResult]:
    """`measure_runtimes` of one new runtime per config on synthetic frames of `frame_size`.
    `policies` (one per config) runs each config on its own policy (torch against an exported one);
    by default all run `policy`. The runtimes let go of their policies at the end."""
    policies = policies or [policy] * len(configs)
    runtimes = [PolicyRuntime(p, normalisation, c) for p, c in zip(policies, configs, strict=True)]
    try:
        return measure_runtimes(runtimes, synthetic_frames(frame_size), steps, warmup, instruction)
    finally:
        for runtime in runtimes:
            runtime.close()  # let go of the policy: the caller may run it another way afterwards


def measure_runtimes(
    runtimes: Sequence[PolicyRuntime],
    frames: Sequence[np.ndarray],
    steps: int,
    warmup: int = WARMUP,
    instruction: str = INSTRUCTION,
    progress: Callable[[int, int], None] | None = None,
) -> list[BenchResult]:
    """The benchmark, one for `mvla bench` (`measure`) and the app's `benchmark` (the policy worker's
    runtime on the current camera frame): from a reset with `instruction`, `warmup_steps` + `steps`
    steps of every runtime, round-robin (so a change in machine load hits every runtime alike), cycling
    through `frames`, and a summary of the measured steps of each. `progress(done, steps)` after each
    measured round. Memory figures are of the whole process, so with several runtimes they cover all
    of them. The runtimes are left open, their window that of the last step."""
    warmup = warmup_steps(runtimes, warmup)
    first = runtimes[0].policy
    size = input_size(first)
    frame_size = (int(frames[0].shape[0]), int(frames[0].shape[1]))
    process = psutil.Process()
    device = runtimes[0].device
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    peak_rss = process.memory_info().rss
    latencies: list[list[float]] = [[] for _ in runtimes]
    for runtime in runtimes:
        runtime.reset(instruction)
    for i in range(warmup + steps):
        for runtime, measured in zip(runtimes, latencies, strict=True):
            chunk = runtime.step(frames[i % len(frames)])
            if chunk.stop:
                raise MvlaError(f"benchmark step {i}: {chunk.error}")
            if i >= warmup:
                measured.append(chunk.latency_ms)
            peak_rss = max(peak_rss, process.memory_info().rss)
        if progress is not None and i >= warmup:
            progress(i + 1 - warmup, steps)
    cuda_peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    # An exported policy holds no torch parameters: its graphs' weights are counted instead (and a packed
    # layer's, `policies.packed`, outside its module's parameters).
    parameters = max(getattr(r.policy, "graph_parameters", 0) or parameter_count(r.policy) for r in runtimes)
    results = []
    for runtime, measured in zip(runtimes, latencies, strict=True):
        lat = np.asarray(measured)
        results.append(
            BenchResult(
                mode="naive" if runtime.config.naive else "per-step",
                runtime=runtime.policy.execution_note().split(" ")[0] or "torch",
                device=str(runtime.device),
                device_name=device_name(runtime.device),
                precision=runtime.precision,
                precision_note=runtime.policy.execution_note() or runtime.precision_note,
                window=first.window,
                frame_size=frame_size,
                input_size=size,
                parameters=parameters,
                warmup=warmup,
                steps=steps,
                p50_ms=float(np.percentile(lat, 50)),
                p95_ms=float(np.percentile(lat, 95)),
                p99_ms=float(np.percentile(lat, 99)),
                mean_ms=float(lat.mean()),
                steps_per_s=float(1e3 / lat.mean()),
                peak_rss_mb=peak_rss / 2**20,
                cuda_peak_mb=cuda_peak,
            )
        )
    return results


def latency_line(r: BenchResult) -> str:
    """The step-latency figures of one run, as `mvla bench` and the app's `benchmark` print them."""
    return (
        f"step latency p50 {r.p50_ms:.2f} ms  p95 {r.p95_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  "
        f"({r.steps_per_s:.1f} steps/s over {r.steps} steps after {r.warmup} warm-up)"
    )


def run_benchmark(
    policy: Policy,
    normalisation: ActionNormalisation,
    config: RuntimeConfig,
    steps: int = 100,
    warmup: int = WARMUP,
    compare_naive: bool = False,
    label: str = "",
    frame_size: tuple[int, int] = CAMERA_SIZE,
    compare_policy: Policy | None = None,
    compare_config: RuntimeConfig | None = None,
) -> BenchReport:
    """The per-step runtime, and optionally the naive recompute of the same model, or the per-step
    runtime of `compare_policy` (another runtime of the same model: torch against an export) on the
    same frames, alternating steps, for the ratio."""
    configs = [dataclasses.replace(config, naive=False)]
    policies = [policy]
    if compare_naive:
        configs.append(dataclasses.replace(config, naive=True))
        policies.append(policy)
    elif compare_policy is not None:
        configs.append(dataclasses.replace(compare_config or config, naive=False))
        policies.append(compare_policy)
    runs = measure(policy, normalisation, configs, steps, warmup, frame_size=frame_size, policies=policies)
    speedup = runs[1].p50_ms / runs[0].p50_ms if len(runs) > 1 else None
    return BenchReport(policy=label or policy.name, runs=runs, speedup=speedup)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def resize_note(frame_size: tuple[int, int], input_size: tuple[int, int]) -> str:
    """How `preprocess` changes (h, w) `frame_size`, for the printed report."""
    if tuple(frame_size) == tuple(input_size):
        return "at the model input size, not resized"
    return f"resized to {input_size[1]}x{input_size[0]}"


def format_report(report: BenchReport) -> str:
    lines = [f"policy {report.policy}"]
    for r in report.runs:
        note = f" ({r.precision_note})" if r.precision_note else ""
        cuda = f", CUDA peak {r.cuda_peak_mb:.0f} MiB" if r.cuda_peak_mb is not None else ""
        lines += [
            f"{r.mode} {r.runtime}: {r.device} [{r.device_name}] {r.precision}{note}; window {r.window}, "
            f"{r.parameters / 1e6:.2f} M parameters",
            f"  camera frames {r.frame_size[1]}x{r.frame_size[0]} {resize_note(r.frame_size, r.input_size)} "
            "(latency includes preprocess)",
            f"  {latency_line(r)}",
            f"  peak RSS {r.peak_rss_mb:.0f} MiB{cuda}" + (" (process, both runs)" if report.speedup else ""),
        ]
    if report.speedup is not None and report.runs[1].mode == "naive":
        lines.append(
            f"per-step runtime is {report.speedup:.2f}x faster than the naive window recompute (p50)"
        )
    elif report.speedup is not None:
        first, second = report.runs[0].runtime, report.runs[1].runtime
        lines.append(
            f"{first} is {report.speedup:.2f}x as fast as {second} (p50 {second} / p50 {first}; "
            "steps alternated on the same frames)"
        )
    return "\n".join(lines)
