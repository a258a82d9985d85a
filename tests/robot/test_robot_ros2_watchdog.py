"""With real ROS 2 (marker `ros`; conftest runs these inside a private network namespace): `mvla watchdog`
relays twists faithfully and logs their rate, stops the robot at its timeout and keeps zeroing for a while,
exits 0 on SIGTERM with a last zero, and the robot stops when `mvla` dies: a driving process killed with
SIGKILL mid-motion gets a zero twist on /cmd_vel within the timeout + 50 ms, every time of 20; one that
gets SIGHUP (the SSH session dropped) within 100 ms.

The helpers (`Listener`, `Sender`, `Watchdog`, `Driver`, `stop_latency`) are shared with
`test_robot_ros2_live.py` and with `benchmarks/bench_ros_stop.py`, which prints the same figures over
more runs. Times are `time.monotonic()`, one clock for every process on the machine.
"""

from __future__ import annotations

import math
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.link import Twist

pytestmark = pytest.mark.ros
T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]
REPUBLISH_S = TeleopConfig().republish_s
KILL_SLACK_S = 0.05  # kill -9: the zero must reach /cmd_vel within the watchdog timeout + this
HUP_LIMIT_S = 0.1  # SIGHUP: within this


def wait_for(predicate: Callable[[], T], timeout: float = 10.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout:g} s waiting for {what}"
        time.sleep(0.01)
    return value


class Closing:
    """`with` closes it, also when what comes after it in the `with` fails to start."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener(Closing):
    """Every twist arriving on `topic`, with its arrival time."""

    def __init__(self, topic: str = "/cmd_vel", publishers: int = 0) -> None:
        from mvla_tui.robot.ros2 import RosNode
        from mvla_tui.robot.ros_messages import twist_from_msg

        self.topic = topic
        self.ros = RosNode("mvla_test_listener")
        self.received: list[tuple[float, Twist]] = []
        self._changed = threading.Condition()

        def on_msg(msg: object) -> None:
            arrived = time.monotonic()
            with self._changed:
                self.received.append((arrived, twist_from_msg(msg)))
                self._changed.notify_all()

        self.ros.node.create_subscription(self.ros.ros.TwistMsg, topic, on_msg, 10)
        self.ros.spin_in_background()
        if publishers:
            try:
                self.wait_publishers(publishers)
            except BaseException:
                self.close()
                raise

    def wait_publishers(self, count: int = 1, timeout: float = 10.0) -> None:
        wait_for(
            lambda: self.ros.node.count_publishers(self.topic) >= count,
            timeout,
            f"a publisher on {self.topic}",
        )

    def twists(self, after: float = -math.inf) -> list[Twist]:
        with self._changed:
            return [twist for t, twist in self.received if t > after]

    def first(self, after: float, zero: bool, timeout: float = 10.0) -> tuple[float, Twist]:
        """The first twist after `after` that is zero (or moving, with `zero=False`), waiting for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for t, twist in self.received:
                    if t > after and twist.is_zero == zero:
                        return t, twist
                left = deadline - time.monotonic()
                assert left > 0, (
                    f"no {'zero' if zero else 'moving'} twist on {self.topic} within {timeout:g} s"
                )
                self._changed.wait(left)

    def close(self) -> None:
        self.ros.shutdown()


class Sender(Closing):
    """Publishes twists on `topic` as `mvla` would, once something subscribes to it."""

    def __init__(self, topic: str = "/mvla/cmd_vel") -> None:
        from mvla_tui.robot.ros2 import RosNode
        from mvla_tui.robot.ros_messages import twist_to_msg

        self.ros = RosNode("mvla_test_sender")
        self._to_msg = twist_to_msg
        self.publisher = self.ros.node.create_publisher(self.ros.ros.TwistMsg, topic, 10)
        try:
            wait_for(lambda: self.ros.node.count_subscribers(topic) > 0, 10.0, f"a subscriber of {topic}")
        except BaseException:
            self.close()
            raise

    def send(self, twist: Twist) -> float:
        self.publisher.publish(self._to_msg(twist, self.ros.ros.TwistMsg))
        return time.monotonic()

    def close(self) -> None:
        self.ros.shutdown()


class Watchdog(Closing):
    """A real `mvla watchdog` process; its log (stdout) goes to a file."""

    def __init__(self, timeout_s: float = 0.5, *args: str) -> None:
        self.log_path = Path(tempfile.mkstemp(prefix="mvla-watchdog-", suffix=".log")[1])
        with self.log_path.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mvla_tui", "watchdog", "--timeout", f"{timeout_s:g}", *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        try:
            wait_for(
                lambda: "relaying" in self.log() or self.proc.poll() is not None,
                30.0,
                "the watchdog to start",
            )
            assert self.proc.poll() is None, f"mvla watchdog exited at start:\n{self.log()}"
        except BaseException:
            self.close()
            raise

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        """Its exit status after `sig` (or the one it already had); idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


# The driving process: the real link and control loop, as `mvla` drives in latch mode (the command re-sent
# every 0.1 s), with the signal handlers `mvla` installs. It connects (and finds the watchdog) first, says
# "ready", and starts moving when a line comes on stdin, so only the stop is timed.
DRIVER = """
import sys
from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config, TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.robot.ros2 import Ros2Link
from mvla_tui.robot.safety import install_signal_stop

relay = sys.argv[1] == "relay"
ros2 = Ros2Config(cmd_vel_topic="auto" if relay else "/cmd_vel", require_watchdog=relay, discovery_s=20.0)
link = Ros2Link(RobotConfig(camera=CameraConfig(source="none"), ros2=ros2))
link.connect()
loop = ControlLoop(link, TeleopConfig(mode="latch"))
install_signal_stop(loop)
print("ready", link.cmd_topic, flush=True)
sys.stdin.readline()
loop.submit(TeleopKey("w"))
loop.run(duration_s=60)
print("loop ended", flush=True)
"""


class Driver:
    def __init__(self, route: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", DRIVER, route],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=ROOT,
        )
        expected = "/mvla/cmd_vel" if route == "relay" else "/cmd_vel"
        before = []
        for line in self.proc.stdout:  # anything rclpy prints first is kept for the error message
            if line.startswith("ready") and line.split() == ["ready", expected]:
                return
            before.append(line)
            if line.startswith("ready"):
                break
        self.finish()
        raise AssertionError(f"the driving process did not start as expected:\n{''.join(before)}")

    def go(self) -> None:
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def finish(self) -> tuple[int, str]:
        try:
            out, _ = self.proc.communicate(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode, out


@dataclass(frozen=True)
class Stop:
    latency_s: float  # from the signal to the first zero twist on /cmd_vel
    silence_s: float  # from the last moving twist on /cmd_vel to that zero (kill -9: the watchdog's timeout)


def stop_latency(listener: Listener, sig: signal.Signals, route: str, rng: random.Random) -> Stop:
    """How the robot stopped when `sig` was sent to a driving process mid-motion (see `Stop`)."""
    driver = Driver(route)
    try:
        start = time.monotonic()
        driver.go()
        listener.first(after=start, zero=False)
        time.sleep(rng.uniform(0.0, REPUBLISH_S))  # any phase of the re-send period
        signalled = time.monotonic()
        os.kill(driver.proc.pid, sig)
        stopped, _ = listener.first(after=signalled, zero=True)
    finally:
        code, out = driver.finish()
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 0 and "loop ended" in out, out  # the loop ended through its clean-up
    assert not any(not t.is_zero for t in listener.twists(after=stopped)), "moved again after the stop"
    last_moving = max(t for t, twist in listener.received if t < stopped and not twist.is_zero)
    return Stop(stopped - signalled, stopped - last_moving)


@pytest.fixture
def rig():
    """A watchdog at 0.5 s and a listener on /cmd_vel that it publishes to."""
    with Watchdog(0.5) as watchdog, Listener("/cmd_vel", publishers=1) as listener:
        yield watchdog, listener
        assert watchdog.stop() == 0


@pytest.mark.slow
def test_kill_9_mid_motion_stops_the_robot_within_the_timeout_every_time(rig) -> None:
    watchdog, listener = rig
    rng = random.Random(0)
    stops = [stop_latency(listener, signal.SIGKILL, "relay", rng) for _ in range(20)]
    runs = "\n".join(
        f"run {i}: {s.latency_s * 1000:.1f} ms, silence {s.silence_s * 1000:.1f} ms"
        for i, s in enumerate(stops)
    )
    report = f"kill -9 to zero on /cmd_vel:\n{runs}\nwatchdog log:\n{watchdog.log()}"
    assert max(s.latency_s for s in stops) <= 0.5 + KILL_SLACK_S, report
    # The zero is the watchdog's, at its timeout after the last command it relayed: not late by a period.
    assert all(0.5 - 0.02 <= s.silence_s <= 0.5 + KILL_SLACK_S for s in stops), report
    assert watchdog.log().count("stop: no command on /mvla/cmd_vel") == 20, report


@pytest.mark.parametrize("route", [pytest.param("relay", marks=pytest.mark.slow), "direct"])
def test_sighup_stops_the_robot_at_once(rig, route: str) -> None:
    _watchdog, listener = rig
    rng = random.Random(1)
    latencies = [stop_latency(listener, signal.SIGHUP, route, rng).latency_s for _ in range(5)]
    assert max(latencies) <= HUP_LIMIT_S, f"SIGHUP to zero on /cmd_vel ({route}): {sorted(latencies)}"


def test_watchdog_relays_faithfully_and_logs_the_rate() -> None:
    with (
        Watchdog(0.5, "--report-every", "1") as watchdog,
        Listener("/cmd_vel", publishers=1) as listener,
        Sender("/mvla/cmd_vel") as sender,
    ):
        sent = [Twist(0.05 * k, -0.03 * k, 0.4 - 0.07 * k) for k in range(1, 31)]
        for twist in sent:
            sender.send(twist)
            time.sleep(0.05)  # 20 Hz for 1.5 s
        wait_for(lambda: len(listener.twists()) >= len(sent), 5.0, "the relayed twists")
        assert listener.twists()[: len(sent)] == sent  # every one, in order, unchanged
        sender.send(Twist(math.nan, 0.1, 0.0))
        wait_for(lambda: len(listener.twists()) > len(sent), 5.0, "the stop for a non-finite command")
        assert listener.twists()[len(sent)].is_zero  # a non-finite command is never forwarded
        wait_for(lambda: "non-finite" in watchdog.log(), 5.0, "the non-finite stop in the log")
        rates = [float(r) for r in re.findall(r"relayed \d+ twists at ([\d.]+) Hz", watchdog.log())]
        assert rates and all(12.0 <= r <= 25.0 for r in rates), watchdog.log()
        assert watchdog.stop() == 0


@pytest.mark.slow
def test_watchdog_zeroes_after_the_timeout_and_keeps_zeroing_while_silent() -> None:
    from mvla_tui.robot.watchdog import ZERO_HOLD_S, ZERO_REPEAT_S

    with (
        Watchdog(0.3) as watchdog,
        Listener("/cmd_vel", publishers=1) as listener,
        Sender("/mvla/cmd_vel") as sender,
    ):
        move = Twist(0.3, 0.1, 0.0)
        for _ in range(5):
            last = sender.send(move)
            time.sleep(0.1)
        first, _ = listener.first(after=last, zero=True)
        # Not before the timeout. (How soon after it is the kill -9 test's figure; this one is about what is
        # sent, so it leaves room for a busy machine.)
        assert 0.3 - 0.02 <= first - last <= 0.3 + 0.15
        time.sleep(ZERO_HOLD_S + 0.5)
        zeros = [t for t, twist in listener.received if t >= first and twist.is_zero]
        repeats = round(ZERO_HOLD_S / ZERO_REPEAT_S)
        assert len(zeros) == 1 + repeats  # one zero is easy to lose: it is repeated ...
        gaps = [b - a for a, b in zip(zeros, zeros[1:], strict=False)]
        assert all(0.05 <= g <= 0.3 for g in gaps), gaps
        assert listener.received[-1][0] - first <= ZERO_HOLD_S + 0.3  # ... then /cmd_vel is left alone
        assert re.search(
            r"stop: no command on /mvla/cmd_vel for 0\.3\d s \(timeout 0\.3 s\) after 5 twists at [\d.]+ Hz",
            watchdog.log(),
        ), watchdog.log()
        assert watchdog.stop() == 0


def test_watchdog_exits_0_on_sigterm_with_a_last_zero() -> None:
    with (
        Watchdog(1.0) as watchdog,
        Listener("/cmd_vel", publishers=1) as listener,
        Sender("/mvla/cmd_vel") as sender,
    ):
        sender.send(Twist(0.2, 0.0, 0.0))
        listener.first(after=0.0, zero=False)
        terminated = time.monotonic()
        watchdog.proc.send_signal(signal.SIGTERM)
        assert watchdog.proc.wait(timeout=10) == 0
        stopped, _ = listener.first(after=terminated, zero=True, timeout=2.0)
        assert stopped - terminated < 0.5  # long before the 1 s timeout: the exit stop, not the timeout
        assert "stop: SIGTERM received; sent a zero twist to /cmd_vel" in watchdog.log().splitlines()[-1]
