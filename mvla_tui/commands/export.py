"""`mvla export`: a checkpoint -> ONNX graphs (or TensorRT FP16 engines) with a parity report.

Argument parsing, choosing the parity frames and printing live here; the export itself is
`policies.export.pipeline`. The frames parity is measured on, in order: a recorded episode of
`--data DIR` (its own instruction), frames rendered by the MuJoCo simulator (a scenario's layout, the
robot driving forward; the scenario's default instruction), or, without MuJoCo, a fixed synthetic set
(seeded random frames); the report says which. Exits 1 when a parity gate is missed, naming the
output and the gate. Torch and the models are imported inside `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from configs import ConfigError

SIM_SCENARIO = "1box_hori_left"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a policy to ONNX (or TensorRT engines) and check it against PyTorch",
        description="Export a checkpoint in the pieces the per-step runtime runs: the instruction "
        "encoder, the per-frame encoder (LoRA merged) and the action head over the window, as ONNX "
        "graphs (opset 17+, dynamic batch; weights over 2 GB as external data) or, with --format "
        "tensorrt, FP16 TensorRT engines built from them. Tokenisation and preprocessing stay in "
        "Python. Then ONNX Runtime (or TensorRT) is compared with PyTorch on frames (--data: a recorded "
        "episode; else simulator frames; else a fixed synthetic set): per output max/mean abs "
        "difference and cosine, and the de-normalised action difference. Gates: fp32 max abs <= 5e-5 "
        "per output; fp16 cosine >= 0.999 and action difference <= 0.02; a missed gate exits 1. "
        "The folder (default CKPT/onnx, CKPT/onnx-fp16 or CKPT/tensorrt) holds export.json; "
        "`--runtime onnx|trt` of mvla bench, mvla eval and the app look in CKPT/onnx or CKPT/tensorrt "
        "unless given --export DIR.",
    )
    parser.add_argument(
        "--policy", required=True, metavar="CKPT", help="a checkpoint directory, or `default`"
    )
    parser.add_argument("--format", choices=["onnx", "tensorrt"], default="onnx", help="default onnx")
    parser.add_argument(
        "--fp16",
        action="store_true",
        help="fp16 graphs (the head stays fp32); TensorRT engines are always FP16",
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="export folder (default inside the checkpoint)"
    )
    parser.add_argument(
        "--data", type=Path, metavar="DIR", help="parity on a recorded episode of this folder"
    )
    parser.add_argument("--instruction", help="parity instruction (default: the episode's or scenario's)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset, 17 or newer (default 17)")
    parser.add_argument(
        "--threads", type=int, metavar="N", help="ONNX Runtime intra-op threads for the parity run"
    )
    parser.add_argument("--json", action="store_true", help="print export.json (with the parity report)")
    parser.set_defaults(func=run)


def parity_frames(data: Path | None, count: int) -> tuple[list, str, str | None]:
    """(frames, what they are, their instruction or None) for the parity check."""
    import numpy as np

    if data is not None:
        from recorder.reader import read_episode

        if not data.is_dir():
            raise ConfigError(f"--data {data}: no such folder; give a folder of recorded episodes")
        files = sorted(data.glob("*.h5"))
        if not files:
            raise ConfigError(f"--data {data}: no episode files (*.h5) in this folder")
        episode = read_episode(files[0])
        index = (
            np.linspace(0, len(episode.images) - 1, num=min(count, len(episode.images))).round().astype(int)
        )
        frames = [episode.images[i] for i in index]
        return frames, f"recorded episode {files[0].name}, {len(frames)} frames", episode.meta.instruction
    try:
        from mvla_tui.sim.config import SimConfig
        from mvla_tui.sim.layout import make_layout
        from mvla_tui.sim.world import SimWorld
        from recorder.catalogue import key_action, load_catalogue
    except ImportError:
        rng = np.random.default_rng(0)
        frames = [rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8) for _ in range(count)]
        return frames, "fixed synthetic frames (seed 0; MuJoCo is not installed)", None
    world = SimWorld(make_layout(SIM_SCENARIO, "medium", "center", 0), SimConfig(), 320, 240)
    frames = []
    for _ in range(count):
        frames.append(world.render())
        world.set_command(key_action("w"))  # a full press forward, between the parity frames
        world.step(0.4)
    instruction = load_catalogue().default_instruction(SIM_SCENARIO)
    return frames, f"simulator frames, scenario {SIM_SCENARIO} medium, 320x240", instruction


def run(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise ConfigError("--threads must be >= 1")
    from policies.default_policy import resolve

    checkpoint = resolve(args.policy)
    if args.instruction is not None and not args.instruction.strip():
        raise ConfigError("--instruction is empty; give an instruction, or leave it out for the episode's")
    out = args.out
    if out is None:
        name = "tensorrt" if args.format == "tensorrt" else ("onnx-fp16" if args.fp16 else "onnx")
        out = checkpoint / name
    if args.format == "tensorrt":
        from policies.export.backends import require_tensorrt

        require_tensorrt()  # one line, before loading anything

    from mvla_tui.commands._progress import quiet_transformers
    from policies.bench import INSTRUCTION
    from policies.checkpoint import load_checkpoint
    from policies.export.backends import OrtSettings
    from policies.export.exported import manifest_hash
    from policies.export.pipeline import export_policy

    quiet_transformers()
    policy, normalisation, _ = load_checkpoint(checkpoint)
    frames, source, episode_instruction = parity_frames(args.data, policy.window)
    instruction = args.instruction or episode_instruction or INSTRUCTION
    result = export_policy(
        policy,
        normalisation,
        out,
        frames,
        instruction,
        fmt=args.format,
        fp16=args.fp16,
        frames_source=source,
        checkpoint_hash=manifest_hash(checkpoint),
        opset=args.opset,
        settings=OrtSettings(threads=args.threads),
    )
    if args.json:
        print(json.dumps(result.meta.to_dict(), indent=2))
    else:
        print(f"exported {policy.name} to {result.folder}: {', '.join(result.meta.files)}")
        print(result.parity.format_table())
    if not result.parity.passed:
        print(
            f"mvla export: error: parity gate missed: {'; '.join(result.parity.failures())} (the export in "
            f"{result.folder} is kept for inspection; no runtime will load it)",
            file=sys.stderr,
        )
        return 1
    return 0
