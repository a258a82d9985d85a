"""`mvla dataset export|import --format lerobot`: the arguments and the terminal output of the LeRobot v3
converters. The work is `recorder.interop.lerobot_export` / `lerobot_import`, imported when run, so a
missing pyarrow or PyAV is one line naming the `lerobot` extra."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(actions: argparse._SubParsersAction) -> None:
    export = actions.add_parser(
        "export",
        help="write the episodes as a LeRobot v3 dataset",
        description="Write every sound episode file of DIR as a LeRobot v3 dataset in OUT (parquet and "
        "mp4, software-encoded). One row per recorded frame (one per key press) at a nominal --fps; the "
        "recorded times are kept in the column recorded_timestamp. Damaged files are skipped with the "
        "check's reason and counted. OUT appears only when complete.",
    )
    export.add_argument("path", type=Path, metavar="DIR", help="data folder of episode files")
    export.add_argument("--format", choices=["lerobot"], required=True, help="dataset format")
    export.add_argument("--out", type=Path, required=True, help="dataset folder to create")
    export.add_argument("--fps", type=int, default=2, help="nominal frames per second declared (default 2)")
    export.add_argument("--repo-id", default="local/mvla", metavar="NAME", help="dataset name for the card")
    export.add_argument(
        "--video-codec", default="h264", metavar="C", help="h264 (libx264/openh264) or av1 (SVT-AV1/libaom)"
    )
    export.add_argument("--crf", type=int, default=23, help="video quality, lower is better (default 23)")
    export.add_argument("--overwrite", action="store_true", help="rebuild an existing OUT dataset")
    export.set_defaults(func=_export)

    imp = actions.add_parser(
        "import",
        help="read a LeRobot v3 dataset back into episode files",
        description="Write each episode of the LeRobot v3 dataset DIR (mvla's export, or one with one camera "
        "and a 2- or 3-dimensional base action) as an episode file in OUT. A dataset without mvla's "
        "scenario columns needs --scenario, --pattern and --distance.",
    )
    imp.add_argument("path", type=Path, metavar="DIR", help="LeRobot v3 dataset folder")
    imp.add_argument("--format", choices=["lerobot"], required=True, help="dataset format")
    imp.add_argument("--out", type=Path, required=True, help="data folder to write episodes into")
    imp.add_argument("--scenario", help="scenario id for episodes without one")
    imp.add_argument("--pattern", help="pattern for episodes without one")
    imp.add_argument("--distance", help="distance for episodes without one")
    imp.set_defaults(func=_import)


def _export(args: argparse.Namespace) -> int:
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
    return 0


def _import(args: argparse.Namespace) -> int:
    from mvla_tui.commands._progress import command_progress
    from recorder.interop.lerobot_import import ImportDefaults, import_lerobot

    defaults = ImportDefaults(args.scenario, args.pattern, args.distance)
    with command_progress("dataset import", transient=True) as progress:
        task = progress.add_task("episodes", total=None, status="")
        files = import_lerobot(
            args.path, args.out, defaults, on_episode=lambda d, n: progress.update(task, completed=d, total=n)
        )
    print(f"{len(files)} episode(s) written to {args.out}; check them with: mvla dataset check {args.out}")
    return 0
