"""`LogPanel`: what happened, with levels (info, warning, error), newest last; and `news`, the lines a
state snapshot brings to it. It only displays: the app hands it each line."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

from mvla_tui.core.state import ControlState
from mvla_tui.panels.policy import stop_line

STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


def news(state: ControlState) -> list[tuple[str, str]]:
    """(level, text) of every error, warning and event a snapshot shows; the log shows each text once
    (`LogPanel.add_once`), however many snapshots repeat it."""
    robot, rec, policy, sim = state.robot, state.recording, state.policy, state.sim_result
    lines: list[tuple[str, str | None]] = [
        ("error", robot.estop_reason if robot.estop and robot.estop_reason != "e-stop pressed" else None),
        ("warning", robot.last_error),
        ("warning", rec.last_error if rec else None),
        ("info", f"saved {rec.last_saved} ({rec.last_outcome})" if rec and rec.last_saved else None),
        ("error", f"policy load failed: {policy.load_error}" if policy and policy.load_error else None),
        ("info", f"policy loaded: {policy.label}, {policy.describe}" if policy and policy.label else None),
        ("warning", policy.error if policy else None),
        stop_line(policy),
        ("info" if sim and sim.success else "warning", f"sim: {sim.reason}" if sim else None),
        *(("warning", w) for w in robot.warnings),
    ]
    return [(level, text) for level, text in lines if text]


class LogPanel(RichLog):
    def __init__(self, clock=time.localtime, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, max_lines=1000, **kwargs)
        self.clock = clock
        self._said: set[str] = set()

    def on_mount(self) -> None:
        self.border_title = "Log"

    def add(self, level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S", self.clock())
        self.write(Text(f"{stamp} {level:<7} {message}", style=STYLES.get(level, "")))

    def add_once(self, level: str, message: str) -> bool:
        """`add` a message never added this way before; whether it was new."""
        if message in self._said:
            return False
        self._said.add(message)
        self.add(level, message)
        return True
