"""Native crashes made visible: `enable_faulthandler` turns on Python's faulthandler on the process's stderr,
so a crash inside a native library (MuJoCo and Mesa, torch, ONNX Runtime, TensorRT, h5py) prints the Python
stack of every thread before the process dies, instead of a bare "Segmentation fault".

Here, at the bottom of the dependency order, because the `mvla` entry point and the processes it starts
(the trainer's data loader workers) all call it; it needs only the standard library.
"""

from __future__ import annotations

import contextlib
import faulthandler
import sys


def enable_faulthandler(replace: bool = False) -> None:
    """Python stacks on a fatal signal (SIGSEGV, SIGFPE, SIGABRT, SIGBUS, SIGILL), written to the stderr
    file descriptor, which stays the terminal while the app draws (and is the real stderr under pytest's
    capture). Left as it is when already on (`python -X faulthandler`, pytest), unless `replace`: in a
    process whose libraries installed fatal-signal handlers of their own after it was turned on."""
    if (faulthandler.is_enabled() and not replace) or sys.__stderr__ is None:
        return
    if replace:
        faulthandler.disable()  # enable() on an enabled faulthandler keeps the handlers it sees as its own
    # OSError, ValueError: stderr has no file descriptor (an embedding host), nowhere to write a stack.
    with contextlib.suppress(OSError, ValueError):
        faulthandler.enable(file=sys.__stderr__, all_threads=True)
