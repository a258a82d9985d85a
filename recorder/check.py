"""Validation of episode files: `check(path) -> list[Problem]`, and `inspect_file(path)` for the table of
`mvla dataset check` (layout, frames, scenario and problems of one file).

Each kind of damage has its own name (`PROBLEM_KINDS`), so a user, the training loader and tests can
tell them apart. The structure checks are the reader's own (`reader.structure_problems`), and every
frame is read and, for JPEG files, decoded, so whatever `read_episode` refuses is reported here; a
truncated chunk shows up too. This module only reports; it never moves, repairs or deletes a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from recorder.catalogue import EVENT_TYPES
from recorder.intervention import StepCounts, read_group, step_counts, value_problems
from recorder.naming import parse_episode_name
from recorder.reader import (
    H5_ERRORS,
    attr_problems,
    decode_jpeg,
    detect_layout,
    images_key,
    open_problem,
    read_meta,
    structure_problems,
)

PROBLEM_KINDS = {
    "not_hdf5": "not HDF5",
    "lfs_pointer": "Git LFS pointer",
    "truncated": "truncated or unreadable",
    "missing_dataset": "missing dataset",
    "length_mismatch": "length mismatch",
    "bad_shape": "bad shape or dtype",
    "bad_attribute": "bad attribute",
    "too_short": "too short",
    "all_zero_actions": "all-zero actions",
    "non_finite": "non-finite values",
    "unknown_event_type": "unknown event type",
    "undecodable_frame": "undecodable JPEG frame",
    "placeholder_frames": "placeholder frames",
    "bad_intervention": "bad intervention data",
    "unreadable": "unreadable (crashed, hung or broke the reader)",
}
MIN_FRAMES = 2  # one start frame and at least one action
# A camera frame always has sensor noise; one whose pixels all lie within this spread is a synthetic
# placeholder (a flat colour). 2 leaves room for JPEG rounding of a flat image.
PLACEHOLDER_SPREAD = 2


@dataclass(frozen=True)
class Problem:
    kind: str  # a key of PROBLEM_KINDS
    message: str

    def __str__(self) -> str:
        return f"{PROBLEM_KINDS[self.kind]}: {self.message}"


@dataclass
class FileReport:
    path: Path
    layout: str | None = None
    frames: int | None = None
    scenario: str | None = None
    pattern: str | None = None
    distance: str | None = None
    problems: list[Problem] = field(default_factory=list)
    intervention: StepCounts | None = None  # an intervention episode: steps by who drove, takeovers

    @property
    def ok(self) -> bool:
        return not self.problems


def check(path: str | Path) -> list[Problem]:
    """Every problem found in one episode file; an empty list means it is sound."""
    return inspect_file(Path(path)).problems


def inspect_file(path: Path) -> FileReport:
    report = FileReport(path)
    parsed = parse_episode_name(path.name)
    if parsed is not None:
        report.scenario, report.pattern, report.distance = parsed.scenario, parsed.pattern, parsed.distance
    opened = open_problem(path)
    if opened is not None:
        report.problems.append(Problem(*opened))
        return report
    try:
        with h5py.File(path, "r") as f:
            _inspect_open(f, report)
    except H5_ERRORS as exc:
        report.problems.append(Problem("truncated", f"reading failed ({str(exc).splitlines()[0]})"))
    return report


def _inspect_open(f: h5py.File, report: FileReport) -> None:
    add = report.problems.append
    if not attr_problems(f):  # a malformed attribute is reported below and never shown as metadata
        meta = read_meta(f, report.path)
        report.scenario, report.pattern, report.distance = meta.scenario, meta.pattern, meta.distance
    found = structure_problems(f)
    for kind, message in found:
        add(Problem(kind, message))
    report.layout = detect_layout(f)
    if report.layout is None:
        return
    images = f.get(images_key(report.layout))
    if isinstance(images, h5py.Dataset) and images.ndim >= 1:
        report.frames = images.shape[0]
        if report.frames < MIN_FRAMES:
            add(Problem("too_short", f"{report.frames} frame(s); an episode needs at least {MIN_FRAMES}"))
    if found:
        return
    _check_values(f, add)
    _check_intervention(f, report)
    _check_images(images, report.layout == "v5-jpeg", add)


def _check_values(f: h5py.File, add: Callable[[Problem], None]) -> None:
    try:
        actions = f["actions"][()]
        if not np.isfinite(actions).all():
            add(
                Problem(
                    "non_finite",
                    f"{int((~np.isfinite(actions)).any(axis=1).sum())} action row(s) are NaN or inf",
                )
            )
        elif len(actions) and not actions.any():
            add(Problem("all_zero_actions", "every action is zero; the robot never moved"))
        if "timestamps" in f and not np.isfinite(f["timestamps"][()]).all():
            add(Problem("non_finite", "timestamps contain NaN or inf"))
        if "action_event_types" in f:
            events = [
                e.decode("utf-8", "replace") if isinstance(e, bytes) else str(e)
                for e in f["action_event_types"][()]
            ]
            unknown = sorted({e for e in events if e not in EVENT_TYPES})
            if unknown:
                add(
                    Problem(
                        "unknown_event_type",
                        f"{', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}",
                    )
                )
    except H5_ERRORS as exc:
        add(Problem("truncated", f"actions or events unreadable ({str(exc).splitlines()[0]})"))


def _check_intervention(f: h5py.File, report: FileReport) -> None:
    try:
        found = read_group(f)
        if found is None:
            return
        problems = value_problems(found, len(f["actions"]))
        if problems:
            report.problems.extend(Problem(*p) for p in problems)
            return
        events = [
            e.decode("utf-8", "replace") if isinstance(e, bytes) else str(e)
            for e in f["action_event_types"][()]
        ]
        report.intervention = step_counts(found.sources, events, found.takeovers)
    except H5_ERRORS as exc:
        report.problems.append(
            Problem("truncated", f"intervention data unreadable ({str(exc).splitlines()[0]})")
        )


def _check_images(images: h5py.Dataset, jpeg: bool, add: Callable[[Problem], None]) -> None:
    # One frame at a time: a truncated or corrupt chunk shows up without holding the episode in RAM.
    placeholders = []
    first_shape = None
    for i in range(images.shape[0]):
        try:
            frame = images[i]
        except H5_ERRORS as exc:
            add(Problem("truncated", f"frame {i} unreadable ({str(exc).splitlines()[0]})"))
            return
        if jpeg:
            frame = decode_jpeg(frame)
            if frame is None:
                add(Problem("undecodable_frame", f"frame {i} is not a decodable JPEG"))
                return
            first_shape = first_shape or frame.shape
            if frame.shape != first_shape:
                add(Problem("bad_shape", f"JPEG frame {i} is {frame.shape}, frame 0 is {first_shape}"))
                return
        if frame.size and int(frame.max()) - int(frame.min()) <= PLACEHOLDER_SPREAD:
            placeholders.append(i)
    if placeholders:
        shown = ", ".join(map(str, placeholders[:5])) + (", ..." if len(placeholders) > 5 else "")
        add(
            Problem(
                "placeholder_frames",
                f"{len(placeholders)} of {images.shape[0]} frame(s) are one flat colour, a stand-in "
                f"for a missing camera image (frame {shown})",
            )
        )
