"""`LogPanel`: what happened, with levels (info, warning, error), newest last."""

from __future__ import annotations

import time

from rich.text import Text
from textual.widgets import RichLog

STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


class LogPanel(RichLog):
    def __init__(self, clock=time.localtime, **kwargs) -> None:
        super().__init__(wrap=True, markup=False, max_lines=1000, **kwargs)
        self.clock = clock

    def on_mount(self) -> None:
        self.border_title = "Log"

    def add(self, level: str, message: str) -> None:
        stamp = time.strftime("%H:%M:%S", self.clock())
        self.write(Text(f"{stamp} {level:<7} {message}", style=STYLES.get(level, "")))
