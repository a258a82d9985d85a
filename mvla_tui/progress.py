"""The progress bar of the long headless commands (`mvla train`, `mvla sim collect`, `mvla eval`): on
stderr, so that `--json` on stdout stays clean, with the command's name, the bar, n/N, a `status` field
the command updates, the time elapsed and, unless `remaining=False`, the time remaining."""

from __future__ import annotations

from typing import Any


def command_progress(label: str, console: Any = None, *, remaining: bool = True, **options: Any):
    """A `rich.progress.Progress` (not started); add its task with `status=""`. `options` are
    Progress's own (`transient`, `disable`)."""
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
    return Progress(*columns, console=console or Console(stderr=True), **options)
