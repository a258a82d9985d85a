"""Benchmark of the episode recorder (not a test: it prints numbers, it asserts nothing).

1. Stop-to-durable for an 18-frame 1280x720 episode: time from the last frame ("stop") until the
   file is on disk under its final name, for `EpisodeWriter` (frames appended as they come, paced
   like key presses, journalled and compressed in the background; finish() = build + fsync + rename)
   and for the older way (frames stacked in RAM, then one gzip HDF5 write at the end, no fsync).
2. Sustained append rate at 1280x720 (frames offered at 30/s, and as fast as possible): frames/s
   until all are in the journal, what `append` costs the caller (it must not wait on compression),
   and how many frames went uncompressed because the CPU fell behind; plus the deflate cost of one
   frame on one core, which says what a machine with more free cores sustains compressed.

Images look like a camera's: smooth shading, objects with edges and sensor noise, moving a little
between frames; all-zero arrays would compress absurdly well and flatter every number.

    python benchmarks/bench_recorder.py [--runs 5] [--dir DIR]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np

from recorder import journal
from recorder.episode import EpisodeMeta
from recorder.writer import EpisodeWriter

H, W, FRAMES = 720, 1280, 18
META = EpisodeMeta(scenario="1box_left", pattern="core", distance="medium", robot="bench", camera="synthetic")


def camera_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    """`n` RGB frames of a synthetic scene: gradient floor and walls, boxes, noise, slow pan."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:H, 0 : W + 4 * n].astype(np.float32)
    scene = np.stack([60 + 120 * x / x.max(), 70 + 110 * y / H, 90 + 60 * (x + y) / (x.max() + H)], axis=-1)
    for _ in range(40):
        x0, y0 = rng.integers(0, scene.shape[1] - 200), rng.integers(0, H - 150)
        scene[y0 : y0 + rng.integers(20, 150), x0 : x0 + rng.integers(20, 200)] = rng.integers(0, 255, 3)
    frames = []
    for i in range(n):
        view = scene[:, 4 * i : 4 * i + W]
        frames.append(np.clip(view + rng.normal(0, 2.0, view.shape), 0, 255).astype(np.uint8))
    return frames


def actions_events(n: int) -> tuple[np.ndarray, list[str]]:
    actions = np.zeros((n, 3), np.float32)
    actions[1:, 0] = 1.15
    return actions, ["episode_start"] + ["start_action"] * (n - 1)


def ours_stop_to_durable(folder: Path, frames: list[np.ndarray], pace_s: float) -> tuple[float, int]:
    actions, events = actions_events(len(frames))
    with EpisodeWriter(folder, META) as writer:
        for image, action, event in zip(frames, actions, events, strict=True):
            writer.append(image, action, event)
            time.sleep(pace_s)
        stop = time.perf_counter()
        path = writer.finish()
        elapsed = time.perf_counter() - stop
    size = path.stat().st_size
    path.unlink()
    return elapsed, size


def older_way_stop_to_durable(folder: Path, frames: list[np.ndarray]) -> tuple[float, int]:
    actions, events = actions_events(len(frames))
    buffered = [f[:, :, ::-1].copy() for f in frames]  # the older collector kept BGR frames in a list
    stop = time.perf_counter()
    path = folder / "older.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=np.stack(buffered), compression="gzip")
        f.create_dataset("actions", data=actions, compression="gzip")
        f.create_dataset("action_event_types", data=events, dtype=h5py.string_dtype(), compression="gzip")
    elapsed = time.perf_counter() - stop
    size = path.stat().st_size
    path.unlink()
    return elapsed, size


def sustained(folder: Path, frames: list[np.ndarray], total: int, fps: float | None) -> dict:
    """Append `total` frames at `fps` (None: as fast as the caller can); the rate counts until every
    frame is in the journal, and `append` times are what the caller's loop pays."""
    actions, events = actions_events(total)
    times = []
    with EpisodeWriter(folder, META) as writer:
        start = next_at = time.perf_counter()
        for i in range(total):
            if fps is not None:
                time.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += 1 / fps
            t = time.perf_counter()
            writer.append(frames[i % len(frames)], actions[i], events[i])
            times.append((time.perf_counter() - t) * 1000)
        last = time.perf_counter()
        writer._drain()  # until the journal holds every frame (finish() would add the file build)
        elapsed = time.perf_counter() - start
        lag = time.perf_counter() - last
        raw = writer.raw_frames
        writer.abort()
    times.sort()
    return {
        "rate": total / elapsed,
        "p50": times[len(times) // 2],
        "p99": times[int(len(times) * 0.99)],
        "max": times[-1],
        "raw": raw,
        "lag_ms": lag * 1000,
    }


def deflate_ms(frames: list[np.ndarray], level: int) -> float:
    """Median time to deflate one frame on one core: the pipeline's capacity is workers / this."""
    times = []
    for image in frames[:6]:
        start = time.perf_counter()
        journal.compress_frame(image, level)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pace", type=float, default=0.1, help="s between frames of the 18-frame episode")
    parser.add_argument(
        "--dir", type=Path, default=None, help="folder on the disk to measure (default: a temp dir)"
    )
    args = parser.parse_args()
    frames = camera_frames(FRAMES)
    print(
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} at start (other work skews every figure)"
    )
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        ours = [ours_stop_to_durable(folder, frames, args.pace) for _ in range(args.runs)]
        burst = [ours_stop_to_durable(folder, frames, 0.0) for _ in range(args.runs)]
        older = [older_way_stop_to_durable(folder, frames) for _ in range(args.runs)]
        ours_s, older_s = statistics.median(t for t, _ in ours), statistics.median(t for t, _ in older)
        burst_s = statistics.median(t for t, _ in burst)
        print(f"episode: {FRAMES} frames {W}x{H}, camera-like images, median of {args.runs} runs")
        print(
            f"  EpisodeWriter, frames every {args.pace:.2f} s: stop-to-durable {ours_s * 1000:7.1f} ms  "
            f"(file {ours[0][1] / 1e6:.1f} MB, fsynced)"
        )
        print(
            f"  EpisodeWriter, all frames at once:    stop-to-durable {burst_s * 1000:7.1f} ms  "
            "(compression backlog included)"
        )
        print(
            f"  older way (stack in RAM, gzip at end): stop-to-durable {older_s * 1000:7.1f} ms  "
            f"(file {older[0][1] / 1e6:.1f} MB, not even fsynced)"
        )
        print(f"  ratio older / ours: {older_s / ours_s:5.1f}x   (goal: ours < 200 ms, ratio >= 10x)")
        for level in (1, 3):
            ms = deflate_ms(frames, level)
            print(
                f"deflate one {W}x{H} frame, ISA-L level {level}: {ms:5.1f} ms on one core "
                f"-> {1000 / ms:5.1f} frames/s per free core"
            )
        for fps in (30.0, None):
            r = sustained(folder, frames, 150, fps)
            if fps:
                head = f"150 frames {W}x{H} offered at {fps:.0f}/s: the last one in the journal {r['lag_ms']:.0f} ms after"
            else:
                head = f"150 frames {W}x{H} as fast as possible: {r['rate']:5.1f} frames/s into the journal"
            print(
                f"{head}; append() median {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms; "
                f"{r['raw']} stored uncompressed as the CPU fell behind"
            )
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
