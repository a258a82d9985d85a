"""`mvla monitor`: the app's CPU/RAM/GPU/temperature/power figures, headless, for an SSH session.

Only argument parsing and printing live here; the figures come from `mvla_tui.telemetry`, imported
inside `run` so `mvla --help` stays light. Ctrl-C ends the live view; `mvla_tui.cli` turns it into
exit status 130.
"""

from __future__ import annotations

import argparse
import json
import math
import queue
import time
from typing import Any

from configs import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "monitor",
        help="show CPU, RAM, GPU, temperatures, power rails and torch memory, live or once",
        description="Print what the app's monitor panel shows, without the app: CPU load (total and per "
        "core), RAM, swap, this process's RSS, each GPU (NVML on a workstation; on a Jetson jtop when its "
        "service runs, else sysfs or tegrastats, with the GPU memory marked as shared with the CPU), "
        "temperatures, power rails and torch's CUDA memory. Unknown figures print as n/a, and the notes "
        "say what is missing and which extra to install. Refreshes every --interval seconds until Ctrl-C.",
        epilog="Examples: `mvla monitor` (live table), `mvla monitor --once --json` (one JSON object), "
        "`mvla monitor --json --interval 5 >> telemetry.jsonl` (one JSON object per line).",
    )
    parser.add_argument("--once", action="store_true", help="print one sample and exit")
    parser.add_argument(
        "--json", action="store_true", help="print JSON: one object, or one per line when live"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between samples; with --once, the window the CPU load is measured over (default 1)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not (math.isfinite(args.interval) and args.interval > 0):
        raise ConfigError(f"--interval {args.interval:g}: give a positive number of seconds, e.g. 1")
    from mvla_tui.telemetry import make_telemetry

    telemetry = make_telemetry()
    try:
        if args.once:
            # CPU load is a difference of counters: the window is the time since make_telemetry.
            time.sleep(args.interval)
            sample = telemetry.sample()
            if args.json:
                print(json.dumps(sample.to_dict(), indent=2))
            else:
                _console().print(_table(sample))
            return 0
        _live(telemetry, args)
    finally:
        telemetry.close()
    return 0


def _live(telemetry: Any, args: argparse.Namespace) -> None:
    from mvla_tui.telemetry import BackgroundSampler

    samples: queue.Queue[Any] = queue.Queue()
    # The first sample waits one interval, so its CPU load covers a whole window like the others.
    with BackgroundSampler(telemetry, args.interval, on_sample=samples.put, start_delay_s=args.interval):
        if args.json:
            while True:
                print(json.dumps(_next(samples).to_dict()), flush=True)
        console = _console()
        if not console.is_terminal:  # piped: one table per sample, no cursor movement
            while True:
                console.print(_table(_next(samples)))
        from rich.live import Live

        with Live(_table(_next(samples)), console=console, auto_refresh=False) as live:
            while True:
                live.update(_table(_next(samples)), refresh=True)


def _next(samples: queue.Queue[Any]) -> Any:
    # A timeout keeps the main thread responsive to Ctrl-C whatever the platform's lock does.
    while True:
        try:
            return samples.get(timeout=0.5)
        except queue.Empty:
            continue


def _console() -> Any:
    from rich.console import Console

    return Console()


def _table(sample: Any) -> Any:
    from rich.table import Table

    from mvla_tui.telemetry.format import sample_rows

    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(sample.timestamp))
    table = Table(title=f"mvla monitor  {stamp}", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for label, value in sample_rows(sample):
        table.add_row(label, value, style="dim" if label == "Note" else None)
    return table
