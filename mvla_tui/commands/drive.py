"""`mvla drive`: drive the robot (or the simulator, or the fake) headless through the operating core: let a
policy drive with an instruction, or play a key sequence, optionally recording the episode.

For an SSH session without the app, scripted checks and tests that need a real driving process. It prints
which robot it chose and why, one line per step, and a summary (policy latency p50/p99, rate, missed
deadlines). Ctrl-C, SIGTERM and SIGHUP (the SSH session dropped) stop the robot at once and end the run;
so does the end of the steps or of `--duration`. An episode being recorded is saved with `--outcome` when
the run ends by itself, and kept as a recoverable journal when it is interrupted. Heavy imports (torch,
MuJoCo, rclpy) happen inside `run`, for the kind of robot chosen.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import signal
import sys
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_robot_option, add_set_option, realtime_sim
from mvla_tui.robot.hooks import LoopPart


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "drive",
        help="drive headless: a policy with an instruction, or a key sequence (optionally recorded)",
        description="Drive the robot without the app, through the same control loop (limits, throttle, "
        "deadman, e-stop on every exit) and policy driver as the app. With --policy the policy drives "
        "(step mode by default: the frame at rest, a 0.4 s press, 0.15 s to settle); with --keys the keys "
        "are pressed one per step, as an operator would. Ctrl-C, SIGTERM or SIGHUP stop the robot at once.",
    )
    add_robot_option(parser)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--policy",
        metavar="CKPT",
        help="a checkpoint directory, or `default` (the packaged policy): the policy drives",
    )
    who.add_argument(
        "--keys", metavar="KEYS", help="keys to press one per step, e.g. 'w w a a w d d' (space: stop)"
    )
    parser.add_argument("--instruction", metavar="TEXT", help="the English instruction for --policy")
    parser.add_argument(
        "--steps", type=int, default=20, metavar="N", help="policy steps before stopping (20)"
    )
    parser.add_argument(
        "--duration", type=float, metavar="S", help="stop after this many seconds whatever else happens"
    )
    parser.add_argument("--record", type=Path, metavar="DIR", help="record the run as an episode into DIR")
    parser.add_argument("--scenario", help="scenario id of the recorded episode (with --record)")
    parser.add_argument("--pattern", default="core", help="pattern of the recorded episode (core)")
    parser.add_argument("--distance", default="medium", help="distance of the recorded episode (medium)")
    parser.add_argument(
        "--outcome",
        choices=["success", "failure"],
        default="success",
        help="saved with the episode (success)",
    )
    parser.add_argument("--device", help="policy device: auto, cpu, cuda, cuda:N")
    add_set_option(
        parser, "the robot config", "--set teleop.throttle=30 or --set policy.execution=continuous"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {args.steps}")
    if args.duration is not None and not (math.isfinite(args.duration) and args.duration > 0):
        raise ConfigError(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.policy is not None and not args.instruction:
        raise ConfigError(
            "--policy needs --instruction TEXT, e.g. 'Navigate around the obstacle on the left side'"
        )
    if args.record is not None and not args.scenario:
        raise ConfigError("--record needs --scenario ID (and --pattern, --distance) to name the episode")
    if args.policy is not None:
        from policies.default_policy import resolve

        args.policy = str(resolve(args.policy))
    keys = None
    if args.keys is not None:
        from recorder.catalogue import KEYMAP, normalise_key

        keys = [normalise_key(k) for k in args.keys.replace(",", " ").split()]
        bad = [k for k in keys if k not in KEYMAP]
        if not keys or bad:
            raise ConfigError(
                f"--keys: {bad[0] if bad else args.keys!r} is not a movement key ({' '.join(KEYMAP)})"
            )

    from mvla_tui.robot.links import choose_robot, robot_config_for

    choice = choose_robot(args.robot)
    config = robot_config_for(choice, args.robot_config, args.overrides)
    config = realtime_sim(config, args.overrides)
    if args.device:
        config = dataclasses.replace(config, policy=dataclasses.replace(config.policy, device=args.device))
    print(f"robot: {choice.reason}", flush=True)
    if args.record is not None:
        try:
            args.record.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--record {args.record}: cannot create the folder ({exc.strerror})") from None

    from mvla_tui.core.intents import RunPolicy, SetInstruction, StartEpisode
    from mvla_tui.core.key_driver import sequence_driver
    from mvla_tui.core.policy_worker import PolicyWorker
    from mvla_tui.core.session import Session, runtime_options
    from mvla_tui.robot.safety import install_signal_stop

    worker = None
    if args.policy is not None:
        worker = PolicyWorker(runtime_options(config), config.limits)
        done = worker.load_and_wait(args.policy)
        if done.error is not None:
            worker.close()
            raise ConfigError(done.error)
        print(f"policy: {done.label}, {done.describe}", flush=True)

    session = Session(
        config, link_reason=choice.reason, data_dir=args.record, worker=worker, policy=worker is not None
    )
    keys_part = None
    if keys is not None:
        recording = session.recording
        keys_part = sequence_driver(
            session.loop,
            keys,
            config.teleop,
            ready=lambda: recording is None or not recording.waiting_for_camera,
        )
        session.add_part(keys_part)
    session.add_part(_StepPrinter(session))
    if args.record is not None:
        session.submit(StartEpisode(args.scenario, args.pattern, args.distance, args.instruction))
    if worker is not None:
        session.submit(SetInstruction(args.instruction))
        session.submit(RunPolicy())

    finished = {"by_itself": False}

    def should_stop() -> bool:
        if keys_part is not None:
            over = keys_part.done and session.loop.moving_source is None
        else:
            state = session.policy.snapshot(0.0)
            over = not state.running or state.steps >= args.steps
        if over and not finished["by_itself"]:
            finished["by_itself"] = True
            if session.recording is not None and session.recording.recording:
                session.recording.save(args.outcome)
        return over

    restore = install_signal_stop(session.loop, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))
    try:
        session.run(duration_s=args.duration, should_stop=should_stop)
    finally:
        restore()
        if worker is not None:
            worker.close()
    _summary(session)
    return 0


class _StepPrinter(LoopPart):
    """One line per motion the loop started or policy step executed, and each new message (control thread)."""

    def __init__(self, session) -> None:
        self.session = session
        self.steps = 0
        self.presses = 0
        self.messages: set[str] = set()

    def on_tick(self, now: float) -> None:
        robot = self.session.loop.state
        policy = self.session.policy.snapshot(now) if self.session.policy is not None else None
        if policy is not None and policy.steps != self.steps and policy.command is not None:
            self.steps = policy.steps
            x, y, z = policy.command
            print(
                f"step {policy.steps:3d}  action [{x:+.2f} {y:+.2f} {z:+.2f}]  {policy.latency_ms:.1f} ms",
                flush=True,
            )
        elif policy is None and robot.steps != self.presses and robot.action is not None:
            self.presses = robot.steps
            x, y, z = robot.action
            print(
                f"press {robot.steps:3d}  action [{x:+.2f} {y:+.2f} {z:+.2f}]  sent {_twist(robot.twist)}",
                flush=True,
            )
        for message in (robot.last_error, robot.estop_reason, *robot.warnings):
            if message and message not in self.messages:
                self.messages.add(message)
                print(f"note: {message}", file=sys.stderr, flush=True)


def _twist(twist) -> str:
    return f"[{twist.linear_x:+.3f} {twist.linear_y:+.3f} {twist.angular_z:+.3f}] (m/s, m/s, rad/s)"


def _summary(session) -> None:
    state = session.state
    robot = state.robot
    print(f"stopped: {robot.steps} motions; last command sent {_twist(robot.twist)}")
    policy = state.policy
    if policy is not None and policy.steps:
        hz = f"{policy.effective_hz:.2f} Hz" if policy.effective_hz else "-"
        print(
            f"policy: {policy.steps} steps, latency p50 {policy.latency_p50_ms:.1f} ms p99 "
            f"{policy.latency_p99_ms:.1f} ms, {hz}, {policy.missed_deadlines} missed deadlines, "
            f"{policy.stale_frames} stale frames, {robot.guard_stops} guard stops"
            + (
                f"; {'done' if policy.ended == 'done' else 'stopped'}: {policy.stop_reason}"
                if policy.stop_reason
                else ""
            )
        )
    if state.sim_result is not None:
        print(f"sim: {state.sim_result.reason}")
    recording = state.recording
    if recording is not None:
        if recording.last_saved:
            print(f"saved {Path(recording.data_dir) / recording.last_saved} ({recording.last_outcome})")
        elif recording.last_error:
            print(f"recording: {recording.last_error}")
