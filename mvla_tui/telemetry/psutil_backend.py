"""The psutil backend: CPU load (total and per core), RAM, swap, this process's RSS and the temperatures
the OS exposes through psutil.

CPU load is computed here from `psutil.cpu_times()` deltas between two reads rather than with
`psutil.cpu_percent(interval=None)`: that function keeps one module-wide baseline, so any other caller in
the process (a benchmark, a library) would reset ours. The first read after construction measures the
window since construction; nothing here sleeps.
"""

from __future__ import annotations

from typing import Any

import psutil

from mvla_tui.telemetry.protocol import Reading, Source


class PsutilSource(Source):
    name = "psutil"

    def __init__(self, temperatures: bool = True) -> None:
        # On a Jetson the Jetson backend names the thermal zones itself; reading them twice would list
        # every zone under two names.
        self._temperatures = temperatures
        self._process = psutil.Process()
        self._total_prev = psutil.cpu_times()
        self._cores_prev = psutil.cpu_times(percpu=True)
        self._total_last: float | None = None
        self._cores_last: tuple[float, ...] | None = None

    def read(self) -> Reading:
        reading: Reading = {"notes": []}
        reading["cpu_percent"] = self._total_percent()
        reading["cpu_percent_per_core"] = self._core_percents()
        vm = psutil.virtual_memory()
        reading["ram_total_bytes"] = int(vm.total)
        reading["ram_used_bytes"] = int(vm.total - vm.available)
        swap = psutil.swap_memory()
        reading["swap_total_bytes"] = int(swap.total)
        reading["swap_used_bytes"] = int(swap.used)
        reading["process_rss_bytes"] = int(self._process.memory_info().rss)
        if self._temperatures:
            reading["temperatures_c"] = psutil_temperatures()
        return reading

    def _total_percent(self) -> float | None:
        now = psutil.cpu_times()
        percent = busy_percent(self._total_prev, now)
        if percent is not None:  # a zero-length window keeps the previous figure and baseline
            self._total_prev, self._total_last = now, percent
        return self._total_last

    def _core_percents(self) -> tuple[float, ...] | None:
        now = psutil.cpu_times(percpu=True)
        if len(now) != len(self._cores_prev):  # a core went on- or offline (Jetson power modes)
            self._cores_prev, self._cores_last = now, None
            return None
        percents = [busy_percent(a, b) for a, b in zip(self._cores_prev, now, strict=True)]
        if all(p is not None for p in percents):
            self._cores_prev = now
            self._cores_last = tuple(float(p) for p in percents if p is not None)
        return self._cores_last


def busy_percent(before: Any, after: Any) -> float | None:
    """Share of the CPU time between two `cpu_times()` tuples not spent idle, as psutil counts it
    (iowait is idle; guest time is already inside user time). None for an empty window."""
    b, a = before._asdict(), after._asdict()

    def totals(t: dict[str, float]) -> tuple[float, float]:
        total = sum(t.values()) - t.get("guest", 0.0) - t.get("guest_nice", 0.0)
        return total, t.get("idle", 0.0) + t.get("iowait", 0.0)

    total_b, idle_b = totals(b)
    total_a, idle_a = totals(a)
    elapsed = total_a - total_b
    if elapsed <= 0:
        return None
    busy = elapsed - (idle_a - idle_b)
    return max(0.0, min(100.0, 100.0 * busy / elapsed))


def psutil_temperatures() -> dict[str, float]:
    """`chip/label` -> °C for every sensor psutil reports (empty where the OS has none)."""
    read = getattr(psutil, "sensors_temperatures", None)  # absent on some platforms (macOS, Windows)
    if read is None:
        return {}
    out: dict[str, float] = {}
    for chip, entries in read().items():
        for i, entry in enumerate(entries):
            name = f"{chip}/{entry.label}" if entry.label else chip
            if name in out:
                name = f"{name}#{i}"
            out[name] = float(entry.current)
    return out
