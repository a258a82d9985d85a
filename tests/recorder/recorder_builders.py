"""Small episode files of every layout and damage class, built with plain h5py as the older
collectors wrote them (DATA_FORMAT.md), for the recorder tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from recorder.episode import EpisodeMeta
from recorder.intervention import NO_PROPOSAL, FrameAnnotation, FrameSource
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


# Who drove each frame of `intervention_record`: the policy, a takeover of two operator steps (the second
# a stop), the hand-back, then the policy again.
INTERVENTION_SOURCES: tuple[FrameSource, ...] = (
    "operator",
    "policy",
    "policy",
    "operator",
    "operator",
    "policy",
    "policy",
)
INTERVENTION_EVENTS = ("episode_start", "start_action", "start_action", "start_action", "stop_action")
INTERVENTION_EVENTS += ("start_action", "start_action")


def intervention_annotations() -> list[FrameAnnotation]:
    out = []
    for i, source in enumerate(INTERVENTION_SOURCES):
        proposed = (0.1 * i, -0.2, 0.0) if source == "policy" else NO_PROPOSAL
        out.append(FrameAnnotation(source, proposed, "go left" if i < 5 else "go right"))
    return out


def intervention_record(folder: Path, writer: EpisodeWriter | None = None, finish: bool = True) -> Path:
    """An intervention episode of 7 frames (`INTERVENTION_SOURCES`) at 0.5 s intervals; with `finish`
    False the writer is only detached (a session that ended mid-episode: a journal to recover)."""
    meta = EpisodeMeta(scenario="1box_left", pattern="core", distance="medium", robot="fake", camera="test")
    writer = writer or EpisodeWriter(folder, meta)
    with writer:
        frames, actions = rgb_frames(7), key_actions(7)
        actions[4] = 0.0  # the stop
        for i, annotation in enumerate(intervention_annotations()):
            writer.append(frames[i], actions[i], INTERVENTION_EVENTS[i], 0.5 * i, annotation)
        return writer.finish("success") if finish else writer.detach()


# Read in a child process, h5py raises SIGSEGV on opening a file named crash*: a stand-in for the damaged
# files that crash the HDF5 library (benchmarks/fuzz_reader.py found some). The test process itself never
# loads it, so an in-process read of that file succeeds and the test can tell where the file was read.
_CRASHING_H5PY = """\
import os, signal
import h5py
_File = h5py.File
class File(_File):
    def __init__(self, name, *args, **kwargs):
        if os.path.basename(str(name)).startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        super().__init__(name, *args, **kwargs)
h5py.File = File
"""


def damaged_folder(folder: Path, monkeypatch) -> dict[str, Path]:
    """A data folder with one sound V4 episode and three damaged files: a Git LFS pointer, a truncated
    copy and a copy that crashes the HDF5 library when a child process (`recorder.isolated`) reads it
    (`_CRASHING_H5PY`, through a `sitecustomize` on the children's PYTHONPATH). Keys: good, lfs,
    truncated, crash."""
    site = folder.parent / f"{folder.name}-site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(_CRASHING_H5PY, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(site))
    folder.mkdir(parents=True, exist_ok=True)
    good, _ = v4_file(folder, "episode_20251030_132725_1box_vert_left_core_close", n=3)
    lfs = folder / "episode_20251030_132726_1box_vert_left_core_far.h5"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
    truncated = folder / "episode_20251030_132727_1box_vert_left_core_medium.h5"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    crash = folder / "crash_20251030_132728_1box_vert_left_core_far.h5"
    crash.write_bytes(good.read_bytes())
    return {"good": good, "lfs": lfs, "truncated": truncated, "crash": crash}
