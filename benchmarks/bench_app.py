"""Benchmark of the terminal app (not a test: it prints numbers, it asserts nothing). Headless Textual,
the same app and session as `mvla`; the machine's load weighs on every figure, so compare within a run.

1. Start-up: from launching `python -m mvla_tui --robot fake|sim` (headless) to the dashboard showing
   the first state (interactive), over several runs. Goal: under 1.5 s.
2. Key press -> Twist sent through the app: from the key event reaching the app to the fake link
   receiving the command, for many presses. Goal: p99 under 20 ms.
3. The longest UI-thread stall (a 10 ms timer's worst lateness) while a compact policy (untrained
   weights: timing only) drives closed loop in the real-time sim with the camera shown, and while an
   18-frame 1280x720 episode is saved; and with the app idle, measured the same way in the same run: on
   a loaded machine the baseline shows how much of a stall is the machine's. Goal: under 50 ms.

    python benchmarks/bench_app.py [--runs 5] [--keys 200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

READY_CHILD = """
import sys, time
from mvla_tui.commands import _launch as launch

class Ready(Exception):
    pass

def auto_pilot(robot):
    async def pilot(p):
        app = p.app
        while app.state is None or not app.state.robot.running:
            await p.pause(0.005)
        print(f"READY {time.monotonic():.6f}", flush=True)
        app.exit()
    return pilot

import mvla_tui.app as appmod
orig_run = appmod.MvlaApp.run
def run(self, *a, **k):
    return orig_run(self, headless=True, auto_pilot=auto_pilot(sys.argv[1]))
appmod.MvlaApp.run = run
import sys as _s
_s.stdout.isatty = lambda: True
from mvla_tui.cli import main
main(["--robot", sys.argv[1], "--no-camera"])
"""


def startup(robot: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.monotonic()
        out = subprocess.run(
            [sys.executable, "-c", READY_CHILD, robot], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        ready = [line for line in out.stdout.splitlines() if line.startswith("READY")]
        if not ready:
            raise SystemExit(f"start-up run failed: {out.stderr[-2000:]}")
        times.append(float(ready[0].split()[1]) - start)
    return times


def make_app(kind: str, **robot):
    from mvla_tui.app import MvlaApp
    from mvla_tui.core.session import Session
    from mvla_tui.robot.config import load_robot_config
    from mvla_tui.robot.fake import FakeLink
    from mvla_tui.telemetry import make_telemetry

    class TimedFakeLink(FakeLink):
        def __init__(self, config) -> None:
            super().__init__(config)
            self.arrivals: list[float] = []

        def send(self, twist):
            sent = super().send(twist)
            if not twist.is_zero:
                self.arrivals.append(time.monotonic())
            return sent

    config = load_robot_config(kind, robot.pop("overrides", []))
    link = TimedFakeLink(config) if kind == "fake" else None
    session = Session(config, link=link, data_dir=robot.pop("data_dir", None))
    return MvlaApp(session, make_telemetry(), graphics=robot.pop("graphics", False)), session, link


def key_latency(presses: int) -> np.ndarray:
    from textual import events

    app, session, link = make_app("fake")
    arrivals: list[float] = []
    original = app.on_event

    async def on_event(event):
        if isinstance(event, events.Key):
            arrivals.append(time.monotonic())
        await original(event)

    app.on_event = on_event  # type: ignore[method-assign]
    latencies: list[float] = []

    async def pilot(p) -> None:
        while app.state is None or not app.state.robot.running:
            await p.pause(0.01)
        for i in range(presses):
            before = len(link.arrivals)
            await p.press("wasd"[i % 4])
            deadline = time.monotonic() + 2
            while len(link.arrivals) == before and time.monotonic() < deadline:
                await asyncio.sleep(0.0005)
            if len(link.arrivals) > before:
                latencies.append(link.arrivals[before] - arrivals[-1])
            await p.pause(0.03)
        app.exit()

    app.run(headless=True, auto_pilot=pilot, size=(160, 48))
    return np.asarray(latencies) * 1e3


def stalls(app, seconds: float, during) -> float:
    """Worst lateness (ms) of a 10 ms UI timer while `during(app)` runs for `seconds`."""
    ticks: list[float] = []

    async def pilot(p) -> None:
        while app.state is None or not app.state.robot.running:
            await p.pause(0.01)
        await during(p)
        app.set_interval(0.01, lambda: ticks.append(time.monotonic()))
        await p.pause(seconds)
        app.exit()

    app.run(headless=True, auto_pilot=pilot, size=(160, 48))
    gaps = np.diff(np.asarray(ticks))
    return float((gaps.max() - 0.01) * 1e3) if len(gaps) else float("nan")


def idle_stall(seconds: float) -> float:
    """The baseline: the same timer with the app idle on the fake robot (machine noise, GC, refresh)."""
    app, _, _ = make_app("fake")

    async def during(p) -> None:
        pass

    return stalls(app, seconds, during)


def policy_stall(seconds: float, threads: int) -> tuple[float, int]:
    import torch

    from mvla_tui.core.intents import RunPolicy, SetInstruction
    from policies import registry
    from policies.normalisation import ActionNormalisation
    from policies.runtime import PolicyRuntime, RuntimeConfig

    torch.set_num_threads(threads)
    name, config = registry.load_config(ROOT / "configs/policy/compact.yaml")
    runtime = PolicyRuntime(
        registry.build_policy(name, config), ActionNormalisation.identity(3), RuntimeConfig(device="cpu")
    )
    app, session, _ = make_app(
        "sim", overrides=["sim.realtime=true", "sim.camera_width=320", "sim.camera_height=240"], graphics=True
    )
    session.worker.adopt(runtime, "compact (untrained)")

    async def during(p) -> None:
        while not (app.state.policy and app.state.policy.label) or app.frames.latest is None:
            await p.pause(0.05)
        session.submit(SetInstruction("navigate around the obstacle on the left side and reach the cup"))
        session.submit(RunPolicy())

    worst = stalls(app, seconds, during)
    return worst, session.policy.snapshot(0.0).steps


def save_stall(seconds: float) -> float:
    from mvla_tui.core.intents import SaveEpisode, StartEpisode
    from mvla_tui.robot.intents import TeleopKey

    folder = tempfile.mkdtemp()
    app, session, _ = make_app(
        "fake",
        overrides=["fake.width=1280", "fake.height=720", "teleop.step_s=0.05"],
        data_dir=Path(folder),
    )

    async def during(p) -> None:
        session.submit(StartEpisode("1box_left", "core", "medium"))
        for i in range(17):
            session.submit(TeleopKey("wasd"[i % 4]))
            await p.pause(0.08)
        session.submit(SaveEpisode("success"))  # the save runs while the timer below measures

    worst = stalls(app, seconds, during)
    saved = list(Path(folder).glob("*.h5"))
    if not saved:
        raise SystemExit("the episode was not saved")
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="start-up runs per robot (5)")
    parser.add_argument("--keys", type=int, default=200, help="key presses (200)")
    parser.add_argument("--seconds", type=float, default=10.0, help="stall measurement time per case (10)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the policy (1)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs, torch threads {args.threads}, headless Textual")
    for robot in ("fake", "sim"):
        t = startup(robot, args.runs)
        print(
            f"start-up to the dashboard, --robot {robot}: median {np.median(t):.2f} s, min {min(t):.2f} s, max {max(t):.2f} s"
        )
    ms = key_latency(args.keys)
    print(
        f"key -> Twist sent through the app: p50 {np.percentile(ms, 50):.2f} ms, p99 {np.percentile(ms, 99):.2f} ms,"
        f" max {ms.max():.2f} ms ({len(ms)} presses)"
    )
    print(
        f"longest UI stall with the app idle (the baseline of this machine now): {idle_stall(args.seconds):.1f} ms"
    )
    worst, steps = policy_stall(args.seconds, args.threads)
    print(
        f"longest UI stall while the compact policy drives the real-time sim ({steps} steps): {worst:.1f} ms"
    )
    print(
        f"longest UI stall while an 18-frame 1280x720 episode is recorded and saved: {save_stall(args.seconds):.1f} ms"
    )


if __name__ == "__main__":
    main()
