"""The GPU and temperature checks, from one telemetry sample (`mvla_tui.telemetry`, the same backends as
`mvla monitor`): on a Jetson, is jtop's service reachable through its socket (else the figures come from
sysfs, and say so); on a workstation, does NVML see a GPU; and how hot is the board against the trip
points its thermal zones declare in sysfs.

No GPU is a warning, not a failure: the simulator and the compact policy run on a CPU. Temperatures warn
within `TRIP_MARGIN_C` of a zone's lowest passive (or hot) trip point, where the kernel starts to
throttle, and fail at or above it. Nothing here imports torch or changes a setting.
"""

from __future__ import annotations

import re
from pathlib import Path

from mvla_tui.doctor.checks import Check, fail, ok, warn
from mvla_tui.telemetry import GpuSample, TelemetrySample
from mvla_tui.telemetry import jetson as jetson_backend
from mvla_tui.telemetry import nvml as nvml_backend
from mvla_tui.telemetry.sample import SHARED_MEMORY_NOTE

TRIP_MARGIN_C = 10.0
THROTTLE_TRIPS = ("passive", "hot")  # trip types at which the kernel throttles or warns, not shuts down


GPU_SOURCES = ("jtop", "jetson-sysfs", "tegrastats", "nvml")


def gpu_check(
    sample: TelemetrySample,
    *,
    on_jetson: bool,
    socket: Path,
    jtop_installed: bool,
    nvidia_driver: bool,
) -> Check:
    """The `gpu` line. `on_jetson`, `socket` (jtop's), `jtop_installed` (jetson-stats) and `nvidia_driver`
    (a workstation driver) are what the machine has, so the fix names what is missing."""
    names = ", ".join(_gpu_text(g) for g in sample.gpus) or "no GPU"
    notes = "; ".join(n for n in sample.notes if n != SHARED_MEMORY_NOTE)
    source = next((s for s in sample.sources if s in GPU_SOURCES), "no GPU source")
    if on_jetson:
        if "jtop" in sample.sources:
            return ok("gpu", f"jtop ({socket}): {names}")
        if not socket.exists():
            fix = (
                "start jtop's service on the host (sudo systemctl start jtop, from jetson-stats) and, in a "
                f"container, mount {socket}"
            )
        elif not jtop_installed:
            fix = jetson_backend.INSTALL_HINT
        else:
            fix = "add this user to the jtop group (sudo usermod -aG jtop $USER), or restart jtop's service"
        has_load = any(g.utilisation_percent is not None for g in sample.gpus)
        tail = "" if has_load else "; no GPU load figure"
        return warn("gpu", f"{names} from {source} ({notes}){tail}", fix)
    if sample.gpus:
        return ok("gpu", f"NVML: {names}")
    if nvidia_driver:
        fix = f"{nvml_backend.INSTALL_HINT} (or check the driver: nvidia-smi)"
    else:
        fix = "policies will run on the CPU; on a Jetson, run the container with runtime: nvidia"
    return warn("gpu", f"no GPU seen ({notes})" if notes else "no GPU seen", fix)


def thermal_check(sample: TelemetrySample, root: Path) -> Check:
    temps = sample.temperatures_c
    if not temps:
        return ok("thermal", "no temperature sensors readable here (nothing to judge)")
    trips = trip_points(root)
    hottest, celsius = max(temps.items(), key=lambda kv: kv[1])
    worst: tuple[float, str, float] | None = None  # (headroom, zone, trip) of the zone nearest its trip
    for zone, value in temps.items():
        if zone in trips:
            headroom = trips[zone] - value
            if worst is None or headroom < worst[0]:
                worst = (headroom, zone, trips[zone])
    detail = f"hottest {hottest} {celsius:.1f} °C"
    if worst is None:
        return ok("thermal", f"{detail} (no trip points in sysfs to compare with)")
    headroom, zone, trip = worst
    where = f"{zone} {temps[zone]:.1f} °C, throttles at {trip:.1f} °C"
    fix = "check the fan and the airflow (jtop shows the fan; sudo jetson_clocks --fan), let it cool"
    if headroom <= 0:
        return fail("thermal", f"{where}: throttling now", fix)
    if headroom < TRIP_MARGIN_C:
        return warn("thermal", f"{where}: within {TRIP_MARGIN_C:g} °C of throttling", fix)
    return ok("thermal", f"{detail}; nearest trip: {where}")


def trip_points(root: Path) -> dict[str, float]:
    """The lowest throttling trip point (°C) of each thermal zone, by the zone names telemetry uses."""
    out: dict[str, float] = {}
    for name, temp_file in jetson_backend.find_thermal_zones(root):
        zone = temp_file.parent
        for type_file in sorted(zone.glob("trip_point_*_type")):
            index = re.sub(r"\D", "", type_file.name)
            try:
                kind = jetson_backend.read_line(type_file)
                celsius = int(jetson_backend.read_line(zone / f"trip_point_{index}_temp")) / 1000.0
            except (OSError, ValueError):
                continue
            if kind in THROTTLE_TRIPS and celsius > 0:
                out[name] = min(out.get(name, celsius), celsius)
    return out


def _gpu_text(gpu: GpuSample) -> str:
    parts = [gpu.name]
    if gpu.utilisation_percent is not None:
        parts.append(f"load {gpu.utilisation_percent:.0f} %")
    if gpu.memory_total_bytes is not None and not gpu.memory_shared:
        parts.append(f"{gpu.memory_total_bytes / 2**30:.0f} GiB")
    return " ".join(parts)
