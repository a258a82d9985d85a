"""The progress bar of the long headless commands (`mvla train`, `mvla sim collect`, `mvla eval`,
`mvla dataset check|stats`): on stderr, so that `--json` on stdout stays clean, with the command's name,
the bar, n/N, a `status` field the command updates, the time elapsed and, unless `remaining=False`, the
time remaining. And `quiet_transformers`, which silences the bars transformers draws on its own."""

from __future__ import annotations

from typing import Any


def command_progress(label: str, console: Any = None, *, remaining: bool = True, **options: Any):
    """A `rich.progress.Progress` (not started); add its task with `status=""`. `options` are
    Progress's own (`transient`, `disable`); a transient bar is disabled off a terminal."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    ]
    if remaining:
        columns += [TextColumn("ETA"), TimeRemainingColumn()]
    console = console or Console(stderr=True)
    if options.get("transient") and not console.is_terminal:
        # Off a terminal a bar that vanishes when done shows nothing, but leaves a blank line behind.
        options["disable"] = True
    return Progress(*columns, console=console, **options)


def quiet_transformers() -> None:
    """Turn off transformers' own progress bars (its per-load "Loading weights" bars would bury a
    command's figures and bar); nothing when transformers is not installed."""
    import importlib.util

    if importlib.util.find_spec("transformers") is not None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
