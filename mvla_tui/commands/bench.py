"""`mvla bench`: step latency of a policy runtime (and the naive window recompute) on this machine.

Only argument parsing and printing live here; the measurement is `policies.bench`. Torch and the
models are imported inside `run`, so `mvla --help` stays light.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
from pathlib import Path

from configs import ConfigError
from mvla_tui.options import add_set_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure per-step policy latency, memory and the speed-up over naive window recompute",
        description="Run a policy on synthetic camera-size frames (resized by the policy's preprocess, "
        "as on the robot) and print p50/p95/p99 step latency, steps/s, peak RSS and CUDA memory, with "
        "the device and precision used.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--policy", metavar="CKPT", type=Path, help="a checkpoint directory")
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
        "--compare", choices=["naive"], help="also time recomputing the whole window per step"
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
    frame_size = parse_frame_size(args.frame_size)

    import torch

    from policies import registry
    from policies.bench import format_report, run_benchmark
    from policies.checkpoint import load_checkpoint
    from policies.normalisation import ActionNormalisation
    from policies.runtime import RuntimeConfig

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    if importlib.util.find_spec("transformers") is not None:
        # Its per-load "Loading weights" progress bars would bury the figures.
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    if args.policy is not None:
        policy, normalisation, _ = load_checkpoint(args.policy)
        label = str(args.policy)
    else:
        name, config = registry.load_config(args.config, args.overrides)
        policy = registry.build_policy(name, config)
        # Untrained head, identity scale: the numbers are timings, not behaviour.
        normalisation = ActionNormalisation.identity(config.action_dim)
        label = f"{name} ({args.config}, untrained)"
    config = RuntimeConfig(device=args.device, precision=args.precision)
    report = run_benchmark(
        policy,
        normalisation,
        config,
        steps=args.steps,
        warmup=args.warmup,
        compare_naive=args.compare == "naive",
        label=label,
        frame_size=frame_size,
    )
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report))
    return 0


def parse_frame_size(text: str) -> tuple[int, int]:
    """WIDTHxHEIGHT (e.g. 1280x720) -> (height, width), the order frames are shaped in."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise ConfigError(f"--frame-size {text!r}: give WIDTHxHEIGHT in pixels, e.g. 1280x720")
    return int(match[2]), int(match[1])
