"""LeRobot v3 export: throughput (episodes/s, MB/s of episode files), dataset size against the HDF5
source, and peak RSS of the exporting process for two folder sizes, to show memory does not grow with
the number of episodes. Each export runs in a fresh process so its peak RSS is its own.

    python benchmarks/bench_lerobot_export.py /tmp/sim200 --counts 20 100 200

DIR is a folder of episodes (e.g. `mvla sim collect --episodes 200 --out DIR --size 1280x720`); the
first N files are linked into a scratch folder for each count. Prints one line per count.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, resource, sys, time
from pathlib import Path
from recorder.interop.lerobot_export import export_lerobot
t = time.perf_counter()
r = export_lerobot(Path(sys.argv[1]), Path(sys.argv[2]))
dt = time.perf_counter() - t
peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"episodes": r.episodes, "frames": r.frames, "seconds": dt, "source_mb": r.source_bytes / 1e6,
                  "dataset_mb": r.dataset_bytes / 1e6, "peak_rss_mb": peak_mb}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--counts", type=int, nargs="+", default=[20, 100])
    args = parser.parse_args()
    files = sorted(args.data.glob("*.h5"))
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for count in args.counts:
        with tempfile.TemporaryDirectory(prefix="mvla-bench-lerobot-") as scratch:
            src = Path(scratch) / "episodes"
            src.mkdir()
            for f in files[:count]:
                os.symlink(f.resolve(), src / f.name)
            done = subprocess.run(
                [sys.executable, "-c", _CHILD, str(src), str(Path(scratch) / "lerobot")],
                capture_output=True,
                text=True,
                env=env,
                check=True,
            )
            r = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"{r['episodes']:4d} episodes {r['frames']:5d} frames: {r['episodes'] / r['seconds']:.2f} episodes/s, "
            f"{r['source_mb'] / r['seconds']:.1f} MB/s of HDF5; dataset {r['dataset_mb']:.1f} MB from "
            f"{r['source_mb']:.1f} MB ({100 * r['dataset_mb'] / r['source_mb']:.1f}%); peak RSS {r['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
