"""The watchdog relay's decisions with an injected clock, and `mvla watchdog` without ROS 2."""

from __future__ import annotations

import argparse
import importlib.util
import math
import subprocess
import sys

import pytest

from configs import MvlaError
from mvla_tui.commands import watchdog as watchdog_command
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.robot.watchdog import WatchdogRelay

HAS_RCLPY = importlib.util.find_spec("rclpy") is not None


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_forwards_input_and_stops_once_when_it_goes_silent() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.5, clock)
    assert relay.poll() is None  # nothing received yet: nothing to stop
    move = Twist(0.5, 0.0, 0.0)
    assert relay.on_input(move) == move
    clock.t = 0.4
    assert relay.on_input(move) == move
    clock.t = 0.9
    assert relay.poll() is None  # 0.5 s since the last input: not longer than the timeout
    clock.t = 0.91
    assert relay.poll() == STOP
    clock.t = 5.0
    assert relay.poll() is None  # one zero twist, then quiet: no fight with other publishers
    assert relay.timeouts == 1


def test_silence_after_a_stop_needs_no_extra_zero() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.5, clock)
    relay.on_input(Twist(1.0, 0.0, 0.0))
    clock.t = 0.1
    assert relay.on_input(STOP) == STOP
    clock.t = 3.0
    assert relay.poll() is None


def test_resumed_input_is_forwarded_and_watched_again() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.2, clock)
    relay.on_input(Twist(0.0, 0.0, 1.0))
    clock.t = 1.0
    assert relay.poll() == STOP
    assert relay.on_input(Twist(0.0, 0.3, 0.0)) == Twist(0.0, 0.3, 0.0)
    clock.t = 1.3
    assert relay.poll() == STOP


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input_is_replaced_by_a_stop(bad: float) -> None:
    relay = WatchdogRelay(0.5, Clock())
    assert relay.on_input(Twist(bad, 0.0, 0.0)) == STOP
    assert relay.poll() is None


@pytest.mark.parametrize("timeout", [0.0, -1.0, 1e-9, 0.1, math.inf, math.nan, 3.5])
def test_timeout_must_be_finite_above_the_resend_period_and_short(timeout: float) -> None:
    with pytest.raises(MvlaError, match="between 0.2 s .* and 3 s"):
        WatchdogRelay(timeout)
    with pytest.raises(MvlaError, match="--timeout"):
        watchdog_command.run(
            argparse.Namespace(timeout=timeout, in_topic="/mvla/cmd_vel", out_topic="/cmd_vel")
        )


@pytest.mark.parametrize("timeout", [0.2, 0.5, 3.0])
def test_sensible_timeouts_are_accepted(timeout: float) -> None:
    assert WatchdogRelay(timeout).timeout_s == timeout


def _mvla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mvla_tui", *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.skipif(HAS_RCLPY, reason="checks the message shown when ROS 2 is not sourced")
def test_watchdog_command_without_ros_is_one_line() -> None:
    result = _mvla("watchdog", "--timeout", "0.3")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "ROS 2" in result.stderr and "source" in result.stderr
    assert "Traceback" not in result.stderr


def test_watchdog_command_rejects_bad_arguments() -> None:
    for bad in ("-1", "inf", "1e-9"):
        result = _mvla("watchdog", "--timeout", bad)
        assert result.returncode == 2 and "--timeout" in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1
    result = _mvla("watchdog", "--in", "/cmd_vel", "--out", "/cmd_vel")
    assert result.returncode == 2 and "feed itself" in result.stderr
