"""Per-step latency of the Kosmos-2 policy on a CPU: the streaming runtime against the naive recompute.

Builds a Kosmos-2 timing configuration (random weights of the real architecture, announced by a
RandomInitWarning) and drives it through the real `PolicyRuntime`:
- per-step (streaming): each step encodes the newest frame only and decodes the kept window;
- naive (`--compare naive`): each step re-encodes every frame of the window, then decodes.
The two runtimes step in turn on the same frames (which one goes first alternates), so both see the
same load from other processes: on a shared machine, timing one mode after the other mostly measures
how busy the machine was at the time. Besides wall-clock latency (p50/p95/p99), each step's process
CPU time is recorded; the ratio of medians of either is the speed-up. Also printed: parameters, peak
RSS and how long the model took to build. `mvla bench` measures the same runtime one mode at a time.

    python benchmarks/bench_kosmos_cpu.py --size mid --compare naive --steps 10
    python benchmarks/bench_kosmos_cpu.py --size full --steps 5

Frames are synthetic at the robot camera's 1280x720 (`--frame-size`), so each step includes the
policy's `preprocess`. Bad arguments or configs are one-line errors (exit 2). This script measures and
prints; it asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {
    "mid": ROOT / "configs" / "policy" / "kosmos2_mid_random.yaml",
    "full": ROOT / "configs" / "policy" / "kosmos2_full_random.yaml",
}
INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(CONFIGS), default="mid", help="which timing configuration")
    parser.add_argument("--config", type=Path, help="another policy YAML instead of --size")
    parser.add_argument("--steps", type=int, default=10, help="measured steps per mode")
    parser.add_argument("--compare", choices=["naive"], help="also time the naive window recompute")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--frame-size", default="1280x720", metavar="WxH", help="synthetic camera frame size")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be >= 1, got {args.steps}")
    if args.threads is not None and args.threads < 1:
        parser.error(f"--threads must be >= 1, got {args.threads}")

    import psutil
    import torch

    from configs import MvlaError
    from mvla_tui.commands._options import parse_size
    from policies import registry
    from policies.bench import device_name, input_size, resize_note, synthetic_frames
    from policies.normalisation import ActionNormalisation
    from policies.runtime import PolicyRuntime, RuntimeConfig

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    path = args.config or CONFIGS[args.size]
    try:
        width, height = parse_size(args.frame_size, "--frame-size")
        frame_size = (height, width)  # frames are shaped (h, w)
        name, config = registry.load_config(path)
        start = time.perf_counter()
        policy = registry.build_policy(name, config)
        built_s = time.perf_counter() - start
        norm = ActionNormalisation.identity(config.action_dim)
        modes = {"per-step": RuntimeConfig(device=args.device, precision=args.precision)}
        if args.compare == "naive":
            modes["naive"] = RuntimeConfig(device=args.device, precision=args.precision, naive=True)
        runtimes = {mode: PolicyRuntime(policy, norm, cfg) for mode, cfg in modes.items()}
    except (MvlaError, ValueError, OSError) as exc:
        # ValueError: a runtime setting refused by RuntimeConfig; OSError: an unreadable file.
        print(f"error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2

    frames = synthetic_frames(frame_size)
    process = psutil.Process()
    wall: dict[str, list[float]] = {m: [] for m in runtimes}
    cpu: dict[str, list[float]] = {m: [] for m in runtimes}
    peak_rss = process.memory_info().rss
    for runtime in runtimes.values():
        runtime.reset(INSTRUCTION)
    warmup = policy.window  # every measured step decodes a full window
    order = list(runtimes)
    for i in range(warmup + args.steps):
        for mode in order if i % 2 == 0 else order[::-1]:
            c0 = time.process_time()
            chunk = runtimes[mode].step(frames[i % len(frames)])
            used = time.process_time() - c0
            if chunk.stop:
                print(f"error: {mode} step {i}: {chunk.error}", file=sys.stderr)
                return 1
            if i >= warmup:
                wall[mode].append(chunk.latency_ms)
                cpu[mode].append(used)
        peak_rss = max(peak_rss, process.memory_info().rss)

    first = next(iter(runtimes.values()))
    params = sum(p.numel() for p in policy.parameters())
    print(f"{name} from {path.name}: random weights, timing only; {params / 1e6:.1f} M parameters")
    print(f"built in {built_s:.1f} s; {first.device} [{device_name(first.device)}] {first.precision}")
    print(f"window {policy.window}, {args.steps} measured steps per mode after {warmup} warm-up steps")
    size = input_size(policy)
    print(
        f"camera frames {frame_size[1]}x{frame_size[0]} {resize_note(frame_size, size)} "
        "(latency includes preprocess)"
    )
    for mode in runtimes:
        lat = np.asarray(wall[mode])
        p50, p95, p99 = np.percentile(lat, [50, 95, 99])
        print(
            f"{mode:>9}: step latency p50 {p50:.0f} ms  p95 {p95:.0f} ms  p99 {p99:.0f} ms; "
            f"CPU time per step median {np.median(cpu[mode]):.2f} s"
        )
    if "naive" in runtimes:
        wall_ratio = np.median(wall["naive"]) / np.median(wall["per-step"])
        cpu_ratio = np.median(cpu["naive"]) / np.median(cpu["per-step"])
        print(f"per-step runtime is {wall_ratio:.2f}x faster than the naive recompute (p50 wall clock)")
        print(f"                    {cpu_ratio:.2f}x less CPU time per step (median)")
    print(f"peak RSS {peak_rss / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
