"""`mvla doctor`: is this robot ready? One line per check (ok / warn / fail) with what to do, or one JSON
object for scripts; exit status 1 when any check failed, 0 otherwise (warnings included).

Only argument parsing and printing live here; the checks are `mvla_tui.doctor`. `--robot auto` chooses
as the app does and says so; nothing heavy is imported until the command runs (torch only for
`--policy`, rclpy only for a ROS 2 robot).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_robot_option, add_set_option

MARK = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check that this robot is ready: ROS 2, /cmd_vel, the watchdog, camera, GPU, disk, policy",
        description="Check, one line each (ok, warn or fail, and what to do): ROS 2 is sourced and which "
        "distribution; something subscribes to /cmd_vel (the base driver); the `mvla watchdog` relay runs; "
        "the camera service or topic answers and at what rate; the GPU and jtop are reachable; the "
        "temperatures against their trip points; how many episodes fit on the disk at this camera's frame "
        "size; the --policy checkpoint verifies; exported TensorRT engines match the installed TensorRT. "
        "It only looks: it publishes no twist. Exit status 1 when a check failed.",
        epilog="Examples: `mvla doctor --robot ros2 --data ~/episodes --policy runs/x/best`, "
        "`mvla doctor --robot sim --json`.",
    )
    add_robot_option(parser)
    parser.add_argument(
        "--policy", metavar="CKPT", help="a checkpoint to verify (`default`: the shipped one)"
    )
    parser.add_argument("--data", type=Path, metavar="DIR", help="the folder episodes will be recorded into")
    parser.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="how long each ROS 2 wait may take: discovery, the camera service, the first image (3)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    add_set_option(parser, "the robot config", "--set camera.source=topic")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.timeout) and 0 < args.timeout <= 30):
        raise ConfigError(f"--timeout {args.timeout:g}: give a number of seconds between 0 and 30, e.g. 3")
    from mvla_tui.doctor import DoctorRequest, diagnose, failed
    from mvla_tui.doctor.checks import counts
    from mvla_tui.robot.links import choose_robot, robot_config_for

    choice = choose_robot(args.robot)
    config = robot_config_for(choice, args.robot_config, args.overrides)
    request = DoctorRequest(config, policy=args.policy, data=args.data, timeout_s=args.timeout)
    if not args.json:
        print(f"robot: {choice.reason}", flush=True)
    checks = diagnose(request, machine())
    tally = counts(checks)
    if args.json:
        report = {
            "robot": {"kind": config.kind, "reason": choice.reason},
            "ready": not failed(checks),
            "counts": tally,
            "checks": [c.to_dict() for c in checks],
        }
        print(json.dumps(report, indent=2))
    else:
        width = max(len(c.name) for c in checks)
        for check in checks:
            print(f"{MARK[check.status]}  {check.name:<{width}}  {check.detail}")
            if check.fix:
                print(f"{'':4}  {'':<{width}}  fix: {check.fix}")
        verdict = "not ready" if failed(checks) else "ready"
        warnings = f"{tally['warn']} warning{'' if tally['warn'] == 1 else 's'}"
        print(f"{verdict}: {tally['fail']} failed, {warnings}, {tally['ok']} ok")
    sys.stdout.flush()
    return 1 if failed(checks) else 0


def machine():
    """What the checks read (the real machine); tests replace this."""
    from mvla_tui.doctor import Machine

    return Machine()
