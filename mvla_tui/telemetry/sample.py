"""The telemetry sample: one frozen snapshot of CPU, memory, GPU, temperatures, power and torch memory.

Owns `TelemetrySample`, `GpuSample` and their JSON form. It must not read the machine: backends fill
these fields, and everything here is plain data. `None` always means "unknown on this machine or not
measured yet", never zero.

Units are fixed and part of the field names: bytes, percent (0-100), degrees Celsius, watts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

SHARED_MEMORY_NOTE = "Jetson: GPU memory is the system RAM, shared with the CPU"


@dataclass(frozen=True)
class GpuSample:
    """One GPU. On a Jetson `memory_shared` is true: its memory is the system RAM, so `memory_total_bytes`
    is the RAM size and `memory_used_bytes` the part mapped for the GPU (NvMap), not a separate pool."""

    index: int
    name: str
    utilisation_percent: float | None = None
    memory_used_bytes: int | None = None
    memory_total_bytes: int | None = None
    temperature_c: float | None = None
    # Only a rail that measures the GPU alone; Orin's VDD_CPU_GPU_CV is in `power_rails_w` instead.
    power_w: float | None = None
    memory_shared: bool = False


@dataclass(frozen=True)
class TelemetrySample:
    """What the app's monitor panel and `mvla monitor` show. Treat the dicts as read-only."""

    timestamp: float  # time.time() when the sample was taken
    cpu_percent: float | None = None
    cpu_percent_per_core: tuple[float, ...] | None = None
    ram_used_bytes: int | None = None  # total minus available: what cannot be reclaimed
    ram_total_bytes: int | None = None
    swap_used_bytes: int | None = None
    swap_total_bytes: int | None = None
    process_rss_bytes: int | None = None  # this process
    temperatures_c: dict[str, float] = field(default_factory=dict)
    gpus: tuple[GpuSample, ...] = ()
    power_rails_w: dict[str, float] = field(default_factory=dict)
    power_total_w: float | None = None  # board input (VDD_IN / POM_5V_IN) where the board measures it
    torch_allocated_bytes: int | None = None  # CUDA tensors of this process, all devices
    torch_reserved_bytes: int | None = None  # held by torch's caching allocator
    torch_peak_bytes: int | None = None  # max allocated since start (or the last reset)
    sources: tuple[str, ...] = ()  # backends that contributed, e.g. ("psutil", "nvml")
    notes: tuple[str, ...] = ()  # one-line texts: what is missing and why, what to install

    @property
    def gpu(self) -> GpuSample | None:
        """The first GPU, or None without one."""
        return self.gpus[0] if self.gpus else None

    @property
    def gpu_memory_shared(self) -> bool:
        """True when a GPU's memory is the system RAM (Jetson)."""
        return any(g.memory_shared for g in self.gpus)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: every field, plus `gpu_memory_shared`."""
        data = dataclasses.asdict(self)
        data["cpu_percent_per_core"] = (
            None if self.cpu_percent_per_core is None else list(self.cpu_percent_per_core)
        )
        data["gpus"] = [dataclasses.asdict(g) for g in self.gpus]
        data["sources"] = list(self.sources)
        data["notes"] = list(self.notes)
        data["gpu_memory_shared"] = self.gpu_memory_shared
        return data


SAMPLE_FIELDS: frozenset[str] = frozenset(f.name for f in dataclasses.fields(TelemetrySample))
