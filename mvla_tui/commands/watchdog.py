"""`mvla watchdog`: run the ROS 2 relay that stops the robot when the TUI's commands stop arriving.

Only argument parsing and the log's format live here; the relay is `mvla_tui.robot.watchdog`. rclpy is
imported when the command runs, so `mvla --help` works without ROS 2; without it the command fails with one
line. The log goes to stdout, one time-stamped line each, flushed at once (under systemd or in a pipe a
stop must be in the log when it happens, not when a buffer fills).
"""

from __future__ import annotations

import argparse
import math
import time

from configs import MvlaError
from mvla_tui.robot.config import WATCHDOG_MAX_TIMEOUT_S, WATCHDOG_MIN_TIMEOUT_S, check_watchdog_timeout
from mvla_tui.robot.watchdog import RATE_REPORT_S, ZERO_HOLD_S, ZERO_REPEAT_S, run_watchdog


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "watchdog",
        help="relay /mvla/cmd_vel to /cmd_vel and stop the robot when commands stop (ROS 2)",
        description="Forward Twist commands from --in to --out and publish a zero Twist when the input has "
        "been silent for longer than --timeout, so the robot stops even if mvla is killed or its SSH session "
        f"freezes; the zero is repeated every {ZERO_REPEAT_S:g} s for {ZERO_HOLD_S:g} s, then the watchdog is "
        "quiet. Start it on the robot before mvla; mvla publishes through it when it finds it. The log shows "
        "the relayed rate and every stop and why.",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.5,
        help=f"seconds of silence before the stop, {WATCHDOG_MIN_TIMEOUT_S:g} to {WATCHDOG_MAX_TIMEOUT_S:g} (0.5)",
    )
    parser.add_argument("--in", dest="in_topic", default="/mvla/cmd_vel", help="input topic (/mvla/cmd_vel)")
    parser.add_argument("--out", dest="out_topic", default="/cmd_vel", help="output topic (/cmd_vel)")
    parser.add_argument(
        "--report-every",
        type=float,
        default=RATE_REPORT_S,
        metavar="SECONDS",
        help=f"while twists are relayed, log their rate this often ({RATE_REPORT_S:g})",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_watchdog_timeout(args.timeout, "--timeout")
    if args.in_topic == args.out_topic:
        raise MvlaError(f"--in and --out are both {args.in_topic}; the relay would feed itself")
    if not (math.isfinite(args.report_every) and args.report_every > 0):
        raise MvlaError(f"--report-every must be a positive number of seconds, got {args.report_every!r}")
    from mvla_tui.robot.ros2 import import_ros

    import_ros()  # one line saying ROS 2 must be sourced, before anything else happens
    run_watchdog(args.timeout, args.in_topic, args.out_topic, log=log_line, report_s=args.report_every)
    return 0


def log_line(line: str) -> None:
    now = time.time()
    print(f"{time.strftime('%H:%M:%S', time.localtime(now))}.{int(now % 1 * 1000):03d} {line}", flush=True)
