"""`mvla dataset import` and `mvla dataset export`: episodes from and to other tools' formats, one
`--format` per tool (`lerobot`: a LeRobot v3 dataset; `rosbag`: a ROS 2 bag). This module holds the two
sub-commands, their shared arguments and the dispatch; each format's own options and run functions are in
`_dataset_<format>`, and the work in `recorder.interop`. An option of another format than the one chosen
is refused in one line, so a misplaced option never goes silently unused."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from configs import ConfigError

FORMATS = ("lerobot", "rosbag")


def _format_module(name: str) -> ModuleType:
    from mvla_tui.commands import _dataset_lerobot, _dataset_rosbag

    return {"lerobot": _dataset_lerobot, "rosbag": _dataset_rosbag}[name]


def register(actions: argparse._SubParsersAction) -> None:
    imp = actions.add_parser(
        "import",
        help="episodes from a LeRobot v3 dataset or a ROS 2 bag",
        description="Write episode files into OUT from another tool's data: --format lerobot reads a "
        "LeRobot v3 dataset folder (mvla's export, or one with one camera and a 2- or 3-dimensional base "
        "action); --format rosbag reads camera images and velocity commands from a rosbag2 (.db3, .mcap), "
        "turning twists into key units with the robot config's throttle. The episodes pass `mvla dataset "
        "check` and train with `mvla train`. Nothing is written unless the whole source reads.",
    )
    imp.add_argument(
        "path", type=Path, metavar="SOURCE", help="dataset folder (lerobot), or bag file or folder"
    )
    imp.add_argument("--format", required=True, choices=FORMATS, help="the source's format")
    imp.add_argument("--out", type=Path, required=True, metavar="DIR", help="data folder for the episodes")
    imp.add_argument("--scenario", help="scenario id of episodes that do not carry one")
    imp.add_argument("--pattern", help="core or variant, for episodes that do not carry one (rosbag: core)")
    imp.add_argument("--distance", help="close, medium or far, for episodes that do not carry one")
    groups = {name: imp.add_argument_group(f"--format {name}") for name in FORMATS}
    for name, group in groups.items():
        _format_module(name).add_import_options(group)
    imp.set_defaults(func=_dispatch("run_import", groups))

    exp = actions.add_parser(
        "export",
        help="episodes to a LeRobot v3 dataset or a ROS 2 bag",
        description="Write the episode files of DIR in another tool's format: --format lerobot writes a "
        "LeRobot v3 dataset (parquet and software-encoded mp4, one row per recorded frame at a nominal "
        "--fps, the recorded times kept in recorded_timestamp); --format rosbag writes one rosbag2 "
        "(metadata version 8, which ROS 2 Humble's `ros2 bag play` reads). Damaged files are skipped with "
        "the check's reason. OUT appears only when complete.",
    )
    exp.add_argument(
        "path", type=Path, metavar="DIR", help="data folder of episode files (rosbag: or one .h5)"
    )
    exp.add_argument("--format", required=True, choices=FORMATS, help="the output format")
    exp.add_argument("--out", type=Path, required=True, metavar="OUT", help="dataset or bag folder to create")
    groups = {name: exp.add_argument_group(f"--format {name}") for name in FORMATS}
    for name, group in groups.items():
        _format_module(name).add_export_options(group)
    exp.set_defaults(func=_dispatch("run_export", groups))


def _dispatch(run: str, groups: dict[str, argparse._ArgumentGroup]) -> Callable[[argparse.Namespace], int]:
    def dispatch(args: argparse.Namespace) -> int:
        for name, group in groups.items():
            if name == args.format:
                continue
            for action in group._group_actions:
                if getattr(args, action.dest) != action.default:
                    raise ConfigError(
                        f"{action.option_strings[0]} is an option of --format {name}, not {args.format}"
                    )
        result: int = getattr(_format_module(args.format), run)(args)
        return result

    return dispatch
