"""`busy_processes`: CPU load from other programs, as a shared robot computer has (a camera driver, ROS 2
nodes, a logger), for measuring the closed loop under load (`mvla eval --sim --realtime --load N`).

Each of the N is a separate process spinning one core, so it takes CPU time from the control loop, the
policy and the renderer, but not the GIL of this process (other programs do not hold it either). They are
killed when the block ends, whatever ended it. No textual, no torch.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

_SPIN = "while True: pass"


@contextmanager
def busy_processes(count: int) -> Iterator[list[subprocess.Popen]]:
    """`count` child processes that each keep one core busy for the duration of the block."""
    children: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            children.append(subprocess.Popen([sys.executable, "-c", _SPIN], stdin=subprocess.DEVNULL))
        yield children
    finally:
        for child in children:
            child.kill()
        for child in children:
            child.wait()
