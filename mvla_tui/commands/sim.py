"""`mvla sim collect`: scripted-expert episodes from the MuJoCo sim, written as recorder episodes.

Only argument checking, the progress bar and the summary live here; the episodes come from
`mvla_tui.sim.collect`. MuJoCo and the recorder are imported inside `run_collect`, so `mvla --help`
stays light.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path

from configs import ConfigError

_DISTANCES = ("close", "medium", "far")
_PATTERNS = ("core", "variant")
_MAX_SEED = 2**32 - 1  # episode seeds derived from it stay well inside the int64 file attribute


def _seed(text: str) -> int:
    """argparse type of `--seed`: numpy's generators take only non-negative seeds."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= _MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be 0..{_MAX_SEED}, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="MuJoCo simulation of the obstacle scenarios (collect scripted-expert episodes)",
        description="Work with the MuJoCo simulation of the obstacle scenarios.",
    )
    actions = parser.add_subparsers(dest="sim_command", metavar="ACTION", required=True)
    collect = actions.add_parser(
        "collect",
        help="write scripted-expert episodes (V4 files, like the robot's collector)",
        description="Drive the scripted expert through seeded sim layouts and write each successful "
        "episode into DIR through the recorder (frame 0 episode_start, then one start_action frame per "
        "key). Episodes cycle through every scenario x distance x pattern you select; the position "
        "bias is drawn from the seed. Every file records the expert's verdict in its root attributes "
        "(sim_success, sim_failure, sim_seed, sim_bias, sim_noise). Failed expert episodes are counted and "
        "not saved unless --keep-failed.",
    )
    collect.add_argument("--episodes", type=int, required=True, metavar="N", help="episodes to run")
    collect.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="data folder (created if missing)"
    )
    collect.add_argument(
        "--scenario",
        nargs="+",
        metavar="ID",
        help="scenario ids (default: the 4 current ones; the 8 older ids work too)",
    )
    collect.add_argument("--pattern", nargs="+", choices=_PATTERNS, default=["core"], help="default core")
    collect.add_argument(
        "--distance", nargs="+", choices=_DISTANCES, default=list(_DISTANCES), help="default all"
    )
    collect.add_argument(
        "--seed", type=_seed, default=0, help="base seed (0..2**32-1); episode i uses a seed derived from it"
    )
    collect.add_argument("--size", metavar="WxH", help="camera size (default from the sim config, 1280x720)")
    collect.add_argument(
        "--noise", type=float, default=0.0, metavar="P", help="probability of a random wrong key per press"
    )
    collect.add_argument(
        "--keep-failed",
        action="store_true",
        help="also save episodes the expert failed (marked by the root attributes sim_success=false and "
        "sim_failure, the reason)",
    )
    collect.add_argument(
        "--config", type=Path, metavar="FILE", help="sim config YAML (default: the packaged one)"
    )
    collect.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a sim config field (repeatable), e.g. --set throttle=0.6",
    )
    collect.set_defaults(func=run_collect)


def run_collect(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {args.episodes}")
    if not (math.isfinite(args.noise) and 0.0 <= args.noise <= 1.0):
        raise ConfigError(f"--noise must be a probability between 0 and 1, got {args.noise}")

    from mvla_tui.sim.config import load_sim_config, parse_size
    from recorder.catalogue import load_catalogue

    catalogue = load_catalogue()
    scenarios = args.scenario or list(catalogue.current_ids)
    for scenario in scenarios:
        catalogue.get(scenario)  # an unknown id is a one-line error listing the known ones
    config = load_sim_config(args.config, args.overrides)
    width, height = parse_size(args.size) if args.size else (config.camera_width, config.camera_height)
    # MuJoCo loads its GL backend here: a bad MUJOCO_GL is reported before any folder is created.
    from mvla_tui.sim.collect import collect, plan_episodes

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot create the folder ({exc.strerror})") from None

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    specs = plan_episodes(args.episodes, scenarios, args.pattern, args.distance, args.seed)
    console = Console(stderr=True)
    failures: Counter[str] = Counter()
    with Progress(
        TextColumn("[bold]sim collect"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("episodes", total=len(specs), status="")

        def on_episode(spec, rollout, path) -> None:
            if not rollout.result.success:
                failures[spec.scenario] += 1
            status = f"{spec.scenario} {spec.distance} {len(rollout.keys)} keys"
            status += " [green]saved[/]" if path is not None else f" [red]failed[/]: {rollout.result.reason}"
            progress.update(task, advance=1, status=status)

        summary = collect(
            args.out, specs, config, width, height, args.noise, args.keep_failed, on_episode=on_episode
        )
    print(f"saved {len(summary.saved)} episodes ({width}x{height}) to {args.out}")
    if summary.failed:
        by_scenario = ", ".join(f"{s} {n}" for s, n in sorted(failures.items()))
        kept = "saved anyway (--keep-failed)" if args.keep_failed else "not saved"
        print(f"the expert failed {len(summary.failed)} of {len(specs)} episodes, {kept}: {by_scenario}")
        for spec, result in summary.failed[:5]:
            print(f"  {spec.scenario} {spec.distance} bias {spec.bias} seed {spec.seed}: {result.reason}")
    else:
        print(f"the expert succeeded in all {len(specs)} episodes")
    return 0 if summary.saved else 1
