"""`mvla eval --sim`: a policy (or the scripted expert) closed loop in the MuJoCo simulator.

Only the checks of the options, the progress bar and the table live here; the episodes run through the
operating core (`mvla_tui.core.evaluation`): the same control loop and policy driver as on the robot, on
the simulated clock (or the wall clock with `--realtime`). `mvla_tui.commands.eval` owns the parser
and calls `run_sim`; torch, MuJoCo and the models are imported inside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

from configs import ConfigError
from mvla_tui.commands._options import with_camera_size
from recorder.catalogue import load_catalogue


def run_sim(args: argparse.Namespace) -> int:
    """`mvla eval --sim`: closed-loop episodes in the simulator, a table (or JSON) of their outcomes."""
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

    from mvla_tui.commands._progress import quiet_transformers
    from mvla_tui.core.evaluation import run_evaluation, summarise
    from mvla_tui.core.policy_worker import PolicyWorker
    from mvla_tui.core.session import runtime_options
    from mvla_tui.core.sim_episode import plan_episodes

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

    from mvla_tui.commands._progress import command_progress
    from mvla_tui.core.cpu_load import busy_processes

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
