"""Validation of episode files: `check(path) -> list[Problem]`, and `inspect_file(path)` for the table of
`mvla dataset check` (layout, frames, scenario and problems of one file).

Each kind of damage has its own name (`PROBLEM_KINDS`), so a user, the training loader and tests can
tell them apart. Every image chunk is read, which is what finds a file truncated inside its data.
This module only reports; it never moves, repairs or deletes a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from recorder.episode import EVENT_TYPES
from recorder.naming import parse_episode_name
from recorder.reader import V5_IMAGES, detect_layout, open_problem

PROBLEM_KINDS = {
    "not_hdf5": "not HDF5",
    "lfs_pointer": "Git LFS pointer",
    "truncated": "truncated or unreadable",
    "missing_dataset": "missing dataset",
    "length_mismatch": "length mismatch",
    "bad_shape": "bad shape or dtype",
    "too_short": "too short",
    "all_zero_actions": "all-zero actions",
    "non_finite": "non-finite values",
    "unknown_event_type": "unknown event type",
}
MIN_FRAMES = 2  # one start frame and at least one action


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
    except OSError as exc:
        report.problems.append(Problem("truncated", f"reading failed ({str(exc).splitlines()[0]})"))
    return report


def _inspect_open(f: h5py.File, report: FileReport) -> None:
    add = report.problems.append
    for key in ("scenario", "pattern", "distance"):
        value = f.attrs.get(key)
        if value is not None:
            setattr(report, key, value.decode() if isinstance(value, bytes) else str(value))
    if report.pattern == "exception":  # the older name of `variant`
        report.pattern = "variant"
    report.layout = detect_layout(f)
    if report.layout is None:
        add(Problem("missing_dataset", f"no `images` (V4) or `{V5_IMAGES}` (V5) dataset"))
        return
    images_key = "images" if report.layout == "v4" else V5_IMAGES
    required = [images_key, "actions"] + (["action_event_types"] if report.layout == "v4" else [])
    missing = [k for k in required if k not in f or not isinstance(f[k], h5py.Dataset)]
    for key in missing:
        add(Problem("missing_dataset", f"dataset `{key}` is missing"))
    if images_key in missing:
        return
    images = f[images_key]
    report.frames = images.shape[0] if images.ndim else 0
    shapes_ok = _check_shapes(f, report.layout, images, missing, add)
    lengths = {
        k: f[k].shape[0] for k in (images_key, "actions", "action_event_types", "timestamps") if _has(f, k)
    }
    if len(set(lengths.values())) > 1:
        add(Problem("length_mismatch", ", ".join(f"{k} has {n}" for k, n in lengths.items())))
    if report.frames < MIN_FRAMES:
        add(Problem("too_short", f"{report.frames} frame(s); an episode needs at least {MIN_FRAMES}"))
    if not shapes_ok:
        return
    _check_values(f, add)
    _check_images(images, add)


def _has(f: h5py.File, key: str) -> bool:
    return key in f and isinstance(f[key], h5py.Dataset) and f[key].ndim >= 1


def _check_shapes(f: h5py.File, layout: str, images: h5py.Dataset, missing: list[str], add) -> bool:
    ok = True
    if layout == "v5-jpeg":
        if images.ndim != 1 or h5py.check_vlen_dtype(images.dtype) != np.dtype(np.uint8):
            add(
                Problem(
                    "bad_shape",
                    f"JPEG images must be (N,) variable-length uint8, got {images.shape} {images.dtype}",
                )
            )
            ok = False
    elif images.ndim != 4 or images.shape[3] != 3 or images.dtype != np.uint8:
        add(Problem("bad_shape", f"images must be (N, H, W, 3) uint8, got {images.shape} {images.dtype}"))
        ok = False
    if "actions" not in missing:
        actions = f["actions"]
        if actions.ndim != 2 or actions.shape[1] != 3 or actions.dtype.kind != "f":
            add(Problem("bad_shape", f"actions must be (N, 3) float, got {actions.shape} {actions.dtype}"))
            ok = False
    if _has(f, "action_event_types"):
        events = f["action_event_types"]
        if events.ndim != 1 or not (h5py.check_string_dtype(events.dtype) or events.dtype.kind == "S"):
            add(
                Problem(
                    "bad_shape", f"action_event_types must be (N,) strings, got {events.shape} {events.dtype}"
                )
            )
            ok = False
    if "timestamps" in f:
        stamps = f["timestamps"]
        if stamps.ndim != 1 or stamps.dtype.kind != "f":
            add(Problem("bad_shape", f"timestamps must be (N,) float, got {stamps.shape} {stamps.dtype}"))
            ok = False
    return ok and not missing


def _check_values(f: h5py.File, add) -> None:
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
    except OSError as exc:
        add(Problem("truncated", f"actions or events unreadable ({str(exc).splitlines()[0]})"))


def _check_images(images: h5py.Dataset, add) -> None:
    # One frame at a time: a truncated or corrupt chunk shows up without holding the episode in RAM.
    for i in range(images.shape[0]):
        try:
            images[i]
        except OSError as exc:
            add(Problem("truncated", f"frame {i} unreadable ({str(exc).splitlines()[0]})"))
            return
