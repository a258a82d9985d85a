"""`mvla eval`: a policy closed loop in the MuJoCo simulator (`--sim`), or offline on recorded episodes
(`--data DIR`): one sub-command, two jobs.

Here live the parser (both modes' options, so `mvla eval --help` shows them together) and the choice
of mode; the closed loop is `_eval_sim.run_sim`, the offline metrics `_eval_offline.run_offline`.
`--policy default` is the packaged policy (`policies.default_policy`). Torch, MuJoCo and the models
are imported inside those, so `mvla --help` stays light.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_runtime_option, add_set_option
from recorder.catalogue import load_catalogue


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="evaluate a policy closed loop in the simulator, or offline on recorded episodes",
        description="With --sim: run a policy (or, with --expert, the scripted expert: the sanity row) through seeded "
        "simulator layouts of the obstacle scenarios, driven exactly as on the robot (the control loop, "
        "step mode, throttle and limits of the sim robot config), and report per scenario and overall: "
        "success, correct-side, collision and timeout rates, steps to success, and policy step latency "
        "p50/p99. An episode ends when the policy commands a stop, the robot touches anything, or after "
        "policy.max_steps steps, as in the app. By default in simulated time (as fast as it renders); with "
        "--realtime on the wall clock exactly as the app runs it (camera rendered on demand, fresh frames, "
        "deadline guard), adding steps per second, missed deadlines, stale frames and guard stops. With --data DIR: offline metrics of the policy's action at every step of "
        "recorded episodes (by default the checkpoint's held-out episodes): MAE, RMSE, accuracy within "
        "0.3/0.2/0.15/0.1, R², Pearson correlation and direction accuracy per axis, per scenario, and the "
        "per-key confusion of a discrete head.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sim", action="store_true", help="closed loop in the MuJoCo simulator")
    parser.add_argument(
        "--realtime",
        action="store_true",
        help="--sim: run on the wall clock as the app does (an episode takes its real duration, ~0.6 s a step)",
    )
    parser.add_argument(
        "--load",
        type=int,
        default=0,
        metavar="N",
        help="--sim --realtime: N busy processes beside it, each spinning a core, as on a shared robot computer",
    )
    mode.add_argument(
        "--data", nargs="+", type=Path, metavar="DIR", help="offline on the episode files of these folders"
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--policy", metavar="CKPT", help="a checkpoint directory, or `default` (the packaged policy)"
    )
    who.add_argument("--expert", action="store_true", help="the scripted expert through the same path")
    parser.add_argument("--episodes", type=int, default=24, metavar="N", help="--sim: episodes (default 24)")
    parser.add_argument(
        "--split",
        choices=["held-out", "all"],
        default=None,
        help="--data: score the checkpoint's held-out episodes found in DIR (the default when it lists "
        "any) or every episode",
    )
    parser.add_argument(
        "--check-timeout", type=float, default=60.0, metavar="S", help="--data: per-file check timeout (60 s)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="layouts, biases and instruction draws (default 0)"
    )
    parser.add_argument(
        "--scenario",
        nargs="+",
        metavar="ID",
        help="scenario ids (default: the 4 current ones; older ids work)",
    )
    distances = load_catalogue().distances
    parser.add_argument(
        "--distance", nargs="+", choices=distances, default=list(distances), help="default all"
    )
    parser.add_argument(
        "--instructions",
        type=Path,
        metavar="FILE",
        help="YAML with `left:` and `right:` lists of instructions; each episode draws one of its side "
        "(seeded). Default: the catalogue's instruction of the scenario",
    )
    parser.add_argument("--size", metavar="WxH", help="sim camera size (default: the sim config's, 1280x720)")
    parser.add_argument(
        "--device", default=None, help="policy device: auto, cpu, cuda, cuda:N (default auto)"
    )
    parser.add_argument(
        "--precision", choices=["auto", "fp32", "fp16", "bf16"], default=None, help="policy precision (auto)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="torch CPU threads for the policy (default: torch's)",
    )
    parser.add_argument(
        "--stop-below",
        type=float,
        default=None,
        metavar="A",
        help="a policy command below A on every axis (key units; a press is 1.15) ends the episode "
        "(policy.stop_below, 0.1)",
    )
    add_runtime_option(parser)
    parser.add_argument("--video", type=Path, metavar="DIR", help="write an MP4 of every failed episode here")
    parser.add_argument("--json", action="store_true", help="print the rows and episodes as JSON")
    parser.add_argument(
        "--robot-config", metavar="FILE", help="a sim robot config YAML (default: configs/robot/sim.yaml)"
    )
    add_set_option(
        parser,
        "the sim robot config",
        "--set sim.speed_per_unit=0.8 or --set policy.chunk_execution=ensemble",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.data:
        from mvla_tui.commands._eval_offline import run_offline

        return run_offline(args)
    if not args.sim:
        raise ConfigError("choose --sim (closed loop in the simulator) or --data DIR (offline on episodes)")
    from mvla_tui.commands._eval_sim import run_sim

    return run_sim(args)
