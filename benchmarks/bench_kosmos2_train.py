"""LoRA training steps of the full-size Kosmos-2 policy on a CPU, with RANDOM weights (timing and memory
only; nothing downloaded), with and without gradient checkpointing; then the checkpoint it wrote is
loaded through `mvla bench --policy` for a runtime step, and optionally exported (`mvla export`).

Each mode runs in a child process of its own (`trainer.bench.train_steps`: the real `mvla train` loop on
synthetic 1280x720 episodes of exactly one window, window 8 and batch 1 by default), one after the other,
so each peak RSS is that mode's alone and two full-size models are never in memory at once. Printed per
mode: seconds per step (the first step also holds the build and is shown apart), peak RSS, trainable
against total parameters, and the checkpoint written: its size and its parts, which must be the LoRA
adapter, the head and the action token (`trainer.bench.stored_parts`); a backbone weight in it is an
error (exit 1). Then `mvla bench --policy CKPT --steps 1` (one measured runtime step after a window of
warm-up steps) and, with `--export`, `mvla export --policy CKPT` (ONNX, fp32 parity gates), each timed
with its child's peak RSS.

    python benchmarks/bench_kosmos2_train.py --threads 2 [--steps 3] [--export] [--keep DIR]
    python benchmarks/bench_kosmos2_train.py --config configs/policy/kosmos2_mid_random.yaml --steps 2

Bad arguments are one-line errors (exit 2).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FULL = ROOT / "configs" / "policy" / "kosmos2_full_random.yaml"
MODES = {"checkpointing": True, "plain": False}  # checkpointing first: it needs less memory


def run_child(
    argv: list[str], env: dict[str, str], max_rss_gib: float | None = None
) -> tuple[str, float, float]:
    """Run `argv`, return (stdout, wall seconds, peak RSS MiB sampled every 0.2 s); a failure exits. A
    child whose RSS passes `max_rss_gib` is killed (a machine shared with other work must not swap or
    meet the OOM killer) and that is the error."""
    import psutil

    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
        watched = psutil.Process(proc.pid)
        peak = 0
        while proc.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.NoSuchProcess:
                break
            if max_rss_gib is not None and peak > max_rss_gib * 2**30:
                proc.kill()
                proc.wait()
                raise SystemExit(
                    f"error: {' '.join(argv[:4])} ... passed --max-rss {max_rss_gib:g} GiB; killed"
                )
            time.sleep(0.2)
        err = proc.stderr.read() if proc.stderr else ""
        out.seek(0)
        text = out.read()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        last = [line for line in err.splitlines() if line.strip()][-1:] or ["(no message)"]
        raise SystemExit(f"error: {' '.join(argv[:4])} ... exited {proc.returncode}: {last[0]}")
    return text, wall, peak / 2**20


def child(args: argparse.Namespace) -> int:
    """One mode in this process: print `TrainStepsResult` as JSON."""
    from trainer.bench import train_steps

    h, w = args.frame_size
    result = train_steps(
        args.config,
        args.work,
        steps=args.steps,
        batch=args.batch,
        gradient_checkpointing=MODES[args.child],
        threads=args.threads,
        frame_size=(h, w),
        precision=args.precision,
        device=args.device,
        policy_overrides={"window": args.window} if args.window else None,
    )
    print(json.dumps(result.to_dict()))
    return 0


def mvla(*argv: str) -> list[str]:
    return [sys.executable, "-m", "mvla_tui.cli", *argv]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=FULL, help="policy YAML (default: full-size random)")
    parser.add_argument("--steps", type=int, default=3, help="optimiser steps per mode (default 3)")
    parser.add_argument("--batch", type=int, default=1, help="windows per step (default 1)")
    parser.add_argument("--window", type=int, help="frames per window (default: the config's)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--frame-size", default="1280x720", metavar="WxH", help="synthetic camera frames")
    parser.add_argument("--modes", nargs="+", choices=sorted(MODES), default=list(MODES))
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--precision", choices=["fp32", "bf16", "fp16"], default="fp32", help="mixed precision"
    )
    parser.add_argument("--train-only", action="store_true", help="skip the runtime step on the checkpoint")
    parser.add_argument("--export", action="store_true", help="also mvla export the checkpoint (ONNX)")
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("--max-rss", type=float, metavar="GIB", help="kill a child whose RSS passes this")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--child", choices=sorted(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("steps", "batch", "threads", "window"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if not args.config.is_file():
        parser.error(f"--config {args.config}: no such file")
    from configs import ConfigError
    from mvla_tui.commands._options import parse_size

    try:
        w, h = parse_size(args.frame_size, "--frame-size")
    except ConfigError as exc:
        parser.error(str(exc))
    args.frame_size = (h, w)
    args.config = args.config.resolve()
    if args.child:
        return child(args)

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-kosmos2-train-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(args.threads)}
    figures: dict = {"config": str(args.config), "threads": args.threads, "modes": {}}
    window = f"window {args.window}" if args.window else "the config's window"
    print(
        f"{args.config.name}: RANDOM weights, timing and memory only; {window}, batch "
        f"{args.batch}, {args.steps} steps per mode, {args.precision} on {args.device}, {args.threads} torch threads"
    )
    results = {}
    for mode in args.modes:
        cmd = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--work",
            str(work / mode),
            "--config",
            str(args.config),
        ]
        cmd += ["--steps", str(args.steps), "--batch", str(args.batch), "--threads", str(args.threads)]
        cmd += ["--frame-size", f"{w}x{h}", "--device", args.device, "--precision", args.precision] + (
            ["--window", str(args.window)] if args.window else []
        )
        text, wall, peak = run_child(cmd, env, args.max_rss)
        result = json.loads(text.strip().splitlines()[-1])
        results[mode] = result
        later = result["step_s"][1:] or result["step_s"]
        per_step = sorted(later)[len(later) // 2]
        parts = ", ".join(f"{k} {v / 1e6:.2f} M" for k, v in sorted(result["stored_parts"].items()))
        print(
            f"{mode:>13}: {per_step:.1f} s/step (median of steps 2..{args.steps}; step 1 with the build "
            f"{result['step_s'][0]:.1f} s), peak RSS {result['peak_rss_mb'] / 1024:.2f} GiB; "
            f"checkpoint {result['checkpoint_bytes'] / 2**20:.1f} MiB: {parts}"
        )
        figures["modes"][mode] = {
            **result,
            "s_per_step": per_step,
            "child_wall_s": wall,
            "child_peak_rss_mb": peak,
        }
    from trainer.bench import backbone_tensors

    last = results[args.modes[0]]
    checkpoint = Path(last["checkpoint"])
    stray = backbone_tensors(checkpoint)

    if not args.train_only:
        text, wall, peak = run_child(
            mvla(
                "bench",
                "--policy",
                str(checkpoint),
                "--steps",
                "1",
                "--warmup",
                "0",
                "--device",
                "cpu",
                "--threads",
                str(args.threads),
                "--json",
            ),
            env,
            args.max_rss,
        )
        bench = json.loads(text)
        run = bench["runs"][0]
        total = run["parameters"]
        print(
            f"parameters: {last['stored_values'] / 1e6:.2f} M trainable of {total / 1e6:.1f} M "
            f"({100 * last['stored_values'] / total:.2f} %): the checkpoint stores the trainable ones only"
        )
        print(
            f"mvla bench --policy CKPT: runtime step p50 {run['p50_ms'] / 1e3:.2f} s after {run['warmup']} warm-up "
            f"steps; {wall:.0f} s in all, peak RSS {peak / 1024:.2f} GiB"
        )
        figures.update(
            parameters_total=total,
            trainable=last["stored_values"],
            runtime_step=run,
            runtime_wall_s=wall,
            runtime_peak_rss_mb=peak,
        )
    if args.export and not args.train_only:
        text, wall, peak = run_child(
            mvla(
                "export",
                "--policy",
                str(checkpoint),
                "--out",
                str(work / "onnx"),
                "--threads",
                str(args.threads),
                "--json",
            ),
            env,
            args.max_rss,
        )
        meta = json.loads(text)
        parity = meta["parity"]
        print(
            f"mvla export: {wall:.0f} s, peak RSS {peak / 1024:.2f} GiB, parity "
            f"{'passed' if parity['passed'] else 'MISSED: ' + '; '.join(parity['failures'])}"
        )
        for row in parity["rows"]:
            print(
                f"  {row['name']:24} max abs {row['max_abs']:.3g}  cosine {row['cosine']:.6f}  {row['gate']}"
            )
        figures["export"] = {"wall_s": wall, "peak_rss_mb": peak, "parity": parity}
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1), encoding="utf-8")
    if stray:
        print(
            f"error: the checkpoint stores backbone weights ({stray[0]!r} and {len(stray) - 1} more)",
            file=sys.stderr,
        )
        return 1
    if args.export and not figures["export"]["parity"]["passed"]:
        return 1
    print(f"work folder: {work}" if args.keep else "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
