"""Success rate of the scripted expert over seeded sim episodes, per scenario, driven through the control
loop on the simulated clock (a 32x32 camera, so rendering costs little).

Usage: python benchmarks/sim_expert_eval.py [--episodes 200] [--seed 0] [--pattern core] [--noise 0]
       [--set KEY=VALUE ...]   (keys of the sim robot config, e.g. sim.speed_per_unit=0.8)

Episodes cycle through all 12 scenario ids x 3 distances (position bias drawn from the seed). Prints
one row per scenario: episodes, successes, how many of those passed on the instructed side, mean and
range of key presses; then the episode lengths in frames (1 start + presses; the data targets 18)
and the reasons of failures. Exits 1 when the success rate is under 98% or a success passed on the
wrong side.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict

from mvla_tui.commands._options import add_set_option
from mvla_tui.core.sim_episode import plan_episodes, run_sim_episode
from mvla_tui.robot.config import load_robot_config
from recorder.catalogue import load_catalogue


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--pattern", choices=load_catalogue().patterns, default="core")
    parser.add_argument("--noise", type=float, default=0.0)
    add_set_option(parser, "the sim robot config", "--set sim.speed_per_unit=0.8")
    args = parser.parse_args()

    config = load_robot_config("sim", ["sim.camera_width=32", "sim.camera_height=32", *args.overrides])
    catalogue = load_catalogue()
    specs = plan_episodes(args.episodes, catalogue.ids, [args.pattern], catalogue.distances, args.seed)
    rows: dict[str, list] = defaultdict(list)
    start = time.perf_counter()
    for spec in specs:
        rollout = run_sim_episode(config, spec, catalogue, noise=args.noise)
        rows[spec.scenario].append((spec, rollout))
    elapsed = time.perf_counter() - start

    print(
        f"scripted expert, pattern {args.pattern}, noise {args.noise}, {len(specs)} episodes, seed {args.seed}"
        + (f", --set {' '.join(args.overrides)}" if args.overrides else "")
    )
    print(
        f"{'scenario':<17}{'episodes':>9}{'success':>9}{'rate':>8}{'side ok':>9}{'presses':>9}{'min-max':>9}"
    )
    total = succeeded = side_ok = 0
    failures = []
    for scenario in catalogue.ids:
        runs = rows.get(scenario, [])
        if not runs:
            continue
        wins = [(s, r) for s, r in runs if r.result.success]
        on_side = sum(r.result.passed_side == s.scenario.rsplit("_", 1)[1] for s, r in wins)
        presses = [len(r.keys) for _, r in runs]
        rate = len(wins) / len(runs)
        print(
            f"{scenario:<17}{len(runs):>9}{len(wins):>9}{rate:>8.1%}{on_side:>9}"
            f"{sum(presses) / len(presses):>9.1f}{f'{min(presses)}-{max(presses)}':>9}"
        )
        total, succeeded, side_ok = total + len(runs), succeeded + len(wins), side_ok + on_side
        failures += [(s, r) for s, r in runs if not r.result.success]
    rate = succeeded / total
    print(f"{'all':<17}{total:>9}{succeeded:>9}{rate:>8.1%}{side_ok:>9}")
    frames = Counter(len(r.keys) + 1 for runs in rows.values() for _, r in runs)
    lengths = sorted(frames.elements())
    print(
        f"frames per episode: median {lengths[len(lengths) // 2]}, mean {sum(lengths) / len(lengths):.1f}; "
        + ", ".join(f"{n}: {c}" for n, c in sorted(frames.items()))
    )
    print(f"{elapsed:.1f} s ({total / elapsed:.1f} episodes/s through the control loop, 32x32 camera)")
    for spec, rollout in failures:
        print(
            f"failed: {spec.scenario} {spec.distance} bias {spec.bias} seed {spec.seed}: {rollout.result.reason}"
        )
    return 0 if rate >= 0.98 and side_ok == succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
