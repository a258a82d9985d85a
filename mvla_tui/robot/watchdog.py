"""The watchdog relay: forwards twists from `/mvla/cmd_vel` to `/cmd_vel` and publishes one zero twist when
its input goes silent for longer than a timeout, so the robot stops even when the TUI is killed with SIGKILL
or its SSH session freezes (the `twist_mux` idea; ARCHITECTURE.md safety invariant 5).

`WatchdogRelay` holds the decision logic, pure and clock-injected; `run_watchdog` wires it to rclpy
(imported lazily). A non-finite input is never forwarded: the relay publishes a zero twist instead.
The watchdog sends nothing while its input is silent except that one zero, so it does not fight other
publishers of `/cmd_vel` (a joystick, a navigation stack). Its timeout must be finite, longer than the
interval at which `mvla` re-sends a moving command (or the robot would stutter), and short (or the robot
would drive on for too long): `config.check_watchdog_timeout` says so in one line.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

from mvla_tui.robot.config import check_watchdog_timeout
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.robot.ros_messages import is_finite, twist_from_msg, twist_to_msg
from mvla_tui.robot.safety import run_every


class WatchdogRelay:
    def __init__(self, timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        check_watchdog_timeout(timeout_s)
        self.timeout_s = timeout_s
        self.clock = clock
        self._last_input: float | None = None
        self._moving = False  # the last twist forwarded was not zero
        self.timeouts = 0

    def on_input(self, twist: Twist) -> Twist:
        """The twist to forward for one input message."""
        self._last_input = self.clock()
        if not is_finite(twist):
            twist = STOP
        self._moving = not twist.is_zero
        return twist

    def poll(self) -> Twist | None:
        """A zero twist to publish when the input went silent while the robot was moving, else None."""
        if not self._moving or self._last_input is None:
            return None
        if self.clock() - self._last_input > self.timeout_s:
            self._moving = False
            self.timeouts += 1
            return STOP
        return None


def run_watchdog(
    timeout_s: float,
    in_topic: str,
    out_topic: str,
    node_name: str = "mvla_watchdog",
    log: Callable[[str], None] = print,
) -> None:
    """Run the relay node until SIGINT, SIGTERM or SIGHUP; publishes a zero twist on the way out."""
    from mvla_tui.robot.ros2 import RosNode

    relay = WatchdogRelay(timeout_s)
    ros = RosNode(node_name)
    publisher = ros.node.create_publisher(ros.ros.TwistMsg, out_topic, 10)

    def forward(msg: object) -> None:
        publisher.publish(twist_to_msg(relay.on_input(twist_from_msg(msg)), ros.ros.TwistMsg))

    def check() -> None:
        if relay.poll() is not None:
            publisher.publish(twist_to_msg(STOP, ros.ros.TwistMsg))
            log(f"watchdog: no command on {in_topic} for {timeout_s:g} s; sent a zero twist to {out_topic}")

    ros.node.create_subscription(ros.ros.TwistMsg, in_topic, forward, 10)
    ros.node.create_timer(min(0.05, timeout_s / 5), check)
    stop_reason: list[str] = []
    previous = {}

    def on_signal(signum: int, _frame: object) -> None:
        stop_reason.append(signal.Signals(signum).name)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, on_signal)
    log(f"watchdog: relaying {in_topic} -> {out_topic}, zero twist after {timeout_s:g} s of silence")

    def restore_signals() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    def serve() -> None:
        while not stop_reason:
            ros.executor.spin_once(timeout_sec=0.05)

    run_every(
        serve, lambda: publisher.publish(twist_to_msg(STOP, ros.ros.TwistMsg)), restore_signals, ros.shutdown
    )
    log(f"watchdog: {stop_reason[0] if stop_reason else 'stopped'}; sent a zero twist to {out_topic}")
