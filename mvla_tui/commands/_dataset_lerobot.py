"""`mvla dataset export|import --format lerobot`: its options and the terminal output of the LeRobot v3
converters (the sub-commands are `_dataset_formats`'). The work is `recorder.interop.lerobot_export` / `lerobot_import`, imported when run, so a
missing pyarrow or PyAV is one line naming the `lerobot` extra."""

from __future__ import annotations

import argparse


def add_export_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument("--fps", type=int, default=2, help="nominal frames per second declared (default 2)")
    group.add_argument("--repo-id", default="local/mvla", metavar="NAME", help="dataset name for the card")
    group.add_argument(
        "--video-codec", default="h264", metavar="C", help="h264 (libx264/openh264) or av1 (SVT-AV1/libaom)"
    )
    group.add_argument("--crf", type=int, default=23, help="video quality, lower is better (default 23)")
    group.add_argument("--overwrite", action="store_true", help="rebuild an existing OUT dataset")


def add_import_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--camera",
        metavar="KEY",
        help="video feature to import, e.g. observation.images.top (default: the dataset's only camera)",
    )


def run_export(args: argparse.Namespace) -> int:
    from rich.console import Console

    from mvla_tui.commands._progress import command_progress
    from recorder.interop.lerobot_export import ExportOptions, export_lerobot
    from recorder.stats import episode_files

    options = ExportOptions(
        fps=args.fps, codec=args.video_codec, crf=args.crf, repo_id=args.repo_id, overwrite=args.overwrite
    )
    total = len(episode_files(args.path)) if args.path.is_dir() else 0
    with command_progress("dataset export", transient=True) as progress:
        task = progress.add_task("files", total=total, status="")
        result = export_lerobot(args.path, args.out, options, on_file=lambda p, s: progress.advance(task))
    console = Console(highlight=False)
    for path, why in result.skipped:
        console.print(f"skipped {path.name}: {why}")
    console.print(
        f"{result.episodes} episode(s), {result.frames} frame(s) written to {args.out} "
        f"({result.dataset_bytes / 1e6:.1f} MB from {result.source_bytes / 1e6:.1f} MB of episode files); "
        f"{len(result.skipped)} skipped"
    )
    return 1 if result.skipped else 0


def run_import(args: argparse.Namespace) -> int:
    from mvla_tui.commands._progress import command_progress
    from recorder.interop.lerobot_import import ImportDefaults, import_lerobot

    defaults = ImportDefaults(args.scenario, args.pattern, args.distance)
    with command_progress("dataset import", transient=True) as progress:
        task = progress.add_task("episodes", total=None, status="")
        files = import_lerobot(
            args.path,
            args.out,
            defaults,
            on_episode=lambda d, n: progress.update(task, completed=d, total=n),
            camera=args.camera,
        )
    print(f"{len(files)} episode(s) written to {args.out}; check them with: mvla dataset check {args.out}")
    return 0
