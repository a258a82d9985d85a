"""How fast the robot stops when `mvla` dies, with real ROS 2 (not a test: it prints numbers, asserts nothing).

A real `mvla watchdog` relays `/mvla/cmd_vel` to `/cmd_vel`; a child process drives through it (the real
`Ros2Link` and `ControlLoop` in latch mode, re-sending every 0.1 s) and is sent, mid-motion at a random
phase of the re-send period, either SIGKILL (the process dies without cleaning up: the watchdog's timeout
stops the robot) or SIGHUP (the SSH session dropped: `mvla`'s own handler stops it, through the relay and,
separately, publishing straight to `/cmd_vel`). Printed per case: worst, median and best time from the
signal to the first zero twist on `/cmd_vel`, over `--runs` runs; for kill -9 also the time from the last
moving twist on `/cmd_vel` to that zero, which is the watchdog's timeout plus how late it acts. The figures
in the design notes come from the defaults.

    python benchmarks/bench_ros_stop.py [--runs 20] [--timeout 0.5] [--seed 0]

Needs the `ros-test` extra (or a sourced ROS 2). DDS never touches this machine's network: the script
re-runs itself inside a private network namespace holding only loopback, as the `ros` tests do
(`tests/conftest.py`), and says why in one line when it cannot make one.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the `tests` package: the namespace helpers and the stop harness

from tests.conftest import next_ros_domain, only_loopback, private_network_argv  # noqa: E402

CASES = (("kill -9, through the watchdog", signal.SIGKILL, "relay"),
         ("SIGHUP, through the watchdog", signal.SIGHUP, "relay"),
         ("SIGHUP, straight to /cmd_vel", signal.SIGHUP, "direct"))  # fmt: skip


def row(name: str, seconds: list[float]) -> None:
    ms = [1000 * s for s in seconds]
    print(f"{name:44} {max(ms):7.1f} {statistics.median(ms):7.1f} {min(ms):7.1f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="signals per case")
    parser.add_argument("--timeout", type=float, default=0.5, help="the watchdog's --timeout, seconds")
    parser.add_argument("--seed", type=int, default=0, help="for the phase at which each signal is sent")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f"--runs must be >= 1, got {args.runs}")
    if not only_loopback():
        wrapped, why = private_network_argv([sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])
        if wrapped is None:
            print(f"bench_ros_stop: {why}", file=sys.stderr)
            return 2
        os.execvp(wrapped[0], wrapped)
    os.environ["ROS_DOMAIN_ID"] = str(next_ros_domain())

    from tests.robot.test_robot_ros2_watchdog import Listener, Watchdog, stop_latency

    rng = random.Random(args.seed)
    watchdog = Watchdog(args.timeout)
    listener = Listener("/cmd_vel", publishers=1)
    print(
        f"watchdog --timeout {args.timeout:g} s; {args.runs} runs per case; ms from the signal to the first"
    )
    print("zero twist on /cmd_vel (network namespace with loopback only)")
    print(f"{'case':44} {'worst':>7} {'median':>7} {'best':>7}")
    try:
        for name, sig, route in CASES:
            stops = [stop_latency(listener, sig, route, rng) for _ in range(args.runs)]
            row(name, [s.latency_s for s in stops])
            if sig == signal.SIGKILL:  # how close to its timeout the watchdog stops
                row("  last moving twist to the watchdog's zero", [s.silence_s for s in stops])
    finally:
        listener.close()
        watchdog.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
