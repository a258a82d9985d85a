"""Closed-loop evaluation in the simulator: a policy (or the scripted expert, the sanity row) drives seeded
layouts through the same session, control loop and policy driver as on the robot, and the outcomes are
tallied per scenario and overall.

Rates per row: success (the sim's rule: goal region in front of the cup, no collision, passed on the
instructed side), correct side (alongside the obstacle only on the instructed side, whether or not it
got to the cup), collision, timeout (`sim.max_presses` steps without stopping); steps to success (mean
over the successes); policy step latency p50/p99 over every step of the row. Instructions: the
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
    stop_below: float | None = None,
    on_episode: Callable[[SimEpisode], None] | None = None,
) -> list[SimEpisode]:
    """Every episode of `specs` with its instruction, driven by `worker`'s policy (None: the expert)."""
    episodes = []
    extra = {} if stop_below is None else {"stop_below": stop_below}
    for spec, instruction in zip(specs, instructions, strict=True):
        episode = run_sim_episode(
            base, spec, catalogue, instruction=instruction, worker=worker, video_dir=video_dir, **extra
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
    )


def summarise(episodes: Sequence[SimEpisode], catalogue: Catalogue) -> list[EvalRow]:
    """One row per scenario (in the order first seen), then "all"."""
    scenarios = list(dict.fromkeys(e.spec.scenario for e in episodes))
    rows = [_row(s, [e for e in episodes if e.spec.scenario == s], catalogue) for s in scenarios]
    return [*rows, _row("all", episodes, catalogue)] if episodes else []
