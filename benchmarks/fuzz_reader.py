"""Fuzz the episode reader with mutated files (not a test: it prints what it found).

A small valid V4 episode (written by the recorder's own writer, gzip-compressed as the robot's files
are) is mutated many times, seeded: random bytes flipped, runs of bytes overwritten with 0x00 / 0xFF /
random values, the file truncated or a block duplicated. Each mutant is read in a child process
(`recorder.isolated.IsolatedReader`, a timeout per file) by `read_episode` in-process semantics and by
`recorder.check.inspect_file`, and its outcome is classified:

- `ok`: read cleanly; `refused`: the reader's own one-line `EpisodeFileError` (or a named problem of
  `check`), which is what a damaged file should give;
- `uncaught`: an exception the reader did not turn into its error (a reader bug);
- `crash`: the process died (a signal inside the HDF5 library, an abort);
- `hang`: no answer within the timeout (a loop inside the library).

    python benchmarks/fuzz_reader.py [--mutants 400] [--seed 0] [--timeout 5] [--keep DIR]

With `--keep DIR` the mutants that crashed, hung or raised uncaught errors are copied there with their
seed in the name, to reproduce them. Exit status 0 always: it reports, the caller judges.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

CHILD = r"""
import sys, json
from pathlib import Path
from recorder.reader import read_episode
from recorder.errors import EpisodeFileError
from recorder.check import inspect_file
path = Path(sys.argv[1])
out = {}
try:
    read_episode(path)
    out["read"] = "ok"
except EpisodeFileError as exc:
    out["read"] = "refused"
except BaseException as exc:
    out["read"] = "uncaught " + type(exc).__name__ + ": " + str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
try:
    report = inspect_file(path)
    out["check"] = "ok" if report.ok else "refused"
except BaseException as exc:
    out["check"] = "uncaught " + type(exc).__name__ + ": " + (str(exc).splitlines()[0][:120] if str(exc) else "")
print(json.dumps(out))
"""


def make_episode(folder: Path) -> Path:
    from recorder.episode import EpisodeMeta
    from recorder.writer import EpisodeWriter

    rng = np.random.default_rng(0)
    meta = EpisodeMeta(
        scenario="1box_left", pattern="core", distance="medium", instruction="go left", robot="sim"
    )
    with EpisodeWriter(folder, meta) as writer:
        for i in range(6):
            action = np.zeros(3, np.float32) if i == 0 else np.array([1.15, 0, 0], np.float32)
            writer.append(
                rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
                action,
                "episode_start" if i == 0 else "start_action",
            )
        return writer.finish()


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    kind = rng.integers(5)
    if kind == 0:  # flip a few random bytes
        for _ in range(int(rng.integers(1, 8))):
            b[int(rng.integers(len(b)))] ^= int(rng.integers(1, 256))
    elif kind == 1:  # overwrite a run with one value
        start, length = int(rng.integers(len(b))), int(rng.integers(1, 64))
        value = int(rng.choice([0x00, 0xFF, int(rng.integers(256))]))
        b[start : start + length] = bytes([value]) * len(b[start : start + length])
    elif kind == 2:  # random bytes in the first 4 KiB (superblock, object headers, B-trees)
        for _ in range(int(rng.integers(1, 16))):
            b[int(rng.integers(min(4096, len(b))))] = int(rng.integers(256))
    elif kind == 3:  # truncate
        b = b[: int(rng.integers(64, len(b)))]
    else:  # duplicate a block over another place
        size = int(rng.integers(8, 512))
        src, dst = int(rng.integers(len(b) - size)), int(rng.integers(len(b) - size))
        b[dst : dst + size] = b[src : src + size]
    return bytes(b)


def run_child(path: Path, timeout: float) -> str:
    import json

    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "hang"
    if out.returncode < 0:
        return f"crash (signal {-out.returncode})"
    if out.returncode != 0 or not out.stdout.strip():
        tail = (out.stderr.strip().splitlines() or [""])[-1][:120]
        return f"crash (exit {out.returncode}: {tail})"
    result = json.loads(out.stdout.strip().splitlines()[-1])
    worst = [v for v in result.values() if v.startswith("uncaught")]
    return worst[0] if worst else ("refused" if "refused" in result.values() else "ok")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=5.0)
    parser.add_argument("--keep", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mvla-fuzz-") as tmp:
        original = make_episode(Path(tmp))
        data = original.read_bytes()
        counts: Counter[str] = Counter()
        examples: dict[str, int] = {}
        started = time.perf_counter()
        for i in range(args.mutants):
            rng = np.random.default_rng([args.seed, i])
            mutant = Path(tmp) / f"mutant_{i}.h5"
            mutant.write_bytes(mutate(data, rng))
            outcome = run_child(mutant, args.timeout)
            kind = outcome.split(":")[0] if outcome.startswith("uncaught") else outcome.split(" (")[0]
            counts[kind] += 1
            examples.setdefault(outcome, i)
            if args.keep is not None and kind not in ("ok", "refused"):
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(mutant, args.keep / f"mutant_seed{args.seed}_{i}_{kind.replace(' ', '_')}.h5")
            mutant.unlink()
        elapsed = time.perf_counter() - started
    print(f"{args.mutants} mutants of a {len(data)}-byte V4 episode in {elapsed:.0f} s (seed {args.seed}):")
    for kind, n in counts.most_common():
        print(f"  {kind:<40} {n}")
    print("first mutant of each outcome (mutant number: outcome):")
    for outcome, i in sorted(examples.items(), key=lambda kv: kv[1]):
        print(f"  {i}: {outcome}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
