"""Torch's CUDA caching allocator: allocated, reserved and peak bytes of this process.

Reads torch only when something else has already imported it and initialised CUDA: it never imports
torch (the app must start light) and never creates a CUDA context (that costs hundreds of MB, on a
Jetson out of the shared RAM). Without torch, or before CUDA is in use, the fields stay None.
"""

from __future__ import annotations

import sys
from types import ModuleType

from mvla_tui.telemetry.protocol import Reading, Source


def loaded_cuda() -> ModuleType | None:
    """`torch.cuda` when torch is imported and CUDA initialised in this process, else None."""
    if "torch" not in sys.modules:
        return None
    cuda = sys.modules.get("torch.cuda")
    try:
        # A module another thread is still importing may lack its attributes yet.
        return cuda if cuda is not None and cuda.is_initialized() else None
    except AttributeError:
        return None


def reserved_bytes(cuda: ModuleType) -> int:
    return sum(int(cuda.memory_reserved(d)) for d in range(cuda.device_count()))


class TorchMemorySource(Source):
    """Sums over the devices; the peak is the sum of per-device peaks."""

    name = "torch"

    def read(self) -> Reading:
        cuda = loaded_cuda()
        if cuda is None:
            return {}
        devices = range(cuda.device_count())
        return {
            "torch_allocated_bytes": sum(int(cuda.memory_allocated(d)) for d in devices),
            "torch_reserved_bytes": sum(int(cuda.memory_reserved(d)) for d in devices),
            "torch_peak_bytes": sum(int(cuda.max_memory_allocated(d)) for d in devices),
        }
