"""The Jetson backends against fake sysfs trees in tmp_path, and the jtop path with a fake jtop client:
jtop is used only when its socket exists, and a failed connection falls back to sysfs, saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from mvla_tui.telemetry import make_telemetry
from mvla_tui.telemetry.jetson import (
    JetsonSysfsSource,
    JtopSource,
    find_power_rails,
    is_jetson,
    jtop_fields,
    zone_name,
)


def put(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def orin_nx_tree(root: Path, *, gpu_load: bool = True, rails: bool = True) -> Path:
    """The files an Orin NX 16 GB on L4T 35/36 has, with the values tegrastats showed for them."""
    put(root, "etc/nv_tegra_release", "# R35 (release), REVISION: 4.1\n")
    if gpu_load:
        dev = "sys/class/devfreq/17000000.ga10b/device"
        put(root, f"{dev}/of_node/name", "ga10b\x00")
        put(root, f"{dev}/load", "523\n")  # per mille
    put(root, "sys/class/devfreq/15340000.vic/device/of_node/name", "vic\n")
    for i, (kind, milli) in enumerate(
        [
            ("cpu-thermal", "47937"),
            ("gpu-thermal", "45875"),
            ("CV0-thermal", "-256000"),
            ("tj-thermal", "48875"),
        ]
    ):
        put(root, f"sys/class/thermal/thermal_zone{i}/type", kind + "\n")
        put(root, f"sys/class/thermal/thermal_zone{i}/temp", milli + "\n")
    if rails:
        hw = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
        for ch, (label, mv, ma) in enumerate(
            [("VDD_IN", 5000, 1060), ("VDD_CPU_GPU_CV", 5000, 155), ("VDD_SOC", 5000, 285)], start=1
        ):
            put(root, f"{hw}/in{ch}_label", label + "\n")
            put(root, f"{hw}/in{ch}_input", f"{mv}\n")
            put(root, f"{hw}/curr{ch}_input", f"{ma}\n")
        put(root, f"{hw}/in7_label", "sum of shunt voltages\n")
        put(root, f"{hw}/in7_input", "0\n")
        put(root, f"{hw}/curr7_input", "0\n")
    put(root, "proc/meminfo", "MemTotal:       15757204 kB\nMemFree:  1000 kB\nNvMapMemUsed:    1048576 kB\n")
    return root


def test_jetson_detection(tmp_path: Path) -> None:
    assert not is_jetson(tmp_path)
    put(tmp_path, "proc/device-tree/compatible", "nvidia,p3767-0000\x00nvidia,tegra234\x00")
    assert is_jetson(tmp_path)


def test_zone_names_agree_across_sources() -> None:
    assert zone_name("cpu-thermal") == zone_name("CPU-therm") == zone_name("CPU") == "cpu"


def test_sysfs_reads_gpu_load_zones_rails_and_shared_memory(tmp_path: Path) -> None:
    fields = JetsonSysfsSource(orin_nx_tree(tmp_path)).read()
    (gpu,) = fields["gpus"]
    assert gpu.name == "ga10b (integrated)"
    assert gpu.utilisation_percent == pytest.approx(52.3)
    assert gpu.memory_shared
    assert gpu.memory_total_bytes == 15757204 * 1024 and gpu.memory_used_bytes == 1048576 * 1024
    assert gpu.temperature_c == pytest.approx(45.875)
    assert gpu.power_w is None  # only the combined CPU/GPU/CV rail exists
    assert fields["temperatures_c"] == pytest.approx({"cpu": 47.937, "gpu": 45.875, "tj": 48.875})  # CV0 off
    assert fields["power_rails_w"] == pytest.approx(
        {"VDD_IN": 5.3, "VDD_CPU_GPU_CV": 0.775, "VDD_SOC": 1.425}
    )
    assert fields["power_total_w"] == pytest.approx(5.3)
    assert any("shared with the CPU" in n for n in fields["notes"])


def test_sysfs_gpu_load_in_the_older_gpu0_place(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path, gpu_load=False)
    put(root, "sys/devices/platform/gpu.0/load", "1000\n")
    assert JetsonSysfsSource(root).read()["gpus"][0].utilisation_percent == 100.0


def test_sysfs_missing_pieces_are_notes_and_none(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path, gpu_load=False, rails=False)
    (root / "proc/meminfo").unlink()
    source = JetsonSysfsSource(root)
    assert not source.has_gpu_load
    fields = source.read()
    gpu = fields["gpus"][0]
    assert (
        gpu.utilisation_percent is None and gpu.memory_total_bytes is None and gpu.memory_used_bytes is None
    )
    assert fields["power_rails_w"] == {} and fields["power_total_w"] is None
    notes = " ".join(fields["notes"])
    assert "no GPU load file" in notes and "no INA3221 power rails" in notes


def unreadable(path: Path) -> None:
    """A directory where a file should be: unreadable even for root, unlike chmod 0."""
    path.unlink()
    path.mkdir()


def test_sysfs_unreadable_files_are_reported(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path)
    unreadable(root / "sys/class/devfreq/17000000.ga10b/device/load")
    unreadable(root / "sys/class/thermal/thermal_zone1/temp")
    unreadable(root / "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/curr2_input")
    fields = JetsonSysfsSource(root).read()
    notes = " ".join(fields["notes"])
    assert fields["gpus"][0].utilisation_percent is None and "cannot read GPU load" in notes
    assert "gpu" not in fields["temperatures_c"] and "thermal zones not readable: gpu" in notes
    assert (
        "VDD_CPU_GPU_CV" not in fields["power_rails_w"] and "cannot read power rail VDD_CPU_GPU_CV" in notes
    )


def test_sysfs_garbage_values_are_reported(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path)
    put(root, "sys/class/devfreq/17000000.ga10b/device/load", "not a number\n")
    fields = JetsonSysfsSource(root).read()
    assert fields["gpus"][0].utilisation_percent is None
    assert any("cannot read GPU load" in n for n in fields["notes"])


def test_l4t32_iio_rails_and_nc_channels(tmp_path: Path) -> None:
    iio = "sys/bus/i2c/devices/7-0040/iio:device0"
    put(tmp_path, "sys/bus/i2c/devices/7-0040/name", "ina3221x\n")
    put(tmp_path, f"{iio}/rail_name_0", "POM_5V_IN\n")
    put(tmp_path, f"{iio}/in_power0_input", "1022\n")
    hw = "sys/bus/i2c/devices/1-0041/hwmon/hwmon1"
    put(tmp_path, "sys/bus/i2c/devices/1-0041/name", "ina3221\n")
    put(tmp_path, f"{hw}/in1_label", "NC\n")
    put(tmp_path, f"{hw}/in1_input", "0\n")
    put(tmp_path, f"{hw}/curr1_input", "0\n")
    rails = find_power_rails(tmp_path)
    assert [(r.label, r.watts()) for r in rails] == [("POM_5V_IN", pytest.approx(1.022))]


class FakeJtop:
    """The attributes of jetson-stats 4.x's `jtop` that the backend reads."""

    instances: list[FakeJtop] = []

    def __init__(self) -> None:
        self.started = self.closed = False
        self.cleared = 0
        self.gpu = {"ga10b": {"type": "integrated", "status": {"load": 37.5}}}
        self.memory = FakeMemory(self)
        self.temperature = {"cpu": {"temp": 47.9, "online": True}, "cv0": {"temp": -256.0, "online": False}}
        self.power = {
            "rail": {"VDD_CPU_GPU_CV": {"power": 773, "volt": 5000}, "VDD_SOC": {"power": 1424}},
            "tot": {"power": 5299, "name": "VDD_IN"},
        }
        FakeJtop.instances.append(self)

    def start(self) -> None:
        self.started = True

    def is_alive(self) -> bool:
        return not self.closed

    def close(self) -> None:
        self.closed = True


class FakeMemory(dict):
    def __init__(self, owner: FakeJtop) -> None:
        super().__init__(RAM={"tot": 15757204, "used": 6000000, "shared": 2097152})
        self.owner = owner

    def clear_cache(self) -> None:
        self.owner.cleared += 1


def test_jtop_fields() -> None:
    fields = jtop_fields(FakeJtop())
    (gpu,) = fields["gpus"]
    assert gpu.utilisation_percent == 37.5 and gpu.memory_shared
    assert gpu.memory_used_bytes == 2097152 * 1024 and gpu.memory_total_bytes == 15757204 * 1024
    assert fields["temperatures_c"] == {"cpu": 47.9}
    assert fields["power_rails_w"] == pytest.approx(
        {"VDD_CPU_GPU_CV": 0.773, "VDD_SOC": 1.424, "VDD_IN": 5.299}
    )
    assert fields["power_total_w"] == pytest.approx(5.299)


def test_sysfs_is_used_when_the_jtop_socket_is_missing(tmp_path: Path) -> None:
    FakeJtop.instances.clear()
    telemetry = make_telemetry(root=orin_nx_tree(tmp_path), jtop_factory=FakeJtop)
    try:
        sample = telemetry.sample()
    finally:
        telemetry.close()
    assert FakeJtop.instances == []
    assert "jetson-sysfs" in sample.sources and "jtop" not in sample.sources
    assert f"jtop not reachable: {tmp_path / 'run/jtop.sock'} missing; using sysfs" in sample.notes
    assert sample.gpu_memory_shared and sample.gpu is not None and sample.gpu.utilisation_percent == 52.3
    assert "cpu" in sample.temperatures_c  # named once: psutil's copy of the zones is off on a Jetson
    assert not any(name.endswith("-thermal") for name in sample.temperatures_c)


def test_jtop_is_used_when_its_socket_exists(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path)
    put(root, "run/jtop.sock", "")
    FakeJtop.instances.clear()
    telemetry = make_telemetry(root=root, jtop_factory=FakeJtop)
    try:
        sample = telemetry.sample()
        drop = telemetry.clear_system_cache()
    finally:
        telemetry.close()
    (client,) = FakeJtop.instances
    assert client.started and client.closed and client.cleared == 1
    assert "jtop" in sample.sources and sample.gpu is not None and sample.gpu.utilisation_percent == 37.5
    assert drop.attempted and drop.permitted


def test_jtop_socket_without_jetson_stats_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = orin_nx_tree(tmp_path)
    socket = put(root, "elsewhere/jtop.sock", "")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)
    telemetry = make_telemetry(root=root, jtop_socket=socket)
    sample = telemetry.sample()
    telemetry.close()
    assert any("mobile-vla[jetson]" in n for n in sample.notes)
    assert "jetson-sysfs" in sample.sources


def test_jtop_connection_failure_falls_back_to_sysfs(tmp_path: Path) -> None:
    def refuse() -> FakeJtop:
        raise PermissionError("[Errno 13] Permission denied: '/run/jtop.sock'")

    root = orin_nx_tree(tmp_path)
    source = JtopSource(JetsonSysfsSource(root), refuse, root)
    fields = source.read()
    assert source.name == "jetson-sysfs"
    assert fields["notes"][0].startswith("jtop not reachable: [Errno 13] Permission denied")
    assert fields["gpus"][0].utilisation_percent == 52.3
    drop = source.clear_system_cache()
    assert not drop.attempted and drop.permitted is None


def test_jtop_refusing_the_cache_drop_is_reported(tmp_path: Path) -> None:
    class Refusing(FakeJtop):
        def __init__(self) -> None:
            super().__init__()

            def refuse() -> None:
                raise RuntimeError("not allowed")

            self.memory.clear_cache = refuse  # type: ignore[method-assign]

    root = orin_nx_tree(tmp_path)
    source = JtopSource(JetsonSysfsSource(root), Refusing, root)
    source.read()
    drop = source.clear_system_cache()
    source.close()
    assert drop.attempted and drop.permitted is False and "not allowed" in drop.message


def test_tegrastats_is_the_last_resort(tmp_path: Path) -> None:
    import sys

    from tests.telemetry.test_telemetry_tegrastats import ORIN_NX_16GB

    root = orin_nx_tree(tmp_path, gpu_load=False)
    script = f"import time; print({ORIN_NX_16GB!r}, flush=True); time.sleep(60)"
    telemetry = make_telemetry(root=root, tegrastats_command=[sys.executable, "-c", script])
    try:
        (source,) = [s for s in telemetry.sources if s.name == "tegrastats"]
        source.wait_first(timeout=30)  # type: ignore[attr-defined]
        sample = telemetry.sample()
    finally:
        telemetry.close()
    assert "tegrastats" in sample.sources and "no GPU load in sysfs; using tegrastats" in sample.notes
    assert sample.power_rails_w["VDD_IN"] == pytest.approx(5.299)
