"""`tegrastats` lines: the parser, and a source that runs `tegrastats` and keeps its latest line.

The parser knows the formats of L4T 28 to 36: `RAM 3012/15655MB (lfb ..) SWAP 0/7827MB (cached 0MB)
CPU [2%@729,off,...] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305,305] cpu@44.5C ... VDD_IN 4820mW/4820mW ...`,
with or without the leading date, with rails in `mW/mW` (Orin) or bare `now/avg` (Xavier, Nano, TX2).
It never raises: an unknown or broken line gives None, a partial one gives the fields it has.

Skipped on purpose: temperatures of -256 °C (tegrastats' "sensor off") and `PMIC@100C`, a fixed
placeholder on the older boards, not a measurement.

The source is the last resort on a Jetson (no jtop, no readable sysfs GPU load). It starts the process
on its first read and reads lines on its own thread, so `read()` never waits for tegrastats.
"""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from mvla_tui.telemetry.protocol import Reading, Source
from mvla_tui.telemetry.sample import SHARED_MEMORY_NOTE, GpuSample

MIB = 1024 * 1024

_RAM = re.compile(r"\bRAM (\d+)/(\d+)MB")
_SWAP = re.compile(r"\bSWAP (\d+)/(\d+)MB")
_CPU = re.compile(r"\bCPU \[([^\]]*)\](?:@(\d+))?")
_CORE = re.compile(r"(\d+)%(?:@(\d+))?")
_EMC = re.compile(r"\bEMC_FREQ (\d+)%")
_GR3D = re.compile(r"\bGR3D_FREQ (\d+)%(?:@\[?(\d+))?")
_TEMP = re.compile(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C\b")
# "VDD_IN 4820mW/4820mW" or "VDD_IN 4067/4067" (now/average); the lookahead rejects "RAM 3012/15655MB".
_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?(?![\w/])")
_RAIL_NOW_ONLY = re.compile(r"\b([A-Z][A-Z0-9_]*) (\d+)mW(?![\w/])")
_NOT_RAILS = {"RAM", "SWAP", "IRAM"}
_NOT_TEMPERATURES = {"pmic"}
SENSOR_OFF_C = -200.0  # tegrastats prints -256C for a sensor that is powered down

# Rails that measure the GPU alone (older boards); Orin's VDD_CPU_GPU_CV and VDD_GPU_SOC do not.
GPU_ONLY_RAILS = ("VDD_GPU", "POM_5V_GPU", "VDD_SYS_GPU", "GPU")
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")


@dataclass(frozen=True)
class TegrastatsReading:
    """One parsed line; None where the line did not say. Sizes in MiB as tegrastats prints them."""

    ram_used_mb: int | None = None
    ram_total_mb: int | None = None
    swap_used_mb: int | None = None
    swap_total_mb: int | None = None
    cpu_percent_per_core: tuple[float | None, ...] | None = None  # None for a core that is off
    cpu_freq_mhz: tuple[int | None, ...] | None = None
    emc_percent: float | None = None
    gpu_percent: float | None = None
    gpu_freq_mhz: int | None = None
    temperatures_c: dict[str, float] = field(default_factory=dict)  # lower-case names: cpu, gpu, tj
    rails_mw: dict[str, float] = field(default_factory=dict)  # instantaneous
    rails_avg_mw: dict[str, float] = field(default_factory=dict)  # average since tegrastats started


def parse_tegrastats(line: str) -> TegrastatsReading | None:
    """Parse one line of `tegrastats` output; None when it holds none of the known fields."""
    if not isinstance(line, str):
        return None
    found: dict[str, object] = {}
    if m := _RAM.search(line):
        found["ram_used_mb"], found["ram_total_mb"] = int(m[1]), int(m[2])
    if m := _SWAP.search(line):
        found["swap_used_mb"], found["swap_total_mb"] = int(m[1]), int(m[2])
    if (m := _CPU.search(line)) and m[1].strip():
        found["cpu_percent_per_core"], found["cpu_freq_mhz"] = _cores(m[1], m[2])
    if m := _EMC.search(line):
        found["emc_percent"] = float(m[1])
    if m := _GR3D.search(line):
        found["gpu_percent"] = float(m[1])
        found["gpu_freq_mhz"] = int(m[2]) if m[2] else None
    temps = {}
    for name, value in _TEMP.findall(line):
        celsius, key = float(value), name.lower()
        if celsius > SENSOR_OFF_C and key not in _NOT_TEMPERATURES:
            temps[key] = celsius
    if temps:
        found["temperatures_c"] = temps
    rails, averages = {}, {}
    for name, now in _RAIL_NOW_ONLY.findall(line):
        rails[name] = float(now)
    for name, now, avg in _RAIL.findall(line):
        if name not in _NOT_RAILS:
            rails[name], averages[name] = float(now), float(avg)
    if rails:
        found["rails_mw"], found["rails_avg_mw"] = rails, averages
    return TegrastatsReading(**found) if found else None  # type: ignore[arg-type]


def _cores(body: str, shared_freq: str | None) -> tuple[tuple[float | None, ...], tuple[int | None, ...]]:
    loads: list[float | None] = []
    freqs: list[int | None] = []
    for item in body.split(","):
        m = _CORE.fullmatch(item.strip())
        if m is None:  # "off", or empty in the oldest "[X%,Y%,,]@Z" form
            loads.append(None)
            freqs.append(None)
            continue
        loads.append(float(m[1]))
        freq = m[2] or shared_freq
        freqs.append(int(freq) if freq else None)
    return tuple(loads), tuple(freqs)


def reading_to_sample_fields(reading: TegrastatsReading, gpu_name: str = "Jetson iGPU") -> Reading:
    """The part of a sample tegrastats is the best source for on a Jetson: GPU load, temperatures,
    rails. CPU and RAM come from psutil, which reads the same kernel counters without a subprocess."""
    rails_w = {name: mw / 1000.0 for name, mw in reading.rails_mw.items()}
    gpu_power = next((rails_w[n] for n in GPU_ONLY_RAILS if n in rails_w), None)
    total = next((rails_w[n] for n in INPUT_RAILS if n in rails_w), None)
    gpu = GpuSample(
        index=0,
        name=gpu_name,
        utilisation_percent=reading.gpu_percent,
        memory_used_bytes=None,  # tegrastats does not say how much of the RAM the GPU maps
        memory_total_bytes=None if reading.ram_total_mb is None else reading.ram_total_mb * MIB,
        temperature_c=reading.temperatures_c.get("gpu"),
        power_w=gpu_power,
        memory_shared=True,
    )
    return {
        "gpus": [gpu],
        "temperatures_c": dict(reading.temperatures_c),
        "power_rails_w": rails_w,
        "power_total_w": total,
    }


class TegrastatsSource(Source):
    """Runs `tegrastats --interval MS` and serves its latest line."""

    name = "tegrastats"

    def __init__(self, command: Sequence[str] | None = None, interval_ms: int = 1000) -> None:
        self._command = list(command) if command else ["tegrastats", "--interval", str(interval_ms)]
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._latest: TegrastatsReading | None = None
        self._first = threading.Event()
        self._start_error: str | None = None

    def start(self) -> None:
        if self._proc is not None or self._start_error is not None:
            return
        try:
            self._proc = subprocess.Popen(
                self._command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1
            )
        except OSError as exc:
            self._start_error = f"cannot run {self._command[0]}: {exc.strerror or exc}"
            return
        self._thread = threading.Thread(target=self._pump, name="tegrastats-reader", daemon=True)
        self._thread.start()

    def wait_first(self, timeout: float) -> TegrastatsReading | None:
        """For tests and one-shot use: wait until a line has been parsed."""
        self.start()
        self._first.wait(timeout)
        return self.latest()

    def latest(self) -> TegrastatsReading | None:
        with self._lock:
            return self._latest

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            reading = parse_tegrastats(line)
            if reading is not None:
                with self._lock:
                    self._latest = reading
                self._first.set()
        self._first.set()

    def read(self) -> Reading:
        self.start()
        if self._start_error is not None:
            return {"notes": [self._start_error]}
        latest = self.latest()
        notes = []
        assert self._proc is not None
        code = self._proc.poll()
        if code is not None:
            notes.append(f"tegrastats exited with status {code}; figures may be stale")
        if latest is None:
            notes.append("tegrastats: waiting for its first line")
            return {"notes": notes}
        fields = reading_to_sample_fields(latest)
        fields["notes"] = [SHARED_MEMORY_NOTE, *notes]
        return fields

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:  # it ends at the pipe's end of file, before the pipe is closed
            self._thread.join(timeout=2)
        if proc.stdout is not None:
            proc.stdout.close()
