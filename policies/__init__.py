"""Policies: the interface, models, checkpoints, per-step runtime and benchmark. No Textual, no h5py.

Importing this package is light (no torch): the TUI imports it to list policies and catch errors.
"""

from configs.errors import PolicyLoadError

__all__ = ["PolicyLoadError"]
