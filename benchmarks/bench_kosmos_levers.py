"""Which levers make a Kosmos-2 runtime step faster on a CPU, measured side by side in one process.

One policy (by default the full-size Kosmos-2 with RANDOM weights: timing only; `--policy CKPT` for a
trained checkpoint, e.g. the one benchmarks/bench_kosmos2_train.py writes) and one `PolicyRuntime` per
way of running it, all sharing the policy, stepped in turn on the same 1280x720 frames (the order
rotates every step, so a change in machine load hits every way alike):
- `today`: LoRA adapters unmerged (each adapted layer runs base + B(A(x))), SDPA attention: the path
  before the runtime folded the adapters;
- `merged`: adapters folded into the base weights (`policies.adapters`), dense layers: the path before
  the runtime packed its layers;
- `merged+packed`: folded, and the large linear layers packed into oneDNN's layout (`policies.packed`,
  what the runtime does now on a CPU in fp32);
- `merged+eager`: folded, with transformers' eager attention instead of SDPA.
Before each way's step the shared policy is put in that state (fold or unfold, attention
implementation), outside the timed step. Printed per way: p50/p95 step latency, CPU time per step, the
ratio to `today`, and the largest difference of its chunk from `today`'s on the same frames (normalised
actions). With `--bf16`, the folded policy is then cast to bf16 and stepped on the same frames (after
the fp32 ways, not interleaved: a cast of the whole model per step would cost more than the step).
With `--onnx DIR` (and `--policy CKPT`), the torch policy is then let go and the checkpoint's ONNX export
runs under ONNX Runtime on the same frames and threads: wall and CPU time per step against the first way.

With `--profile N`, one more step of each way runs under torch.profiler and its top N ops are printed.

    python benchmarks/bench_kosmos_levers.py --threads 2 --steps 6 [--bf16] [--profile 12] [--policy CKPT [--onnx DIR]]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "configs" / "policy" / "kosmos2_full_random.yaml"
INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"
WAYS = ("today", "merged", "merged+packed", "merged+eager")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=FULL, help="policy YAML (default: full-size random)")
    parser.add_argument("--policy", type=Path, help="a checkpoint instead of --config")
    parser.add_argument("--steps", type=int, default=6, help="measured steps per way")
    parser.add_argument("--warmup", type=int, default=2, help="unmeasured steps per way first")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ways", nargs="+", choices=WAYS, default=list(WAYS))
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="then one step per way under torch.profiler: top N ops",
    )
    parser.add_argument("--bf16", action="store_true", help="then the folded policy in bf16 (sequential)")
    parser.add_argument(
        "--onnx",
        type=Path,
        metavar="DIR",
        help="then the checkpoint's ONNX export (with --policy; sequential)",
    )
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.threads < 1:
        parser.error("--steps and --threads must be >= 1, --warmup >= 0")
    if args.onnx and not args.policy:
        parser.error("--onnx needs --policy CKPT (the checkpoint it was exported from)")

    import psutil
    import torch

    from configs import MvlaError
    from policies import registry
    from policies.adapters import merge_adapters, unmerge_adapters
    from policies.bench import synthetic_frames
    from policies.checkpoint import load_checkpoint
    from policies.normalisation import ActionNormalisation
    from policies.packed import pack_linears
    from policies.runtime import PolicyRuntime, RuntimeConfig

    torch.set_num_threads(args.threads)
    try:
        if args.policy:
            policy, norm = load_checkpoint(args.policy)[:2]
        else:
            name, config = registry.load_config(args.config)
            policy, norm = (
                registry.build_policy(name, config),
                ActionNormalisation.identity(config.action_dim),
            )
    except (MvlaError, OSError) as exc:
        print(f"error: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    backbone = policy.backbone

    def set_way(way: str) -> None:
        (unmerge_adapters if way == "today" else merge_adapters)(policy)  # both unpack first
        if way.endswith("packed"):
            pack_linears(policy)
        backbone.set_attn_implementation("eager" if way.endswith("eager") else "sdpa")

    params = sum(p.numel() for p in policy.parameters())  # before any packing (packed layers have none)
    cfg = RuntimeConfig(device="cpu", precision="fp32")
    runtimes = {way: PolicyRuntime(policy, norm, cfg) for way in args.ways}
    frames = synthetic_frames((720, 1280), count=args.warmup + args.steps)
    for runtime in runtimes.values():
        runtime.reset(INSTRUCTION)
    wall: dict[str, list[float]] = {w: [] for w in runtimes}
    cpu: dict[str, list[float]] = {w: [] for w in runtimes}
    chunks: dict[str, list[np.ndarray]] = {w: [] for w in runtimes}
    process = psutil.Process()
    peak = process.memory_info().rss
    order = list(runtimes)
    for i, frame in enumerate(frames):
        for way in order[i % len(order) :] + order[: i % len(order)]:
            set_way(way)
            c0 = time.process_time()
            chunk = runtimes[way].step(frame)
            used = time.process_time() - c0
            if chunk.stop:
                print(f"error: {way} step {i}: {chunk.error}", file=sys.stderr)
                return 1
            chunks[way].append(chunk.actions)
            if i >= args.warmup:
                wall[way].append(chunk.latency_ms / 1e3)
                cpu[way].append(used)
            peak = max(peak, process.memory_info().rss)
    print(
        f"{policy.name}: {params / 1e6:.0f} M parameters ({'checkpoint' if args.policy else 'RANDOM weights'}); "
        f"{torch.get_num_threads()} torch threads; {args.steps} measured steps per way after {args.warmup}, "
        "ways interleaved, 1280x720 frames (latency includes preprocess)"
    )
    base = float(np.median(wall[order[0]]))
    for way in runtimes:
        p50, p95 = np.percentile(wall[way], [50, 95])
        diff = max(float(np.abs(a - b).max()) for a, b in zip(chunks[way], chunks[order[0]], strict=True))
        print(
            f"{way:>13}: p50 {p50:.2f} s  p95 {p95:.2f} s  CPU {np.median(cpu[way]):.2f} s/step; "
            f"{base / p50:.2f}x {order[0]}'s speed; max |chunk - {order[0]}| {diff:.2g} (key units)"
        )
    print(f"peak RSS {peak / 2**30:.2f} GiB")
    if args.profile:
        profile(args.profile, runtimes, set_way, frames[-1])
    if args.bf16:
        set_way("merged")
        for runtime in runtimes.values():
            runtime.close()
        runtime = PolicyRuntime(policy, norm, RuntimeConfig(device="cpu", precision="bf16"))
        runtime.reset(INSTRUCTION)
        lat, got = [], []
        for frame in frames:
            chunk = runtime.step(frame)
            lat.append(chunk.latency_ms / 1e3)
            got.append(chunk.actions)
        reference = chunks["merged"] if "merged" in chunks else chunks[order[0]]
        diff = max(float(np.abs(a - b).max()) for a, b in zip(got, reference, strict=True))
        p50 = float(np.median(lat[args.warmup :]))
        print(
            f"  bf16 merged (dense): p50 {p50:.2f} s (after the fp32 ways, not interleaved); "
            f"max |chunk - fp32 merged| {diff:.2g} (key units)"
        )
    if args.onnx:
        onnx_way(args, policy, runtimes, frames, wall, cpu, chunks)
    return 0


def profile(top: int, runtimes, set_way, frame) -> None:  # noqa: ANN001 (main's locals)
    """One more step of each way under torch.profiler: its top ops by self CPU time."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    for way, runtime in runtimes.items():
        set_way(way)
        with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
            runtime.step(frame)
        print(f"\n{way}: one step under torch.profiler, top {top} ops by self CPU time")
        print(
            prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=top, max_name_column_width=36)
        )


def onnx_way(args, policy, runtimes, frames, wall, cpu, chunks) -> None:  # noqa: ANN001 (main's locals)
    """The export under ONNX Runtime on the same frames and threads, after the torch policy has been let
    go (both in memory would be 14 GB at full size): wall and CPU time against the first torch way."""
    import gc

    from policies.export.backends import OrtSettings
    from policies.export.exported import load_exported
    from policies.packed import unpack_linears
    from policies.runtime import PolicyRuntime, RuntimeConfig

    first = next(iter(wall))
    for runtime in runtimes.values():
        runtime.close()
    runtimes.clear()
    unpack_linears(policy)  # packed layers hold their weights outside the parameters `.to` moves
    policy.to(device="meta")  # the weights go; ONNX Runtime loads its own
    gc.collect()
    exported, norm, _ = load_exported(args.policy, args.onnx, "onnx", OrtSettings(threads=args.threads))
    runtime = PolicyRuntime(exported, norm, RuntimeConfig(device="cpu", precision="fp32"))
    runtime.reset(INSTRUCTION)
    lat, used, got = [], [], []
    for frame in frames:
        c0 = time.process_time()
        chunk = runtime.step(frame)
        used.append(time.process_time() - c0)
        lat.append(chunk.latency_ms / 1e3)
        got.append(chunk.actions)
    p50 = float(np.median(lat[args.warmup :]))
    c50 = float(np.median(used[args.warmup :]))
    diff = max(float(np.abs(a - b).max()) for a, b in zip(got, chunks[first], strict=True))
    print(
        f"  onnx runtime: p50 {p50:.2f} s, CPU {c50:.2f} s/step (after the torch ways, not interleaved: "
        f"both in memory would pass the limit); torch {first} / onnx: wall {np.median(wall[first]) / p50:.2f}x, "
        f"CPU {np.median(cpu[first]) / c50:.2f}x; max |chunk - {first}| {diff:.2g} (key units)"
    )


if __name__ == "__main__":
    sys.exit(main())
