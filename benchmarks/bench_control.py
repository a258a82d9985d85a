"""Benchmark of the operating core (not a test: it prints numbers, it asserts nothing).

1. Key -> Twist sent: the time from `Session.submit(TeleopKey)` on another thread (the app's UI thread)
   to the fake link receiving the non-zero command, through the running control loop on the wall clock.
   Measured three ways in one run, in turn, so a busy machine weighs on all alike: the loop idle, while an
   episode is being recorded (frames journaled and compressed), and while a compact policy drives (the key
   overrides it). Goal: p99 under 20 ms.
2. The compact policy closed loop in the MuJoCo sim in real time (the app's way of running it), at the
   default step period (step mode: frame at rest, 0.4 s press, 0.15 s settle, one step every 0.6 s) and in
   continuous mode at 0.2 s: effective rate, missed deadlines (goal 0), step latency. The policy is the
   compact architecture with untrained weights (timing only; behaviour is not measured here).

    python benchmarks/bench_control.py [--keys 200] [--steps 20] [--threads 1] [--size 224x224]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from mvla_tui.commands._options import parse_size
from mvla_tui.core.intents import RunPolicy, SetInstruction, StartEpisode
from mvla_tui.core.session import Session
from mvla_tui.robot.config import PolicyDriveConfig, RobotConfig, TeleopConfig, load_robot_config
from mvla_tui.robot.fake import FakeLink
from mvla_tui.robot.intents import TeleopKey
from mvla_tui.robot.link import Twist

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"


class TimedFakeLink(FakeLink):
    """Stamps every non-zero command on arrival (perf_counter, the clock the submitter uses)."""

    def __init__(self, config: RobotConfig) -> None:
        super().__init__(config)
        self.arrivals: list[tuple[float, Twist]] = []

    def send(self, twist: Twist) -> Twist:
        sent = super().send(twist)
        if not twist.is_zero:
            self.arrivals.append((time.perf_counter(), sent))
        return sent


def compact_runtime(threads: int | None):
    import torch

    from policies import registry
    from policies.normalisation import ActionNormalisation
    from policies.runtime import PolicyRuntime, RuntimeConfig

    if threads:
        torch.set_num_threads(threads)
    name, config = registry.load_config(Path(__file__).parents[1] / "configs/policy/compact.yaml")
    policy = registry.build_policy(name, config)
    return PolicyRuntime(policy, ActionNormalisation.identity(3), RuntimeConfig(device="cpu"))


def key_latency(way: str, presses: int, threads: int | None) -> np.ndarray:
    config = RobotConfig(
        kind="fake",
        teleop=TeleopConfig(step_s=0.4),
        policy=PolicyDriveConfig(execution="continuous", period_s=0.2, device="cpu"),
    )
    # The policy takes over again 50 ms after each key, so every key overrides a driving policy.
    hybrid = dataclasses.replace(config.policy.hybrid, resume_s=0.05)
    config = dataclasses.replace(config, policy=dataclasses.replace(config.policy, hybrid=hybrid))
    link = TimedFakeLink(config)
    folder = tempfile.TemporaryDirectory()
    session = Session(
        config, link=link, data_dir=Path(folder.name) if way == "recording" else None, policy=way == "policy"
    )
    session.start()
    try:
        if way == "recording":
            session.submit(StartEpisode("1box_left", "core", "medium"))
        if way == "policy":
            session.worker.adopt(compact_runtime(threads), "compact (untrained)")
            time.sleep(1.0)
            session.submit(SetInstruction(INSTRUCTION))
            session.submit(RunPolicy())
        time.sleep(0.5)
        rng = random.Random(0)
        latencies = []
        keys = "wasdqezc"
        for i in range(presses):
            key = keys[i % len(keys)]
            before = len(link.arrivals)
            t0 = time.perf_counter()
            session.submit(TeleopKey(key))
            deadline = t0 + 2.0
            while time.perf_counter() < deadline:
                hit = next((t for t, tw in link.arrivals[before:] if _is_key(tw, key)), None)
                if hit is not None:
                    latencies.append(hit - t0)
                    break
                time.sleep(0.0002)
            time.sleep(rng.uniform(0.03, 0.08))
    finally:
        session.stop()
        folder.cleanup()
    return np.asarray(latencies) * 1e3


def _is_key(twist: Twist, key: str) -> bool:
    from recorder.catalogue import KEYMAP

    want = np.sign(KEYMAP[key])
    got = np.sign(np.round(twist.as_array(), 3))
    return bool((want == got).all())


def policy_loop(
    execution: str, period_s: float, steps: int, size: tuple[int, int], threads: int | None
) -> dict:
    base = load_robot_config("sim")
    sim = dataclasses.replace(base.sim, realtime=True, camera_width=size[0], camera_height=size[1])
    config = dataclasses.replace(
        base,
        sim=sim,
        policy=dataclasses.replace(base.policy, execution=execution, period_s=period_s, device="cpu"),
    )
    if execution == "continuous":
        config = dataclasses.replace(config, teleop=dataclasses.replace(config.teleop, mode="hold"))
    session = Session(config)
    session.worker.adopt(compact_runtime(threads), "compact (untrained)")
    session.start()
    try:
        deadline = time.monotonic() + 30
        while session.state.policy.label is None or session.link.latest_frame() is None:
            assert time.monotonic() < deadline, "no policy or no sim frame"
            time.sleep(0.05)
        session.submit(SetInstruction(INSTRUCTION))
        session.submit(RunPolicy())
        deadline = time.monotonic() + steps * period_s * 3 + 30
        while session.state.policy.steps < steps and time.monotonic() < deadline:
            time.sleep(0.05)
        state = session.state.policy
    finally:
        session.stop()
    return {
        "steps": state.steps,
        "hz": state.effective_hz,
        "nominal_hz": 1 / period_s,
        "missed": state.missed_deadlines,
        "p50": state.latency_p50_ms,
        "p99": state.latency_p99_ms,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200, help="key presses per way (default 200)")
    parser.add_argument("--steps", type=int, default=20, help="policy steps per mode (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the policy (default 1)")
    parser.add_argument("--size", default="224x224", help="sim camera size (default 224x224)")
    args = parser.parse_args()
    size = parse_size(args.size, "--size", "224x224")
    print(
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, MUJOCO_GL={os.environ.get('MUJOCO_GL', 'auto')}"
    )
    print(f"key -> Twist sent through the control loop on the fake link, {args.keys} presses per way:")
    for way in ("idle", "recording", "policy"):
        ms = key_latency(way, args.keys, args.threads)
        print(
            f"  {way:<10} p50 {np.percentile(ms, 50):6.2f} ms  p99 {np.percentile(ms, 99):6.2f} ms  "
            f"max {ms.max():6.2f} ms  ({len(ms)} presses)"
        )
    print(
        f"compact policy closed loop in the real-time sim ({size[0]}x{size[1]} camera), {args.steps} steps:"
    )
    for execution, period in (("step", PolicyDriveConfig().period_s), ("continuous", 0.2)):
        r = policy_loop(execution, period, args.steps, size, args.threads)
        print(
            f"  {execution:<10} period {period:.2f} s: {r['steps']} steps, {r['hz']:.2f} Hz (nominal "
            f"{r['nominal_hz']:.2f}), {r['missed']} missed deadlines, step latency p50 {r['p50']:.1f} ms "
            f"p99 {r['p99']:.1f} ms"
        )


if __name__ == "__main__":
    main()
