"""`mvla watchdog`: run the ROS 2 relay that stops the robot when the TUI's commands stop arriving.

Only argument parsing lives here; the relay is `mvla_tui.robot.watchdog`. rclpy is imported when the
command runs, so `mvla --help` works without ROS 2; without it the command fails with one line.
"""

from __future__ import annotations

import argparse

from configs import MvlaError
from mvla_tui.robot.config import WATCHDOG_MAX_TIMEOUT_S, WATCHDOG_MIN_TIMEOUT_S, check_watchdog_timeout


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "watchdog",
        help="relay /mvla/cmd_vel to /cmd_vel and stop the robot when commands stop (ROS 2)",
        description="Forward Twist commands from --in to --out and publish a zero Twist when the input has "
        "been silent for longer than --timeout, so the robot stops even if mvla is killed or its SSH session "
        "freezes. Start it on the robot before mvla; mvla publishes through it when it finds it.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.5,
        help=f"seconds of silence before the stop, {WATCHDOG_MIN_TIMEOUT_S:g} to {WATCHDOG_MAX_TIMEOUT_S:g} (0.5)",
    )
    parser.add_argument("--in", dest="in_topic", default="/mvla/cmd_vel", help="input topic (/mvla/cmd_vel)")
    parser.add_argument("--out", dest="out_topic", default="/cmd_vel", help="output topic (/cmd_vel)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_watchdog_timeout(args.timeout, "--timeout")
    if args.in_topic == args.out_topic:
        raise MvlaError(f"--in and --out are both {args.in_topic}; the relay would feed itself")
    from mvla_tui.robot.ros2 import import_ros
    from mvla_tui.robot.watchdog import run_watchdog

    import_ros()  # one line saying ROS 2 must be sourced, before anything else happens
    run_watchdog(args.timeout, args.in_topic, args.out_topic)
    return 0
