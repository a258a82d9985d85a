"""Every error type of ours, in one place: a small hierarchy under `MvlaError`, whose message is one line
that says what was wrong and what to do (the commands print it without a traceback).

The types only classify failures; they never decide what to do about them. Here, at the bottom layer,
so that any package may raise or catch any of them; the packages that own a failure re-export its type
where their users already import it (`configs`, `policies`, `recorder.errors`, `mvla_tui.robot.link`,
`mvla_tui.robot.safety`).
"""

from __future__ import annotations

from pathlib import Path


class MvlaError(Exception):
    """A user error: its message is one line that says what was wrong and what to do."""


class ConfigError(MvlaError):
    """A config file or override is malformed, or names an unknown key."""


class RecorderError(MvlaError):
    """An episode could not be written, read or salvaged; the message says which file and what to do."""


class EpisodeFileError(RecorderError):
    """A file the reader refuses. `kind` is the problem's name in `recorder.check.PROBLEM_KINDS`, so
    `check` reports exactly what the reader refuses."""

    def __init__(self, path: Path, kind: str, detail: str) -> None:
        super().__init__(f"{path}: {detail}")
        self.kind = kind
        self.detail = detail


class PolicyLoadError(MvlaError):
    """A checkpoint or backbone cannot be loaded as it is; the message says which file and why."""


class RobotLinkError(MvlaError):
    """The robot (or its camera) cannot be reached or refused a command."""


class UnsafeCommandError(MvlaError):
    """A command that must not reach the robot (NaN or infinite velocity)."""
