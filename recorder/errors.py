"""The recorder's error type. It only classifies failures; it never decides what to do about them."""

from __future__ import annotations

from configs import MvlaError


class RecorderError(MvlaError):
    """An episode could not be written, read or salvaged; the message says which file and what to do."""
