"""Scripted-expert data collection in the sim: the work behind `mvla sim collect`, without the terminal.

Owns the episode plan (which scenario, pattern, distance, position bias and seed each episode gets)
and the loop that runs the expert and writes each episode through `recorder.writer.EpisodeWriter`
(V4 file, robot "sim", camera "sim:WxH", instruction from the catalogue). Only successful episodes
are saved unless `keep_failed`; failures are counted with their reasons. Every episode carries the
expert's verdict as root attributes (`sim_success` bool, `sim_failure` the reason or "", `sim_seed`,
`sim_bias` the position bias, `sim_noise`), so kept failures can be filtered out before training.
It prints nothing: progress goes to an optional callback. The expert's pattern is its style: "core"
drives the guide path, "variant" uses diagonals.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.layout import BIASES, DISTANCES, SCENARIOS, make_layout
from mvla_tui.sim.link import SimLink
from mvla_tui.sim.rollout import Rollout, run_expert
from mvla_tui.sim.success import EpisodeResult
from recorder.catalogue import load_catalogue
from recorder.episode import EpisodeMeta
from recorder.writer import EpisodeWriter


@dataclass(frozen=True)
class EpisodeSpec:
    scenario: str
    pattern: str  # "core" | "variant": the expert's style
    distance: str
    bias: str
    seed: int


@dataclass
class CollectSummary:
    saved: list[Path] = field(default_factory=list)
    failed: list[tuple[EpisodeSpec, EpisodeResult]] = field(default_factory=list)


def plan_episodes(
    episodes: int,
    scenarios: Sequence[str] = SCENARIOS[:4],
    patterns: Sequence[str] = ("core",),
    distances: Sequence[str] = DISTANCES,
    seed: int = 0,
) -> list[EpisodeSpec]:
    """`episodes` specs cycling through every scenario x distance x pattern cell in turn, so any
    prefix is spread evenly; the bias is drawn per episode from `seed`."""
    cells = list(itertools.product(distances, patterns, scenarios))
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(episodes):
        distance, pattern, scenario = cells[i % len(cells)]
        specs.append(EpisodeSpec(scenario, pattern, distance, str(rng.choice(BIASES)), seed * 1_000_003 + i))
    return specs


def run_episode(
    spec: EpisodeSpec, config: SimConfig, width: int, height: int, noise: float = 0.0, render: bool = True
) -> Rollout:
    """One expert episode of `spec` in a fresh sim."""
    layout = make_layout(spec.scenario, spec.distance, spec.bias, spec.seed)
    link = SimLink(layout, config, width=width, height=height)
    link.connect()
    try:
        return run_expert(link, ScriptedExpert(layout, config, spec.pattern, noise, spec.seed), render=render)
    finally:
        link.close()


def expert_attrs(
    spec: EpisodeSpec, result: EpisodeResult, noise: float
) -> dict[str, str | int | float | bool]:
    """Root attributes of a sim episode, so training can drop failed demonstrations (`sim_success`)."""
    return {
        "sim_success": result.success,
        "sim_failure": "" if result.success else result.reason,
        "sim_seed": spec.seed,
        "sim_bias": spec.bias,
        "sim_noise": float(noise),
    }


def collect(
    out_dir: Path,
    specs: Sequence[EpisodeSpec],
    config: SimConfig,
    width: int,
    height: int,
    noise: float = 0.0,
    keep_failed: bool = False,
    on_episode: Callable[[EpisodeSpec, Rollout, Path | None], None] | None = None,
) -> CollectSummary:
    """Run and write every episode of `specs` into `out_dir` (which must exist)."""
    catalogue = load_catalogue()
    summary = CollectSummary()
    for spec in specs:
        rollout = run_episode(spec, config, width, height, noise)
        path = None
        if rollout.result.success or keep_failed:
            meta = EpisodeMeta(
                scenario=spec.scenario,
                pattern=spec.pattern,
                distance=spec.distance,
                instruction=catalogue.default_instruction(spec.scenario),
                robot="sim",
                camera=f"sim:{width}x{height}",
            )
            attrs = expert_attrs(spec, rollout.result, noise)
            with EpisodeWriter(out_dir, meta, catalogue=catalogue, extra_attrs=attrs) as writer:
                for frame in rollout.frames:
                    writer.append(frame.image, frame.action, frame.event_type, timestamp=frame.timestamp)
                path = writer.finish()
            summary.saved.append(path)
        if not rollout.result.success:
            summary.failed.append((spec, rollout.result))
        if on_episode is not None:
            on_episode(spec, rollout, path)
    return summary
