"""LeRobot itself reads what `mvla dataset export --format lerobot` writes.

Three simulator episodes are exported with the command line, then loaded by LeRobot 0.4.4's own
`LeRobotDataset` in a separate venv (tests/interop/make_lerobot_venv.py, cached under ~/.cache/mvla/),
offline, in a child process (tests/interop/lerobot_checker.py) that fetches every frame as a training loop
does and reports what it read. Here that report is compared with the source episode files: frame count,
fps, episode boundaries (LeRobot's episode table and each frame's episode and frame index), tasks (the
episodes' instructions), actions bit-exact, and the images LeRobot decoded from the mp4 files (through its
torchcodec backend, at the timestamps its metadata gives) within MIN_PSNR_DB of the recorded frames, each
frame closest to its own source frame. Marked `interop` and `slow`; skips, saying why, when the venv cannot
be built (no registry, too little disk, no FFmpeg libraries for torchcodec).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.cli_helpers import mvla
from tests.interop.make_lerobot_venv import VenvUnavailable, ensure_venv, venv_python

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.timeout(3000)]

CHECKER = Path(__file__).with_name("lerobot_checker.py")
REPO_ID = "mvla/interop-check"
FPS = 3  # not the export's default (2), so that LeRobot's fps is seen to come from the dataset
# H.264 at the export's default crf 23, yuv420p, 320x240 simulator frames: measured 37.8-44.5 dB per frame
# (an off-by-one seek measured 13.5 dB).
MIN_PSNR_DB = 33.0


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_lerobot_0_4_4_loads_the_export_as_recorded(tmp_path: Path) -> None:
    pytest.importorskip("mujoco")
    from recorder.reader import read_episode

    try:
        venv = ensure_venv()
    except VenvUnavailable as why:
        print(f"interop: skipped: {why}")
        pytest.skip(f"LeRobot 0.4.4 venv unavailable: {why}")

    episodes_dir, out = tmp_path / "episodes", tmp_path / "lerobot"
    collect = [
        sys.executable,
        "-m",
        "mvla_tui",
        "sim",
        "collect",
        "--episodes",
        "3",
        "--out",
        str(episodes_dir),
    ]
    done = subprocess.run(
        [*collect, "--size", "320x240", "--seed", "1"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    exported = mvla(
        "dataset", "export", "--format", "lerobot", str(episodes_dir), "--out", str(out),
        "--fps", str(FPS), "--repo-id", REPO_ID,
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr

    images_path = tmp_path / "decoded.npy"
    done = subprocess.run(
        [str(venv_python(venv)), str(CHECKER), str(out), REPO_ID, str(images_path)],
        capture_output=True,
        text=True,
        timeout=600,
        # The venv's own Python and packages only: nothing of this project's path or venv leaks in.
        env={
            **{k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")},
            "HF_HUB_OFFLINE": "1",
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    decoded = np.load(images_path)

    sources = {path.name: read_episode(path) for path in sorted(episodes_dir.glob("*.h5"))}
    assert len(sources) == 3
    order = [e["source_episode"] for e in report["episodes"]]
    assert sorted(order) == sorted(sources)
    source = [sources[name] for name in order]
    lengths = [len(ep) for ep in source]
    total = sum(lengths)
    bounds = np.cumsum([0, *lengths])

    assert report["video_backend"] == "torchcodec"
    assert report["fps"] == FPS
    assert report["num_episodes"] == 3 and report["num_frames"] == report["len"] == total
    frames = report["frames"]
    assert frames["index"] == list(range(total))
    for e, (episode, meta) in enumerate(zip(source, report["episodes"], strict=True)):
        assert (meta["episode_index"], meta["from"], meta["to"]) == (e, bounds[e], bounds[e + 1])
        rows = slice(bounds[e], bounds[e + 1])
        assert frames["episode_index"][rows] == [e] * len(episode)
        assert frames["frame_index"][rows] == list(range(len(episode)))
        np.testing.assert_allclose(frames["timestamp"][rows], np.arange(len(episode)) / FPS, atol=1e-6)
        instruction = episode.meta.instruction
        assert instruction and meta["tasks"] == [instruction]
        assert frames["task"][rows] == [instruction] * len(episode)
        assert meta["to_timestamp"] - meta["from_timestamp"] == pytest.approx(len(episode) / FPS)
    assert sorted(report["tasks"]) == sorted({str(ep.meta.instruction) for ep in source})

    actions = np.asarray(report["actions"], np.float32)
    assert (
        actions.tobytes() == np.concatenate([np.asarray(ep.actions, np.float32) for ep in source]).tobytes()
    )

    recorded = np.concatenate([ep.images for ep in source])
    assert decoded.shape == recorded.shape == (total, 240, 320, 3)
    per_frame = [psnr(decoded[i], recorded[i]) for i in range(total)]
    assert min(per_frame) >= MIN_PSNR_DB, per_frame
    # Each decoded frame is its own source frame, not a neighbour (an off-by-one seek would still look
    # like the scene): closer to it than to any other frame of its episode that differs from it.
    for e in range(len(source)):
        for i in range(bounds[e], bounds[e + 1]):
            others = [
                j for j in range(bounds[e], bounds[e + 1]) if j != i and psnr(recorded[j], recorded[i]) < 60
            ]
            assert all(psnr(decoded[i], recorded[j]) < per_frame[i] for j in others), (i, e)
    print(
        f"interop: LeRobot {report['versions']['lerobot']} (torch {report['versions']['torch']}, torchcodec "
        f"{report['versions']['torchcodec']}, backend {report['video_backend']}) read {total} frames of 3 "
        f"episodes at {FPS} fps as recorded; actions bit-exact; decoded images {min(per_frame):.1f}-"
        f"{max(per_frame):.1f} dB PSNR (bound {MIN_PSNR_DB} dB)"
    )
