"""Small episode files of every layout and damage class, built with plain h5py as the older
collectors wrote them (DATA_FORMAT.md), for the recorder tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from recorder.episode import EpisodeMeta
from recorder.writer import EpisodeWriter

H, W = 12, 16
INSTRUCTION = "Navigate around obstacles and reach the front of the beverage bottle on the left"


def rgb_frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, H, W, 3), dtype=np.uint8)


def key_actions(n: int) -> np.ndarray:
    actions = np.zeros((n, 3), np.float32)
    actions[1:, 0] = 1.15
    actions[1::3, 1] = -1.15
    return actions


def v4_file(
    folder: Path,
    name: str,
    n: int = 4,
    *,
    events: list[str] | None = None,
    actions: np.ndarray | None = None,
    instruction: str | None = None,
    extra_attrs: dict | None = None,
    seed: int = 0,
) -> tuple[Path, np.ndarray]:
    """A V4 file as the older collector wrote it: BGR images, gzip everywhere. Returns (path, RGB)."""
    rgb = rgb_frames(n, seed)
    path = folder / f"{name}.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=rgb[..., ::-1], compression="gzip")
        f.create_dataset("actions", data=key_actions(n) if actions is None else actions, compression="gzip")
        events = events if events is not None else ["episode_start"] + ["start_action"] * (n - 1)
        f.create_dataset("action_event_types", data=events, dtype=h5py.string_dtype(), compression="gzip")
        if instruction is not None:
            f.create_dataset("language_instruction", data=np.array([instruction.encode()], dtype="S256"))
        f.attrs.update(
            {
                "episode_name": name,
                "total_duration": 3.5,
                "num_frames": n,
                "action_chunk_size": 8,
                **(extra_attrs or {}),
            }
        )
    return path, rgb


def v5_file(folder: Path, name: str, n: int = 3, *, jpeg: bool = False) -> tuple[Path, np.ndarray]:
    """A V5 file: RGB `observations/images` (raw, or JPEG rows), root attrs, no event types."""
    import cv2

    rgb = rgb_frames(n, 1)
    if jpeg:
        rgb = np.repeat(np.repeat(rgb[:, ::4, ::4], 4, axis=1), 4, axis=2)  # flat blocks survive JPEG
    path = folder / f"{name}.h5"
    with h5py.File(path, "w") as f:
        obs = f.create_group("observations")
        if jpeg:
            rows = [
                np.frombuffer(
                    cv2.imencode(".jpg", im[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])[1], np.uint8
                )
                for im in rgb
            ]
            images = obs.create_dataset("images", (n,), dtype=h5py.vlen_dtype(np.uint8))
            for i, row in enumerate(rows):
                images[i] = row
            images.attrs.update({"format": "jpeg", "quality": 95})
        else:
            obs.create_dataset("images", data=rgb)
        f.create_dataset("actions", data=key_actions(n))
        f.create_dataset("language_instruction", data=np.array([INSTRUCTION.encode()], dtype="S256"))
        f.attrs.update(
            {"scenario": "2box_right", "pattern": "exception", "distance": "far", "end_pos": "cup"}
        )
    return path, rgb


def record(folder: Path, n: int = 3, scenario: str = "1box_left", **writer_kwargs) -> Path:
    """A finished episode written by `EpisodeWriter`."""
    meta = EpisodeMeta(scenario=scenario, pattern="core", distance="medium", robot="fake", camera="test")
    with EpisodeWriter(folder, meta, **writer_kwargs) as writer:
        for image, action in zip(rgb_frames(n), key_actions(n), strict=True):
            writer.append(image, action, "start_action" if len(writer) else "episode_start")
        return writer.finish()
