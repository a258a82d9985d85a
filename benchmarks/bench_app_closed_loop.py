"""The default policy closed loop through the real terminal app, beside the same episodes in `mvla eval --sim`
(simulated time). Not a test: it prints numbers and asserts nothing.

For each seeded episode (spread over the 4 current scenarios and the three distances, as `mvla eval --sim`
plans them), the app is built as `mvla --robot sim --policy default` builds it: the simulator on the wall
clock, the camera panel shown (textual-image, headless), the default policy loaded in the background. A
Pilot then does what an operator does: it presses `i`, types the scenario's instruction, Enter, types `run`,
Enter, and waits until the policy's run ends (it predicts a stop, uses its step budget, touches something,
or stops on stale frames). The outcome is the simulator's (`SimLink.result()`). While the policy drives, a
10 ms UI timer measures the longest stall of the UI thread. Then the same episodes run through
`mvla_tui.core.evaluation` in simulated time, and both tables are printed side by side.

    python benchmarks/bench_app_closed_loop.py [--episodes 12] [--seed 100] [--threads 1] [--load 0]

The machine's own load weighs on every real-time figure: run it on a quiet machine, and compare the two
tables of one run. `--load N` adds N busy processes (`mvla eval --sim --realtime --load N`).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np

KEY_NAMES = {" ": "space", ",": "comma", ".": "full_stop", "'": "apostrophe", "-": "minus"}


def type_keys(text: str) -> list[str]:
    return [KEY_NAMES.get(ch, ch) for ch in text]


def app_episode(base, spec, instruction: str, policy_path: str, timeout_s: float):
    """One episode through the app; returns (SimEpisode, longest UI stall in ms)."""
    from mvla_tui.app import MvlaApp
    from mvla_tui.core.session import Session
    from mvla_tui.core.sim_episode import SimEpisode, episode_ending, sim_robot_config
    from mvla_tui.telemetry import make_telemetry

    config = sim_robot_config(base, spec, realtime=True)
    session = Session(config, link_reason="sim — the closed-loop benchmark")
    app = MvlaApp(session, make_telemetry(), policy_source=policy_path, graphics=True)
    link = session.link
    seen: dict = {}
    ticks: list[float] = []

    async def pilot(p) -> None:
        while (
            app.state is None
            or not (app.state.policy and app.state.policy.label)
            or app.frames.latest is None
        ):
            await p.pause(0.05)
        await p.press("i", *type_keys(instruction), "enter")
        await p.press(*type_keys("run"), "enter")
        app.set_interval(0.01, lambda: ticks.append(time.monotonic()))
        give_up = time.monotonic() + timeout_s
        while session.policy.ended is None and time.monotonic() < give_up:
            await p.pause(0.05)
        seen["result"] = link.result()
        seen["state"] = session.state
        app.exit()

    try:
        app.run(headless=True, auto_pilot=pilot, size=(180, 50))
    finally:
        session.stop("the benchmark episode ended")
    state, policy = seen["state"], session.policy
    gaps = np.diff(np.asarray(ticks))
    stall = float((gaps.max() - 0.01) * 1e3) if len(gaps) else float("nan")
    episode = SimEpisode(
        spec=spec,
        instruction=instruction,
        result=seen["result"],
        ended=episode_ending(policy.ended, state.policy.stop_reason) if policy.ended else "still running",
        steps=policy.steps,
        latencies_ms=policy.latencies_ms,
        missed_deadlines=state.policy.missed_deadlines,
        stale_frames=state.policy.stale_frames,
        guard_stops=state.robot.guard_stops,
        steps_per_s=state.policy.effective_hz,
    )
    return episode, stall


def table(rows_app, rows_sim) -> None:
    print(
        f"{'scenario':<11}{'n':>3} | {'app: success':>12}{'side':>7}{'coll':>6}{'t/o':>5}{'p50':>7}{'p99':>7}"
        f"{'steps/s':>8}{'missed':>8}{'stale':>6}{'guard':>6} | {'sim time: success':>17}{'side':>7}{'p99':>7}"
    )
    for a, s in zip(rows_app, rows_sim, strict=True):
        print(
            f"{a.scenario:<11}{a.episodes:>3} | {100 * a.success:>11.1f}%{100 * a.correct_side:>6.0f}%"
            f"{100 * a.collision:>5.0f}%{100 * a.timeout:>4.0f}%{a.latency_p50_ms or 0:>7.1f}"
            f"{a.latency_p99_ms or 0:>7.1f}{a.steps_per_s or 0:>8.2f}{a.missed_deadlines:>8d}"
            f"{a.stale_frames:>6d}{a.guard_stops:>6d} | {100 * s.success:>16.1f}%{100 * s.correct_side:>6.0f}%"
            f"{s.latency_p99_ms or 0:>7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=12, help="episodes (12: one per scenario x distance)")
    parser.add_argument("--seed", type=int, default=100, help="layouts (100: seeds no training used)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for the policy (1)")
    parser.add_argument("--load", type=int, default=0, help="busy processes beside the app (0)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds an episode may take (120)")
    args = parser.parse_args()

    from mvla_tui.core.cpu_load import busy_processes
    from mvla_tui.core.evaluation import run_evaluation, summarise
    from mvla_tui.core.policy_worker import PolicyWorker
    from mvla_tui.core.session import runtime_options
    from mvla_tui.core.sim_episode import plan_episodes
    from mvla_tui.robot.config import load_robot_config
    from policies.default_policy import resolve
    from recorder.catalogue import load_catalogue

    catalogue = load_catalogue()
    base = load_robot_config("sim")
    base = dataclasses.replace(base, policy=dataclasses.replace(base.policy, threads=args.threads))
    specs = plan_episodes(args.episodes, catalogue.current_ids, ["core"], seed=args.seed)
    instructions = [catalogue.default_instruction(s.scenario) for s in specs]
    policy_path = str(resolve("default"))
    sim = base.sim
    print(
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, {args.load} busy processes, camera "
        f"{sim.camera_width}x{sim.camera_height}, step period {base.policy.period_s:g} s, headless Textual "
        f"180x50 with the camera panel shown"
    )

    app_episodes, stalls = [], []
    with busy_processes(args.load):
        for spec, instruction in zip(specs, instructions, strict=True):
            episode, stall = app_episode(base, spec, instruction, policy_path, args.timeout)
            app_episodes.append(episode)
            stalls.append(stall)
            mark = "ok" if episode.result.success else episode.result.reason
            print(
                f"  app {spec.scenario:<10} {spec.distance:<6} seed {spec.seed}: {mark} [{episode.ended}] "
                f"{episode.steps} steps, missed {episode.missed_deadlines}, stale {episode.stale_frames}, "
                f"guard {episode.guard_stops}, longest UI stall {stall:.0f} ms",
                flush=True,
            )

    worker = PolicyWorker(runtime_options(base), base.limits)
    try:
        done = worker.load_and_wait(policy_path)
        if done.error is not None:
            raise SystemExit(done.error)
        sim_episodes = run_evaluation(base, specs, catalogue, instructions, worker)
    finally:
        worker.close()

    print()
    table(summarise(app_episodes, catalogue), summarise(sim_episodes, catalogue))
    same = sum(a.result.success == s.result.success for a, s in zip(app_episodes, sim_episodes, strict=True))
    steps = sum(e.steps for e in app_episodes)
    print(
        f"app: {steps} steps, guard stops {sum(e.guard_stops for e in app_episodes)}, missed deadlines "
        f"{sum(e.missed_deadlines for e in app_episodes)} ({100 * sum(e.missed_deadlines for e in app_episodes) / max(steps, 1):.1f} %), "
        f"stale frames {sum(e.stale_frames for e in app_episodes)}, longest UI stall {max(stalls):.0f} ms "
        f"(median over episodes {np.median(stalls):.0f} ms); the same outcome as in simulated time in "
        f"{same}/{len(specs)} episodes"
    )


if __name__ == "__main__":
    main()
