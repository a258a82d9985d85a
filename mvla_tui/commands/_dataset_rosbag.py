"""`mvla dataset import|export --format rosbag`: the arguments and the run functions; the work is in
`recorder.interop.rosbag_import` / `rosbag_export`. The throttle, limits and step timing that turn
twists into key units come from the robot config (`--robot`, default `ros2`), as mvla's link used them.
Only `rosbag` is a format here; another format registers its own choices next to it."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mvla_tui.robot.config import RobotConfig


def register(actions: argparse._SubParsersAction) -> None:
    from recorder.interop.rosbag_events import STOP_FRAMES, Segmentation

    rules = Segmentation()
    imp = actions.add_parser(
        "import",
        help="episodes from a rosbag2 (.db3, .mcap)",
        description="Read camera images and velocity commands from a ROS 2 bag and write mvla episodes "
        "(frame 0 episode_start, one start_action frame per new command with the image right after it, "
        "stop_action when the operator stopped a press). Twists become key units with the robot config's "
        "throttle, the exact inverse of what mvla's link publishes. Nothing is written unless the whole "
        "bag reads.",
    )
    imp.add_argument("bag", type=Path, metavar="BAG", help="a .db3 or .mcap file, or a bag folder")
    imp.add_argument("--format", required=True, choices=["rosbag"], help="the input format")
    imp.add_argument("--out", type=Path, required=True, metavar="DIR", help="data folder for the episodes")
    imp.add_argument("--image-topic", required=True, metavar="T", help="sensor_msgs/Image or CompressedImage")
    imp.add_argument(
        "--cmd-vel-topic", required=True, metavar="T", help="geometry_msgs/Twist or TwistStamped"
    )
    imp.add_argument(
        "--marker-topic",
        metavar="T",
        help="std_msgs/String episode markers: 'start [SCENARIO [PATTERN [DISTANCE]]]' and 'end' "
        "(default: split episodes on gaps)",
    )
    imp.add_argument(
        "--gap",
        type=float,
        default=rules.gap_s,
        metavar="S",
        help=f"without markers, more than S seconds without motion starts a new episode (default {rules.gap_s:g})",
    )
    imp.add_argument(
        "--stop-frames",
        choices=STOP_FRAMES,
        default=rules.stops,
        help="which zero twists are stop_action frames: early = those ending a press before teleop.step_s "
        "(mvla's step mode, default), all, none",
    )
    imp.add_argument("--scenario", help="scenario id of every episode (or name it in the start marker)")
    imp.add_argument("--pattern", default="core", help="core or variant (default core)")
    imp.add_argument("--distance", help="close, medium or far")
    imp.add_argument("--instruction", help="English instruction (default: the scenario's)")
    imp.add_argument(
        "--robot", default="ros2", help="robot config giving throttle, limits, step time (default ros2)"
    )
    imp.add_argument(
        "--throttle", type=int, metavar="PCT", help="throttle the bag was driven at (default: the config's)"
    )
    imp.set_defaults(func=_import)

    exp = actions.add_parser(
        "export",
        help="episodes to a rosbag2 that ROS 2 Humble plays",
        description="Write the episodes of a data folder as one rosbag2 (metadata version 8, which "
        "Humble's `ros2 bag play` reads): bgr8 images, /cmd_vel twists as mvla's link publishes them, "
        "start/end markers. OUT must not exist.",
    )
    exp.add_argument("path", type=Path, metavar="DIR", help="data folder (or one .h5 file)")
    exp.add_argument("--format", required=True, choices=["rosbag"], help="the output format")
    exp.add_argument("--out", type=Path, required=True, metavar="BAG", help="bag folder to create")
    exp.add_argument(
        "--storage", choices=["sqlite3", "mcap"], default="sqlite3", help="default sqlite3 (.db3)"
    )
    exp.add_argument("--image-topic", default="/camera/image_raw", metavar="T")
    exp.add_argument("--cmd-vel-topic", default="/cmd_vel", metavar="T")
    exp.add_argument("--marker-topic", default="/mvla/episode", metavar="T")
    exp.add_argument(
        "--robot", default="ros2", help="robot config giving throttle, limits, step time (default ros2)"
    )
    exp.add_argument(
        "--throttle", type=int, metavar="PCT", help="throttle to publish at (default: the config's)"
    )
    exp.set_defaults(func=_export)


def _robot(args: argparse.Namespace) -> tuple[RobotConfig, int]:
    """The robot config named by `--robot` and the throttle (percent) its twists were sent at."""
    from mvla_tui.robot.config import load_robot_config
    from recorder.errors import RecorderError

    config = load_robot_config(args.robot)
    throttle = config.teleop.throttle if args.throttle is None else args.throttle
    if not 1 <= throttle <= 100:
        raise RecorderError(f"--throttle must be 1..100 percent, got {throttle}")
    return config, throttle


def _import(args: argparse.Namespace) -> int:
    from mvla_tui.commands._progress import command_progress
    from recorder.errors import RecorderError
    from recorder.interop.rosbag_events import Segmentation
    from recorder.interop.rosbag_import import ImportOptions, import_bag

    if not args.gap > 0:
        raise RecorderError(f"--gap must be > 0 seconds, got {args.gap}")
    config, throttle = _robot(args)
    rules = Segmentation(args.gap, config.teleop.max_motion_s, config.teleop.step_s, args.stop_frames)
    options = ImportOptions(
        args.image_topic,
        args.cmd_vel_topic,
        args.marker_topic,
        args.scenario,
        args.pattern,
        args.distance,
        args.instruction,
        throttle,
        config.limits,
        rules,
    )
    with command_progress("dataset import", transient=True) as progress:
        task = progress.add_task("images", total=None, status="")
        report = import_bag(
            args.bag,
            args.out,
            options,
            lambda done, total: progress.update(task, completed=done, total=total),
        )
    for note in report.notes:
        print(f"note: {note}")
    if report.clamped:
        print(
            f"note: {report.clamped} command(s) beyond the limits clamped (driven at another throttle? see --throttle)"
        )
    print(
        f"{len(report.episodes)} episode(s), {report.frames} frame(s) written to {args.out} "
        f"from {report.images} image(s) and {report.commands} command(s) at throttle {throttle:g} %"
    )
    return 0 if report.episodes else 1


def _export(args: argparse.Namespace) -> int:
    from mvla_tui.commands._progress import command_progress
    from recorder.errors import RecorderError
    from recorder.interop.rosbag_events import Segmentation
    from recorder.interop.rosbag_export import BAG_VERSION, ExportOptions, export_episodes
    from recorder.stats import episode_files

    path: Path = args.path
    files = episode_files(path) if path.is_dir() else [path] if path.is_file() else []
    if not files:
        raise RecorderError(f"{path}: no episode files (*.h5) here")
    config, throttle = _robot(args)
    options = ExportOptions(
        args.image_topic,
        args.cmd_vel_topic,
        args.marker_topic,
        args.storage,
        throttle,
        config.limits,
        config.teleop.republish_s,
        Segmentation(step_s=config.teleop.step_s),
    )
    with command_progress("dataset export", transient=True) as progress:
        task = progress.add_task("episodes", total=len(files), status="")
        report = export_episodes(files, args.out, options, lambda _: progress.advance(task))
    print(
        f"{report.episodes} episode(s), {report.frames} frame(s) written to {args.out} "
        f"(rosbag2 version {BAG_VERSION}, {args.storage}, throttle {throttle:g} %)"
    )
    return 0
