"""The NVML backend against a fake pynvml module: figures per GPU, an unsupported query is None plus one
note, a driver that fails to initialise is a note, and a missing nvidia-ml-py names the extra."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from mvla_tui.telemetry import make_telemetry, nvml
from mvla_tui.telemetry.nvml import NvmlSource

GIB = 1024**3


class FakeNVMLError(Exception):
    pass


def fake_pynvml(count: int = 2, init_error: str | None = None) -> SimpleNamespace:
    calls = {"init": 0, "shutdown": 0}

    def init() -> None:
        calls["init"] += 1
        if init_error:
            raise FakeNVMLError(init_error)

    def power(handle: int) -> int:
        if handle == 1:
            raise FakeNVMLError("Not Supported")
        return 123_456  # mW

    return SimpleNamespace(
        calls=calls,
        NVMLError=FakeNVMLError,
        NVML_TEMPERATURE_GPU=0,
        nvmlInit=init,
        nvmlShutdown=lambda: calls.__setitem__("shutdown", calls["shutdown"] + 1),
        nvmlDeviceGetCount=lambda: count,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: b"NVIDIA RTX A6000" if h == 0 else "NVIDIA H200",
        nvmlDeviceGetUtilizationRates=lambda h: SimpleNamespace(gpu=40 + h, memory=10),
        nvmlDeviceGetMemoryInfo=lambda h: SimpleNamespace(used=(h + 1) * GIB, total=48 * GIB, free=0),
        nvmlDeviceGetTemperature=lambda h, sensor: 60 + h,
        nvmlDeviceGetPowerUsage=power,
    )


def test_figures_per_gpu_and_unsupported_power() -> None:
    module = fake_pynvml()
    source = NvmlSource(module)
    first = source.read()
    second = source.read()
    source.close()
    a, b = first["gpus"]
    assert (a.index, a.name, a.utilisation_percent, a.temperature_c) == (0, "NVIDIA RTX A6000", 40.0, 60.0)
    assert a.memory_used_bytes == GIB and a.memory_total_bytes == 48 * GIB and not a.memory_shared
    assert a.power_w == pytest.approx(123.456)
    assert b.name == "NVIDIA H200" and b.power_w is None
    assert first["notes"] == second["notes"] == ["NVML GPU 1: power not available (Not Supported)"]
    assert module.calls == {"init": 1, "shutdown": 1}


def test_make_telemetry_uses_an_injected_nvml(tmp_path: Path) -> None:
    telemetry = make_telemetry(root=tmp_path, nvml_module=fake_pynvml(count=1))
    sample = telemetry.sample()
    telemetry.close()
    assert "nvml" in sample.sources and len(sample.gpus) == 1 and not sample.gpu_memory_shared


def test_driver_that_fails_to_initialise_is_a_note(tmp_path: Path) -> None:
    telemetry = make_telemetry(root=tmp_path, nvml_module=fake_pynvml(init_error="Driver Not Loaded"))
    sample = telemetry.sample()
    telemetry.close()
    assert "NVML not usable: Driver Not Loaded" in sample.notes and sample.gpus == ()


def _no_pynvml() -> None:
    raise ImportError("No module named 'pynvml'", name="pynvml")


def test_missing_bindings_with_a_driver_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nvml, "load_pynvml", _no_pynvml)
    version = tmp_path / "proc/driver/nvidia/version"
    version.parent.mkdir(parents=True)
    version.write_text("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14\n")
    sample = make_telemetry(root=tmp_path).sample()
    assert any("mobile-vla[nvidia]" in n for n in sample.notes)
    assert sample.gpus == ()  # nothing pretends to be a GPU


def test_no_driver_no_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nvml, "load_pynvml", _no_pynvml)
    sample = make_telemetry(root=tmp_path).sample()
    assert any(n.startswith("no NVIDIA GPU:") for n in sample.notes)
