"""`read_episode(path) -> Episode` for every layout of DATA_FORMAT.md, and the layout detection that
`recorder.check` shares.

V4 (`images` BGR, or in the order its `color_order` attribute names), V5 raw (`observations/images`
RGB) and V5 JPEG (one encoded frame per row; OpenCV is imported only for those). Frames come back RGB,
actions float32 (N, 3), event types `str`; scenario, pattern and distance come from the attributes
or, failing those, the file name. Damaged files raise `RecorderError` with the file and the reason;
this module never repairs or rewrites anything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from recorder.episode import Episode, EpisodeMeta
from recorder.errors import RecorderError
from recorder.naming import parse_episode_name

LFS_PREFIX = b"version https://git-lfs"
V5_IMAGES = "observations/images"


def detect_layout(f: h5py.File) -> str | None:
    """`v4`, `v5-jpeg`, `v5-raw`, or None when no image dataset is there."""
    if "images" in f:
        return "v4"
    if V5_IMAGES in f:
        return "v5-jpeg" if _attr_str(f[V5_IMAGES].attrs.get("format")) == "jpeg" else "v5-raw"
    return None


def open_problem(path: Path) -> tuple[str, str] | None:
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
    except OSError as exc:
        return "truncated", f"truncated or unreadable HDF5 ({_first_line(exc)})"
    return None


def read_episode(path: str | Path) -> Episode:
    """Read one episode file of any known layout; a damaged file raises `RecorderError`."""
    path = Path(path)
    problem = open_problem(path)
    if problem is not None:
        raise RecorderError(f"{path}: {problem[1]}")
    try:
        with h5py.File(path, "r") as f:
            return _read(path, f)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise RecorderError(
            f"{path}: truncated or unreadable data ({_first_line(exc)}); run `mvla dataset check`"
        ) from None


def _read(path: Path, f: h5py.File) -> Episode:
    layout = detect_layout(f)
    if layout is None:
        raise RecorderError(f"{path}: no `images` or `{V5_IMAGES}` dataset; not an episode file")
    if "actions" not in f:
        raise RecorderError(f"{path}: dataset `actions` is missing")
    attrs = {k: _plain(v) for k, v in f.attrs.items()}
    if layout == "v4":
        images = _raw_images(path, f["images"])
        if str(attrs.get("color_order", "bgr")).lower() == "bgr":
            _swap_red_blue(images)
        events = [_attr_str(e) for e in f["action_event_types"][()]] if "action_event_types" in f else None
    elif layout == "v5-raw":
        images = _raw_images(path, f[V5_IMAGES])
        events = None
    else:
        images = _decode_jpeg(path, f[V5_IMAGES])
        events = None
    actions = np.asarray(f["actions"][()], dtype=np.float32)
    if actions.ndim != 2 or actions.shape[1] != 3:
        raise RecorderError(f"{path}: actions have shape {actions.shape}, expected (N, 3)")
    if events is None:
        # V5 files have no event types: frame 0 is where the episode starts, every later one an action.
        events = ["episode_start"] + ["start_action"] * (len(actions) - 1) if len(actions) else []
    timestamps = np.asarray(f["timestamps"][()], dtype=np.float64) if "timestamps" in f else None
    if not (len(images) == len(actions) == len(events)):
        raise RecorderError(
            f"{path}: {len(images)} images, {len(actions)} actions and {len(events)} event types; "
            "the lengths must match"
        )
    instruction = None
    if "language_instruction" in f:
        raw = f["language_instruction"][()]
        instruction = _attr_str(raw[0] if np.ndim(raw) else raw) or None
    return Episode(
        path=path,
        layout=layout,
        name=path.stem,
        images=images,
        actions=actions,
        event_types=events,
        meta=meta_from(path, attrs, instruction),
        timestamps=timestamps,
    )


def meta_from(path: Path, attrs: dict[str, Any], instruction: str | None) -> EpisodeMeta:
    """Metadata from root attributes, the gaps filled from the file name."""
    parsed = parse_episode_name(path.name)
    scenario = attrs.get("scenario") or (parsed.scenario if parsed else None)
    pattern = attrs.get("pattern") or (parsed.pattern if parsed else None)
    if pattern == "exception":
        pattern = "variant"
    known = {"scenario", "pattern", "distance", "robot", "camera", "collector", "recovered"}
    return EpisodeMeta(
        scenario=scenario,
        pattern=pattern,
        distance=attrs.get("distance") or (parsed.distance if parsed else None),
        instruction=instruction,
        robot=attrs.get("robot"),
        camera=attrs.get("camera"),
        collector=attrs.get("collector"),
        recovered=bool(attrs.get("recovered", False)),
        attrs={k: v for k, v in attrs.items() if k not in known},
    )


def _raw_images(path: Path, dataset: h5py.Dataset) -> np.ndarray:
    if dataset.ndim != 4 or dataset.shape[3] != 3 or dataset.dtype != np.uint8:
        raise RecorderError(
            f"{path}: images are {dataset.shape} {dataset.dtype}, expected (N, H, W, 3) uint8"
        )
    return dataset[()]


def _swap_red_blue(images: np.ndarray) -> None:
    """BGR -> RGB in place, frame by frame: ~25x faster than a strided numpy copy of the episode."""
    import cv2

    for frame in images:
        cv2.cvtColor(frame, cv2.COLOR_BGR2RGB, dst=frame)


def _decode_jpeg(path: Path, dataset: h5py.Dataset) -> np.ndarray:
    import cv2  # only JPEG episodes need OpenCV

    frames = []
    for i, row in enumerate(dataset):
        bgr = cv2.imdecode(np.asarray(row, dtype=np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise RecorderError(f"{path}: frame {i} of {V5_IMAGES} is not a decodable JPEG")
        frames.append(bgr[:, :, ::-1])
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
