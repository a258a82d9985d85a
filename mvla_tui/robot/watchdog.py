"""The watchdog relay: forwards twists from `/mvla/cmd_vel` to `/cmd_vel` and stops the robot when its input
goes silent for longer than a timeout, so the robot stops even when the TUI is killed with SIGKILL or its
SSH session freezes (the `twist_mux` idea; ARCHITECTURE.md safety invariant 5).

`WatchdogRelay` holds the decision logic, pure and clock-injected; `run_watchdog` wires it to rclpy
(imported lazily). A non-finite input is never forwarded: the relay publishes a zero twist instead.
When the input goes silent while the robot moves, the first zero twist goes out at the timeout (the node
sleeps until exactly then, so the stop is not late by a polling period), then the zero is repeated every
`ZERO_REPEAT_S` for `ZERO_HOLD_S`, because one message is easy to lose (a base driver busy or restarting,
a best-effort subscriber); after that the watchdog is quiet. It publishes nothing else while its input is
silent, so it fights other publishers of `/cmd_vel` (a joystick, a navigation stack) only during those
two seconds right after mvla stopped sending, when a stop is what anyone wants. Its timeout must be
finite, longer than the interval at which `mvla` re-sends a moving command (or the robot would stutter),
and short (or the robot would drive on for too long): `config.check_watchdog_timeout` says so in one line.
The log says, through `log`, the rate at which twists are relayed (every `RATE_REPORT_S` while they
come) and each stop the watchdog made and why (silence, a non-finite command, its own exit). The node
writes it from a thread of its own, so a log that cannot be written at once (a slow disk, a full pipe to
journald) never holds up a stop.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections.abc import Callable

from mvla_tui.robot.config import check_watchdog_timeout
from mvla_tui.robot.link import STOP, Twist
from mvla_tui.robot.ros_messages import is_finite, twist_from_msg, twist_to_msg
from mvla_tui.robot.safety import install_signal_stop, run_every

ZERO_REPEAT_S = 0.1  # after a timeout stop, the zero twist again this often ...
ZERO_HOLD_S = 2.0  # ... for this long, then nothing until commands come again
RATE_REPORT_S = 10.0  # while twists are relayed, their rate is logged this often
MAX_WAIT_S = 0.05  # the node wakes at least this often, so a signal is handled promptly


class _SignalStop:
    """What a signal asks of the relay: to end (it then sends its last zero twist)."""

    reason: str | None = None

    def emergency_stop(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


def _rate(count: int, first: float | None, last: float | None) -> str:
    if count < 2 or first is None or last is None or last <= first:
        return f"{count} twist{'s' if count != 1 else ''}"
    return f"{count} twists at {(count - 1) / (last - first):.1f} Hz"


class WatchdogRelay:
    """What the relay forwards and when it stops the robot; `log` gets the lines for the operator."""

    def __init__(
        self,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        log: Callable[[str], None] = lambda line: None,
        *,
        in_topic: str = "/mvla/cmd_vel",
        out_topic: str = "/cmd_vel",
        repeat_s: float = ZERO_REPEAT_S,
        hold_s: float = ZERO_HOLD_S,
        report_s: float = RATE_REPORT_S,
    ) -> None:
        check_watchdog_timeout(timeout_s)
        self.timeout_s = timeout_s
        self.clock = clock
        self.log = log
        self.in_topic, self.out_topic = in_topic, out_topic
        self.repeat_s, self.hold_s, self.report_s = repeat_s, hold_s, report_s
        self._last_input: float | None = None
        self._moving = False  # the last twist forwarded was not zero
        self._next_zero: float | None = None  # when the timeout stop is repeated next, if it is
        self._repeats_left = 0
        self._non_finite = False  # inside a run of non-finite inputs (logged once per run)
        # The current stream of input (since the last silence longer than the timeout), for the stop's log.
        self._stream = 0
        self._stream_first: float | None = None
        # The current rate report window.
        self._window_start: float | None = None
        self._window = 0
        self.relayed = 0
        self.timeouts = 0

    def on_input(self, twist: Twist) -> Twist:
        """The twist to forward for one input message."""
        now = self.clock()
        if self._last_input is None or now - self._last_input > self.timeout_s:
            self._stream, self._stream_first = 0, now
        if self._window_start is None:
            self._window_start, self._window = now, 0
        self._last_input = now
        self._stream += 1
        self._window += 1
        self.relayed += 1
        self._next_zero = None  # commands again: the repeated stop is over
        if is_finite(twist):
            self._non_finite = False
        else:
            if not self._non_finite:
                values = ", ".join(f"{v:g}" for v in (twist.linear_x, twist.linear_y, twist.angular_z))
                self.log(
                    f"watchdog: stop: non-finite command ({values}) on {self.in_topic}; "
                    f"sent a zero twist to {self.out_topic} instead"
                )
            self._non_finite = True
            twist = STOP
        self._moving = not twist.is_zero
        return twist

    def poll(self) -> Twist | None:
        """A zero twist when one is due (the input went silent while the robot moved, or a repeat of that
        stop), else None. Also logs the relayed rate when a report is due."""
        now = self.clock()
        self._report(now)
        if self._moving and self._last_input is not None and now - self._last_input >= self.timeout_s:
            self._moving = False
            self.timeouts += 1
            self._next_zero, self._repeats_left = now + self.repeat_s, round(self.hold_s / self.repeat_s)
            self.log(
                f"watchdog: stop: no command on {self.in_topic} for {now - self._last_input:.2f} s "
                f"(timeout {self.timeout_s:g} s) after {_rate(self._stream, self._stream_first, self._last_input)}; "
                f"sent a zero twist to {self.out_topic}, repeated every {self.repeat_s:g} s for {self.hold_s:g} s"
            )
            return STOP
        if self._next_zero is not None and now >= self._next_zero:
            self._repeats_left -= 1
            self._next_zero = now + self.repeat_s if self._repeats_left > 0 else None  # late: no burst
            return STOP
        return None

    def next_due(self) -> float:
        """Seconds until `poll` may have something to do (at most `MAX_WAIT_S`; 0.0 when it is due)."""
        now = self.clock()
        due = [MAX_WAIT_S]
        if self._moving and self._last_input is not None:
            due.append(self._last_input + self.timeout_s - now)
        if self._next_zero is not None:
            due.append(self._next_zero - now)
        if self._window_start is not None:
            due.append(self._window_start + self.report_s - now)
        return max(min(due), 0.0)

    def _report(self, now: float) -> None:
        if self._window_start is None or now - self._window_start < self.report_s:
            return
        self.log(
            f"watchdog: relayed {_rate(self._window, self._window_start, self._last_input)} "
            f"from {self.in_topic} to {self.out_topic} in the last {now - self._window_start:.0f} s"
        )
        self._window_start = None


def run_watchdog(
    timeout_s: float,
    in_topic: str,
    out_topic: str,
    node_name: str = "mvla_watchdog",
    log: Callable[[str], None] = print,
    report_s: float = RATE_REPORT_S,
) -> None:
    """Run the relay node until SIGINT, SIGTERM or SIGHUP; publishes a zero twist on the way out."""
    lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
    writer = threading.Thread(target=_write_lines, args=(lines, log), name="mvla-watchdog-log", daemon=True)
    writer.start()
    try:
        _serve(timeout_s, in_topic, out_topic, node_name, lines.put, report_s)
    finally:
        lines.put(None)
        writer.join(timeout=5.0)


def _write_lines(lines: queue.SimpleQueue[str | None], log: Callable[[str], None]) -> None:
    while (line := lines.get()) is not None:
        log(line)


def _serve(
    timeout_s: float,
    in_topic: str,
    out_topic: str,
    node_name: str,
    log: Callable[[str], None],
    report_s: float,
) -> None:
    from mvla_tui.robot.ros2 import RosNode

    relay = WatchdogRelay(timeout_s, log=log, in_topic=in_topic, out_topic=out_topic, report_s=report_s)
    ros = RosNode(node_name)
    publisher = ros.node.create_publisher(ros.ros.TwistMsg, out_topic, 10)

    def publish(twist: Twist) -> None:
        publisher.publish(twist_to_msg(twist, ros.ros.TwistMsg))

    ros.node.create_subscription(
        ros.ros.TwistMsg, in_topic, lambda msg: publish(relay.on_input(twist_from_msg(msg))), 10
    )
    stop = _SignalStop()
    restore_signals = install_signal_stop(stop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    log(
        f"watchdog: relaying {in_topic} -> {out_topic}; a zero twist after {timeout_s:g} s of silence, "
        f"repeated every {ZERO_REPEAT_S:g} s for {ZERO_HOLD_S:g} s"
    )

    def serve() -> None:
        # No timer: the executor sleeps until the relay's next deadline, so the stop goes out on time.
        while stop.reason is None:
            ros.executor.spin_once(timeout_sec=relay.next_due())
            twist = relay.poll()
            if twist is not None:
                publish(twist)

    def final_stop() -> None:
        publish(STOP)
        ros.flush(publisher)  # the zero must reach the base before this node leaves the graph

    run_every(serve, final_stop, restore_signals, ros.shutdown)
    log(
        f"watchdog: stop: {stop.reason or 'stopped'}; sent a zero twist to {out_topic} "
        f"(relayed {relay.relayed} twists, {relay.timeouts} timeout stop{'' if relay.timeouts == 1 else 's'})"
    )
