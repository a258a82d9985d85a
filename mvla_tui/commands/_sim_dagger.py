"""`mvla sim dagger`: the DAgger loop in the simulator (`mvla_tui.core.dagger`), with its table.

Only argument checking, progress and the tables live here: the rounds (collect intervention episodes with
the scripted expert as operator, fine-tune, evaluate on held-out seeds) and the demonstrations arm on the
same operator-frame budget are the core's. MuJoCo, torch and the trainer are imported inside `run_dagger`,
so `mvla --help` stays light.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import configs
from configs import ConfigError
from mvla_tui.commands._options import add_set_option, with_camera_size

RECIPE = Path(configs.__file__).resolve().parent / "train" / "compact_sim.yaml"
FINE_TUNE_LR = 3e-4


def register(actions: argparse._SubParsersAction, seed_type: object) -> None:
    dagger = actions.add_parser(
        "dagger",
        help="DAgger in the simulator: the expert corrects the policy, the policy learns from the takeovers",
        description="Rounds of: drive --policy in seeded layouts while the scripted expert plays the "
        "operator (it takes over when the policy leaves its course, heads for the wrong side or a "
        "collision, and hands back once the policy is on course again), recording every episode as an "
        "intervention episode into OUT/roundR/interventions; fine-tune from the previous round's "
        "checkpoint on all of them (plus --data) with the train recipe's intervention weights; evaluate "
        "the policy alone on held-out seeds. Unless --no-compare-demos, the same number of operator "
        "frames is spent on plain scripted-expert demonstrations instead, fine-tuned and evaluated the "
        "same way, so the two are compared on equal human effort. Prints a table per round.",
    )
    dagger.add_argument(
        "--policy", required=True, metavar="CKPT", help="the starting checkpoint (or default)"
    )
    dagger.add_argument("--rounds", type=int, default=2, metavar="R", help="DAgger rounds (2)")
    dagger.add_argument(
        "--episodes-per-round", type=int, required=True, metavar="N", help="intervention episodes per round"
    )
    dagger.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for data and runs")
    dagger.add_argument(
        "--data",
        nargs="*",
        default=[],
        metavar="DIR",
        help="demonstration folders mixed into every fine-tune (DAgger's first data set), e.g. the "
        "episodes the starting policy was trained on",
    )
    dagger.add_argument(
        "--config",
        type=Path,
        default=RECIPE,
        metavar="FILE",
        help="train recipe of the fine-tunes (default: the shipped compact_sim.yaml)",
    )
    dagger.add_argument("--steps", type=int, default=300, help="optimiser steps per fine-tune (300)")
    dagger.add_argument("--eval-episodes", type=int, default=40, metavar="M", help="held-out episodes (40)")
    dagger.add_argument("--eval-seed", type=seed_type, default=100, help="seed of the held-out layouts (100)")
    dagger.add_argument("--seed", type=seed_type, default=8000, help="seed of the collection layouts (8000)")
    dagger.add_argument("--size", metavar="WxH", help="camera size (default from the sim config)")
    dagger.add_argument(
        "--resume-s",
        type=float,
        default=0.6,
        help="seconds after the expert's last key before the policy drives again (policy.hybrid.resume_s; 0.6)",
    )
    dagger.add_argument("--no-compare-demos", action="store_true", help="skip the plain-demonstrations arm")
    dagger.add_argument("--json", action="store_true", help="print the rows as JSON at the end")
    dagger.add_argument("--robot-config", metavar="FILE", help="robot config YAML of kind sim (default: sim)")
    add_set_option(
        dagger,
        f"the train recipe (the fine-tunes use optim.lr={FINE_TUNE_LR:g} unless set here)",
        "--set data.intervention_weight=3 --set optim.lr=1e-4",
    )
    dagger.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in ("rounds", "episodes_per_round", "steps", "eval_episodes"):
        if getattr(args, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not args.resume_s > 0:
        raise ConfigError(f"--resume-s must be > 0 (0 would keep the expert in control), got {args.resume_s}")
    if not args.config.is_file():
        raise ConfigError(f"--config {args.config}: no such train recipe")
    for folder in args.data:
        if not Path(folder).is_dir():
            raise ConfigError(f"--data {folder}: no such folder")

    import dataclasses

    from mvla_tui.robot.config import load_robot_config
    from policies.default_policy import resolve
    from recorder.catalogue import load_catalogue
    from trainer.config import load_train_config

    policy = str(resolve(args.policy))
    config = load_robot_config(args.robot_config or "sim", [])
    if config.kind != "sim":
        raise ConfigError(
            f"--robot-config {args.robot_config}: kind is {config.kind!r}; sim dagger needs sim"
        )
    if args.size:
        config = with_camera_size(config, args.size)
    hybrid = dataclasses.replace(config.policy.hybrid, resume_s=args.resume_s)
    config = dataclasses.replace(config, policy=dataclasses.replace(config.policy, hybrid=hybrid))
    # data.dirs is filled per round; a placeholder passes the recipe's check of an empty list.
    # A fine-tune starts from trained weights: a third of the recipe's from-scratch rate unless --set says.
    overrides = [f"steps={args.steps}", f"optim.lr={FINE_TUNE_LR}", *args.overrides, "data.dirs=[.]"]
    recipe = load_train_config(args.config, overrides)
    warmup = min(recipe.optim.warmup_steps, args.steps // 10)
    recipe = dataclasses.replace(
        recipe,
        optim=dataclasses.replace(recipe.optim, warmup_steps=warmup),
        checkpoint_every=args.steps,
        eval_every=args.steps,
    )
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot create the folder ({exc.strerror})") from None

    from rich.console import Console

    from mvla_tui.commands._progress import quiet_transformers
    from mvla_tui.core.dagger import DaggerPlan, DaggerRow, run_dagger

    quiet_transformers()
    err = Console(stderr=True)
    plan = DaggerPlan(
        policy=policy,
        rounds=args.rounds,
        episodes_per_round=args.episodes_per_round,
        out=args.out,
        train=recipe,
        eval_episodes=args.eval_episodes,
        eval_seed=args.eval_seed,
        seed=args.seed,
        compare_demos=not args.no_compare_demos,
        data_dirs=[str(Path(d).resolve()) for d in args.data],
    )

    def on_row(row: DaggerRow) -> None:
        err.print(f"[bold]{_line(row)}[/]")

    def on_episode(episode) -> None:
        mark = "ok" if episode.result.success else episode.ended
        err.print(
            f"  {episode.spec.scenario} {episode.spec.distance} seed {episode.spec.seed}: {mark}, "
            f"{episode.takeovers} takeover(s) {episode.takeover_reasons}"
        )

    try:
        rows = run_dagger(config, plan, load_catalogue(), on_row=on_row, on_episode=on_episode, log=err.print)
    except RuntimeError as exc:
        raise ConfigError(str(exc)) from None
    _print_table(rows, args)
    if args.json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    return 0


def _line(row) -> str:
    rate = "-" if row.takeovers_per_100_steps is None else f"{row.takeovers_per_100_steps:.1f}"
    return (
        f"{row.arm} round {row.round}: success {100 * row.success:.1f} %, correct side "
        f"{100 * row.correct_side:.1f} %, collision {100 * row.collision:.1f} %, takeovers/100 steps {rate}, "
        f"operator frames {row.operator_frames}"
    )


def _print_table(rows, args: argparse.Namespace) -> None:
    """A Markdown table: it reads the same in a terminal and a log file, and pastes into a README."""
    print("DAgger vs demonstrations on equal operator frames")
    print(f"{args.eval_episodes} held-out episodes, seed {args.eval_seed}")
    header = (
        "arm",
        "round",
        "success",
        "correct side",
        "collision",
        "takeovers/100 steps",
        "operator frames",
        "episodes",
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        rate = "-" if r.takeovers_per_100_steps is None else f"{r.takeovers_per_100_steps:.1f}"
        cells = (
            r.arm,
            str(r.round),
            f"{100 * r.success:.1f} %",
            f"{100 * r.correct_side:.1f} %",
            f"{100 * r.collision:.1f} %",
            rate,
            str(r.operator_frames),
            str(r.episodes),
        )
        print("| " + " | ".join(cells) + " |")
