"""`MonitorPanel`: CPU, RAM, swap, process RSS, GPU load and memory, temperatures and power where the
machine has them, torch's CUDA allocator; sparklines of the last minute of CPU, RAM and GPU load."""

from __future__ import annotations

from collections import deque

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Label, Sparkline, Static

from mvla_tui.telemetry.format import sample_rows
from mvla_tui.telemetry.sample import TelemetrySample

HISTORY = 60  # samples kept for the sparklines: a minute at the default 1 s


class MonitorPanel(Vertical):
    sample: reactive[TelemetrySample | None] = reactive(None)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._history = {name: deque(maxlen=HISTORY) for name in ("cpu", "ram", "gpu")}
        self._sparks = {
            name: Sparkline([], id=f"spark-{name}", summary_function=max) for name in self._history
        }
        self._figures = Static(id="monitor-figures")
        self._rows = -1

    def compose(self) -> ComposeResult:
        for name, label in (("cpu", "CPU"), ("ram", "RAM"), ("gpu", "GPU")):
            with Horizontal(classes="spark-row"):
                yield Label(f"{label:<4}", classes="spark-label")
                yield self._sparks[name]
        yield self._figures

    def on_mount(self) -> None:
        self.border_title = "Monitor"

    def watch_sample(self, sample: TelemetrySample | None) -> None:
        if sample is None:
            return
        gpu = sample.gpu
        values = {
            "cpu": sample.cpu_percent,
            "ram": 100 * sample.ram_used_bytes / sample.ram_total_bytes
            if sample.ram_used_bytes is not None and sample.ram_total_bytes
            else None,
            "gpu": gpu.utilisation_percent if gpu is not None else None,
        }
        for name, value in values.items():
            if value is not None:
                self._history[name].append(value)
            self._sparks[name].data = list(self._history[name])
        table = Table.grid(padding=(0, 1))
        table.add_column(style="bold")
        table.add_column()
        rows = [(label, value) for label, value in sample_rows(sample) if label != "Sources"]
        for label, value in rows:
            table.add_row(label, value)
        # Re-lay out the screen only when the number of rows changes (a re-layout costs tens of ms).
        self._figures.update(table, layout=len(rows) != self._rows)
        self._rows = len(rows)
