"""`FixedTelemetry`: a `Telemetry` that returns one fixed sample, for tests, UI snapshots and
`--robot fake` sessions. Deterministic: the same sample every call, nothing read from the machine.

`ORIN_NX_SAMPLE` is a plausible Orin NX 16 GB under a policy step, so snapshots show every row filled.
"""

from __future__ import annotations

from mvla_tui.telemetry.protocol import CacheDrop
from mvla_tui.telemetry.sample import SHARED_MEMORY_NOTE, GpuSample, TelemetrySample

GIB = 1024**3
MIB = 1024**2

ORIN_NX_SAMPLE = TelemetrySample(
    timestamp=1_700_000_000.0,
    cpu_percent=23.5,
    cpu_percent_per_core=(31.0, 12.0, 40.0, 9.0, 25.0, 18.0, 30.0, 23.0),
    ram_used_bytes=6334 * MIB,
    ram_total_bytes=15388 * MIB,
    swap_used_bytes=491 * MIB,
    swap_total_bytes=7694 * MIB,
    process_rss_bytes=2 * GIB,
    temperatures_c={"cpu": 47.9, "gpu": 45.9, "soc0": 47.0, "tj": 48.9},
    gpus=(
        GpuSample(
            index=0,
            name="ga10b (integrated)",
            utilisation_percent=61.0,
            memory_used_bytes=3 * GIB,
            memory_total_bytes=15388 * MIB,
            temperature_c=45.9,
            power_w=None,
            memory_shared=True,
        ),
    ),
    power_rails_w={"VDD_IN": 12.48, "VDD_CPU_GPU_CV": 4.67, "VDD_SOC": 2.82},
    power_total_w=12.48,
    torch_allocated_bytes=1536 * MIB,
    torch_reserved_bytes=2 * GIB,
    torch_peak_bytes=1800 * MIB,
    sources=("fixed",),
    notes=(SHARED_MEMORY_NOTE,),
)


class FixedTelemetry:
    """Counts calls, so a test can check that a reader did not reach the backend."""

    def __init__(self, sample: TelemetrySample = ORIN_NX_SAMPLE) -> None:
        self.fixed = sample
        self.calls = 0
        self.clears = 0
        self.closed = False

    def sample(self) -> TelemetrySample:
        self.calls += 1
        return self.fixed

    def clear_system_cache(self) -> CacheDrop:
        self.clears += 1
        return CacheDrop(False, None, "page cache not dropped: fixed telemetry")

    def close(self) -> None:
        self.closed = True
