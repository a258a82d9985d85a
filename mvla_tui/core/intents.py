"""What the operator (or a headless command) may ask of the operating core beyond driving: record, run a
policy. Each intent is a small immutable value submitted through `Session.submit`, like the teleop intents
of `mvla_tui.robot.intents`; only the control thread acts on them.

The `...Done` / `...Ready` values at the end are how work finished off the control thread (saving an
episode, loading or stepping a policy) reports back; only the core submits those. This module holds no
behaviour and must not import textual, torch or h5py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mvla_tui.robot.hooks import PartIntent
from policies.chunk import ActionChunk

# ---- recording -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartEpisode(PartIntent):
    """Start recording an episode (frame 0, `episode_start`, is the current image). A field left None keeps
    the previous episode's setting; `repeat` starts a series of that many episodes of the same setting."""

    scenario: str | None = None
    pattern: str | None = None
    distance: str | None = None
    instruction: str | None = None  # None: the scenario's default instruction
    repeat: int | None = None


@dataclass(frozen=True)
class SaveEpisode(PartIntent):
    """Save the episode being recorded, with how it ended ("success" or "failure")."""

    outcome: str = "success"


@dataclass(frozen=True)
class DiscardEpisode(PartIntent):
    """Throw the episode being recorded away."""


# ---- policy ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadPolicy(PartIntent):
    """Load a checkpoint directory (off the control thread; driving goes on meanwhile)."""

    source: str


@dataclass(frozen=True)
class SetInstruction(PartIntent):
    """A new English instruction: the policy starts a new episode (its window is reset)."""

    text: str


@dataclass(frozen=True)
class InferOnce(PartIntent):
    """One policy step on the current frame, without moving: the chunk and its latency in the state."""


@dataclass(frozen=True)
class RunPolicy(PartIntent):
    """Let the policy drive (closed loop) until `StopPolicy`, an e-stop or a latched policy stop."""


@dataclass(frozen=True)
class StopPolicy(PartIntent):
    pass


# ---- results from other threads (submitted by the core itself) -----------------------------------------


@dataclass(frozen=True)
class EpisodeSaveDone(PartIntent):
    """An episode handed to the saver is on disk (`path`), or could not be saved (`error`)."""

    name: str
    path: Path | None
    error: str | None
    outcome: str | None = None  # "success" / "failure" when saved; None for a discard
    cell: tuple[str, str, str] | None = None  # (scenario, pattern, distance) of a saved episode
    # The folder's episodes per cell after this save; None while the first count is still running.
    counts: dict[tuple[str, str, str], int] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProgressLoaded(PartIntent):
    """The episodes already in the data folder, counted off the control thread when the session starts."""

    counts: dict[tuple[str, str, str], int] = field(compare=False)
    unreadable: int = 0


@dataclass(frozen=True)
class PolicyLoadDone(PartIntent):
    """A checkpoint finished loading: `label` and `describe` (device, precision) on success, else `error`."""

    source: str
    label: str | None
    describe: str | None
    error: str | None


@dataclass(frozen=True)
class PolicyStepDone(PartIntent):
    """The policy worker's answer to step request `request`: an `ActionChunk`, or the error it raised."""

    request: int
    chunk: ActionChunk | None = field(compare=False)  # None when the step raised (`error`)
    error: str | None = None


# Every intent a part of the core consumes (what `Session.submit` takes besides the loop's own `Intent`).
CoreIntent = (
    StartEpisode
    | SaveEpisode
    | DiscardEpisode
    | LoadPolicy
    | SetInstruction
    | InferOnce
    | RunPolicy
    | StopPolicy
    | EpisodeSaveDone
    | ProgressLoaded
    | PolicyLoadDone
    | PolicyStepDone
)
