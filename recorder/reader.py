"""`read_episode(path) -> Episode` for every layout of DATA_FORMAT.md, and the layout and structure
checks that `recorder.check` shares, so that `check` reports whatever the reader refuses.

V4 (`images` BGR, or in the order its `color_order` attribute names), V5 raw (`observations/images`
RGB) and V5 JPEG (one encoded frame per row; OpenCV is imported only for those). Frames come back RGB,
actions float32 (N, 3), event types `str`; scenario, pattern and distance come from the attributes
or, failing those, the file name; an intervention episode's group (`recorder.intervention`) comes back as
`Episode.intervention`. Anything else -- a group where a dataset belongs, integer actions or
event types, an event type outside EVENT_TYPES, timestamps of another length, a non-string
instruction or metadata attribute -- raises `EpisodeFileError` naming the file and the dataset or
attribute. Accepted variants, all found in the collectors' files: event types as variable-length
UTF-8 or fixed-length bytes, `language_instruction` as (1,) fixed-length bytes or UTF-8 string.
Damage that leaves the data readable (too short, all-zero or non-finite actions, placeholder frames)
is returned as it is; `check` names it. This module never repairs or rewrites anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from recorder.catalogue import EVENT_TYPES, load_catalogue
from recorder.episode import Episode, EpisodeMeta
from recorder.errors import EpisodeFileError
from recorder.intervention import Intervention, group_problems, read_group, value_problems
from recorder.naming import parse_episode_name

LFS_PREFIX = b"version https://git-lfs"
V5_IMAGES = "observations/images"
STRING_ATTRS = ("scenario", "pattern", "distance", "robot", "camera", "collector", "color_order")
COLOR_ORDERS = ("bgr", "rgb")

Found = tuple[str, str]  # (problem kind of recorder.check, message)
# What h5py raises on a damaged file. RuntimeError too: fuzzing (benchmarks/fuzz_reader.py) found
# damaged object headers and B-trees on which h5py raises it ("Unable to synchronously check link
# existence (wrong B-tree signature)"). Worse damage hangs or crashes the HDF5 library itself, which no
# except clause can catch: `recorder.isolated` reads untrusted files in a child process for that.
H5_ERRORS = (OSError, KeyError, ValueError, TypeError, RuntimeError)


def detect_layout(f: h5py.File) -> str | None:
    """`v4`, `v5-jpeg`, `v5-raw`, or None when no image dataset is there."""
    if "images" in f:
        return "v4"
    if V5_IMAGES in f:
        return "v5-jpeg" if _attr_str(f[V5_IMAGES].attrs.get("format")) == "jpeg" else "v5-raw"
    return None


def images_key(layout: str) -> str:
    return "images" if layout == "v4" else V5_IMAGES


def open_problem(path: Path) -> Found | None:
    """Why `path` cannot be opened as HDF5: (kind, message), or None when it opens."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
    except OSError as exc:
        return "truncated", f"cannot read the file ({exc.strerror})"
    if head.startswith(LFS_PREFIX):
        return (
            "lfs_pointer",
            "the episode itself was never fetched; run `git lfs pull` in the dataset repository",
        )
    if not h5py.is_hdf5(str(path)):
        if not head:
            return "not_hdf5", "empty file"
        return "not_hdf5", "not an HDF5 file"
    try:
        with h5py.File(path, "r"):
            pass
    except (OSError, RuntimeError) as exc:
        return "truncated", f"truncated or unreadable HDF5 ({_first_line(exc)})"
    return None


def structure_problems(f: h5py.File) -> list[Found]:
    """Every problem of layout, dataset types, shapes, dtypes, lengths and metadata attributes; reads
    no image and no action value. An empty list means `read_episode` can read the file's structure."""
    found = attr_problems(f)
    layout = detect_layout(f)
    if layout is None:
        return [*found, ("missing_dataset", f"no `images` (V4) or `{V5_IMAGES}` (V5) dataset")]
    required = [images_key(layout), "actions"] + (["action_event_types"] if layout == "v4" else [])
    optional = ["timestamps", "language_instruction"] + ([] if layout == "v4" else ["action_event_types"])
    datasets: dict[str, h5py.Dataset] = {}
    for key in required + optional:
        if key not in f:
            if key in required:
                found.append(("missing_dataset", f"dataset `{key}` is missing"))
            continue
        obj = f[key]
        if not isinstance(obj, h5py.Dataset):
            found.append(("missing_dataset", f"`{key}` is a {type(obj).__name__.lower()}, not a dataset"))
            continue
        shape_problem = _shape_problem(key, obj, layout)
        if shape_problem:
            found.append(("bad_shape", shape_problem))
        else:
            datasets[key] = obj
    lengths = {k: d.shape[0] for k, d in datasets.items() if k != "language_instruction"}
    if len(set(lengths.values())) > 1:
        found.append(("length_mismatch", ", ".join(f"{k} has {n}" for k, n in lengths.items())))
    if "actions" in datasets:
        found += group_problems(f, datasets["actions"].shape[0])
    return found


def attr_problems(f: h5py.File) -> list[Found]:
    """Metadata attributes that are there but are no single string (or an unknown colour order)."""
    found = []
    for key in STRING_ATTRS:
        if key not in f.attrs:
            continue
        value = f.attrs[key]
        if not isinstance(value, (str, bytes, np.str_, np.bytes_)):
            kind = f"array {np.shape(value)}" if isinstance(value, np.ndarray) else type(value).__name__
            found.append(("bad_attribute", f"attribute `{key}` must be a string, got {kind}"))
        elif key == "color_order" and _attr_str(value).lower() not in COLOR_ORDERS:
            found.append(
                ("bad_attribute", f"attribute `color_order` is {_attr_str(value)!r}; expected bgr or rgb")
            )
    return found


def _shape_problem(key: str, d: h5py.Dataset, layout: str) -> str | None:
    if key in ("images", V5_IMAGES) and layout == "v5-jpeg":
        bad, want = (
            d.ndim != 1 or h5py.check_vlen_dtype(d.dtype) != np.dtype(np.uint8),
            "(N,) variable-length uint8",
        )
    elif key in ("images", V5_IMAGES):
        bad, want = d.ndim != 4 or d.shape[3] != 3 or d.dtype != np.uint8, "(N, H, W, 3) uint8"
    elif key == "actions":
        # Integer actions are refused, not cast: the collectors only ever wrote float32.
        bad, want = d.ndim != 2 or d.shape[1] != 3 or d.dtype.kind != "f", "(N, 3) float"
    elif key == "action_event_types":
        bad, want = d.ndim != 1 or not _is_string(d.dtype), "(N,) strings"
    elif key == "timestamps":
        bad, want = d.ndim != 1 or d.dtype.kind != "f", "(N,) float"
    else:  # language_instruction
        bad, want = d.shape != (1,) or not _is_string(d.dtype), "(1,) string"
    return f"`{key}` must be {want}, got {d.shape} {d.dtype}" if bad else None


def _is_string(dtype: np.dtype) -> bool:
    return h5py.check_string_dtype(dtype) is not None or dtype.kind == "S"


def decode_jpeg(row: np.ndarray) -> np.ndarray | None:
    """One JPEG row as RGB uint8 (H, W, 3), or None when it does not decode."""
    import cv2  # only JPEG episodes need OpenCV

    bgr = cv2.imdecode(np.asarray(row, dtype=np.uint8), cv2.IMREAD_COLOR)
    return None if bgr is None else np.ascontiguousarray(bgr[:, :, ::-1])


@contextmanager
def _open_episode(path: Path) -> Iterator[h5py.File]:
    """The file open for reading; what cannot be opened, or read inside the block (h5py's errors), is an
    `EpisodeFileError`."""
    problem = open_problem(path)
    if problem is not None:
        raise EpisodeFileError(path, *problem)
    try:
        with h5py.File(path, "r") as f:
            yield f
    except H5_ERRORS as exc:
        raise EpisodeFileError(
            path, "truncated", f"truncated or unreadable data ({_first_line(exc)}); run `mvla dataset check`"
        ) from None


def read_episode(path: str | Path) -> Episode:
    """Read one episode file of any known layout; a damaged or malformed file raises
    `EpisodeFileError` (a `RecorderError`)."""
    path = Path(path)
    with _open_episode(path) as f:
        return _read(path, f)


@dataclass(frozen=True)
class EpisodeHeader:
    """What an episode file says about itself without its images: for indexes of large datasets."""

    path: Path
    layout: str
    frames: int
    event_types: list[str]
    meta: EpisodeMeta
    actions: np.ndarray  # (N, 3) float32 (small: read so that indexes can normalise and split)
    intervention: Intervention | None = None  # who drove each frame, when a policy drove any


def read_header(path: str | Path) -> EpisodeHeader:
    """Metadata, event types and actions of an episode file, reading no image; a malformed file raises
    `EpisodeFileError` as `read_episode` would."""
    path = Path(path)
    with _open_episode(path) as f:
        found = structure_problems(f)
        if found:
            raise EpisodeFileError(path, *found[0])
        layout = detect_layout(f)
        assert layout is not None
        actions = f["actions"][()].astype(np.float32, copy=False)
        events = _events(path, f, len(actions))
        frames = int(f[images_key(layout)].shape[0])
        meta = read_meta(f, path)
        intervention = _intervention(path, f, len(actions))
    return EpisodeHeader(path, layout, frames, events, meta, actions, intervention)


def _intervention(path: Path, f: h5py.File, count: int) -> Intervention | None:
    found = read_group(f)
    problems = value_problems(found, count) if found is not None else []
    if problems:
        raise EpisodeFileError(path, *problems[0])
    return found


def _events(path: Path, f: h5py.File, count: int) -> list[str]:
    if "action_event_types" not in f:
        # V5 files have no event types: frame 0 is where the episode starts, every later one an action.
        return ["episode_start"] + ["start_action"] * (count - 1) if count else []
    events = [_attr_str(e) for e in f["action_event_types"][()]]
    unknown = sorted({e for e in events if e not in EVENT_TYPES})
    if unknown:
        raise EpisodeFileError(
            path,
            "unknown_event_type",
            f"`action_event_types` holds {', '.join(map(repr, unknown))}; known: {', '.join(EVENT_TYPES)}",
        )
    return events


def _read(path: Path, f: h5py.File) -> Episode:
    found = structure_problems(f)
    if found:
        raise EpisodeFileError(path, *found[0])
    layout = detect_layout(f)
    assert layout is not None  # structure_problems reports a file without images
    attrs = {k: _plain(v) for k, v in f.attrs.items()}
    if layout == "v5-jpeg":
        images = _decode_all(path, f[V5_IMAGES])
    else:
        images = f[images_key(layout)][()]
        if layout == "v4" and str(attrs.get("color_order", "bgr")).lower() == "bgr":
            images = np.ascontiguousarray(images[..., ::-1])
    actions = f["actions"][()].astype(np.float32, copy=False)
    events = _events(path, f, len(actions))
    timestamps = f["timestamps"][()].astype(np.float64, copy=False) if "timestamps" in f else None
    return Episode(
        path=path,
        layout=layout,
        name=path.stem,
        images=images,
        actions=actions,
        event_types=events,
        meta=read_meta(f, path),
        timestamps=timestamps,
        intervention=_intervention(path, f, len(actions)),
    )


def read_meta(f: h5py.File, path: Path | None = None) -> EpisodeMeta:
    """What an episode file says it is about: its root attributes decoded to plain values, the gaps
    filled from the file name (`path`, else the file's own), the pattern's older alias resolved
    (`exception` reads as `variant`, `Catalogue.read_pattern`) and its instruction. The one reader of
    episode metadata: `read_episode`, `check` and `stats` all use it. Call it on a file whose
    `attr_problems` are none (a malformed attribute would be shown as metadata)."""
    path = Path(path if path is not None else f.filename)
    attrs = {k: _plain(v) for k, v in f.attrs.items()}
    parsed = parse_episode_name(path.name)
    scenario = attrs.get("scenario") or (parsed.scenario if parsed else None)
    pattern = attrs.get("pattern") or (parsed.pattern if parsed else None)
    text = f.get("language_instruction")
    instruction = None
    if isinstance(text, h5py.Dataset) and text.ndim == 1 and text.shape[0] > 0:
        instruction = _attr_str(text[0]) or None
    known = {"scenario", "pattern", "distance", "robot", "camera", "collector", "recovered", "outcome"}
    return EpisodeMeta(
        scenario=scenario,
        pattern=load_catalogue().read_pattern(pattern) if pattern else pattern,
        distance=attrs.get("distance") or (parsed.distance if parsed else None),
        instruction=instruction,
        robot=attrs.get("robot"),
        camera=attrs.get("camera"),
        collector=attrs.get("collector"),
        recovered=bool(attrs.get("recovered", False)),
        outcome=attrs.get("outcome"),
        attrs={k: v for k, v in attrs.items() if k not in known},
    )


def _decode_all(path: Path, dataset: h5py.Dataset) -> np.ndarray:
    frames: list[np.ndarray] = []
    for i, row in enumerate(dataset):
        frame = decode_jpeg(row)
        if frame is None:
            raise EpisodeFileError(
                path, "undecodable_frame", f"frame {i} of `{V5_IMAGES}` is not a decodable JPEG"
            )
        if frames and frame.shape != frames[0].shape:
            raise EpisodeFileError(
                path,
                "bad_shape",
                f"frame {i} of `{V5_IMAGES}` is {frame.shape}, frame 0 is {frames[0].shape}",
            )
        frames.append(frame)
    return np.stack(frames) if frames else np.zeros((0, 0, 0, 3), dtype=np.uint8)


def _attr_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00")
    if isinstance(value, np.bytes_):
        return bytes(value).decode("utf-8", errors="replace").rstrip("\x00")
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    """Attributes as plain Python values: bytes decoded, numpy scalars unwrapped."""
    if isinstance(value, (bytes, np.bytes_)):
        return _attr_str(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
