"""The NVML backend (workstation NVIDIA GPUs): utilisation, memory, temperature and power per GPU.

`pynvml` (from the `nvidia` extra, package nvidia-ml-py) is imported by `load_pynvml` when the backend
is built, never at import time; tests pass a fake module instead. A query a GPU does not support (power
on some boards) gives None and one note, not an exception.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from mvla_tui.telemetry.protocol import Reading, Source
from mvla_tui.telemetry.sample import GpuSample

T = TypeVar("T")

INSTALL_HINT = "install the `nvidia` extra: pip install 'mobile-vla[nvidia]'"


def load_pynvml() -> ModuleType:
    """The real pynvml module; ImportError when the `nvidia` extra is not installed."""
    import pynvml

    return pynvml


class NvmlSource(Source):
    name = "nvml"

    def __init__(self, nvml: Any) -> None:
        """`nvml` is the pynvml module (or a fake with the same functions). Raises `nvml.NVMLError`
        when the driver cannot be initialised."""
        self._nvml = nvml
        nvml.nvmlInit()
        self._open = True
        self._handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
        self._names = [_text(nvml.nvmlDeviceGetName(h)) for h in self._handles]
        self._notes: list[str] = []
        self._reported: set[tuple[int, str]] = set()
        if not self._handles:
            self._notes.append("NVML found no GPU")

    def read(self) -> Reading:
        nvml = self._nvml
        gpus = []
        for i, (handle, name) in enumerate(zip(self._handles, self._names, strict=True)):
            util = self._query(i, "utilisation", lambda h=handle: nvml.nvmlDeviceGetUtilizationRates(h))
            memory = self._query(i, "memory", lambda h=handle: nvml.nvmlDeviceGetMemoryInfo(h))
            temp = self._query(
                i, "temperature", lambda h=handle: nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
            )
            power_mw = self._query(i, "power", lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h))
            gpus.append(
                GpuSample(
                    index=i,
                    name=name,
                    utilisation_percent=None if util is None else float(util.gpu),
                    memory_used_bytes=None if memory is None else int(memory.used),
                    memory_total_bytes=None if memory is None else int(memory.total),
                    temperature_c=None if temp is None else float(temp),
                    power_w=None if power_mw is None else power_mw / 1000.0,
                )
            )
        return {"gpus": gpus, "notes": list(self._notes)}

    def _query(self, index: int, what: str, call: Callable[[], T]) -> T | None:
        try:
            return call()
        except self._nvml.NVMLError as exc:
            if (index, what) not in self._reported:
                self._reported.add((index, what))
                self._notes.append(f"NVML GPU {index}: {what} not available ({exc})")
            return None

    def close(self) -> None:
        if self._open:
            self._open = False
            self._nvml.nvmlShutdown()


def _text(value: str | bytes) -> str:
    # Older nvidia-ml-py releases return bytes.
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)
