"""Peak memory of the training loader on a 2,000-episode folder (not a test: it prints figures).

The folder is made of hard links to existing episode files (`--source`, e.g. what `mvla sim collect`
wrote), renamed so that every link is its own episode, so it costs no disk. The trainer's index is
built over it (every file checked in the child process, `trainer.index`), then one epoch of the
training loader runs exactly as `mvla train` does (`trainer.data`: the epoch schedule, the dataset with
augmentation, `--workers` loader processes, and the policy's own preprocessing in the collate), without
the model step. The peak RSS of the training process and of the whole process tree (training process +
index child + loader workers; shared pages counted in each, so an upper bound) is sampled after every
batch, and compared with what the episodes would take decompressed in RAM.

    python benchmarks/bench_loader_memory.py --source /data/sim [--episodes 2000] [--workers 2]
        [--batches N]   (stop after N batches; default: the whole epoch)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
import time
from pathlib import Path

import psutil


def _tree_rss(process: psutil.Process) -> int:
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that just exited
            total += child.memory_info().rss
    return total


def make_folder(sources: list[Path], target: Path, episodes: int) -> list[Path]:
    files = sorted(p for d in sources for p in d.glob("*.h5"))
    if not files:
        raise SystemExit(f"no episode files in {', '.join(map(str, sources))}")
    from datetime import datetime, timedelta

    made = []
    for i in range(episodes):
        src = files[i % len(files)]
        # A fresh timestamp per link keeps the name pattern (and its scenario) valid and unique.
        stamp = (datetime(2027, 1, 1) + timedelta(seconds=i)).strftime("%Y%m%d_%H%M%S")
        tail = src.stem.split("_", 3)[3]  # episode_YYYYmmdd_HHMMSS_<scenario...>
        link = target / f"episode_{stamp}_{tail}.h5"
        os.link(src, link)
        made.append(link)
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, nargs="+", required=True)
    parser.add_argument("--episodes", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--per-batch", type=int, default=8)
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to make the folder (default: a temp dir)"
    )
    args = parser.parse_args()

    import numpy as np
    import torch

    from configs import config_path
    from policies import registry
    from policies.batch import collate
    from recorder.catalogue import load_catalogue
    from trainer.config import AugmentConfig
    from trainer.data import EpisodeDataset, EpochSchedule, Position, normalisation_from
    from trainer.index import build_index
    from trainer.loop import _batches

    torch.set_num_threads(1)
    me = psutil.Process()
    with tempfile.TemporaryDirectory(prefix="mvla-mem-", dir=args.dir) as tmp:
        folder = Path(tmp) / "episodes"
        folder.mkdir()
        links = make_folder(args.source, folder, args.episodes)
        start = time.perf_counter()
        peak_tree = peak_self = _tree_rss(me)
        index = build_index([folder], load_catalogue(), timeout_s=120, on_file=None)
        indexed = time.perf_counter() - start
        after_index = me.memory_info().rss
        records = index.episodes
        name, config = registry.load_config(config_path("policy/compact.yaml"))
        policy = registry.build_policy(name, config)
        norm = normalisation_from(records, "data", 3)
        augment = AugmentConfig(color_jitter=0.15, crop=0.04, mirror=0.5)
        dataset = EpisodeDataset(records, norm, augment, seed=0)
        schedule = EpochSchedule(len(records), args.per_batch, seed=0)
        total = args.batches or schedule.batches_per_epoch()
        frames = raw = 0
        start = time.perf_counter()
        for i, (_, episodes) in enumerate(_batches(schedule, dataset, Position(0, 0), args.workers, 0)):
            batch = collate(episodes, policy.preprocess, policy.window, policy.horizon)
            frames += batch.num_frames
            raw += sum(e.frames.nbytes for e in episodes)
            peak_self = max(peak_self, me.memory_info().rss)
            peak_tree = max(peak_tree, _tree_rss(me))
            if i + 1 >= total:
                break
        loaded = time.perf_counter() - start
        stats = [os.stat(link) for link in links]
        sizes = list({(s.st_dev, s.st_ino): s.st_size for s in stats}.values())  # hard links: one file
        mean_frames = float(np.mean([r.steps for r in records]))
        shape = episodes[0].frames.shape[1:]
        decompressed = len(records) * mean_frames * int(np.prod(shape))
    mib = 2**20
    print(
        f"{len(links)} episode files ({len(sizes)} distinct, {sum(sizes) / mib:.0f} MiB on disk as links), "
        f"{len(records)} indexed, {len(index.skipped)} skipped; frames {shape[1]}x{shape[0]}"
    )
    print(
        f"index (every file checked in a child process): {indexed:.0f} s, RSS after it {after_index / mib:.0f} MiB"
    )
    print(
        f"loader: {i + 1} batches of {args.per_batch} episodes ({frames} step frames, {raw / mib:.0f} MiB of "
        f"decoded frames) in {loaded:.0f} s with {args.workers} workers"
    )
    print(
        f"all {len(records)} episodes decompressed would take {decompressed / 2**30:.1f} GiB; peak RSS of the "
        f"training process {peak_self / mib:.0f} MiB, of the whole process tree {peak_tree / mib:.0f} MiB"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
