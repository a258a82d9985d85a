"""Messages of the app: past-tense events posted by the control thread, the telemetry sampler, the
workers and the screens, handled on the UI thread. High-rate ones coalesce (`can_replace`), so a busy terminal shows the
newest state instead of queueing old ones. No behaviour here.
"""

from __future__ import annotations

from textual.message import Message

from mvla_tui.core.reports import BenchmarkProgressed, Report
from mvla_tui.core.state import ControlState
from mvla_tui.telemetry.sample import TelemetrySample
from recorder.episode import Episode


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


class Reported(Message):
    """The core reported something (`mvla_tui.core.reports`): an `infer` answer, a job's progress or end.
    The progress of a benchmark coalesces with the previous progress still queued."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, Reported)
            and isinstance(message.report, BenchmarkProgressed)
            and isinstance(self.report, BenchmarkProgressed)
        )


class ReplayRequested(Message):
    """The episodes screen asks for `episode` to be replayed through the policy."""

    def __init__(self, episode: Episode) -> None:
        super().__init__()
        self.episode = episode
