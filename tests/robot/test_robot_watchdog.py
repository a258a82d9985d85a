"""The watchdog relay's decisions with an injected clock (the stop at the timeout, its repeats, the log of
rates and stops), and `mvla watchdog`'s one-line errors: without ROS 2, and for bad arguments (a timeout
outside 0.2-3 s among them), given before ROS 2 is touched."""

from __future__ import annotations

import argparse
import math

import pytest

from configs import MvlaError
from mvla_tui.commands import watchdog as watchdog_command
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.robot.watchdog import WatchdogRelay
from tests.cli_helpers import mvla


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_forwards_input_and_stops_at_the_timeout() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.5, clock)
    assert relay.poll() is None  # nothing received yet: nothing to stop
    move = Twist(0.5, 0.0, 0.0)
    assert relay.on_input(move) == move
    clock.t = 0.4
    assert relay.on_input(move) == move
    assert relay.next_due() == pytest.approx(0.05)  # the node wakes at least every 50 ms, for signals
    clock.t = 0.89
    assert relay.poll() is None  # 0.49 s since the last input: within the timeout
    assert relay.next_due() == pytest.approx(0.01)  # the node sleeps until exactly the timeout
    clock.t = 0.9
    assert relay.poll() == STOP
    assert relay.timeouts == 1


def test_the_stop_is_repeated_for_two_seconds_then_quiet() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.5, clock)
    relay.on_input(Twist(0.5, 0.0, 0.0))
    clock.t = 0.5
    assert relay.poll() == STOP
    zeros = []
    while clock.t < 5.0:
        clock.t = round(clock.t + 0.01, 2)
        if relay.poll() is not None:
            zeros.append(clock.t)
    # one zero is easy to lose: it is repeated every 0.1 s for 2 s, then the relay leaves /cmd_vel alone
    gaps = [b - a for a, b in zip([0.5, *zeros], zeros, strict=False)]
    assert len(zeros) == 20 and gaps == pytest.approx([0.1] * 20, abs=0.011)
    assert relay.timeouts == 1


def test_commands_again_end_the_repeats() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.2, clock)
    relay.on_input(Twist(0.0, 0.0, 1.0))
    clock.t = 1.0
    assert relay.poll() == STOP
    clock.t = 1.05
    assert relay.on_input(Twist(0.0, 0.3, 0.0)) == Twist(0.0, 0.3, 0.0)
    clock.t = 1.15
    assert relay.poll() is None  # no repeat of the old stop while commands come
    clock.t = 1.26
    assert relay.poll() == STOP  # watched again: silent for 0.2 s
    assert relay.timeouts == 2


def test_silence_after_a_stop_needs_no_extra_zero() -> None:
    clock = Clock()
    relay = WatchdogRelay(0.5, clock)
    relay.on_input(Twist(1.0, 0.0, 0.0))
    clock.t = 0.1
    assert relay.on_input(STOP) == STOP
    for t in (0.7, 1.5, 3.0):
        clock.t = t
        assert relay.poll() is None
    assert relay.timeouts == 0


def test_the_log_says_the_rate_and_each_stop_and_why() -> None:
    clock = Clock()
    lines: list[str] = []
    relay = WatchdogRelay(0.5, clock, lines.append, report_s=10.0)
    for k in range(100):  # 10 Hz for 10 s
        clock.t = k * 0.1
        relay.on_input(Twist(0.3, 0.0, 0.0))
        relay.poll()
    clock.t = 10.0
    relay.poll()
    assert lines == [
        "watchdog: relayed 100 twists at 10.0 Hz from /mvla/cmd_vel to /cmd_vel in the last 10 s"
    ]
    clock.t = 10.4
    relay.poll()
    assert lines[-1] == (
        "watchdog: stop: no command on /mvla/cmd_vel for 0.50 s (timeout 0.5 s) after 100 twists at 10.0 Hz; "
        "sent a zero twist to /cmd_vel, repeated every 0.1 s for 2 s"
    )
    relay.on_input(Twist(math.nan, 0.0, 0.0))
    relay.on_input(Twist(math.nan, 0.0, 0.0))  # a run of bad commands is one line, not one per message
    assert lines[-1] == (
        "watchdog: stop: non-finite command (nan, 0, 0) on /mvla/cmd_vel; sent a zero twist to /cmd_vel instead"
    )
    assert len(lines) == 3


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_input_is_replaced_by_a_stop(bad: float) -> None:
    relay = WatchdogRelay(0.5, Clock())
    assert relay.on_input(Twist(bad, 0.0, 0.0)) == STOP
    assert relay.poll() is None


@pytest.mark.parametrize("timeout", [0.0, -1.0, 1e-9, 0.1, 0.19, math.inf, math.nan, 3.01, 3.5])
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


# With rclpy hidden, `mvla watchdog` finds no ROS 2, as where it is not sourced; the other calls fail on
# their arguments before ROS 2 is touched, so none of these puts DDS on the network.


def test_watchdog_command_without_ros_is_one_line() -> None:
    result = mvla("watchdog", "--timeout", "0.3", hide_rclpy=True)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "ROS 2" in result.stderr and "source" in result.stderr
    assert "Traceback" not in result.stderr


def test_watchdog_command_rejects_bad_arguments() -> None:
    for bad in ("-1", "inf", "nan", "1e-9", "0.1", "3.5"):
        result = mvla("watchdog", "--timeout", bad)
        assert result.returncode == 2 and "--timeout" in result.stderr and "Traceback" not in result.stderr
        assert result.stderr.count("\n") == 1
    result = mvla("watchdog", "--in", "/cmd_vel", "--out", "/cmd_vel")
    assert result.returncode == 2 and "feed itself" in result.stderr
    result = mvla("watchdog", "--report-every", "0")
    assert result.returncode == 2 and "--report-every" in result.stderr and result.stderr.count("\n") == 1
