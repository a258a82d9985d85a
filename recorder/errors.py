"""The recorder's error types. They only classify failures; they never decide what to do about them."""

from __future__ import annotations

from pathlib import Path

from configs import MvlaError


class RecorderError(MvlaError):
    """An episode could not be written, read or salvaged; the message says which file and what to do."""


class EpisodeFileError(RecorderError):
    """A file the reader refuses. `kind` is the problem's name in `recorder.check.PROBLEM_KINDS`, so
    `check` reports exactly what the reader refuses."""

    def __init__(self, path: Path, kind: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.kind = kind
        self.detail = detail
