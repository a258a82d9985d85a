"""The `mvla` command: argument parsing, dispatch to sub-commands and the user-error boundary.

A user error (`MvlaError`), or a missing optional module (`configs.extras`), is printed as one line on
stderr with exit status 2; a traceback is only shown for a bug, or for anything when `MVLA_DEBUG=1`.
Every command, the app included, runs with `faulthandler` on stderr (`configs.crashes`): a crash inside
a native library prints the Python stack of every thread before the process dies.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from configs import MvlaError
from configs.crashes import enable_faulthandler
from configs.extras import missing_module_line
from mvla_tui import __version__, commands
from mvla_tui.commands._launch import add_app_options, run_app

EPILOG = "Run `mvla COMMAND --help` for the options of one command."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mvla",
        description="Mobile VLA: drive, record, train, evaluate and benchmark vision-language-action "
        "policies on an omni-wheel robot or its MuJoCo simulation. Without a COMMAND, opens the terminal "
        "app (on the robot over ROS 2, or on the simulator: --robot).",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"mvla {__version__}")
    add_app_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue  # the commands' shared plumbing (`_launch`, `_options`, ...), not a sub-command
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    enable_faulthandler()
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None) or run_app
    try:
        return int(func(args) or 0)
    except MvlaError as exc:
        if os.environ.get("MVLA_DEBUG"):
            raise
        print(f"mvla{' ' + args.command if args.command else ''}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:
        line = missing_module_line(exc)
        if line is None or os.environ.get("MVLA_DEBUG"):
            raise
        print(f"mvla{' ' + args.command if args.command else ''}: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"mvla{' ' + args.command if args.command else ''}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
