"""`mvla train --config configs/train/FILE.yaml [--set key=value ...] [--resume]`: train a policy on
recorded episodes.

Only arguments, the progress bar and the summary live here; the work is `trainer.loop.train` (HF
Accelerate underneath). Several GPUs or nodes: `accelerate launch -m mvla_tui.cli train --config ...`
(each process trains on its share of every epoch; the command is otherwise the same). Torch and the
trainer are imported inside `run`, so `mvla --help` stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_set_option


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a policy on recorded episodes (AdamW, cosine schedule, checkpoints, resume)",
        description="Train a policy on episode folders as a train config says (configs/train/*.yaml): "
        "every file is checked in a child process first and damaged ones are skipped with a reason; "
        "episodes are split by scenario into train and validation; a checkpoint is written every "
        "checkpoint_every steps, the best one by validation to OUTPUT/best, the last to OUTPUT/final. "
        "Ctrl-C writes a resumable checkpoint; --resume continues exactly where it stopped. On several "
        "GPUs: accelerate launch -m mvla_tui.cli train --config FILE.",
    )
    parser.add_argument("--config", required=True, type=Path, metavar="FILE", help="a train config YAML")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in the config's output folder from its newest checkpoint",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar, only the summary")
    add_set_option(
        parser,
        "the train config",
        "--set steps=2000 or --set data.dirs=[episodes] or --set policy.head.kind=discrete",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.config.is_file():
        raise ConfigError(f"--config {args.config}: no such file")
    from trainer.config import load_train_config

    config = load_train_config(args.config, args.overrides)

    from rich.console import Console

    from mvla_tui.commands._progress import command_progress
    from trainer.loop import train
    from trainer.reports import Progress

    err = Console(stderr=True)
    show = not args.quiet and err.is_terminal
    progress = command_progress("train", err, disable=not show)
    task = progress.add_task("steps", total=config.steps, status="")

    def on_step(info: Progress) -> None:
        rate = info.samples_per_s
        status = f"loss {info.loss:.4f}  lr {info.lr:.2e}" + (f"  {rate:.1f} samples/s" if rate else "")
        if info.validation is not None:
            status += f"  val {info.validation.loss:.4f}"
        progress.update(task, completed=info.step, status=status)
        if not show and (info.step % max(1, config.log_every * 10) == 0 or info.step == info.total):
            err.print(f"step {info.step}/{info.total}  {status}")

    with progress:
        result = train(config, resume=args.resume, progress=on_step, log=err.print)
    index = result.index
    print(
        f"run {result.run}: {result.steps}/{config.steps} steps; {result.train_episodes} training and "
        f"{result.val_episodes} validation episodes"
    )
    if index is not None and index.skipped:
        print(f"skipped {len(index.skipped)} file(s): " + "; ".join(index.describe_skipped(0)))
        for line in index.describe_skipped(5)[len(index.skipped_counts()) :]:
            print(line)
    if result.samples_per_s:
        print(f"{result.samples_per_s:.1f} samples (windows) per second")
    if result.note:
        print(result.note)
    if result.validations:
        last = max(result.validations)
        values = result.validations[last].record()
        shown = ", ".join(f"{k.removeprefix('val_')} {v:.4f}" for k, v in values.items())
        print(f"validation at step {last}: {shown}")
    if result.best:
        print(f"best checkpoint: {result.best}")
    if result.interrupted:
        print(
            f"interrupted at step {result.steps}; a checkpoint was written. Continue with: "
            f"mvla train --config {args.config} {' '.join('--set ' + o for o in args.overrides)} --resume".replace(
                "  ", " "
            )
        )
        return 130
    if result.final:
        print(f"final checkpoint: {result.final}")
    return 0
