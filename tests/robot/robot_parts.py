"""A part on the control thread for tests: hands each recorded step to a callable (a list's `append`)."""

from __future__ import annotations

from collections.abc import Callable

from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.state import Step


class OnStep(LoopPart):
    def __init__(self, sink: Callable[[Step], None]) -> None:
        self.sink = sink

    def on_step(self, step: Step) -> None:
        self.sink(step)
