"""`mvla dataset view FILE|DIR`: episodes in the Rerun viewer, or in an `.rrd` file to open elsewhere.

This module parses the arguments, decides where the episodes go and says what happened; the logging
itself is `recorder.interop.rerun_view`. Where they go:
- `--save OUT.rrd`: always a file, whatever the machine;
- `--connect [URL]`: streamed to a viewer already listening (a workstation's `rerun`, reached from the
  robot through `ssh -R 9876:localhost:9876 robot`);
- otherwise the viewer opens here when it can (`choose_viewer`, a pure function of the environment),
  else a file is saved in the current folder and the command prints how to open it on a workstation.
"Can open" means: the `rerun` viewer is installed, this is not an SSH session (the viewer draws with
the GPU of the screen it opens on; a forwarded X display does not give it one: `--spawn` tries
anyway), and on Linux a desktop session's display is set (DISPLAY or WAYLAND_DISPLAY).
Exit status 1 when a file was skipped as damaged (each named, with why), 0 when every episode went in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SSH_VARIABLES = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY")
DEFAULT_URL = "rerun+http://127.0.0.1:9876/proxy"


@dataclass(frozen=True)
class ViewerChoice:
    """Whether the viewer opens on this machine, and why (said to the user when it does not)."""

    opens: bool
    reason: str


def choose_viewer(env: Mapping[str, str], viewer: str | None, platform: str) -> ViewerChoice:
    """Can a viewer window open here? From the environment variables, the viewer's path (None when it is
    not installed) and `sys.platform`."""
    if viewer is None:
        return ViewerChoice(False, "the Rerun viewer (`rerun`) is not installed here")
    if any(env.get(name) for name in SSH_VARIABLES):
        return ViewerChoice(
            False, "this is an SSH session (the viewer needs the GPU of a local screen; --spawn tries anyway)"
        )
    if platform in ("darwin", "win32") or any(env.get(name) for name in DISPLAY_VARIABLES):
        return ViewerChoice(True, "a desktop session is here")
    return ViewerChoice(False, "no display here (DISPLAY and WAYLAND_DISPLAY are unset)")


def find_viewer() -> str | None:
    """The `rerun` executable on PATH, or the one installed beside this Python (a virtual environment
    that was never activated)."""
    found = shutil.which("rerun")
    if found is not None:
        return found
    beside = Path(sys.executable).parent / ("rerun.exe" if sys.platform == "win32" else "rerun")
    return str(beside) if beside.is_file() and os.access(beside, os.X_OK) else None


def register(actions: argparse._SubParsersAction) -> None:
    view = actions.add_parser(
        "view",
        help="look at episodes in the Rerun viewer (or save an .rrd)",
        description="Log episodes to Rerun: the camera image, the action (linear_x, linear_y, angular_z "
        "in key units, 1.15 = a full-speed key press) as plots and as an arrow in a top-down view of the "
        "robot (x forward drawn up, y left drawn left), the event of each frame, and the scenario, pattern, "
        "distance, instruction and outcome. One entity path per episode (episodes/<file stem>), all on one "
        "`frame` timeline, plus a `time` timeline for files with timestamps; one viewer tab per episode. "
        "The viewer opens here when there is a desktop session; over SSH or without a display the "
        "episodes are saved to an .rrd file in the current folder, and the command says how to open it. "
        "Damaged files are skipped, each named with why (exit status 1). Needs the `rerun` extra.",
    )
    view.add_argument("path", type=Path, metavar="FILE|DIR", help="an episode file, or a folder of them")
    where = view.add_mutually_exclusive_group()
    where.add_argument(
        "--save", type=Path, metavar="OUT.rrd", help="save to this file (never opens a viewer)"
    )
    where.add_argument(
        "--spawn", action="store_true", help="open the viewer here even if it looks as if it cannot"
    )
    where.add_argument(
        "--connect",
        nargs="?",
        const=DEFAULT_URL,
        metavar="URL",
        help=f"stream to a viewer already running (default {DEFAULT_URL}; from the robot: run `rerun` "
        "on the workstation and `ssh -R 9876:localhost:9876 robot`)",
    )
    view.add_argument(
        "--jpeg-quality",
        type=int,
        default=90,
        metavar="Q",
        help="JPEG quality of the logged images, 1-100 (default 90: a simulated 1280x720 frame is ~36 kB)",
    )
    view.add_argument(
        "--lossless",
        action="store_true",
        help="log raw pixels instead of JPEG (2.7 MB per 1280x720 frame)",
    )
    view.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="a file that takes longer than S seconds to read is skipped as unreadable (default 60)",
    )
    view.set_defaults(func=_view)


def _view(args: argparse.Namespace) -> int:
    from recorder.errors import RecorderError
    from recorder.interop import rerun_view
    from recorder.isolated import IsolatedReader
    from recorder.stats import episode_files

    path: Path = args.path
    if path.is_dir():
        files = episode_files(path)
        if not files:
            raise RecorderError(
                f"{path}: no episode files (*.h5) in this folder; pass a folder that holds them"
            )
    elif path.is_file():
        files = [path]
    else:
        raise RecorderError(f"{path}: no such file or folder")
    if not 1 <= args.jpeg_quality <= 100:
        raise RecorderError(f"--jpeg-quality must be 1-100, got {args.jpeg_quality}")
    if not args.timeout > 0:
        raise RecorderError(f"--timeout must be > 0 seconds, got {args.timeout}")
    import rerun  # the extra's missing-module line before any work, not after reading every file

    quality = None if args.lossless else args.jpeg_quality
    console = _console()
    out: Path | None = args.save
    viewer = find_viewer()
    choice = (
        ViewerChoice(True, "asked for") if args.spawn else choose_viewer(os.environ, viewer, sys.platform)
    )
    if args.spawn and viewer is None:
        raise RecorderError("the Rerun viewer (`rerun`) is not installed here; pip install rerun-sdk")
    if out is None and args.connect is None and not choice.opens:
        out = _free_name(
            Path.cwd() / f"{(path.resolve().stem if path.is_file() else path.resolve().name)}.rrd"
        )

    from mvla_tui.commands._progress import command_progress

    with (
        IsolatedReader(timeout_s=args.timeout) as reader,
        command_progress("dataset view", console, transient=True, disable=len(files) < 2) as progress,
    ):
        task = progress.add_task("episodes", total=len(files), status="")

        def on_file(file: Path, skipped: rerun_view.Skipped | None) -> None:
            progress.update(task, advance=1, status=file.name)

        common = {"read": reader.episode, "jpeg_quality": quality, "on_file": on_file}
        if out is not None:
            report = rerun_view.save_rrd(files, out, **common)
        elif args.connect is not None:
            report = rerun_view.stream_live(files, url=args.connect, **common)
        else:
            report = rerun_view.stream_live(files, viewer=viewer, **common)

    from rich.markup import escape

    for skipped in report.skipped:
        console.print(
            f"[red]skipped[/] {escape(skipped.path.name)}: {escape(skipped.reason)}", soft_wrap=True
        )
    logged = len(report.entities)
    done = f"{logged} episode(s), {report.frames} frame(s)"
    if not logged:
        console.print(
            f"[red]No episode could be read[/] ({len(report.skipped)} file(s) skipped); nothing saved."
        )
        return 1
    if out is not None:
        size = out.stat().st_size / 1e6
        console.print(f"Saved {done} to {escape(str(out))} ({size:.1f} MB).", soft_wrap=True)
        if args.save is None:
            console.print(f"No viewer opened: {escape(choice.reason)}.")
        _how_to_open(console, out, rerun.__version__)
    elif args.connect is not None:
        console.print(f"Sent {done} to the viewer at {escape(args.connect)}.")
    else:
        console.print(f"Sent {done} to the Rerun viewer ({escape(str(viewer))}).")
    if report.skipped:
        console.print(
            f"[red]{len(report.skipped)} damaged file(s) skipped[/]; see: mvla dataset check {escape(str(path))}"
        )
        return 1
    return 0


def _how_to_open(console: Any, out: Path, version: str) -> None:
    from rich.markup import escape

    where = str(out.resolve())
    if any(os.environ.get(name) for name in SSH_VARIABLES):
        host = socket.gethostname()
        console.print(
            f"Open it on your workstation: scp {escape(host)}:{escape(where)} . && rerun {escape(out.name)}",
            soft_wrap=True,  # a command to copy: never folded
        )
        console.print(
            "Or stream instead: run `rerun` on the workstation, connect with "
            f"`ssh -R 9876:localhost:9876 {escape(host)}` and add --connect here.",
            soft_wrap=True,
        )
    else:
        console.print(f"Open it with: rerun {escape(where)}", soft_wrap=True)
    console.print(f'(the viewer of rerun-sdk {version}: pip install "rerun-sdk=={version}")')


def _free_name(path: Path) -> Path:
    """`path`, or `stem-2.rrd`, `stem-3.rrd`, ... when it is taken: never overwrite a file not asked for."""
    n = 1
    candidate = path
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def _console() -> Any:
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=200)
