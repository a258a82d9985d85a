"""Step-latency benchmark of a `PolicyRuntime`, and the naive full-window recompute to compare with.

Frames are synthetic random RGB at the camera's resolution (`frame_size`, default the robot camera's
1280x720), so every measured step includes `preprocess` (the resize to the model input) as on the
robot; they exist only here. The first steps are warm-up and are not measured:
at least one window, so every measured step decodes a full window as on the robot, and at least the
frames `auto` precision runs in fp32 before it chooses (`RuntimeConfig.auto_frames`, CUDA only), so
every measured step runs the chosen precision. Peak RSS is sampled with psutil after every step;
CUDA memory is the peak allocated by torch, including that of the auto choice. With
`--compare naive` both runtimes step in turn on the same frames, so the ratio is fair on a busy
machine; they share the one policy (same device and precision, see `policies.precision`), so the model
is in memory once and an auto choice made by one applies to both; the memory figures cover both.
This module must not import textual or h5py; `mvla bench` (mvla_tui/commands/bench.py) is its
command line.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import psutil
import torch

from configs import MvlaError
from policies.base import Policy
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"
CAMERA_SIZE = (720, 1280)  # (h, w) of the robot camera's frames


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


def measure(
    policy: Policy,
    normalisation: ActionNormalisation,
    configs: list[RuntimeConfig],
    steps: int = 100,
    warmup: int = 10,
    instruction: str = INSTRUCTION,
    frame_size: tuple[int, int] = CAMERA_SIZE,
    policies: list[Policy] | None = None,
) -> list[BenchResult]:
    """Run `warmup + steps` steps of one runtime per config on synthetic frames, round-robin (so a
    change in machine load hits every runtime alike), and summarise the measured steps of each.
    `policies` (one per config) runs each config on its own policy (torch against an exported one);
    by default all run `policy`. Memory figures are of the whole process, so with several configs
    they cover all of them."""
    policies = policies or [policy] * len(configs)
    runtimes = [PolicyRuntime(p, normalisation, c) for p, c in zip(policies, configs, strict=True)]
    warmup = max(warmup, policy.window, *(r.config.auto_frames for r in runtimes if r.precision_pending))
    size = input_size(policy)
    frames = synthetic_frames(frame_size)
    process = psutil.Process()
    device = runtimes[0].device
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    peak_rss = process.memory_info().rss
    latencies = [[] for _ in runtimes]
    try:
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
    finally:
        for runtime in runtimes:
            runtime.close()  # let go of the policy: the caller may run it another way afterwards
    cuda_peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    # An exported policy holds no torch parameters: its graphs' weights are counted instead.
    parameters = max(
        getattr(q, "graph_parameters", 0) or sum(p.numel() for p in q.parameters()) for q in policies
    )
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
                window=policy.window,
                frame_size=tuple(frame_size),
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


def run_benchmark(
    policy: Policy,
    normalisation: ActionNormalisation,
    config: RuntimeConfig,
    steps: int = 100,
    warmup: int = 10,
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
            f"  step latency p50 {r.p50_ms:.2f} ms  p95 {r.p95_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  "
            f"({r.steps_per_s:.1f} steps/s over {r.steps} steps after {r.warmup} warm-up)",
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
