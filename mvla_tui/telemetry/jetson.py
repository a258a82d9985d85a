"""The Jetson backends: jtop (through the jetson-stats service) and the kernel's sysfs files.

Owns Jetson detection, discovery of the sysfs files (GPU load, thermal zones, INA3221 power rails,
NvMap memory) and the conversion of jtop's dicts into sample fields. Every path is taken relative to an
injectable `root` ("/" on a robot, a fake tree in tests). It must not import jtop at import time: the
`jetson` extra (jetson-stats) is optional, and jtop is used only when its socket exists.

On a Jetson the GPU has no memory of its own: `GpuSample.memory_shared` is true, the total is the system
RAM and "used" is the memory NvMap has mapped for the GPU (the `NvMapMemUsed` line of /proc/meminfo,
which jtop calls "shared"). Orin's VDD_CPU_GPU_CV rail feeds CPU, GPU and CV together, so it appears
under the rails and never as the GPU's own power.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mvla_tui.telemetry.protocol import CacheDrop, Reading, Source
from mvla_tui.telemetry.sample import SHARED_MEMORY_NOTE, GpuSample
from mvla_tui.telemetry.tegrastats import GPU_ONLY_RAILS, INPUT_RAILS, SENSOR_OFF_C

JTOP_SOCKET = Path("run/jtop.sock")  # relative to root
INSTALL_HINT = "install the `jetson` extra: pip install 'mobile-vla[jetson]'"

# of_node names of the integrated GPUs: Nano/TX1, TX2, Xavier, Orin.
IGPU_NAMES = ("gm20b", "gp10b", "gv11b", "ga10b", "gpu")
# Where the load file lives when devfreq does not lead to it (L4T 32 to 36).
GPU_LOAD_FILES = (
    "sys/devices/platform/gpu.0/load",
    "sys/devices/gpu.0/load",
    "sys/devices/platform/17000000.ga10b/load",
    "sys/devices/platform/bus@0/17000000.gpu/load",
    "sys/devices/17000000.gv11b/load",
    "sys/devices/platform/17000000.gv11b/load",
)


def read_line(path: Path) -> str:
    """First line of a sysfs file, without the trailing newline or NUL; OSError when unreadable."""
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.readline().strip().rstrip("\x00").strip()


def is_jetson(root: Path = Path("/")) -> bool:
    """An NVIDIA Tegra board (Jetson), judged by the L4T release file or the device tree."""
    if (root / "etc/nv_tegra_release").exists():
        return True
    try:
        if b"nvidia,tegra" in (root / "proc/device-tree/compatible").read_bytes():
            return True
    except OSError:
        pass
    try:
        return read_line(root / "sys/devices/soc0/family").lower() == "tegra"
    except OSError:
        return False


def zone_name(raw: str) -> str:
    """One spelling of a sensor across sysfs, jtop and tegrastats: `CPU-therm`, `cpu-thermal`, `CPU` -> `cpu`."""
    name = raw.strip().lower()
    for suffix in ("-thermal", "_thermal", "-therm"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def read_meminfo(path: Path) -> dict[str, int]:
    """`/proc/meminfo` as key -> kB; empty when unreadable."""
    out: dict[str, int] = {}
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        m = re.match(r"(\w+):\s+(\d+)", line)
        if m:
            out[m[1]] = int(m[2])
    return out


def gpu_fields(
    *,
    name: str,
    load_percent: float | None,
    rails_w: dict[str, float],
    temperatures: dict[str, float],
    meminfo: Mapping[str, int],
) -> Reading:
    """The part of a sample common to the sysfs and jtop paths."""
    total_kb = meminfo.get("MemTotal")
    shared_kb = meminfo.get("NvMapMemUsed")
    gpu = GpuSample(
        index=0,
        name=name,
        utilisation_percent=load_percent,
        memory_used_bytes=None if shared_kb is None else shared_kb * 1024,
        memory_total_bytes=None if total_kb is None else total_kb * 1024,
        temperature_c=temperatures.get("gpu"),
        power_w=next((rails_w[n] for n in GPU_ONLY_RAILS if n in rails_w), None),
        memory_shared=True,
    )
    return {
        "gpus": [gpu],
        "temperatures_c": temperatures,
        "power_rails_w": rails_w,
        "power_total_w": next((rails_w[n] for n in INPUT_RAILS if n in rails_w), None),
    }


@dataclass(frozen=True)
class PowerRail:
    """One INA3221 channel: hwmon gives bus mV and mA (L4T 34+), iio gives mW (L4T 32)."""

    label: str
    volt_mv: Path | None = None
    curr_ma: Path | None = None
    power_mw: Path | None = None

    def watts(self) -> float:
        if self.power_mw is not None:
            return int(read_line(self.power_mw).split()[0]) / 1000.0
        assert self.volt_mv is not None and self.curr_ma is not None
        return int(read_line(self.volt_mv)) * int(read_line(self.curr_ma)) / 1_000_000.0


def find_gpu_load(root: Path) -> tuple[Path, str] | None:
    """The iGPU's load file (per mille) and its of_node name, found through devfreq first."""
    for entry in sorted((root / "sys/class/devfreq").glob("*")):
        try:
            name = read_line(entry / "device/of_node/name")
        except OSError:
            continue
        if name in IGPU_NAMES and (entry / "device/load").exists():
            return entry / "device/load", name
    for rel in GPU_LOAD_FILES:
        if (root / rel).exists():
            return root / rel, Path(rel).parent.name.split(".")[-1]
    return None


def find_thermal_zones(root: Path) -> list[tuple[str, Path]]:
    """(normalised zone name, temp file) for every thermal zone with a readable type."""
    zones = []
    base = root / "sys/class/thermal"
    entries = sorted(base.glob("thermal_zone*"), key=lambda p: int(re.sub(r"\D", "", p.name) or 0))
    for zone in entries:
        try:
            zones.append((zone_name(read_line(zone / "type")), zone / "temp"))
        except OSError:
            continue
    return zones


def find_power_rails(root: Path) -> list[PowerRail]:
    """INA3221 channels under /sys/bus/i2c (drivers/ina3221* or devices/* named ina3221*)."""
    devices: dict[Path, Path] = {}
    for dev in sorted((root / "sys/bus/i2c/drivers").glob("ina3221*/*")):
        if dev.is_dir() and re.match(r"\d+-[0-9a-f]+$", dev.name):
            devices.setdefault(dev.resolve(), dev)
    for dev in sorted((root / "sys/bus/i2c/devices").glob("*")):
        try:
            if "ina3221" in read_line(dev / "name"):
                devices.setdefault(dev.resolve(), dev)
        except OSError:
            continue
    rails: list[PowerRail] = []
    for dev in devices.values():
        for hwmon in sorted(dev.glob("hwmon/hwmon*")):
            for label_file in sorted(hwmon.glob("in*_label")):
                channel = label_file.name[2 : -len("_label")]
                try:
                    label = read_line(label_file)
                except OSError:
                    continue
                # "NC" is an unconnected channel; in7 is the "sum of shunt voltages", not a rail.
                if not channel.isdigit() or label.upper() == "NC" or "sum of" in label.lower():
                    continue
                volt, curr = hwmon / f"in{channel}_input", hwmon / f"curr{channel}_input"
                if volt.exists() and curr.exists():
                    rails.append(PowerRail(label, volt_mv=volt, curr_ma=curr))
        for iio in sorted(dev.glob("iio:device*")):
            for name_file in sorted(iio.glob("rail_name_*")):
                channel = name_file.name[len("rail_name_") :]
                power = iio / f"in_power{channel}_input"
                try:
                    label = read_line(name_file)
                except OSError:
                    continue
                if power.exists():
                    rails.append(PowerRail(label, power_mw=power))
    return rails


class JetsonSysfsSource(Source):
    """GPU load, temperatures, power rails and NvMap memory read straight from sysfs and /proc."""

    name = "jetson-sysfs"

    def __init__(self, root: Path = Path("/")) -> None:
        self._root = Path(root)
        found = find_gpu_load(self._root)
        self._load_file, self._gpu_name = found if found else (None, "gpu")
        self._zones = find_thermal_zones(self._root)
        self._rails = find_power_rails(self._root)
        self._meminfo = self._root / "proc/meminfo"
        self.static_notes = [SHARED_MEMORY_NOTE]
        if self._load_file is None:
            self.static_notes.append(
                f"Jetson sysfs: no GPU load file under {self._root / 'sys/class/devfreq'} or gpu.0"
            )
        if not self._rails:
            self.static_notes.append(
                f"Jetson sysfs: no INA3221 power rails under {self._root / 'sys/bus/i2c'}"
            )

    @property
    def has_gpu_load(self) -> bool:
        return self._load_file is not None

    def read(self) -> Reading:
        notes = list(self.static_notes)
        load = None
        if self._load_file is not None:
            try:
                load = int(read_line(self._load_file)) / 10.0  # per mille
            except (OSError, ValueError) as exc:
                notes.append(f"cannot read GPU load {self._load_file}: {_why(exc)}")
        temps: dict[str, float] = {}
        unreadable = []
        for name, path in self._zones:
            try:
                celsius = int(read_line(path)) / 1000.0
            except (OSError, ValueError):
                unreadable.append(name)
                continue
            if celsius > SENSOR_OFF_C:
                temps[name] = celsius
        if unreadable:
            notes.append("thermal zones not readable: " + ", ".join(unreadable))
        rails: dict[str, float] = {}
        for rail in self._rails:
            try:
                rails[rail.label] = rail.watts()
            except (OSError, ValueError) as exc:
                notes.append(f"cannot read power rail {rail.label}: {_why(exc)}")
        fields = gpu_fields(
            name=f"{self._gpu_name} (integrated)",
            load_percent=load,
            rails_w=rails,
            temperatures=temps,
            meminfo=read_meminfo(self._meminfo),
        )
        fields["notes"] = notes
        return fields


def jtop_fields(client: Any, meminfo: Mapping[str, int] | None = None) -> Reading:
    """Sample fields from a connected jtop client (jetson-stats 4.x: `.gpu`, `.memory`, `.temperature`,
    `.power`). Memory comes from jtop's RAM entry (kB), falling back to `meminfo`."""
    name, load = "gpu", None
    for gpu_name, gpu in _items(client.gpu):
        name = str(gpu_name)
        status = gpu.get("status", {}) if isinstance(gpu, Mapping) else {}
        if "load" in status:
            load = float(status["load"])
        break
    ram = _get(client.memory, "RAM") or {}
    mem: dict[str, int] = dict(meminfo or {})
    if "tot" in ram:
        mem["MemTotal"] = int(ram["tot"])
    if "shared" in ram:
        mem["NvMapMemUsed"] = int(ram["shared"])
    temps = {}
    for zone, info in _items(client.temperature):
        if isinstance(info, Mapping) and info.get("online", True) and "temp" in info:
            celsius = float(info["temp"])
            if celsius > SENSOR_OFF_C:
                temps[zone_name(str(zone))] = celsius
    power = client.power if isinstance(client.power, Mapping) else {}
    rails = {str(k): float(v["power"]) / 1000.0 for k, v in _items(power.get("rail", {})) if "power" in v}
    total = power.get("tot", {})
    if "name" in total and "power" in total:  # jtop moves VDD_IN out of the rails into `tot`
        rails[str(total["name"])] = float(total["power"]) / 1000.0
    return gpu_fields(
        name=f"{name} (integrated)", load_percent=load, rails_w=rails, temperatures=temps, meminfo=mem
    )


class JtopSource(Source):
    """Reads through jtop's service (/run/jtop.sock). Connects on the first read, on the sampler's thread;
    when jtop cannot connect or the connection drops, says so and reads sysfs instead."""

    def __init__(
        self, fallback: JetsonSysfsSource, factory: Callable[[], Any] | None = None, root: Path = Path("/")
    ):
        self._fallback = fallback
        self._factory = factory
        self._meminfo = Path(root) / "proc/meminfo"
        self._client: Any = None
        self._failure: str | None = None

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._fallback.name if self._failure else "jtop"

    @property
    def client(self) -> Any:
        return self._client

    def _connect(self) -> None:
        factory = self._factory
        if factory is None:
            from jtop import jtop

            factory = jtop
        client = factory()
        client.start()
        self._client = client

    def read(self) -> Reading:
        if self._failure is None and self._client is None:
            try:
                self._connect()
            # jtop raises JtopException, or the socket's own OSError (PermissionError without the jtop
            # group); whichever it is, it becomes the note below.
            except Exception as exc:
                self._failure = f"jtop not reachable: {exc}; using sysfs"
        if self._failure is None and not self._client.is_alive():
            self._failure = "jtop connection lost; using sysfs"
            self._close_client()
        if self._failure is not None:
            fields = self._fallback.read()
            fields["notes"] = [self._failure, *fields.get("notes", [])]
            return fields
        fields = jtop_fields(self._client, read_meminfo(self._meminfo))
        fields["notes"] = [SHARED_MEMORY_NOTE]
        return fields

    def clear_system_cache(self) -> CacheDrop:
        if self._client is None:
            return CacheDrop(
                False, None, f"page cache not dropped: jtop not connected ({self._failure or 'not yet'})"
            )
        try:
            self._client.memory.clear_cache()
        except Exception as exc:  # jtop's service refuses with JtopException; reported, not hidden
            return CacheDrop(True, False, f"jtop refused to drop the page cache: {exc}")
        return CacheDrop(True, True, "page cache drop requested through jtop")

    def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def close(self) -> None:
        self._close_client()
        self._fallback.close()


def _items(obj: Any) -> list[tuple[Any, Any]]:
    # jtop's attributes are dicts or dict-like GenericInterface objects with items().
    return list(obj.items()) if obj is not None and hasattr(obj, "items") else []


def _get(obj: Any, key: str) -> Any:
    try:
        return obj[key]
    except (KeyError, TypeError, IndexError):
        return None


def _why(exc: Exception) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
