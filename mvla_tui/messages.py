"""Messages of the app: past-tense events posted by the control thread, the telemetry sampler and the
workers, handled on the UI thread. High-rate ones coalesce (`can_replace`), so a busy terminal shows the
newest state instead of queueing old ones. No behaviour here.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

from mvla_tui.core.state import ControlState
from mvla_tui.telemetry.sample import TelemetrySample


class StateUpdated(Message):
    """A new `ControlState` snapshot from the control thread (at most ~10 per second)."""

    def __init__(self, state: ControlState) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, StateUpdated)


class TelemetrySampled(Message):
    def __init__(self, sample: TelemetrySample) -> None:
        super().__init__()
        self.sample = sample

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, TelemetrySampled)


class ControlLoopEnded(Message):
    """The control thread stopped (the robot is stopped); `error` is why, when it was not asked to."""

    def __init__(self, error: str | None) -> None:
        super().__init__()
        self.error = error


class PolicyTaskDone(Message):
    """A `benchmark`, `memory`, `clear` or replay finished off the UI thread; `lines` to show, or `error`."""

    def __init__(self, task: str, lines: list[str], error: str | None = None, result: Any = None) -> None:
        super().__init__()
        self.task = task
        self.lines = lines
        self.error = error
        self.result = result


class BenchmarkProgressed(Message):
    def __init__(self, done: int, total: int) -> None:
        super().__init__()
        self.done = done
        self.total = total

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BenchmarkProgressed)
