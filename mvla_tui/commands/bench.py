"""`mvla bench`: step latency of a policy runtime (and the naive window recompute) on this machine.

Only argument parsing and printing live here; the measurement is `policies.bench`. Torch and the
models are imported inside `run`, so `mvla --help` stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_runtime_option, add_set_option, parse_size


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure per-step policy latency, memory and the speed-up over naive window recompute",
        description="Run a policy on synthetic camera-size frames (resized by the policy's preprocess, "
        "as on the robot) and print p50/p95/p99 step latency, steps/s, peak RSS and CUDA memory, with "
        "the device and precision used.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--policy", metavar="CKPT", help="a checkpoint directory, or `default` (the packaged policy)"
    )
    source.add_argument(
        "--config",
        metavar="FILE",
        type=Path,
        help="a policy config YAML (e.g. configs/policy/compact.yaml); untrained weights, for timing",
    )
    parser.add_argument("--steps", type=int, default=100, help="measured steps (default 100)")
    parser.add_argument("--warmup", type=int, default=10, help="unmeasured steps first (at least one window)")
    parser.add_argument(
        "--precision",
        choices=["auto", "fp32", "fp16", "bf16"],
        default="auto",
        help="auto: fp16 on CUDA, fp32 on CPU",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument(
        "--threads",
        type=int,
        help="CPU threads for torch (default: torch's choice); 1 is steadier on a busy machine",
    )
    parser.add_argument(
        "--compare",
        choices=["naive", "torch", "onnx", "trt"],
        help="also time, alternating steps on the same frames: naive (recomputing the whole window per "
        "step) or another runtime of the same model (torch, onnx, trt), and print the p50 ratio",
    )
    add_runtime_option(parser)
    parser.add_argument(
        "--ort-level",
        choices=["disable", "basic", "extended", "all"],
        default="all",
        help="ONNX Runtime graph optimisation level (default all)",
    )
    parser.add_argument(
        "--frame-size",
        default="1280x720",
        metavar="WxH",
        help="synthetic camera frame size; the step latency includes resizing it (default 1280x720, the robot camera)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    add_set_option(parser, "--config", "--set window=4")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1 or args.warmup < 0:
        raise ConfigError("--steps must be >= 1 and --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be >= 1")
    if args.overrides and args.policy is not None:
        raise ConfigError("--set applies to --config only; a checkpoint's config is fixed")
    width, height = parse_size(args.frame_size, "--frame-size")

    import torch

    from mvla_tui.commands._progress import quiet_transformers
    from policies import registry
    from policies.bench import format_report, run_benchmark
    from policies.checkpoint import load_checkpoint
    from policies.normalisation import ActionNormalisation
    from policies.runtime import RuntimeConfig

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    quiet_transformers()
    exported_only = args.runtime != "torch" and args.compare in (None, args.runtime)
    if args.policy is not None and exported_only:
        from policies.checkpoint import inspect_checkpoint
        from policies.default_policy import resolve

        # Only the graphs run: no torch policy beside them (a full-size Kosmos-2 would be in memory
        # twice, 14 GB); the export is loaded and verified against the checkpoint below.
        args.policy = resolve(args.policy)
        policy, normalisation = None, inspect_checkpoint(args.policy).normalisation
        label = str(args.policy)
    elif args.policy is not None:
        from policies.default_policy import resolve

        args.policy = resolve(args.policy)
        policy, normalisation, _ = load_checkpoint(args.policy)
        label = str(args.policy)
    else:
        name, config = registry.load_config(args.config, args.overrides)
        policy = registry.build_policy(name, config)
        # Untrained head, identity scale: the numbers are timings, not behaviour.
        normalisation = ActionNormalisation.identity(config.action_dim)
        label = f"{name} ({args.config}, untrained)"
    config = RuntimeConfig(device=args.device, precision=args.precision)
    from policies.export.exported import check_runtime_request

    sides = {args.runtime} | ({args.compare} if args.compare not in (None, "naive") else set())
    # --device and --precision are torch's when torch is one of the sides, else the exported runtime's.
    for runtime in sides if "torch" not in sides else ():
        check_runtime_request(runtime, args.device, args.precision, None)
    if sides == {"torch"}:
        check_runtime_request("torch", args.device, args.precision, args.export)
    runs = {"torch": (policy, config)}
    wanted = {args.runtime} | ({args.compare} if args.compare not in (None, "naive") else set())
    if args.compare == args.runtime:
        raise ConfigError(f"--compare {args.compare}: that is the --runtime; compare with another one")
    temp = None
    for runtime in sorted(wanted - {"torch"}):
        exported, temp = _exported(args, runtime, policy, normalisation, temp)
        runs[runtime] = (exported, dataclasses.replace(config, device="cpu", precision="fp32"))
    first, first_config = runs[args.runtime]
    second, second_config = runs.get(args.compare, (None, None))
    try:
        report = run_benchmark(
            first,
            normalisation,
            first_config,
            steps=args.steps,
            warmup=args.warmup,
            compare_naive=args.compare == "naive",
            label=label,
            frame_size=(height, width),  # frames are shaped (h, w)
            compare_policy=second,
            compare_config=second_config,
        )
    finally:
        if temp is not None:
            temp.cleanup()
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def _exported(args, runtime: str, policy, normalisation, temp):
    """(the exported policy for `runtime`, the temporary folder holding it or None). A checkpoint's
    export is looked up (--export, or CKPT/onnx | CKPT/tensorrt); an untrained --config is exported
    here into a temporary folder, with its parity checked (on synthetic frames) like `mvla export`."""
    import copy
    import tempfile

    from policies.bench import INSTRUCTION, synthetic_frames
    from policies.export.backends import OrtSettings
    from policies.export.exported import ExportedPolicy, load_exported
    from policies.export.pipeline import export_policy

    settings = OrtSettings(level=args.ort_level, threads=args.threads)
    if args.policy is not None:
        exported, _, _ = load_exported(args.policy, args.export, runtime, settings)
        return exported, temp
    if args.export is not None:
        raise ConfigError("--export goes with --policy (it must come from that checkpoint)")
    temp = temp or tempfile.TemporaryDirectory(prefix="mvla-bench-")
    folder = Path(temp.name) / runtime
    fmt = "onnx" if runtime == "onnx" else "tensorrt"
    frames = synthetic_frames((240, 320), count=policy.window)
    result = export_policy(
        copy.deepcopy(policy),
        normalisation,
        folder,
        frames,
        INSTRUCTION,
        fmt=fmt,
        settings=settings,
        frames_source="synthetic frames",
    )
    if not result.parity.passed:
        raise ConfigError(f"the {runtime} export missed parity: {'; '.join(result.parity.failures())}")
    return ExportedPolicy(policy.name, policy.config, folder, runtime, settings), temp
