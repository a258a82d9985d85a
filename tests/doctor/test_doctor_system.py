"""The doctor's GPU, temperature and disk lines against fake sysfs trees and folders in tmp_path: jtop
reachable or not (and the fix for each reason), NVML, no GPU, a board near or past its trip point, and
how many episodes fit (and when that is too few)."""

from __future__ import annotations

import os
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.doctor import disk
from mvla_tui.robot.config import FakeConfig, RobotConfig
from tests.doctor.doctor_helpers import line, quiet_machine, run
from tests.telemetry.test_telemetry_jetson import FakeJtop, orin_nx_tree, put
from tests.telemetry.test_telemetry_nvml import fake_pynvml

FAKE = RobotConfig(kind="fake", fake=FakeConfig(width=64, height=48))


def test_jetson_without_jtops_socket_warns_with_how_to_start_it(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path / "root")
    gpu = line(run(FAKE, quiet_machine(root, jtop_factory=FakeJtop)), "gpu")
    assert gpu.status == "warn"
    assert "ga10b (integrated) load 52 %" in gpu.detail and "jetson-sysfs" in gpu.detail
    assert "systemctl start jtop" in gpu.fix and "run/jtop.sock" in gpu.fix


def test_jetson_with_jtop_is_ok(tmp_path: Path) -> None:
    root = orin_nx_tree(tmp_path / "root")
    put(root, "run/jtop.sock", "")
    gpu = line(run(FAKE, quiet_machine(root, jtop_factory=FakeJtop)), "gpu")
    assert gpu.status == "ok" and gpu.detail.startswith("jtop (")


def test_jtops_socket_without_jetson_stats_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    root = orin_nx_tree(tmp_path / "root")
    put(root, "run/jtop.sock", "")
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "jtop" else object())
    gpu = line(run(FAKE, quiet_machine(root)), "gpu")
    assert gpu.status == "warn" and "mobile-vla[jetson]" in gpu.fix


def test_workstation_gpus_through_nvml(tmp_path: Path) -> None:
    gpu = line(run(FAKE, quiet_machine(tmp_path / "root", nvml_module=fake_pynvml(count=1))), "gpu")
    assert gpu.status == "ok" and gpu.detail == "NVML: NVIDIA RTX A6000 load 40 % 48 GiB"


def test_no_gpu_is_a_warning_that_says_the_cpu_will_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("mvla_tui.telemetry.nvml.load_pynvml", _no_pynvml)
    checks = run(FAKE, quiet_machine(tmp_path / "root"))
    gpu = line(checks, "gpu")
    assert gpu.status == "warn" and "run on the CPU" in gpu.fix and "runtime: nvidia" in gpu.fix


def _no_pynvml():
    raise ImportError("pynvml")


def thermal_tree(root: Path, celsius: float, trip: float = 95.0) -> Path:
    orin_nx_tree(root)
    zone = "sys/class/thermal/thermal_zone3"  # tj-thermal
    put(root, f"{zone}/temp", f"{int(celsius * 1000)}\n")
    put(root, f"{zone}/trip_point_0_type", "passive\n")
    put(root, f"{zone}/trip_point_0_temp", f"{int(trip * 1000)}\n")
    put(root, f"{zone}/trip_point_1_type", "critical\n")
    put(root, f"{zone}/trip_point_1_temp", "104500\n")
    return root


@pytest.mark.parametrize(
    ("celsius", "status", "says"),
    [
        (48.875, "ok", "nearest trip: tj 48.9 °C, throttles at 95.0 °C"),
        (89.0, "warn", "within 10 °C"),
        (96.0, "fail", "throttling now"),
    ],
)
def test_temperature_against_the_zones_trip_point(tmp_path: Path, celsius, status, says) -> None:
    root = thermal_tree(tmp_path / "root", celsius)
    thermal = line(run(FAKE, quiet_machine(root)), "thermal")
    assert thermal.status == status and says in thermal.detail
    if status != "ok":
        assert "fan" in thermal.fix


Usage = namedtuple("Usage", "total used free")


def test_disk_counts_episodes_at_the_cameras_frame_size(tmp_path: Path, monkeypatch) -> None:
    episode = 18 * 64 * 48 * 3 * disk.ASSUMED_RATIO
    monkeypatch.setattr(disk.shutil, "disk_usage", lambda p: Usage(0, 0, int(1000.5 * episode)))
    checks = run(FAKE, quiet_machine(tmp_path / "root"), data=tmp_path / "episodes")
    check = line(checks, "disk")
    # The fake's test card is not measured: 80 % of raw assumed, one episode kept for finishing.
    assert check.status == "ok"
    assert "about 999 episodes of 18 frames at 64x48" in check.detail
    assert "80% of raw assumed: a synthetic test card" in check.detail
    assert "799 if stored uncompressed" in check.detail
    assert "to be created in" in check.detail  # the folder does not exist yet


def test_few_episodes_left_warns_then_fails(tmp_path: Path, monkeypatch) -> None:
    episode = 18 * 1280 * 720 * 3 * disk.ASSUMED_RATIO
    for episodes, status in ((50, "warn"), (5, "fail")):
        monkeypatch.setattr(
            disk.shutil, "disk_usage", lambda p, n=episodes: Usage(0, 0, int((n + 1.5) * episode))
        )
        check = disk.disk_check(tmp_path, (1280, 720), 18)
        assert check.status == status and f"about {episodes} episodes" in check.detail
        assert "--data" in check.fix


def test_compression_is_measured_on_a_camera_frame(tmp_path: Path) -> None:
    noisy = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    check = disk.disk_check(tmp_path, (64, 48), 18, sample=noisy)
    assert "measured on a frame of this camera" in check.detail and "100% of raw" in check.detail


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder_fails(tmp_path: Path) -> None:
    tmp_path.chmod(0o500)
    try:
        check = disk.disk_check(tmp_path / "episodes", (64, 48), 18)
    finally:
        tmp_path.chmod(0o700)
    assert check.status == "fail" and "not a writable folder" in check.detail


def test_a_file_where_the_folder_should_be_fails(tmp_path: Path) -> None:
    (tmp_path / "episodes").write_text("")
    check = disk.disk_check(tmp_path / "episodes", (64, 48), 18)
    assert check.status == "fail" and "dataset volume" in check.fix
