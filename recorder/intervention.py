"""Intervention episodes: who drove each frame, what the policy proposed, and the takeovers, in a group of
their own that the older readers never look at.

An episode recorded while a policy drives (the app's `run`, `mvla drive --record`, `mvla sim dagger`) is an
*intervention episode*: every step is recorded whoever drove it, and each frame carries
- its `source`: `policy` (the policy's command moved the robot) or `operator` (a key did; frame 0, which
  nothing commanded, counts as the operator's unless a policy was driving when it was taken);
- the policy's own proposed action, before the loop clamped it (NaN on the operator's frames: the policy
  was not asked);
- the instruction in force.
A *takeover* is the first operator frame after a policy frame, a *hand-back* the first policy frame after
a takeover; both are events with their frame and time, derived from the sources when the file is built,
so a journal salvaged after a crash gives the same events as a saved episode.

In the file (new datasets only; nothing of the V4 layout is renamed, so the older collector's code and
earlier mvla versions read these files as before): a group `intervention` holding `source` (N,) UTF-8
strings, `proposed_actions` (N, 3) float32, `instruction` (N,) UTF-8 strings, `events` (K,) UTF-8
strings (`takeover` | `handback`), `event_frames` (K,) int64 and `event_times` (K,) float64; root
attributes `intervention` (True), `takeovers`, `policy_steps` and `operator_steps` (steps are the
`start_action` frames). An episode in which no policy drove gets no group.
This module owns that format (building, writing, checking and reading it); it must not import torch or
textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, cast, get_args

import h5py
import numpy as np

from recorder.catalogue import STEP_EVENT

FrameSource = Literal["policy", "operator"]
SOURCES: tuple[str, ...] = get_args(FrameSource)
EventKind = Literal["takeover", "handback"]
GROUP = "intervention"
_DATASETS = ("source", "proposed_actions", "instruction", "events", "event_frames", "event_times")
NO_PROPOSAL = (float("nan"),) * 3


@dataclass(frozen=True)
class FrameAnnotation:
    """What a frame of an intervention episode says besides its image and action."""

    source: FrameSource
    proposed: tuple[float, float, float] = NO_PROPOSAL  # the policy's command before clamping (key units)
    instruction: str = ""

    def to_record(self) -> dict[str, object]:
        return {
            "s": self.source,
            "p": None if np.isnan(self.proposed).any() else list(self.proposed),
            "i": self.instruction,
        }

    @classmethod
    def from_record(cls, record: object) -> FrameAnnotation | None:
        """The annotation a journal record holds, or None when it is not one (a damaged record)."""
        if not isinstance(record, dict) or record.get("s") not in SOURCES:
            return None
        proposed = record.get("p")
        instruction = record.get("i", "")
        if not isinstance(instruction, str):
            return None
        if proposed is None:
            return cls(cast(FrameSource, record["s"]), NO_PROPOSAL, instruction)
        if not isinstance(proposed, list) or len(proposed) != 3:
            return None
        try:
            p = (float(proposed[0]), float(proposed[1]), float(proposed[2]))
        except (TypeError, ValueError):
            return None
        return cls(cast(FrameSource, record["s"]), p, instruction)


@dataclass(frozen=True)
class InterventionEvent:
    kind: EventKind
    frame: int
    t: float  # seconds since episode start


@dataclass(frozen=True)
class Intervention:
    """The intervention data of an episode, as read from its file."""

    sources: tuple[str, ...]  # (N,) of SOURCES
    proposed: np.ndarray  # (N, 3) float32, NaN where the policy proposed nothing
    instructions: tuple[str, ...]  # (N,)
    events: tuple[InterventionEvent, ...]

    @property
    def takeovers(self) -> int:
        return sum(e.kind == "takeover" for e in self.events)

    def takeover_frames(self) -> tuple[int, ...]:
        return tuple(e.frame for e in self.events if e.kind == "takeover")

    def to_json(self) -> dict[str, object]:
        """Plain values (NaN proposals as JSON's NaN), for the isolated reader's answers."""
        return {
            "sources": list(self.sources),
            "proposed": self.proposed.tolist(),
            "instructions": list(self.instructions),
            "events": [[e.kind, e.frame, e.t] for e in self.events],
        }

    @classmethod
    def from_json(cls, data: dict) -> Intervention:
        return cls(
            sources=tuple(data["sources"]),
            proposed=np.asarray(data["proposed"], np.float32).reshape(-1, 3),
            instructions=tuple(data["instructions"]),
            events=tuple(InterventionEvent(k, int(i), float(t)) for k, i, t in data["events"]),
        )


@dataclass(frozen=True)
class StepCounts:
    """Steps (`start_action` frames) by who drove them, and the takeovers, of one episode."""

    policy: int
    operator: int
    takeovers: int

    @property
    def steps(self) -> int:
        return self.policy + self.operator

    def per_100_steps(self) -> float:
        return 100.0 * self.takeovers / self.steps if self.steps else 0.0


def derive_events(sources: Sequence[str], timestamps: Sequence[float]) -> list[InterventionEvent]:
    """Takeovers and hand-backs from the per-frame sources (see the module docstring)."""
    events: list[InterventionEvent] = []
    previous: str | None = None
    taken = False
    for i, source in enumerate(sources):
        if previous == "policy" and source == "operator":
            events.append(InterventionEvent("takeover", i, float(timestamps[i])))
            taken = True
        elif taken and previous == "operator" and source == "policy":
            events.append(InterventionEvent("handback", i, float(timestamps[i])))
            taken = False
        previous = source
    return events


def step_counts(sources: Sequence[str], event_types: Sequence[str], takeovers: int) -> StepCounts:
    steps = [s for s, e in zip(sources, event_types, strict=True) if e == STEP_EVENT]
    return StepCounts(steps.count("policy"), steps.count("operator"), takeovers)


def write_group(
    f: h5py.File,
    annotations: Sequence[FrameAnnotation | None],
    event_types: Sequence[str],
    timestamps: Sequence[float],
) -> dict[str, int | bool]:
    """Write the `intervention` group when a policy drove any frame; returns the root attributes to add
    (none for an episode the operator drove alone). A frame without an annotation is the operator's."""
    filled = [a or FrameAnnotation("operator") for a in annotations]
    sources = [a.source for a in filled]
    if "policy" not in sources:
        return {}
    events = derive_events(sources, timestamps)
    text = h5py.string_dtype("utf-8")
    group = f.create_group(GROUP)
    group.create_dataset("source", data=sources, dtype=text)
    group.create_dataset("proposed_actions", data=np.array([a.proposed for a in filled], np.float32))
    group.create_dataset("instruction", data=[a.instruction for a in filled], dtype=text)
    group.create_dataset("events", data=[e.kind for e in events], dtype=text)
    group.create_dataset("event_frames", data=np.array([e.frame for e in events], np.int64))
    group.create_dataset("event_times", data=np.array([e.t for e in events], np.float64))
    counts = step_counts(sources, event_types, len([e for e in events if e.kind == "takeover"]))
    return {
        "intervention": True,
        "takeovers": counts.takeovers,
        "policy_steps": counts.policy,
        "operator_steps": counts.operator,
    }


def group_problems(f: h5py.File, frames: int) -> list[tuple[str, str]]:
    """(kind, message) for an `intervention` group that is there but malformed (`recorder.check` kinds)."""
    if GROUP not in f:
        return []
    group = f[GROUP]
    if not isinstance(group, h5py.Group):
        return [("missing_dataset", f"`{GROUP}` is a dataset, not a group")]
    found: list[tuple[str, str]] = []
    for key in _DATASETS:
        d = group.get(key)
        if not isinstance(d, h5py.Dataset):
            found.append(("missing_dataset", f"`{GROUP}/{key}` is missing"))
            continue
        want_rows = frames if key in ("source", "proposed_actions", "instruction") else None
        text = h5py.check_string_dtype(d.dtype) is not None
        shape_ok = {
            "proposed_actions": d.ndim == 2 and d.shape[1:] == (3,) and d.dtype.kind == "f",
            "event_frames": d.ndim == 1 and d.dtype.kind in "iu",
            "event_times": d.ndim == 1 and d.dtype.kind == "f",
        }.get(key, d.ndim == 1 and text)
        if not shape_ok:
            found.append(("bad_shape", f"`{GROUP}/{key}` has the wrong shape or type: {d.shape} {d.dtype}"))
        elif want_rows is not None and d.shape[0] != want_rows:
            found.append(("length_mismatch", f"`{GROUP}/{key}` has {d.shape[0]} rows for {want_rows} frames"))
    if found:
        return found
    events = len(group["events"])
    if len(group["event_frames"]) != events or len(group["event_times"]) != events:
        found.append(("length_mismatch", f"`{GROUP}` event datasets differ in length"))
    return found


def value_problems(intervention: Intervention, frames: int) -> list[tuple[str, str]]:
    """Values an intervention group must not hold: an unknown source or event, a frame out of range."""
    found: list[tuple[str, str]] = []
    unknown = sorted(set(intervention.sources) - set(SOURCES))
    if unknown:
        found.append(("bad_intervention", f"`{GROUP}/source` holds {', '.join(map(repr, unknown))}"))
    for e in intervention.events:
        if e.kind not in get_args(EventKind):
            found.append(("bad_intervention", f"`{GROUP}/events` holds {e.kind!r}"))
            break
        if not 0 <= e.frame < frames:
            found.append(("bad_intervention", f"`{GROUP}/event_frames` holds {e.frame} of {frames} frames"))
            break
    return found


def read_group(f: h5py.File) -> Intervention | None:
    """The episode's intervention data (call on a file whose `group_problems` are none), or None."""
    if GROUP not in f:
        return None
    g = f[GROUP]
    kinds = [_text(e) for e in g["events"][()]]
    frames = g["event_frames"][()].astype(np.int64)
    times = g["event_times"][()].astype(np.float64)
    events = tuple(
        InterventionEvent(cast(EventKind, k), int(i), float(t))
        for k, i, t in zip(kinds, frames, times, strict=True)
    )
    return Intervention(
        sources=tuple(_text(s) for s in g["source"][()]),
        proposed=g["proposed_actions"][()].astype(np.float32, copy=False),
        instructions=tuple(_text(s) for s in g["instruction"][()]),
        events=events,
    )


def _text(value: object) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
