"""`mvla eval`: a policy closed loop in the MuJoCo simulator (`--sim`), or offline on recorded episodes
(`--data DIR`).

`--sim`: only arguments, the progress bar and the table live here; the episodes run through the
operating core (`mvla_tui.core.evaluation`): the same control loop and policy driver as on the robot,
on the simulated clock. `--data`: the episodes are checked and indexed as for training
(`trainer.index`), the policy predicts every step as the runtime would (`trainer.offline`), and the
metrics (`trainer.metrics`) are printed per scenario and per axis. `--policy default` is the packaged
policy (`policies.default_policy`). Torch, MuJoCo and the models are imported inside `run`, so
`mvla --help` stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from configs import ConfigError
from mvla_tui.options import add_runtime_option, add_set_option, with_camera_size
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
        return run_offline(args)
    if not args.sim:
        raise ConfigError("choose --sim (closed loop in the simulator) or --data DIR (offline on episodes)")
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be at least 1, got {args.episodes}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    if args.load < 0:
        raise ConfigError(f"--load must be >= 0, got {args.load}")
    if args.load and not args.realtime:
        raise ConfigError("--load needs --realtime (in simulated time the clock waits for the CPU)")
    if args.policy is not None:
        from policies.default_policy import resolve

        args.policy = str(resolve(args.policy))

    from mvla_tui.core.evaluation import choose_instructions
    from mvla_tui.robot.config import load_robot_config
    from recorder.catalogue import load_side_instructions

    catalogue = load_catalogue()
    scenarios = args.scenario or list(catalogue.current_ids)
    for scenario in scenarios:
        catalogue.get(scenario)
    instructions = load_side_instructions(args.instructions) if args.instructions else None
    config = load_robot_config(args.robot_config or "sim", args.overrides)
    if config.kind != "sim":
        raise ConfigError(
            f"--robot-config {args.robot_config}: kind is {config.kind!r}; eval --sim needs kind sim"
        )
    policy = config.policy
    try:
        policy = dataclasses.replace(
            policy,
            device=args.device or policy.device,
            precision=args.precision or policy.precision,
            threads=args.threads or policy.threads,
            stop_below=policy.stop_below if args.stop_below is None else args.stop_below,
        )
    except ValueError as exc:
        raise ConfigError(f"--stop-below: {exc}") from None
    config = dataclasses.replace(config, policy=policy)
    if args.size:
        config = with_camera_size(config, args.size)
    if args.video is not None:
        try:
            args.video.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--video {args.video}: cannot create the folder ({exc.strerror})") from None

    from mvla_tui.core.evaluation import run_evaluation, summarise
    from mvla_tui.core.policy_worker import PolicyWorker
    from mvla_tui.core.session import runtime_options
    from mvla_tui.core.sim_episode import plan_episodes
    from mvla_tui.progress import quiet_transformers

    specs = plan_episodes(args.episodes, scenarios, ["core"], args.distance, args.seed)
    chosen = choose_instructions(specs, catalogue, instructions, args.seed)
    worker = None
    label = "scripted expert"
    if args.policy is not None:
        quiet_transformers()
        worker = PolicyWorker(runtime_options(config, args.runtime, args.export), config.limits)
        done = worker.load_and_wait(args.policy)
        if done.error is not None:
            worker.close()
            raise ConfigError(done.error)
        label = f"{done.label}, {done.describe}"

    from rich.console import Console

    from mvla_tui.core.cpu_load import busy_processes
    from mvla_tui.progress import command_progress

    err = Console(stderr=True)
    try:
        with (
            busy_processes(args.load),
            command_progress("eval", err, remaining=False, transient=True) as progress,
        ):
            task = progress.add_task("episodes", total=len(specs), status="")

            def on_episode(episode) -> None:
                mark = "[green]ok[/]" if episode.result.success else f"[red]{episode.ended}[/]"
                progress.update(
                    task, advance=1, status=f"{episode.spec.scenario} {episode.spec.distance} {mark}"
                )

            episodes = run_evaluation(
                config,
                specs,
                catalogue,
                chosen,
                worker,
                video_dir=args.video,
                realtime=args.realtime,
                on_episode=on_episode,
            )
    finally:
        if worker is not None:
            worker.close()
    rows = summarise(episodes, catalogue)
    if args.json:
        print(
            json.dumps(
                {
                    "policy": label,
                    "clock": "realtime" if args.realtime else "simulated",
                    "load": args.load,
                    "rows": [r.to_dict() for r in rows],
                    "episodes": [
                        {
                            "scenario": e.spec.scenario,
                            "distance": e.spec.distance,
                            "bias": e.spec.bias,
                            "seed": e.spec.seed,
                            "instruction": e.instruction,
                            "success": e.result.success,
                            "reason": e.result.reason,
                            "ended": e.ended,
                            "steps": e.steps,
                            "steps_per_s": e.steps_per_s,
                            "missed_deadlines": e.missed_deadlines,
                            "stale_frames": e.stale_frames,
                            "guard_stops": e.guard_stops,
                            "video": str(e.video) if e.video else None,
                        }
                        for e in episodes
                    ],
                },
                indent=2,
            )
        )
        return 0
    _print_table(rows, label, config, args)
    failed = [e for e in episodes if not e.result.success]
    for episode in failed[:8]:
        s = episode.spec
        video = f" (video {episode.video})" if episode.video else ""
        print(
            f"  failed {s.scenario} {s.distance} bias {s.bias} seed {s.seed}: {episode.result.reason} [{episode.ended}]{video}"
        )
    if len(failed) > 8:
        print(f"  ... and {len(failed) - 8} more failed episodes (--json lists them all)")
    return 0


def _print_table(rows, label: str, config, args) -> None:
    from rich.console import Console
    from rich.table import Table

    clock = (
        f"on the wall clock{f', {args.load} busy processes beside it' if args.load else ''}"
        if args.realtime
        else "in simulated time"
    )
    table = Table(title=f"closed loop in the sim, {clock}: {label}", title_justify="left")
    columns = ["scenario", "n", "success", "side ok", "collision", "timeout", "steps", "p50 ms", "p99 ms"]
    if args.realtime:
        columns += ["steps/s", "missed", "stale", "guard"]
    for name in columns:
        table.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)

    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    def opt(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for row in rows:
        cells = [
            row.scenario,
            str(row.episodes),
            pct(row.success),
            pct(row.correct_side),
            pct(row.collision),
            pct(row.timeout),
            opt(row.steps_to_success, ".1f"),
            opt(row.latency_p50_ms, ".1f"),
            opt(row.latency_p99_ms, ".1f"),
        ]
        if args.realtime:
            cells += [
                opt(row.steps_per_s, ".2f"),
                f"{row.missed_deadlines} ({pct(row.missed_rate)})",
                str(row.stale_frames),
                str(row.guard_stops),
            ]
        table.add_row(*cells, style="bold" if row.scenario == "all" else None)
    Console(width=max(140 if args.realtime else 100, Console().width)).print(table)
    sim = config.sim
    print(
        "side ok: alongside the obstacle only on the instructed side; steps: mean steps of the successes; "
        "p50/p99: policy step latency"
        + (
            "; missed: actions later than their deadline (share of the steps); stale: waits for a fresh "
            "frame that ended without one; guard: motions the deadline guard had to stop"
            if args.realtime
            else ""
        )
    )
    print(
        f"{args.episodes} episodes, seed {args.seed}, camera {sim.camera_width}x{sim.camera_height}, "
        f"{config.policy.execution} mode, throttle {config.teleop.throttle} %, "
        f"at most {config.policy.max_steps} steps"
    )


def run_offline(args: argparse.Namespace) -> int:
    """`mvla eval --data DIR --policy CKPT`: offline metrics on recorded episodes."""
    if args.expert:
        raise ConfigError("--data scores a policy's predictions; --expert only runs in the sim (--sim)")
    if args.check_timeout <= 0:
        raise ConfigError(f"--check-timeout must be > 0, got {args.check_timeout}")
    if args.runtime != "torch":
        raise ConfigError(
            f"--runtime {args.runtime}: for --sim; offline metrics (--data) run the torch policy"
        )
    from policies.default_policy import resolve

    checkpoint = resolve(args.policy)
    for folder in args.data:
        if not folder.is_dir():
            raise ConfigError(f"--data {folder}: no such folder")

    import numpy as np
    import torch

    from mvla_tui.progress import quiet_transformers
    from policies.checkpoint import load_checkpoint
    from policies.runtime import resolve_device
    from recorder.catalogue import load_catalogue
    from trainer.data import episode_steps
    from trainer.index import build_index
    from trainer.metrics import key_name, per_group
    from trainer.offline import predict

    if args.threads:
        torch.set_num_threads(args.threads)
    quiet_transformers()
    device = resolve_device(args.device or "auto")
    policy, norm, info = load_checkpoint(checkpoint, device=device)
    index = build_index(args.data, load_catalogue(), include_failed=True, timeout_s=args.check_timeout)
    episodes = index.episodes
    held = set(info.provenance.held_out)
    split = args.split or ("held-out" if held else "all")
    if split == "held-out":
        if not held:
            raise ConfigError(f"{checkpoint}: the checkpoint lists no held-out episodes; use --split all")
        episodes = [e for e in episodes if e.name in held]
        if not episodes:
            raise ConfigError(
                f"none of the checkpoint's {len(held)} held-out episodes is in {', '.join(map(str, args.data))}; "
                "use --split all to score every episode there"
            )
    if not episodes:
        raise ConfigError(
            f"no usable episode in {', '.join(map(str, args.data))}: " + "; ".join(index.describe_skipped(3))
        )
    by_name = {e.name: e for e in episodes}
    preds, losses = predict(policy, (episode_steps(e, norm) for e in episodes), norm, device)
    predicted = np.concatenate([p.predicted for p in preds])
    recorded = np.concatenate([p.recorded for p in preds])
    groups = [by_name[p.key].scenario or "(no scenario)" for p in preds for _ in range(len(p.predicted))]
    key_of = key_name if policy.head_kind == "discrete" else None
    results = per_group(predicted, recorded, groups, key_of)
    label = f"{info.name} ({checkpoint.name}, {info.provenance.steps} steps), {policy.head_kind} head"
    episodes_per = {
        g: sum(1 for p in preds if (by_name[p.key].scenario or "(no scenario)") == g) for g in results
    }
    episodes_per["all"] = len(preds)
    if args.json:
        print(
            json.dumps(
                {
                    "policy": label,
                    "split": split,
                    "episodes": len(preds),
                    "skipped": [{"file": s.path, "kind": s.kind, "reason": s.reason} for s in index.skipped],
                    "loss": losses,
                    "groups": {g: {"episodes": episodes_per[g], **m.to_dict()} for g, m in results.items()},
                },
                indent=2,
            )
        )
        return 0
    _print_offline(results, episodes_per, label, split, losses, index)
    return 0


def _print_offline(results, episodes_per, label: str, split: str, losses: dict, index) -> None:
    from rich.console import Console
    from rich.table import Table

    probe = Console()
    console = Console(width=max(150, probe.width) if not probe.is_terminal else probe.width)
    table = Table(title=f"offline on {split} episodes: {label}", title_justify="left")
    heads = [
        "scenario",
        "episodes",
        "steps",
        "all@0.3",
        "all@0.2",
        "all@0.15",
        "all@0.1",
        "MAE x",
        "MAE y",
        "MAE z",
        "dir x",
        "dir y",
        "dir z",
    ]
    for name in heads:
        table.add_column(name, justify="left" if name == "scenario" else "right", no_wrap=True)
    for group, m in results.items():
        axes = list(m.axes.values())
        row = [group, str(episodes_per[group]), str(m.steps)]
        row += [f"{100 * m.accuracy_all[t]:.1f}%" for t in ("0.3", "0.2", "0.15", "0.1")]
        row += [f"{a.mae:.3f}" for a in axes] + ["-"] * (3 - len(axes))
        row += [f"{100 * a.sign_accuracy:.1f}%" for a in axes] + ["-"] * (3 - len(axes))
        table.add_row(*row, style="bold" if group == "all" else None)
    console.print(table)
    overall = results["all"]
    axes = Table(title="per axis, all episodes (key units: a press is 1.15)", title_justify="left")
    for name in (
        "axis",
        "MAE",
        "RMSE",
        "acc@0.3",
        "acc@0.2",
        "acc@0.15",
        "acc@0.1",
        "R²",
        "Pearson",
        "direction",
    ):
        axes.add_column(name, justify="left" if name == "axis" else "right", no_wrap=True)

    def opt(v) -> str:
        return "-" if v is None else f"{v:.3f}"

    for name, a in overall.axes.items():
        axes.add_row(
            name,
            f"{a.mae:.3f}",
            f"{a.rmse:.3f}",
            *(f"{100 * a.accuracy[t]:.1f}%" for t in ("0.3", "0.2", "0.15", "0.1")),
            opt(a.r2),
            opt(a.pearson),
            f"{100 * a.sign_accuracy:.1f}%",
        )
    console.print(axes)
    if overall.confusion:
        keys = sorted({k for row in overall.confusion.values() for k in row} | set(overall.confusion))
        confusion = Table(
            title="per-key confusion (rows: recorded key, columns: predicted)", title_justify="left"
        )
        confusion.add_column("key")
        for k in keys:
            confusion.add_column(k, justify="right")
        for true in keys:
            row = overall.confusion.get(true, {})
            confusion.add_row(true, *(str(row.get(k, 0)) or "0" for k in keys))
        console.print(confusion)
    shown = ", ".join(f"{k} {v:.4f}" for k, v in losses.items())
    print(
        f"loss over the windows: {shown}; accuracy within t: |predicted - recorded| <= t (all@t: every axis)"
    )
    print("direction: -1/0/+1 with |a| < 0.1 as 0; steps: chunk[0] at every step, as the runtime commands it")
    if index.skipped:
        print(f"skipped {len(index.skipped)} file(s): " + "; ".join(index.describe_skipped(0)))
