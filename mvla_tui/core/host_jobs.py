"""Work the operator asks of the machine rather than of the robot or the policy: `memory` (RAM, swap, this
process, the GPU and the CUDA allocator, from the latest telemetry sample) and `clear` (the garbage
collector, the CUDA cache and the page cache, `telemetry.clear`). Each answers a `core.reports` value.

`memory` only formats a sample it is given; `clear` blocks for as long as the collector runs, so the app
runs it in a thread worker. No textual here, and torch is never imported (`telemetry.clear` uses it only
when a policy has already loaded it).
"""

from __future__ import annotations

from mvla_tui.core.reports import CachesCleared, MemoryReported, Reporter
from mvla_tui.telemetry.clear import clear_caches
from mvla_tui.telemetry.format import gib, sample_rows
from mvla_tui.telemetry.protocol import Telemetry
from mvla_tui.telemetry.sample import TelemetrySample

_MEMORY_ROWS = ("RAM", "Swap", "Process RSS", "Torch CUDA")  # and every "GPU ..." row


def memory(sample: TelemetrySample | None) -> MemoryReported:
    """The memory figures of `sample` (the sampler's latest; None before the first)."""
    if sample is None:
        return MemoryReported(error="no telemetry sample yet")
    lines = [
        f"{label}: {value}"
        for label, value in sample_rows(sample)
        if label in _MEMORY_ROWS or label.startswith("GPU")
    ]
    if sample.torch_peak_bytes is not None:
        lines.append(f"CUDA peak allocated: {gib(sample.torch_peak_bytes)}")
    return MemoryReported(("memory:", *(f"  {line}" for line in lines)))


def clear(telemetry: Telemetry, report: Reporter) -> None:
    """Clear the caches (blocking) and report what was freed."""
    report(CachesCleared((f"clear: {clear_caches(telemetry).summary()}",)))
