"""Composition: `CompositeTelemetry` merges the readings of several sources into one sample, and
`make_telemetry()` picks the sources this machine has and says, in the sample's notes, what is missing
and which extra to install.

Merge rules: a scalar field takes the first source's non-None value (psutil comes first, so it owns
CPU and RAM); dicts (temperatures, rails) are merged, later names winning; GPU lists are concatenated;
notes are kept in order. A source that raises is reported in the notes of that sample, not hidden and
not fatal: the sampler thread must keep going.
"""

from __future__ import annotations

import importlib.util
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mvla_tui.telemetry import jetson, nvml
from mvla_tui.telemetry.protocol import CacheDrop, Reading, Source
from mvla_tui.telemetry.psutil_backend import PsutilSource
from mvla_tui.telemetry.sample import SAMPLE_FIELDS, TelemetrySample
from mvla_tui.telemetry.tegrastats import TegrastatsSource
from mvla_tui.telemetry.torch_memory import TorchMemorySource

_MERGED_DICTS = ("temperatures_c", "power_rails_w")
_NOT_FROM_SOURCES = ("timestamp", "sources", "notes")


def merge_readings(
    readings: Iterable[tuple[str, Reading]], timestamp: float, notes: Sequence[str] = ()
) -> TelemetrySample:
    """One sample from (source name, reading) pairs, in priority order."""
    fields: dict[str, Any] = {}
    dicts: dict[str, dict[str, float]] = {key: {} for key in _MERGED_DICTS}
    gpus: list[Any] = []
    sources: list[str] = []
    all_notes = list(notes)
    for name, reading in readings:
        unknown = (set(reading) - SAMPLE_FIELDS - {"notes"}) | (set(reading) & {"timestamp", "sources"})
        if unknown:
            raise ValueError(f"telemetry source {name!r} returned unknown fields {sorted(unknown)}")
        all_notes.extend(reading.get("notes", ()))
        values = {k: v for k, v in reading.items() if k not in _NOT_FROM_SOURCES}
        if any(v not in (None, {}, [], ()) for v in values.values()):
            sources.append(name)
        for key, value in values.items():
            if key in _MERGED_DICTS:
                dicts[key].update(value)
            elif key == "gpus":
                gpus.extend(value)
            elif fields.get(key) is None:
                fields[key] = value
    if fields.get("cpu_percent_per_core") is not None:
        fields["cpu_percent_per_core"] = tuple(fields["cpu_percent_per_core"])
    return TelemetrySample(
        timestamp=timestamp,
        **fields,
        **dicts,
        gpus=tuple(gpus),
        sources=tuple(sources),
        notes=tuple(dict.fromkeys(all_notes)),  # the same line from two sources once
    )


class CompositeTelemetry:
    """The real `Telemetry`: every source, merged. Safe to call from one thread at a time (a lock
    serialises callers)."""

    def __init__(
        self,
        sources: Sequence[Source],
        notes: Sequence[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sources = list(sources)
        self.notes = list(notes)
        self._clock = clock
        self._lock = threading.Lock()

    def sample(self) -> TelemetrySample:
        with self._lock:
            readings = []
            for source in self.sources:
                try:
                    readings.append((source.name, source.read()))
                # One broken backend (a driver error, a file that vanished) must not stop the others.
                except Exception as exc:
                    readings.append((source.name, {"notes": [f"{source.name} failed: {exc}"]}))
            return merge_readings(readings, self._clock(), self.notes)

    def clear_system_cache(self) -> CacheDrop:
        for source in self.sources:
            result = source.clear_system_cache()
            if result is not None:
                return result
        return CacheDrop(
            False, None, "page cache not dropped: only jtop's service can (a Jetson with jetson-stats)"
        )

    def close(self) -> None:
        for source in self.sources:
            source.close()


def make_telemetry(
    *,
    root: Path | str = Path("/"),
    jtop_socket: Path | None = None,
    nvml_module: Any = None,
    jtop_factory: Callable[[], Any] | None = None,
    tegrastats_command: Sequence[str] | None = None,
    clock: Callable[[], float] = time.time,
) -> CompositeTelemetry:
    """The sources this machine has: psutil always; on a Jetson jtop (when its socket exists) or sysfs,
    or tegrastats when sysfs has no GPU load; elsewhere NVML when an NVIDIA driver is present; torch's
    allocator always (it reports only once torch is in use).

    `root` relocates every sysfs and /proc path, and `jtop_socket` (default ROOT/run/jtop.sock) the
    socket; `nvml_module` and `jtop_factory` stand in for pynvml and jtop.jtop in tests."""
    root = Path(root)
    socket = jtop_socket if jtop_socket is not None else root / jetson.JTOP_SOCKET
    notes: list[str] = []
    on_jetson = jetson.is_jetson(root)
    sources: list[Source] = [PsutilSource(temperatures=not on_jetson)]
    if on_jetson:
        sources.append(_jetson_source(root, socket, jtop_factory, tegrastats_command, notes))
    else:
        nvml_source = _nvml_source(root, nvml_module, notes)
        if nvml_source is not None:
            sources.append(nvml_source)
    sources.append(TorchMemorySource())
    return CompositeTelemetry(sources, notes, clock)


def _jetson_source(
    root: Path,
    socket: Path,
    jtop_factory: Callable[[], Any] | None,
    tegrastats_command: Sequence[str] | None,
    notes: list[str],
) -> Source:
    sysfs = jetson.JetsonSysfsSource(root)
    if socket.exists():
        if jtop_factory is not None or importlib.util.find_spec("jtop") is not None:
            return jetson.JtopSource(sysfs, jtop_factory, root)
        notes.append(
            f"jtop's service is running but jetson-stats is not installed here: {jetson.INSTALL_HINT}"
        )
    else:
        notes.append(f"jtop not reachable: {socket} missing; using sysfs")
    if not sysfs.has_gpu_load and (tegrastats_command or shutil.which("tegrastats")):
        notes.append("no GPU load in sysfs; using tegrastats")
        return TegrastatsSource(tegrastats_command)
    return sysfs


def _nvml_source(root: Path, module: Any, notes: list[str]) -> Source | None:
    driver = root / "proc/driver/nvidia/version"
    if module is None:
        try:
            module = nvml.load_pynvml()
        except ImportError:
            if driver.exists():
                notes.append(f"NVIDIA driver found but no NVML bindings: {nvml.INSTALL_HINT}")
            else:
                notes.append(f"no NVIDIA GPU: {driver} missing")
            return None
    try:
        return nvml.NvmlSource(module)
    except module.NVMLError as exc:
        notes.append(f"NVML not usable: {exc}")
        return None
