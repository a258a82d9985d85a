"""`mvla dataset import|export --format rosbag`: its options and run functions (the sub-commands are
`_dataset_formats`'); the work is in `recorder.interop.rosbag_import` / `rosbag_export`. The throttle,
limits and step timing that turn twists into key units come from the robot config (`--robot`, default
`ros2`), as mvla's link used them."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mvla_tui.robot.config import RobotConfig

EXPORT_TOPICS = ("/camera/image_raw", "/cmd_vel", "/mvla/episode")  # image, velocity, markers


def add_import_options(group: argparse._ArgumentGroup) -> None:
    from recorder.interop.rosbag_events import STOP_FRAMES, Segmentation

    rules = Segmentation()
    group.add_argument("--image-topic", metavar="T", help="sensor_msgs/Image or CompressedImage (needed)")
    group.add_argument("--cmd-vel-topic", metavar="T", help="geometry_msgs/Twist or TwistStamped (needed)")
    group.add_argument(
        "--marker-topic",
        metavar="T",
        help="std_msgs/String episode markers: 'start [SCENARIO [PATTERN [DISTANCE]]] [| INSTRUCTION]' "
        "and 'end' (default: split episodes on gaps)",
    )
    group.add_argument(
        "--gap",
        type=float,
        default=rules.gap_s,
        metavar="S",
        help=f"without markers, more than S seconds without motion starts a new episode (default {rules.gap_s:g})",
    )
    group.add_argument(
        "--stop-frames",
        choices=STOP_FRAMES,
        default=rules.stops,
        help="which zero twists are stop_action frames: early = those ending a press before teleop.step_s "
        "(mvla's step mode, default), all, none",
    )
    group.add_argument(
        "--instruction", help="English instruction (default: the start marker's, else the scenario's)"
    )
    _add_robot_options(group, "throttle the bag was driven at")


def add_export_options(group: argparse._ArgumentGroup) -> None:
    group.add_argument(
        "--storage", choices=["sqlite3", "mcap"], default="sqlite3", help="default sqlite3 (.db3)"
    )
    group.add_argument(
        "--image-topic", default=EXPORT_TOPICS[0], metavar="T", help=f"default {EXPORT_TOPICS[0]}"
    )
    group.add_argument(
        "--cmd-vel-topic", default=EXPORT_TOPICS[1], metavar="T", help=f"default {EXPORT_TOPICS[1]}"
    )
    group.add_argument(
        "--marker-topic", default=EXPORT_TOPICS[2], metavar="T", help=f"default {EXPORT_TOPICS[2]}"
    )
    _add_robot_options(group, "throttle to publish at")


def _add_robot_options(group: argparse._ArgumentGroup, throttle: str) -> None:
    group.add_argument(
        "--robot", default="ros2", help="robot config giving throttle, limits, step time (default ros2)"
    )
    group.add_argument("--throttle", type=int, metavar="PCT", help=f"{throttle} (default: the config's)")


def _robot(args: argparse.Namespace) -> tuple[RobotConfig, int]:
    """The robot config named by `--robot` and the throttle (percent) its twists were sent at."""
    from mvla_tui.robot.config import load_robot_config
    from recorder.errors import RecorderError

    config = load_robot_config(args.robot)
    throttle = config.teleop.throttle if args.throttle is None else args.throttle
    if not 1 <= throttle <= 100:
        raise RecorderError(f"--throttle must be 1..100 percent, got {throttle}")
    return config, throttle


def run_import(args: argparse.Namespace) -> int:
    from mvla_tui.commands._progress import command_progress
    from recorder.errors import RecorderError
    from recorder.interop.rosbag_events import Segmentation
    from recorder.interop.rosbag_import import ImportOptions, import_bag

    if not (args.image_topic and args.cmd_vel_topic):
        raise RecorderError(
            "--format rosbag needs --image-topic T and --cmd-vel-topic T2 (the bag's camera and velocity topics)"
        )
    if not args.gap > 0:
        raise RecorderError(f"--gap must be > 0 seconds, got {args.gap}")
    config, throttle = _robot(args)
    rules = Segmentation(args.gap, config.teleop.max_motion_s, config.teleop.step_s, args.stop_frames)
    options = ImportOptions(
        args.image_topic,
        args.cmd_vel_topic,
        args.marker_topic,
        args.scenario,
        args.pattern or "core",
        args.distance,
        args.instruction,
        throttle,
        config.limits,
        rules,
    )
    with command_progress("dataset import", transient=True) as progress:
        task = progress.add_task("images", total=None, status="")
        report = import_bag(
            args.path,
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


def run_export(args: argparse.Namespace) -> int:
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
    for skipped, why in report.skipped:
        print(f"skipped {skipped.name}: {why}")
    print(
        f"{report.episodes} episode(s), {report.frames} frame(s) written to {args.out} "
        f"(rosbag2 version {BAG_VERSION}, {args.storage}, throttle {throttle:g} %); "
        f"{len(report.skipped)} damaged file(s) skipped"
    )
    return 1 if report.skipped else 0
