"""`clear_caches()`: run the garbage collector, empty torch's CUDA cache, ask jtop to drop the page cache,
and report what each step freed.

Never raises for a missing optional backend: without torch (or before CUDA is in use) the CUDA figures
are None; without jtop the page-cache step says why it was not attempted. It never imports torch.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, dataclass
from typing import Any

import psutil

from mvla_tui.telemetry.protocol import Telemetry
from mvla_tui.telemetry.torch_memory import loaded_cuda, reserved_bytes

GIB = 1024**3


@dataclass(frozen=True)
class ClearResult:
    gc_collected: int  # unreachable objects the collector found
    rss_before_bytes: int
    rss_after_bytes: int
    cuda_reserved_before_bytes: int | None  # None: torch not loaded or CUDA not in use
    cuda_reserved_after_bytes: int | None
    jtop_clear_attempted: bool
    jtop_clear_permitted: bool | None  # None when not attempted
    jtop_message: str

    @property
    def cuda_freed_bytes(self) -> int | None:
        if self.cuda_reserved_before_bytes is None or self.cuda_reserved_after_bytes is None:
            return None
        return self.cuda_reserved_before_bytes - self.cuda_reserved_after_bytes

    @property
    def rss_freed_bytes(self) -> int:
        return self.rss_before_bytes - self.rss_after_bytes

    def summary(self) -> str:
        """One line for the app's log or a status bar."""
        cuda = (
            "CUDA cache: torch not in use"
            if self.cuda_freed_bytes is None
            else (f"CUDA cache freed {self.cuda_freed_bytes / GIB:.2f} GiB")
        )
        return (
            f"gc collected {self.gc_collected} objects; {cuda}; "
            f"RSS {self.rss_before_bytes / GIB:.2f} -> {self.rss_after_bytes / GIB:.2f} GiB; {self.jtop_message}"
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["cuda_freed_bytes"] = self.cuda_freed_bytes
        data["rss_freed_bytes"] = self.rss_freed_bytes
        return data


def clear_caches(telemetry: Telemetry | None = None) -> ClearResult:
    """Free what this process can; with a `telemetry` that reaches jtop, also the system page cache.
    Safe from any thread (torch's allocator has its own lock); takes milliseconds, more with a big heap."""
    process = psutil.Process()
    rss_before = int(process.memory_info().rss)
    collected = gc.collect()
    cuda = loaded_cuda()
    reserved_before = reserved_after = None
    if cuda is not None:
        reserved_before = reserved_bytes(cuda)
        cuda.empty_cache()
        reserved_after = reserved_bytes(cuda)
    if telemetry is None:
        attempted, permitted, message = False, None, "page cache not dropped: no telemetry given"
    else:
        drop = telemetry.clear_system_cache()
        attempted, permitted, message = drop.attempted, drop.permitted, drop.message
    return ClearResult(
        gc_collected=int(collected),
        rss_before_bytes=rss_before,
        rss_after_bytes=int(process.memory_info().rss),
        cuda_reserved_before_bytes=reserved_before,
        cuda_reserved_after_bytes=reserved_after,
        jtop_clear_attempted=attempted,
        jtop_clear_permitted=permitted,
        jtop_message=message,
    )
