"""Benchmark of the MuJoCo sim (not a test: it prints numbers, it asserts nothing).

1. Rendered frames/s of the robot camera at 1280x720 and 224x224 (headless, `MUJOCO_GL`, default
   egl), with the robot moving between frames as it does in an episode.
2. Physics-only speed: simulated seconds per wall second.
3. `sim collect` throughput: episodes/minute for the whole path (expert, physics, rendering, the
   recorder's compressed V4 file) at 224x224 and 1280x720, written to a temporary folder.

    python benchmarks/bench_sim.py [--frames 60] [--episodes 8] [--dir DIR] [--set sim.multisamples=4]

Episodes are collected exactly as `mvla sim collect` does: the scripted expert presses keys through the
control loop on the simulated clock and the recording session writes them.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path

from mvla_tui.commands._options import add_set_option
from mvla_tui.core.sim_episode import plan_episodes, run_sim_episode
from mvla_tui.robot.config import RobotConfig, load_robot_config
from mvla_tui.robot.link import Twist
from mvla_tui.sim.link import SimLink
from recorder.catalogue import load_catalogue

SIZES = [(1280, 720), (224, 224)]


def sized(config: RobotConfig, width: int, height: int, **sim) -> RobotConfig:
    return dataclasses.replace(
        config, sim=dataclasses.replace(config.sim, camera_width=width, camera_height=height, **sim)
    )


def bench_render(config, width: int, height: int, frames: int) -> float:
    link = SimLink(sized(config, width, height, scenario="2box_left"))
    link.connect()
    link.latest_frame()  # creates the GL context outside the timing
    link.send(Twist(0.0, 0.0, 0.575))
    start = time.perf_counter()
    for _ in range(frames):
        link.advance(0.02)
        link.latest_frame()
    elapsed = time.perf_counter() - start
    link.close()
    return frames / elapsed


def bench_physics(config, seconds: float = 20.0) -> float:
    link = SimLink(sized(config, 32, 32, distance="far"))
    link.connect()
    link.send(Twist(0.0, 0.0, 0.575))
    start = time.perf_counter()
    link.advance(seconds)
    elapsed = time.perf_counter() - start
    link.close()
    return seconds / elapsed


def bench_collect(config, width: int, height: int, episodes: int, folder: Path) -> tuple[float, float]:
    out = folder / f"collect_{width}x{height}"
    out.mkdir(parents=True)
    specs = plan_episodes(episodes, seed=123)
    catalogue = load_catalogue()
    start = time.perf_counter()
    saved = [run_sim_episode(sized(config, width, height), s, catalogue, data_dir=out).saved for s in specs]
    elapsed = time.perf_counter() - start
    return 60.0 * sum(p is not None for p in saved) / elapsed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60, help="frames rendered per size")
    parser.add_argument("--episodes", type=int, default=8, help="episodes collected per size")
    parser.add_argument("--dir", type=Path, help="where to write the episodes (default: a temporary folder)")
    add_set_option(parser, "the sim robot config", "--set sim.multisamples=4")
    args = parser.parse_args()
    config = load_robot_config("sim", args.overrides)
    print(
        f"MUJOCO_GL={os.environ.get('MUJOCO_GL')}, {os.cpu_count()} CPUs, "
        f"shadows={config.sim.shadows}, multisamples={config.sim.multisamples}"
    )
    for width, height in SIZES:
        print(f"render {width}x{height}: {bench_render(config, width, height, args.frames):.1f} frames/s")
    print(f"physics only: {bench_physics(config):.0f}x real time")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for width, height in reversed(SIZES):
            rate, elapsed = bench_collect(config, width, height, args.episodes, Path(tmp))
            print(
                f"sim collect {width}x{height}: {rate:.1f} episodes/min "
                f"({args.episodes} episodes in {elapsed:.1f} s, written and compressed)"
            )


if __name__ == "__main__":
    main()
