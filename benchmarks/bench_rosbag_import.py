"""Benchmark of `mvla dataset import --format rosbag` (not a test: it prints numbers, it asserts nothing).

Builds a rosbag2 with rosbags' own writer: a camera (`sensor_msgs/Image` bgr8, default 30 Hz 1280x720)
and `/cmd_vel` at 10 Hz for `--minutes` (default 5): a new key every second, held (re-sent at 10 Hz),
episodes of 60 s with 12 s at rest between them (no commands: a gap), then imports it into episodes and
prints the import time and its throughput in MB of bag per second. The images cycle through 16 noisy
frames (generating 9000 distinct ones would take longer than the import); the importer decodes only
the images that become frames, so their content does not change the figure. The bag is large
(30 Hz 1280x720 for 5 min is about 25 GB): pass a smaller `--size` on a small disk.

    python benchmarks/bench_rosbag_import.py [--minutes 5] [--fps 30] [--size 1280x720] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from configs.limits import throttled
from recorder.catalogue import MOVE_KEYS, key_action
from recorder.interop.rosbag_import import ImportOptions, import_bag

S = 1_000_000_000


def build(path: Path, minutes: float, fps: int, width: int, height: int) -> int:
    ts = get_typestore(Stores.ROS2_HUMBLE)
    t = ts.types
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (height, width, 3), dtype=np.uint8).reshape(-1) for _ in range(16)]
    t0 = 1_762_950_000 * S
    with Writer(path, version=8) as writer:
        cam = writer.add_connection("/camera/image_raw", "sensor_msgs/msg/Image", typestore=ts)
        cmd = writer.add_connection("/cmd_vel", "geometry_msgs/msg/Twist", typestore=ts)
        header = t["std_msgs/msg/Header"](
            stamp=t["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="c"
        )
        images = [
            ts.serialize_cdr(
                t["sensor_msgs/msg/Image"](
                    header=header,
                    height=height,
                    width=width,
                    encoding="bgr8",
                    is_bigendian=0,
                    step=width * 3,
                    data=f,
                ),
                "sensor_msgs/msg/Image",
            )
            for f in frames
        ]
        end = round(minutes * 60 * S)
        events: list[tuple[int, int, bytes]] = [
            (k * S // fps, 0, images[k % 16]) for k in range(end * fps // S)
        ]
        vec = t["geometry_msgs/msg/Vector3"]
        for k in range(
            (end - S) * 10 // S
        ):  # 10 Hz, from 1 s in (the first episode needs an image before it)
            second = (k / 10) % 72.0
            if second >= 60:
                continue  # the rest between two episodes
            key = MOVE_KEYS[int(second) % len(MOVE_KEYS)]
            v = [float(x) for x in throttled(key_action(key), 50)]
            msg = t["geometry_msgs/msg/Twist"](
                linear=vec(x=v[0], y=v[1], z=0.0), angular=vec(x=0.0, y=0.0, z=v[2])
            )
            events.append((S + k * S // 10, 1, ts.serialize_cdr(msg, "geometry_msgs/msg/Twist")))
        for at, which, raw in sorted(events, key=lambda e: (e[0], e[1])):
            writer.write(cmd if which else cam, t0 + at, raw)
    return sum(f.stat().st_size for f in path.iterdir())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--size", default="1280x720", help="WIDTHxHEIGHT of the camera (default 1280x720)")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to build the bag (default: a temp folder)"
    )
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    root = Path(tempfile.mkdtemp(dir=args.dir))
    try:
        start = time.perf_counter()
        size = build(root / "bag", args.minutes, args.fps, width, height)
        print(
            f"bag: {args.minutes:g} min, {args.fps} Hz {width}x{height} bgr8 + 10 Hz /cmd_vel: "
            f"{size / 1e6:.0f} MB, built in {time.perf_counter() - start:.1f} s"
        )
        start = time.perf_counter()
        report = import_bag(
            root / "bag",
            root / "out",
            ImportOptions("/camera/image_raw", "/cmd_vel", scenario="1box_left", distance="medium"),
        )
        took = time.perf_counter() - start
        print(
            f"import: {took:.1f} s, {size / 1e6 / took:.0f} MB/s, {report.images / took:.0f} images/s; "
            f"{len(report.episodes)} episode(s), {report.frames} frame(s) from {report.images} image(s) "
            f"and {report.commands} command(s)"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
