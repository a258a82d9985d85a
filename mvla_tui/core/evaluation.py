"""Closed-loop evaluation in the simulator: a policy (or the scripted expert, the sanity row) drives seeded
layouts through the same session, control loop and policy driver as on the robot, and the outcomes are
tallied per scenario and overall.

Rates per row: success (the sim's rule: goal region in front of the cup, no collision, passed on the
instructed side), correct side (alongside the obstacle only on the instructed side, whether or not it
got to the cup), collision, timeout (`policy.max_steps` steps without predicting a stop); steps to success
(mean over the successes); policy step latency p50/p99 over every step of the row; and how the loop held
its timing: steps per second, missed deadlines (and their share of the steps), stale frames and the
deadline guard's stops. In simulated time the last ones are those of the simulated clock (no guard runs);
with `realtime` the episodes run on the wall clock as in the app (`run_sim_episode`). Instructions: the
catalogue's default of each scenario, or one drawn (seeded) per episode from a YAML file of `left:` and
`right:` lists. This module computes and returns; printing is the command's. It must not import textual.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.sim_episode import EpisodeSpec, SimEpisode, run_sim_episode
from mvla_tui.robot.config import RobotConfig
from recorder.catalogue import Catalogue


@dataclass(frozen=True)
class EvalRow:
    scenario: str  # a scenario id, or "all"
    episodes: int
    success: float  # rates in [0, 1]
    correct_side: float
    collision: float
    timeout: float
    steps_to_success: float | None  # mean steps of the successful episodes
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    steps: int = 0  # policy (or expert) steps in all
    steps_per_s: float | None = None  # mean of the episodes' effective step rates
    missed_deadlines: int = 0
    missed_rate: float = 0.0  # missed deadlines per step
    stale_frames: int = 0
    guard_stops: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def choose_instructions(
    specs: Sequence[EpisodeSpec],
    catalogue: Catalogue,
    instructions: dict[str, list[str]] | None,
    seed: int,
) -> list[str]:
    """One instruction per episode: the scenario's default, or a seeded draw from its side's list."""
    if instructions is None:
        return [catalogue.default_instruction(s.scenario) for s in specs]
    rng = np.random.default_rng([seed, 7])
    chosen = []
    for spec in specs:
        options = instructions[catalogue.get(spec.scenario).side]
        chosen.append(options[int(rng.integers(len(options)))])
    return chosen


def run_evaluation(
    base: RobotConfig,
    specs: Sequence[EpisodeSpec],
    catalogue: Catalogue,
    instructions: Sequence[str],
    worker: PolicyWorker | None,
    *,
    video_dir: Path | None = None,
    realtime: bool = False,
    on_episode: Callable[[SimEpisode], None] | None = None,
) -> list[SimEpisode]:
    """Every episode of `specs` with its instruction, driven by `worker`'s policy (None: the expert), in
    simulated time or, with `realtime`, on the wall clock as in the app."""
    episodes = []
    for spec, instruction in zip(specs, instructions, strict=True):
        episode = run_sim_episode(
            base,
            spec,
            catalogue,
            instruction=instruction,
            worker=worker,
            video_dir=video_dir,
            realtime=realtime,
        )
        episodes.append(episode)
        if on_episode is not None:
            on_episode(episode)
    return episodes


def _row(name: str, episodes: Sequence[SimEpisode], catalogue: Catalogue) -> EvalRow:
    n = len(episodes)
    wins = [e for e in episodes if e.result.success]
    side_ok = [e for e in episodes if e.result.passed_side == catalogue.get(e.spec.scenario).side]
    latencies = np.asarray([ms for e in episodes for ms in e.latencies_ms], np.float64)
    steps = sum(e.steps for e in episodes)
    missed = sum(e.missed_deadlines for e in episodes)
    rates = [e.steps_per_s for e in episodes if e.steps_per_s is not None]
    return EvalRow(
        scenario=name,
        episodes=n,
        success=len(wins) / n,
        correct_side=len(side_ok) / n,
        collision=sum(e.result.collision is not None for e in episodes) / n,
        timeout=sum(e.timed_out for e in episodes) / n,
        steps_to_success=float(np.mean([e.steps for e in wins])) if wins else None,
        latency_p50_ms=float(np.percentile(latencies, 50)) if len(latencies) else None,
        latency_p99_ms=float(np.percentile(latencies, 99)) if len(latencies) else None,
        steps=steps,
        steps_per_s=float(np.mean(rates)) if rates else None,
        missed_deadlines=missed,
        missed_rate=missed / steps if steps else 0.0,
        stale_frames=sum(e.stale_frames for e in episodes),
        guard_stops=sum(e.guard_stops for e in episodes),
    )


def summarise(episodes: Sequence[SimEpisode], catalogue: Catalogue) -> list[EvalRow]:
    """One row per scenario (in the order first seen), then "all"."""
    scenarios = list(dict.fromkeys(e.spec.scenario for e in episodes))
    rows = [_row(s, [e for e in episodes if e.spec.scenario == s], catalogue) for s in scenarios]
    return [*rows, _row("all", episodes, catalogue)] if episodes else []
