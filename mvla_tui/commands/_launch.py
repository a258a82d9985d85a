"""`mvla` without a sub-command: build the session (robot, data folder, policy) and open the app.

Chooses the robot (`--robot auto` says what it chose), loads its config with `--set` overrides, starts
the simulator in real time, resolves `--policy` (a checkpoint or `default`) and hands everything to
`MvlaApp`, which loads the policy in the background so the dashboard appears at once. Textual and the
app are imported here, only when the app runs; torch only when a policy loads.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from configs import ConfigError
from mvla_tui.commands._options import add_robot_option, add_runtime_option, add_set_option, realtime_sim


def add_app_options(parser: argparse.ArgumentParser) -> None:
    add_robot_option(parser)
    parser.add_argument(
        "--policy", metavar="CKPT", help="a checkpoint to load at start (`default`: the shipped one)"
    )
    parser.add_argument("--data", type=Path, metavar="DIR", help="the data folder episodes are recorded into")
    parser.add_argument(
        "--no-camera", action="store_true", help="start with the camera image hidden (slow SSH)"
    )
    add_runtime_option(parser)
    add_set_option(parser, "the robot config", "--set teleop.mode=hold or --set policy.hybrid.resume_s=0")


def run_app(args: argparse.Namespace) -> int:
    from mvla_tui.robot.links import choose_robot, robot_config_for
    from policies.default_policy import resolve

    choice = choose_robot(args.robot)
    config = robot_config_for(choice, args.robot_config, args.overrides)
    config = realtime_sim(config, args.overrides)
    policy = str(resolve(args.policy)) if args.policy else None
    if args.data is not None:
        try:
            args.data.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"--data {args.data}: cannot create the folder ({exc.strerror})") from None
    if not sys.stdout.isatty():
        raise ConfigError(
            "the app needs a terminal; for scripts use `mvla drive`, `mvla monitor` or `mvla eval`"
        )

    graphics = sys.stdin.isatty()
    if graphics:
        import textual_image.widget  # noqa: F401  (asks the terminal its cell size before Textual takes it over)

    from mvla_tui.app import MvlaApp
    from mvla_tui.core.session import Session
    from mvla_tui.telemetry import make_telemetry

    session = Session(
        config, link_reason=choice.reason, data_dir=args.data, runtime=args.runtime, export=args.export
    )
    telemetry = make_telemetry()
    driver = None
    if sys.platform != "win32":
        from mvla_tui.key_release import KeyReleaseDriver

        driver = KeyReleaseDriver
    app = MvlaApp(session, telemetry, policy_source=policy, driver_class=driver, graphics=graphics)
    app.frames.enabled = not args.no_camera
    try:
        app.run()
    finally:
        session.stop("the app ended")
        telemetry.close()
    return 0
