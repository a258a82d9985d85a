"""The contracts: `Telemetry` (what the app, the sampler and `mvla monitor` hold) and `Source` (one backend).

A `Source` reads one kind of figure (psutil, NVML, Jetson, torch) and returns a `Reading`: a partial
sample, a dict whose keys are `TelemetrySample` field names (plus `notes`). `CompositeTelemetry` merges
the readings into one sample. Nothing here touches the machine or imports an optional package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from mvla_tui.telemetry.sample import TelemetrySample

# Keys are TelemetrySample field names (`timestamp` and `sources` excepted); `notes` is a list of str.
Reading = dict[str, Any]


@dataclass(frozen=True)
class CacheDrop:
    """Outcome of asking the system (jtop's service) to drop the page cache."""

    attempted: bool
    permitted: bool | None  # None when not attempted
    message: str


class Telemetry(Protocol):
    """Real (composed backends) or fixed. `sample()` may take a few ms: call it off the UI thread
    (`BackgroundSampler`)."""

    def sample(self) -> TelemetrySample: ...

    def clear_system_cache(self) -> CacheDrop: ...

    def close(self) -> None: ...


class Source:
    """One backend. Subclasses set `name` and implement `read`; `read` must not sleep or wait."""

    name: str = "source"

    def read(self) -> Reading:
        raise NotImplementedError

    def clear_system_cache(self) -> CacheDrop | None:
        """Drop the OS page cache if this backend can (only jtop can); None when it cannot."""
        return None

    def close(self) -> None:
        """Release what the backend opened (NVML handle, jtop connection, subprocess)."""
