"""Safety rules that do not depend on a particular link: command clamping and signal-driven stops.

- `clamp_twist`: every command is clamped per axis to the configured limits; a non-finite value is an
  `UnsafeCommandError` (the caller stops the robot), never silently replaced by a number.
- `install_signal_stop`: SIGHUP (the SSH session dropped) and SIGTERM stop the robot at once and end the
  control loop.
- `DeadlineGuard`: a thread that stops the robot when the control thread misses a motion deadline because
  it is blocked (a slow camera service, a slow disk, a bug), so no motion outlives its time.
- `run_every`: clean-up that is never cut short: every step runs even when an earlier one raised.
This module must not import rclpy or textual, and must not own a link: it acts through the loop it is given.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from configs.errors import UnsafeCommandError
from configs.limits import LimitsConfig
from mvla_tui.robot.link import Twist

STOP_SIGNALS = (signal.SIGHUP, signal.SIGTERM)
log = logging.getLogger(__name__)


def clamp_twist(twist: Twist, limits: LimitsConfig) -> Twist:
    values = (twist.linear_x, twist.linear_y, twist.angular_z)
    if not all(math.isfinite(v) for v in values):
        raise UnsafeCommandError(f"command {list(values)} is not finite; robot stopped")
    bounds = (limits.max_linear_x, limits.max_linear_y, limits.max_angular_z)
    x, y, z = (min(max(v, -b), b) for v, b in zip(values, bounds, strict=True))
    return Twist(x, y, z)


class EmergencyStoppable(Protocol):
    def emergency_stop(self, reason: str) -> None:
        """Stop the robot now (from any thread, or a signal handler) and end the control loop."""
        ...


def install_signal_stop(
    target: EmergencyStoppable, signals: Iterable[signal.Signals] = STOP_SIGNALS
) -> Callable[[], None]:
    """Make each of `signals` stop the robot and end the loop; returns a function restoring the old handlers.

    Must be called from the main thread (Python delivers signals there). The handler does not exit the
    process: the loop ends, its `finally` stops the robot once more, and the caller returns normally.
    """
    previous: dict[signal.Signals, object] = {}

    def handler(signum: int, _frame: object) -> None:
        target.emergency_stop(f"{signal.Signals(signum).name} received")

    for sig in signals:
        previous[sig] = signal.signal(sig, handler)

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]

    return restore


class DeadlineGuard:
    """Calls `stop` once when the armed deadline passes before the control thread disarms or re-arms it.

    The control thread arms it with the end of every timed motion (plus a grace) and, for untimed motion,
    with a heartbeat; `fired` tells the control thread afterwards that the robot was stopped behind its back.
    """

    def __init__(
        self, stop: Callable[[], None], clock: Callable[[], float] = time.monotonic, poll_s: float = 0.01
    ):
        self.stop = stop
        self.clock = clock
        self.poll_s = poll_s
        self.deadline: float | None = None  # plain attribute: set by the control thread, read here
        self.fired = False
        # What `stop` raised, for the control thread to raise in turn: a guard thread that died of it would
        # leave every later motion unguarded.
        self.error: BaseException | None = None
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mvla-deadline-guard", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        while not self._closed.wait(self.poll_s):
            deadline = self.deadline
            if deadline is not None and self.clock() >= deadline:
                self.deadline = None
                self.fired = True
                try:
                    self.stop()
                except BaseException as exc:  # handed over: the control thread raises it and ends the loop
                    self.error = exc


def run_every(*steps: Callable[[], None], error: BaseException | None = None) -> None:
    """Run every step in order, even when an earlier one raised; then raise the first error.

    `error` is one already raised by the work these steps clean up after; it counts as the first. Later
    errors are logged, so a failed stop can neither leave a link open or a thread running nor hide the
    error that came before it.
    """
    first = error
    for step in steps:
        try:
            step()
        except BaseException as exc:
            if first is None:
                first = exc
            else:
                log.error("clean-up step %s also failed after %r: %r", step, first, exc)
    if first is not None:
        raise first
