"""`mvla sim collect`: scripted-expert episodes from the MuJoCo sim, written as recorder episodes.

Only argument checking, the progress bar and the summary live here; each episode is driven by the scripted
expert through the operating core's control loop, on the simulated clock, and recorded by its recording
session (`mvla_tui.core.sim_episode`), exactly as an operator's episode on the robot. MuJoCo and the recorder are imported inside `run_collect`, so `mvla --help`
stays light.
"""

from __future__ import annotations

import argparse
import math
from collections import Counter
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands import _sim_dagger
from mvla_tui.commands._options import add_set_option, with_camera_size
from recorder.catalogue import load_catalogue

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
    catalogue = load_catalogue()
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
    collect.add_argument(
        "--pattern", nargs="+", choices=catalogue.patterns, default=["core"], help="default core"
    )
    collect.add_argument(
        "--distance",
        nargs="+",
        choices=catalogue.distances,
        default=list(catalogue.distances),
        help="default all",
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
        "--robot-config",
        "--config",  # its older name, kept for scripts that use it
        dest="robot_config",
        metavar="FILE",
        help="robot config YAML of kind sim (default: configs/robot/sim.yaml), as for `mvla` and `eval`",
    )
    add_set_option(collect, "the robot config", "--set sim.speed_per_unit=0.8 or --set teleop.throttle=60")
    collect.set_defaults(func=run_collect)
    _sim_dagger.register(actions, _seed)


def run_collect(args: argparse.Namespace) -> int:
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {args.episodes}")
    if not (math.isfinite(args.noise) and 0.0 <= args.noise <= 1.0):
        raise ConfigError(f"--noise must be a probability between 0 and 1, got {args.noise}")

    from mvla_tui.robot.config import load_robot_config

    catalogue = load_catalogue()
    scenarios = args.scenario or list(catalogue.current_ids)
    for scenario in scenarios:
        catalogue.get(scenario)  # an unknown id is a one-line error listing the known ones
    config = load_robot_config(args.robot_config or "sim", args.overrides)
    if config.kind != "sim":
        raise ConfigError(
            f"--robot-config {args.robot_config}: kind is {config.kind!r}; sim collect needs a sim config"
        )
    if args.size:
        config = with_camera_size(config, args.size)
    width, height = config.sim.camera_width, config.sim.camera_height
    # MuJoCo loads its GL backend here: a bad MUJOCO_GL is reported before any folder is created.
    from mvla_tui.core.sim_episode import plan_episodes, run_sim_episode

    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {args.out}: cannot create the folder ({exc.strerror})") from None

    from rich.console import Console

    from mvla_tui.commands._progress import command_progress

    specs = plan_episodes(args.episodes, scenarios, args.pattern, args.distance, args.seed)
    console = Console(stderr=True)
    failures: Counter[str] = Counter()
    failed, saved, save_errors = [], [], []
    with command_progress("sim collect", console) as progress:
        task = progress.add_task("episodes", total=len(specs), status="")
        for spec in specs:
            episode = run_sim_episode(
                config, spec, catalogue, noise=args.noise, data_dir=args.out, keep_failed=args.keep_failed
            )
            if episode.saved is not None:
                saved.append(episode.saved)
            elif episode.save_error:
                save_errors.append(episode.save_error)
            if not episode.result.success:
                failures[spec.scenario] += 1
                failed.append((spec, episode.result))
            status = f"{spec.scenario} {spec.distance} {len(episode.keys)} keys"
            if episode.saved is not None:
                status += " [green]saved[/]"
            if not episode.result.success:
                status += f" [red]failed[/]: {episode.result.reason}"
            progress.update(task, advance=1, status=status)
    print(f"saved {len(saved)} episodes ({width}x{height}) to {args.out}")
    for error in save_errors[:5]:
        print(f"  not saved: {error}")
    if failed:
        by_scenario = ", ".join(f"{s} {n}" for s, n in sorted(failures.items()))
        kept = "saved anyway (--keep-failed)" if args.keep_failed else "not saved"
        print(f"the expert failed {len(failed)} of {len(specs)} episodes, {kept}: {by_scenario}")
        for spec, result in failed[:5]:
            print(f"  {spec.scenario} {spec.distance} bias {spec.bias} seed {spec.seed}: {result.reason}")
    else:
        print(f"the expert succeeded in all {len(specs)} episodes")
    return 0 if saved else 1
