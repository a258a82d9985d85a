"""`mvla dataset check|stats|recover|view`: look after a folder of episode files from the terminal.

This module parses arguments and presents results (rich tables, progress bars on long work, JSON);
the work itself lives in `recorder` (check, stats, recover), which knows nothing about terminals.
It never modifies an episode file except through `recorder.recover`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterable
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "dataset",
        help="check, count, recover, view, export and import episode files",
        description="Look after a folder of HDF5 episode files: find damaged ones, count progress "
        "against the collection targets, salvage recordings interrupted by a crash, look at episodes in "
        "the Rerun viewer, and move episodes to and from LeRobot v3 datasets and ROS 2 bags.",
    )
    actions = parser.add_subparsers(dest="dataset_action", metavar="ACTION", required=True)

    check = actions.add_parser(
        "check",
        help="validate every episode file",
        description="Read every episode file (every frame) and name each problem found. Each file is read "
        "in a child process with a timeout, so a file that crashes or hangs the HDF5 library is reported "
        "as unreadable. Exit status 1 when anything is wrong.",
    )
    check.add_argument("path", type=Path, metavar="DIR", help="data folder (or one .h5 file)")
    check.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="a file whose check takes longer than S seconds is unreadable (default 60)",
    )
    check.add_argument("--json", action="store_true", help="print a JSON report instead of a table")
    check.set_defaults(func=_check)

    stats = actions.add_parser(
        "stats",
        help="progress against the targets, frame counts, time periods",
        description="How many episodes per scenario x pattern x distance, against the catalogue's "
        "targets; frame-count distribution; collection time periods. Keeps scenario_progress.json "
        "and time_period_stats.json current for the older collector.",
    )
    stats.add_argument("path", type=Path, metavar="DIR", help="data folder")
    stats.add_argument("--no-write", action="store_true", help="do not update the progress files")
    stats.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="S",
        help="a file whose attributes take longer than S seconds to read is unreadable (default 60)",
    )
    stats.set_defaults(func=_stats)

    recover = actions.add_parser(
        "recover",
        help="salvage recordings interrupted by a crash",
        description="Turn each temporary file left by a crash into an episode marked recovered "
        "(every complete frame), or delete it with --discard. Shows the plan first; asks for "
        "confirmation on a terminal, and without one changes nothing unless -y is given. A file "
        "with a temporary name that is not a journal is left alone unless --discard is given.",
    )
    recover.add_argument("path", type=Path, metavar="DIR", help="data folder")
    recover.add_argument("--discard", action="store_true", help="delete the temporary files instead")
    recover.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    recover.add_argument("--dry-run", action="store_true", help="show the plan and change nothing")
    recover.set_defaults(func=_recover)

    from mvla_tui.commands import _dataset_view

    _dataset_view.register(actions)

    from mvla_tui.commands import _dataset_formats

    _dataset_formats.register(actions)


def _check(args: argparse.Namespace) -> int:
    from recorder.check import PROBLEM_KINDS
    from recorder.errors import RecorderError
    from recorder.isolated import IsolatedReader
    from recorder.recover import SALVAGE, find_leftovers
    from recorder.stats import episode_files

    path: Path = args.path
    if path.is_dir():
        files, leftovers = episode_files(path), find_leftovers(path)
        if not files:
            salvageable = sum(lo.state == SALVAGE for lo in leftovers)
            hint = (
                f"{salvageable} unfinished recording(s) here: run `mvla dataset recover {path}`"
                if salvageable
                else "pass the folder that holds the episode files"
            )
            raise RecorderError(f"{path}: no episode files (*.h5) in this folder; {hint}")
    elif path.is_file():
        files, leftovers = [path], []
    else:
        raise RecorderError(f"{path}: no such folder or file")
    if not args.timeout > 0:
        raise RecorderError(f"--timeout must be > 0 seconds, got {args.timeout}")
    reports = []
    with IsolatedReader(timeout_s=args.timeout) as reader, _progress("dataset check", files) as progress:
        task = progress.add_task("files", total=len(files), status="")
        for file in files:
            reports.append(reader.inspect(file))
            progress.advance(task)
    bad = [r for r in reports if not r.ok]
    kinds = Counter(p.kind for r in bad for p in r.problems)
    unfinished = [lo for lo in leftovers if lo.state == SALVAGE]
    summary = {
        "files": len(reports),
        "sound": len(reports) - len(bad),
        "with_problems": len(bad),
        "problems": dict(kinds),
        "unfinished_recordings": len(unfinished),
        "intervention_episodes": sum(r.intervention is not None for r in reports),
    }
    if args.json:
        out = {
            "files": [
                {
                    "file": str(r.path),
                    "layout": r.layout,
                    "frames": r.frames,
                    "scenario": r.scenario,
                    "pattern": r.pattern,
                    "distance": r.distance,
                    "problems": [{"kind": p.kind, "message": p.message} for p in r.problems],
                    "intervention": None
                    if r.intervention is None
                    else {
                        "policy_steps": r.intervention.policy,
                        "operator_steps": r.intervention.operator,
                        "takeovers": r.intervention.takeovers,
                    },
                }
                for r in reports
            ],
            "leftovers": [
                {"name": lo.name, "state": lo.state, "frames": lo.frames, "journal": str(lo.journal)}
                for lo in leftovers
            ],
            "summary": summary,
        }
        print(json.dumps(out, indent=2))
        return 1 if bad or unfinished else 0

    from rich import box
    from rich.markup import escape
    from rich.table import Table

    console = _console()
    table = Table(title=f"Episode files in {escape(str(path))}", title_justify="left", box=box.SIMPLE_HEAD)
    table.add_column("File", overflow="fold", ratio=3)
    table.add_column("Layout", no_wrap=True)
    table.add_column("Frames", justify="right", no_wrap=True)
    table.add_column("Scenario", overflow="fold", ratio=2)
    driven = summary["intervention_episodes"] > 0
    if driven:  # intervention episodes: who drove the steps, and how often the operator took over
        table.add_column("Policy / operator steps, takeovers", overflow="fold", ratio=2)
    table.add_column("Problems", overflow="fold", ratio=3)
    for r in reports:
        scenario = " ".join(x for x in (r.scenario, r.pattern, r.distance) if x) or "-"
        problems = "\n".join(f"[red]{escape(str(p))}[/]" for p in r.problems) or "[green]ok[/]"
        frames = "-" if r.frames is None else str(r.frames)
        cells = [escape(r.path.name), r.layout or "-", frames, scenario]
        if driven:
            c = r.intervention
            cells.append("-" if c is None else f"{c.policy} / {c.operator}, {c.takeovers}")
        table.add_row(*cells, problems)
    if reports:
        console.print(table)
    line = f"{len(reports)} file(s): [green]{summary['sound']} sound[/]"
    if bad:
        detail = ", ".join(f"{n} {PROBLEM_KINDS[k]}" for k, n in kinds.most_common())
        line += f", [red]{len(bad)} with problems[/] ({detail})"
    console.print(line)
    for lo in leftovers:
        console.print(f"[yellow]unfinished recording[/] {escape(lo.name)}: {lo.describe()}")
    if unfinished:
        console.print(f"Salvage with: mvla dataset recover {escape(str(path))}")
    return 1 if bad or unfinished else 0


def _intervention_table(rows: dict) -> object:
    """Intervention episodes per scenario: takeovers, and the steps the policy and the operator drove."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from recorder.stats import InterventionRow

    table = Table(
        title="Intervention episodes (a policy drove, the operator took over)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for name in (
        "Scenario",
        "episodes",
        "takeovers",
        "policy\nsteps",
        "operator\nsteps",
        "takeovers\n/100 steps",
    ):
        table.add_column(name, justify="left" if name == "Scenario" else "right", no_wrap=True)
    total = InterventionRow()
    for scenario, row in sorted(rows.items()):
        table.add_row(escape(scenario), *_intervention_cells(row))
        total.episodes += row.episodes
        total.takeovers += row.takeovers
        total.policy_steps += row.policy_steps
        total.operator_steps += row.operator_steps
    table.add_section()
    table.add_row("all", *_intervention_cells(total))
    return table


def _intervention_cells(row: object) -> list[str]:
    from recorder.stats import InterventionRow

    assert isinstance(row, InterventionRow)
    return [
        str(row.episodes),
        str(row.takeovers),
        str(row.policy_steps),
        str(row.operator_steps),
        f"{row.per_100_steps():.1f}",
    ]


def _stats(args: argparse.Namespace) -> int:
    from datetime import datetime

    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from recorder.catalogue import load_catalogue
    from recorder.errors import RecorderError
    from recorder.recover import SALVAGE, find_leftovers
    from recorder.stats import PERIODS, collect, episode_files, progress_files, write_json_atomic

    path: Path = args.path
    if not path.is_dir():
        raise RecorderError(f"{path}: no such folder; pass the folder that holds the episode files")
    from recorder.isolated import IsolatedReader

    catalogue = load_catalogue()
    files = episode_files(path)
    if not args.timeout > 0:
        raise RecorderError(f"--timeout must be > 0 seconds, got {args.timeout}")
    # In a child process: a file that crashes or hangs HDF5 is unreadable.
    with IsolatedReader(timeout_s=args.timeout) as reader, _progress("dataset stats", files) as progress:
        task = progress.add_task("files", total=len(files), status="")
        stats = collect(files, on_file=lambda _: progress.advance(task), info=reader.info)
    console = _console()
    bad = len(stats.unreadable)
    console.print(
        f"[bold]{escape(str(path))}[/]: {len(files)} episode file(s)"
        + (f", [red]{bad} unreadable[/] (not counted)" if bad else "")
    )

    cells = stats.cells
    table = Table(
        title="Progress against the targets (episodes recorded / wanted)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    table.add_column("Scenario", no_wrap=True)
    combos = [(p, d) for p in catalogue.patterns for d in catalogue.distances]
    for pattern, distance in combos:
        table.add_column(f"{pattern}\n{distance}", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    table.add_column("still\nneeded", justify="right", no_wrap=True)
    total_done = total_needed = 0
    for scenario in catalogue.current_ids:
        row = []
        done = needed = 0
        for pattern, distance in combos:
            n, want = (
                cells.get((scenario, pattern, distance), 0),
                catalogue.target(scenario, pattern, distance),
            )
            done, needed = done + n, needed + max(0, want - n)
            row.append(f"[{'green' if n >= want else 'default'}]{n}/{want}[/]")
        total_done, total_needed = total_done + done, total_needed + needed
        row += [
            f"{done}/{catalogue.scenario_target(scenario)}",
            f"[bold]{needed}[/]" if needed else "[green]done[/]",
        ]
        table.add_row(scenario, *row)
    table.add_section()
    table.add_row(
        "all", *[""] * len(combos), f"{total_done}/{catalogue.total_target}", f"[bold]{total_needed}[/]"
    )
    console.print(table)

    other = {s: n for s, n in stats.by_scenario.items() if s not in catalogue.current_ids}
    if other:
        listed = ", ".join(f"{escape(s)} {n}" for s, n in sorted(other.items()))
        console.print(f"Older scenarios (not counted against the targets): {listed}")

    lengths = stats.frame_counts
    if lengths:
        console.print(_distribution("Frames per episode", _length_rows(lengths), "frames"))
    periods = stats.periods
    console.print(_distribution("Collection time of day", [(p, periods.get(p, 0)) for p in PERIODS], ""))
    interventions = stats.interventions
    if interventions:
        console.print(_intervention_table(interventions))

    if stats.unreadable:
        console.print(
            f"[red]{bad} file(s) cannot be read as episodes[/] (Git LFS pointer, truncated or "
            "malformed) and are not counted above; "
            f"see: mvla dataset check {escape(str(path))}"
        )
    unfinished = [lo for lo in find_leftovers(path) if lo.state == SALVAGE]
    if unfinished:
        console.print(
            f"[yellow]{len(unfinished)} unfinished recording(s)[/]; salvage with: mvla dataset recover {escape(str(path))}"
        )
    if not args.no_write:
        for name, data in progress_files(stats, catalogue, datetime.now()).items():
            try:
                write_json_atomic(path / name, data)
            except OSError as exc:
                raise RecorderError(
                    f"{path / name}: cannot write ({exc.strerror}); rerun with --no-write"
                ) from None
        console.print("[dim]Updated scenario_progress.json and time_period_stats.json[/]")
    return 0


def _recover(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from recorder.errors import RecorderError
    from recorder.recover import (
        ALREADY_SAVED,
        IN_USE,
        NOT_JOURNAL,
        SALVAGE,
        discard,
        find_leftovers,
        salvage,
    )

    path: Path = args.path
    if not path.is_dir():
        raise RecorderError(f"{path}: no such folder")
    console = _console()
    found = find_leftovers(path)
    leftovers = [lo for lo in found if lo.state != IN_USE]
    for lo in found:
        if lo.state == IN_USE:
            console.print(f"[dim]{escape(lo.name)}: being recorded right now; left alone[/]")
    if not leftovers:
        console.print(f"No unfinished recordings in {escape(str(path))}.")
        return 0
    console.print(f"Unfinished recordings in {escape(str(path))}:")
    for lo in leftovers:
        if args.discard:
            plan = "[red]delete[/]" + (f" ({lo.frames} complete frame(s) lost)" if lo.frames else "")
        elif lo.state == SALVAGE:
            plan = f"[green]save as {escape(lo.name)}.h5 (recovered)[/]"
        elif lo.state == ALREADY_SAVED:
            plan = "remove the stale temporary file"
        elif lo.state == NOT_JOURNAL:
            plan = "leave it (delete it with --discard)"
        else:
            plan = "remove (nothing to salvage)"
        console.print(f"  {escape(lo.name)}: {lo.describe()} -> {plan}")
    # Files that are not journals are only ever touched by an explicit --discard.
    todo = leftovers if args.discard else [lo for lo in leftovers if lo.state != NOT_JOURNAL]
    if args.dry_run or not todo:
        return 0
    if not args.yes:
        # Deleting needs a yes: from a person at a terminal, or -y from a script.
        if not (sys.stdin.isatty() and sys.stdout.isatty()):
            again = f"mvla dataset recover {path}{' --discard' if args.discard else ''} -y"
            console.print(
                f"Nothing changed: no terminal to confirm on; run `{escape(again)}` to do the above."
            )
            return 1
        answer = input("Proceed? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            console.print("Nothing changed.")
            return 1
    saved = 0
    for lo in todo:
        if args.discard:
            discard(lo)
        elif salvage(lo) is not None:
            saved += 1
    done = f"deleted {len(todo)}" if args.discard else f"saved {saved} recovered episode(s)"
    kept = len(leftovers) - len(todo)
    console.print(
        f"Done: {done}; temporary files removed"
        + (f"; {kept} file(s) that are not journals left." if kept else ".")
    )
    return 0


def _console():
    from rich.console import Console

    console = Console(highlight=False)
    # Piped or redirected output is read later or by grep: full file names beat an 80-column fold.
    return console if console.is_terminal else Console(highlight=False, width=200)


def _progress(label: str, files: list[Path]):
    """The commands' progress bar (`mvla_tui.commands._progress`), gone when done, and only for 20 files or more
    (a few files are read before a bar would show)."""
    from mvla_tui.commands._progress import command_progress

    return command_progress(label, transient=True, disable=len(files) < 20)


def _length_rows(lengths: Counter[int]) -> list[tuple[str, int]]:
    """One row per length when there are few, else ranges around the 18-frame target."""
    if len(lengths) <= 10:
        return [(str(n), c) for n, c in sorted(lengths.items())]
    edges = [(0, 1), (2, 9), (10, 17), (18, 18), (19, 25), (26, 50), (51, 10**9)]
    rows = []
    for lo, hi in edges:
        count = sum(c for n, c in lengths.items() if lo <= n <= hi)
        label = str(lo) if lo == hi else (f"{lo}+" if hi == 10**9 else f"{lo}-{hi}")
        rows.append((label, count))
    return rows


def _distribution(title: str, rows: Iterable[tuple[object, int]], unit: str) -> str:
    """A small text histogram: one line per value, bar scaled to the largest count."""
    rows = list(rows)
    top = max((n for _, n in rows), default=0) or 1
    lines = [f"[bold]{title}[/]"]
    for value, n in rows:
        bar = "█" * max(1 if n else 0, round(30 * n / top))
        lines.append(f"  {str(value):>8} {unit:<6} {n:>5}  [cyan]{bar}[/]")
    return "\n".join(lines)
