"""Policies: the interface, models, checkpoints, per-step runtime and benchmark. No Textual, no h5py.

Importing this package is light (no torch): the TUI imports it to list policies and catch errors.
"""

from configs import MvlaError


class PolicyLoadError(MvlaError):
    """A checkpoint or backbone cannot be loaded as it is; the message says which file and why."""
