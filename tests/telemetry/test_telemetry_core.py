"""Merging readings, the psutil backend, torch's allocator (read only when torch is already loaded), the
background sampler, cache clearing and the text rows."""

from __future__ import annotations

import gc
import sys
from collections import namedtuple
from types import ModuleType, SimpleNamespace

import pytest

from mvla_tui.telemetry import (
    ORIN_NX_SAMPLE,
    BackgroundSampler,
    CompositeTelemetry,
    FixedTelemetry,
    clear_caches,
)
from mvla_tui.telemetry.compose import merge_readings
from mvla_tui.telemetry.format import sample_rows
from mvla_tui.telemetry.protocol import Reading, Source
from mvla_tui.telemetry.psutil_backend import PsutilSource, busy_percent
from mvla_tui.telemetry.sample import GpuSample
from mvla_tui.telemetry.torch_memory import TorchMemorySource

MIB = 1024**2


class Static(Source):
    def __init__(self, name: str, reading: Reading) -> None:
        self.name, self.reading = name, reading

    def read(self) -> Reading:
        return dict(self.reading)


class Broken(Source):
    name = "broken"

    def read(self) -> Reading:
        raise OSError("device vanished")


def test_merge_first_value_wins_dicts_merge_gpus_concatenate() -> None:
    sample = merge_readings(
        [
            ("a", {"cpu_percent": 10.0, "temperatures_c": {"cpu": 40.0}, "notes": ["from a"]}),
            ("empty", {}),
            (
                "b",
                {
                    "cpu_percent": 99.0,
                    "ram_total_bytes": 8,
                    "temperatures_c": {"gpu": 41.0},
                    "gpus": [GpuSample(0, "x")],
                    "notes": ["from a", "from b"],
                },
            ),
        ],
        timestamp=5.0,
        notes=["static"],
    )
    assert sample.cpu_percent == 10.0 and sample.ram_total_bytes == 8
    assert sample.temperatures_c == {"cpu": 40.0, "gpu": 41.0}
    assert sample.gpus == (GpuSample(0, "x"),)
    assert sample.sources == ("a", "b")
    assert sample.notes == ("static", "from a", "from b")


def test_merge_refuses_unknown_fields() -> None:
    with pytest.raises(ValueError, match="gpu_util"):
        merge_readings([("a", {"gpu_util": 1})], timestamp=0.0)


def test_a_failing_source_is_a_note_not_a_crash() -> None:
    telemetry = CompositeTelemetry([Broken(), Static("ok", {"cpu_percent": 1.0})], clock=lambda: 7.0)
    sample = telemetry.sample()
    assert sample.timestamp == 7.0 and sample.cpu_percent == 1.0
    assert sample.notes == ("broken failed: device vanished",) and sample.sources == ("ok",)


def test_psutil_source_reads_this_machine_without_sleeping() -> None:
    source = PsutilSource()
    reading = source.read()
    assert reading["ram_total_bytes"] > 0 and 0 <= reading["ram_used_bytes"] <= reading["ram_total_bytes"]
    assert reading["process_rss_bytes"] > 0
    assert isinstance(reading["temperatures_c"], dict)
    cpu = reading["cpu_percent"]
    assert cpu is None or 0.0 <= cpu <= 100.0
    assert "temperatures_c" not in PsutilSource(temperatures=False).read()


def test_busy_percent_counts_iowait_as_idle() -> None:
    Times = namedtuple("Times", "user system idle iowait guest")
    assert busy_percent(Times(0, 0, 0, 0, 0), Times(30, 10, 40, 20, 5)) == pytest.approx(40.0)
    assert busy_percent(Times(1, 1, 1, 1, 0), Times(1, 1, 1, 1, 0)) is None


def test_torch_fields_are_none_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "torch.cuda", raising=False)
    assert TorchMemorySource().read() == {}
    assert "torch" not in sys.modules  # reading did not import it
    sample = CompositeTelemetry([TorchMemorySource()]).sample()
    assert (sample.torch_allocated_bytes, sample.torch_reserved_bytes, sample.torch_peak_bytes) == (None,) * 3


def fake_torch(monkeypatch: pytest.MonkeyPatch, initialised: bool = True) -> SimpleNamespace:
    state = SimpleNamespace(reserved=512 * MIB, emptied=0)

    def empty_cache() -> None:
        state.emptied += 1
        state.reserved = 128 * MIB

    cuda = ModuleType("torch.cuda")
    cuda.is_initialized = lambda: initialised  # type: ignore[attr-defined]
    cuda.device_count = lambda: 1  # type: ignore[attr-defined]
    cuda.memory_allocated = lambda d: 100 * MIB  # type: ignore[attr-defined]
    cuda.memory_reserved = lambda d: state.reserved  # type: ignore[attr-defined]
    cuda.max_memory_allocated = lambda d: 300 * MIB  # type: ignore[attr-defined]
    cuda.empty_cache = empty_cache  # type: ignore[attr-defined]
    torch = ModuleType("torch")
    torch.cuda = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch.cuda", cuda)
    return state


def test_torch_fields_when_cuda_is_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch(monkeypatch)
    assert TorchMemorySource().read() == {
        "torch_allocated_bytes": 100 * MIB,
        "torch_reserved_bytes": 512 * MIB,
        "torch_peak_bytes": 300 * MIB,
    }


def test_torch_loaded_but_cuda_unused_stays_none(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch(monkeypatch, initialised=False)
    assert TorchMemorySource().read() == {}


def test_sampler_serves_the_latest_sample_without_calling_the_backend() -> None:
    telemetry = FixedTelemetry()
    seen = []
    # An hour between samples: only the first one happens during the test, whatever the machine's speed.
    with BackgroundSampler(telemetry, interval_s=3600, on_sample=seen.append) as sampler:
        assert sampler.wait_first(timeout=30) is ORIN_NX_SAMPLE
        calls = telemetry.calls
        for _ in range(100):
            assert sampler.latest() is ORIN_NX_SAMPLE
        assert telemetry.calls == calls == 1
        assert seen == [ORIN_NX_SAMPLE] and sampler.error is None
    assert not sampler._thread.is_alive()


def test_sampler_survives_a_failing_telemetry() -> None:
    class Failing(FixedTelemetry):
        def sample(self):  # type: ignore[override]
            raise RuntimeError("boom")

    with BackgroundSampler(Failing(), interval_s=3600) as sampler:
        assert sampler.wait_first(timeout=30) is None
        assert sampler.error == "telemetry sample failed: RuntimeError: boom"
        assert sampler._thread.is_alive()


def test_sampler_latest_is_none_before_start() -> None:
    sampler = BackgroundSampler(FixedTelemetry(), interval_s=1)
    assert sampler.latest() is None
    sampler.close()


def test_clear_reports_gc_counts() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self

    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            Node()
        result = clear_caches()
    finally:
        gc.enable()
    assert result.gc_collected >= 50
    assert result.cuda_freed_bytes is None or "torch" in sys.modules
    assert not result.jtop_clear_attempted and result.jtop_clear_permitted is None
    assert "gc collected" in result.summary()


def test_clear_empties_the_cuda_cache_and_asks_the_telemetry(monkeypatch: pytest.MonkeyPatch) -> None:
    state = fake_torch(monkeypatch)
    telemetry = FixedTelemetry()
    result = clear_caches(telemetry)
    assert state.emptied == 1 and result.cuda_freed_bytes == 384 * MIB
    assert telemetry.clears == 1 and result.jtop_message == "page cache not dropped: fixed telemetry"
    assert result.to_dict()["cuda_freed_bytes"] == 384 * MIB


def test_clear_without_torch_never_imports_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "torch.cuda", raising=False)
    result = clear_caches()
    assert result.cuda_reserved_before_bytes is None and "torch" not in sys.modules


def test_rows_say_the_gpu_memory_is_shared_and_unknown_is_na() -> None:
    rows = dict(sample_rows(ORIN_NX_SAMPLE))
    assert "shared with the CPU" in rows["GPU 0"] and "power n/a" in rows["GPU 0"]
    assert rows["Power"].startswith("total 12.48 W")
    assert rows["Torch CUDA"].startswith("allocated 1.50 GiB")


def test_to_dict_is_json_ready() -> None:
    import json

    data = json.loads(json.dumps(ORIN_NX_SAMPLE.to_dict()))
    assert data["gpu_memory_shared"] is True and data["gpus"][0]["memory_shared"] is True
    assert data["cpu_percent_per_core"][0] == 31.0
