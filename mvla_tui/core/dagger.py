"""A DAgger loop in the simulator, measured against plain demonstrations on equal operator effort
(`mvla sim dagger`).

Each round:
1. *collect*: the current policy drives seeded layouts while the scripted expert plays the operator
   (`ExpertOperator`: it takes over when the policy leaves its course, hands back once it is on course
   again); every episode is recorded whoever drove it, as an intervention episode (`recorder.intervention`);
2. *fine-tune*: `mvla train`'s loop from the previous round's checkpoint (`init_from`) on every round's
   intervention episodes so far plus the given demonstration folders (DAgger's aggregate), with the
   intervention weights of the train config (`data.intervention_weight`, `data.pre_takeover_frames`, ...);
3. *evaluate*: the policy alone on held-out seeds (no operator), in simulated time.
The *demonstrations* arm spends the same budget of operator frames (the keys the expert pressed as the
operator, summed over the rounds so far) on plain scripted-expert episodes instead, fine-tunes from its own
previous checkpoint with the same steps and settings, and is evaluated on the same held-out seeds.
Seeds: collection episodes use `seed + 1000 * round`, demonstrations `seed + 500_000 + 1000 * episode
batch`, evaluation `eval_seed` (one plan for every row). This module computes and returns; printing is
the command's. It must not import textual, nor torch before a fine-tune starts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from mvla_tui.core.evaluation import choose_instructions, run_evaluation, summarise
from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.session import runtime_options
from mvla_tui.core.sim_episode import SimEpisode, plan_episodes, run_sim_episode
from mvla_tui.robot.config import RobotConfig
from recorder.catalogue import Catalogue

if TYPE_CHECKING:
    from trainer.config import TrainConfig

DEMO_SEED_OFFSET = 500_000


@dataclass(frozen=True)
class DaggerRow:
    """One line of the table: an arm after a round (round 0: the starting policy)."""

    arm: str  # "dagger" | "demos"
    round: int
    success: float
    correct_side: float
    collision: float
    takeovers_per_100_steps: float | None  # while collecting this round (DAgger only)
    operator_frames: int  # operator frames used for training so far (both arms: the same budget)
    episodes: int  # episodes recorded this round (interventions, or demonstrations)
    checkpoint: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class DaggerPlan:
    policy: str  # the starting checkpoint
    rounds: int
    episodes_per_round: int
    out: Path
    train: TrainConfig  # the recipe; data.dirs are the demonstration folders mixed into every fine-tune
    eval_episodes: int = 40
    eval_seed: int = 100
    seed: int = 8000
    compare_demos: bool = True
    scenarios: Sequence[str] | None = None
    data_dirs: list[str] = field(default_factory=list)


def _evaluate(
    config: RobotConfig, checkpoint: str, plan: DaggerPlan, catalogue: Catalogue
) -> tuple[float, float, float]:
    specs = plan_episodes(plan.eval_episodes, plan.scenarios, ["core"], None, plan.eval_seed)
    worker = _worker(config, checkpoint)
    try:
        episodes = run_evaluation(
            config, specs, catalogue, choose_instructions(specs, catalogue, None, plan.eval_seed), worker
        )
    finally:
        worker.close()
    row = summarise(episodes, catalogue)[-1]
    return row.success, row.correct_side, row.collision


def _worker(config: RobotConfig, checkpoint: str) -> PolicyWorker:
    worker = PolicyWorker(runtime_options(config), config.limits)
    done = worker.load_and_wait(checkpoint)
    if done.error is not None:
        worker.close()
        raise RuntimeError(done.error)
    return worker


def collect_interventions(
    config: RobotConfig,
    checkpoint: str,
    episodes: int,
    seed: int,
    out: Path,
    catalogue: Catalogue,
    scenarios: Sequence[str] | None = None,
    on_episode: Callable[[SimEpisode], None] | None = None,
) -> list[SimEpisode]:
    """`episodes` intervention episodes of `checkpoint` with the expert as operator, recorded into `out`
    (failures too: the operator's corrections in them are data)."""
    out.mkdir(parents=True, exist_ok=True)
    worker = _worker(config, checkpoint)
    done = []
    try:
        for spec in plan_episodes(episodes, scenarios, ["core", "variant"], None, seed):
            episode = run_sim_episode(
                config, spec, catalogue, worker=worker, data_dir=out, keep_failed=True, expert_operator=True
            )
            done.append(episode)
            if on_episode is not None:
                on_episode(episode)
    finally:
        worker.close()
    return done


def collect_demos(
    config: RobotConfig,
    frames: int,
    seed: int,
    out: Path,
    catalogue: Catalogue,
    scenarios: Sequence[str] | None = None,
) -> int:
    """Scripted-expert episodes into `out` until their keys add up to at least `frames`; returns the keys
    recorded (successful episodes only, as `mvla sim collect` keeps them)."""
    out.mkdir(parents=True, exist_ok=True)
    pressed = 0
    batch = 0
    while pressed < frames:
        for spec in plan_episodes(8, scenarios, ["core", "variant"], None, seed + 1000 * batch):
            if pressed >= frames:
                break
            episode = run_sim_episode(config, spec, catalogue, data_dir=out)
            if episode.result.success:
                pressed += len(episode.keys)
        batch += 1
    return pressed


def fine_tune(
    recipe: TrainConfig, init_from: str, dirs: Sequence[str], output: Path, log: Callable[[str], None]
) -> str:
    """`mvla train`'s loop from `init_from` on `dirs`; returns the final checkpoint."""
    from trainer.loop import train  # torch: only when training, so the operating core starts without it

    config = dataclasses.replace(
        recipe,
        init_from=init_from,
        data=dataclasses.replace(recipe.data, dirs=tuple(str(d) for d in dirs)),
        output=str(output),
    )
    result = train(config, log=log)
    if result.final is None:
        raise RuntimeError(f"fine-tuning in {output} ended without a final checkpoint")
    return str(result.final)


def run_dagger(
    config: RobotConfig,
    plan: DaggerPlan,
    catalogue: Catalogue,
    *,
    on_row: Callable[[DaggerRow], None] = lambda row: None,
    on_episode: Callable[[SimEpisode], None] | None = None,
    log: Callable[[str], None] = print,
) -> list[DaggerRow]:
    """Round 0 (the starting policy), then `plan.rounds` rounds of each arm; see the module docstring."""
    start = _evaluate(config, plan.policy, plan, catalogue)
    rows = [DaggerRow("start", 0, *start, None, 0, 0, plan.policy)]
    on_row(rows[-1])
    dagger_ckpt = demo_ckpt = plan.policy
    intervention_dirs: list[str] = []
    demo_dirs: list[str] = []
    operator_frames = demo_frames = 0
    for r in range(1, plan.rounds + 1):
        folder = plan.out / f"round{r}"
        log(f"round {r}: collecting {plan.episodes_per_round} intervention episodes")
        episodes = collect_interventions(
            config,
            dagger_ckpt,
            plan.episodes_per_round,
            plan.seed + 1000 * r,
            folder / "interventions",
            catalogue,
            plan.scenarios,
            on_episode,
        )
        intervention_dirs.append(str(folder / "interventions"))
        steps = sum(e.policy_steps + e.operator_steps for e in episodes)
        takeovers = sum(e.takeovers for e in episodes)
        operator_frames += sum(e.operator_steps for e in episodes)
        log(f"round {r}: fine-tuning from {dagger_ckpt}")
        dagger_ckpt = fine_tune(
            plan.train, dagger_ckpt, [*plan.data_dirs, *intervention_dirs], folder / "dagger_run", log
        )
        result = _evaluate(config, dagger_ckpt, plan, catalogue)
        rate = 100.0 * takeovers / steps if steps else 0.0
        rows.append(DaggerRow("dagger", r, *result, rate, operator_frames, len(episodes), dagger_ckpt))
        on_row(rows[-1])
        if not plan.compare_demos:
            continue
        budget = operator_frames - demo_frames
        demos = folder / "demos"
        if budget > 0:
            log(f"round {r}: {budget} operator frames as plain demonstrations")
            demo_frames += collect_demos(
                config, budget, plan.seed + DEMO_SEED_OFFSET + 1000 * r, demos, catalogue, plan.scenarios
            )
            demo_dirs.append(str(demos))
            demo_ckpt = fine_tune(
                plan.train, demo_ckpt, [*plan.data_dirs, *demo_dirs], folder / "demos_run", log
            )
            result = _evaluate(config, demo_ckpt, plan, catalogue)
        else:  # the operator never took over: no budget, the demonstrations arm stays where it was
            log(f"round {r}: no operator frames this round; the demonstrations arm is unchanged")
            result = (rows[-2].success, rows[-2].correct_side, rows[-2].collision)
        n_demos = len(list(demos.glob("*.h5"))) if demos.is_dir() else 0
        rows.append(DaggerRow("demos", r, *result, None, demo_frames, n_demos, demo_ckpt))
        on_row(rows[-1])
    return rows
