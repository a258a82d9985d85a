"""CPU/RAM/GPU telemetry (psutil, NVML, Jetson jtop/sysfs/tegrastats, torch's allocator) and cache
clearing. No Textual, no torch import, no optional package at import time.

    telemetry = make_telemetry()              # the backends this machine has; notes say what is missing
    sampler = BackgroundSampler(telemetry, 1.0).start()
    sampler.latest()                          # the newest TelemetrySample, at once (None at first)
    clear_caches(telemetry)                   # gc, CUDA cache, jtop page-cache drop -> ClearResult
    sampler.close(); telemetry.close()
"""

from mvla_tui.telemetry.clear import ClearResult, clear_caches
from mvla_tui.telemetry.compose import CompositeTelemetry, make_telemetry
from mvla_tui.telemetry.fake import ORIN_NX_SAMPLE, FixedTelemetry
from mvla_tui.telemetry.protocol import CacheDrop, Telemetry
from mvla_tui.telemetry.sample import GpuSample, TelemetrySample
from mvla_tui.telemetry.sampler import BackgroundSampler

__all__ = [
    "ORIN_NX_SAMPLE",
    "BackgroundSampler",
    "CacheDrop",
    "ClearResult",
    "CompositeTelemetry",
    "FixedTelemetry",
    "GpuSample",
    "Telemetry",
    "TelemetrySample",
    "clear_caches",
    "make_telemetry",
]
