"""Dataset statistics: episodes per scenario x pattern x distance against the catalogue's targets,
frame counts and collection time periods, and the side files the older collector keeps.

Scenario, pattern and distance come from a file's root attributes when it has them (opening only
the attributes and the image shape is cheap), else from its name. A file that cannot be opened as an
episode (Git LFS pointer, truncated, no image dataset, malformed attributes) is counted as
unreadable and nowhere else -- not as a collected episode; `mvla dataset check` says why.
`scenario_progress.json` keeps the older collector's format. The side files are replaced atomically.
This module never modifies an episode.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import h5py

from configs.files import write_atomic
from recorder.catalogue import Catalogue
from recorder.h5write import time_period
from recorder.naming import parse_episode_name
from recorder.reader import H5_ERRORS, attr_problems, detect_layout, images_key, read_meta

PERIODS = ("dawn", "morning", "evening", "night")
PROGRESS_FILE = "scenario_progress.json"
PERIODS_FILE = "time_period_stats.json"


@dataclass
class EpisodeInfo:
    path: Path
    scenario: str | None
    pattern: str | None
    distance: str | None
    frames: int | None  # None when the file cannot be opened
    period: str | None
    # An intervention episode's root attributes (`recorder.intervention`); None for any other.
    takeovers: int | None = None
    policy_steps: int | None = None
    operator_steps: int | None = None


@dataclass
class InterventionRow:
    """The intervention episodes of one scenario: how often the operator took over, in how many steps."""

    episodes: int = 0
    takeovers: int = 0
    policy_steps: int = 0
    operator_steps: int = 0

    def per_100_steps(self) -> float:
        steps = self.policy_steps + self.operator_steps
        return 100.0 * self.takeovers / steps if steps else 0.0


@dataclass
class DatasetStats:
    episodes: list[EpisodeInfo] = field(default_factory=list)

    @property
    def readable(self) -> list[EpisodeInfo]:
        """The collected episodes: every file that opens as one."""
        return [e for e in self.episodes if e.frames is not None]

    @property
    def unreadable(self) -> list[EpisodeInfo]:
        return [e for e in self.episodes if e.frames is None]

    @property
    def cells(self) -> Counter[tuple[str, str, str]]:
        """(scenario, pattern, distance) -> episodes, for those that carry all three."""
        return Counter(
            (e.scenario, e.pattern, e.distance)
            for e in self.readable
            if e.scenario and e.pattern and e.distance
        )

    @property
    def by_scenario(self) -> Counter[str]:
        return Counter(e.scenario or "(no scenario)" for e in self.readable)

    @property
    def frame_counts(self) -> Counter[int]:
        return Counter(e.frames for e in self.readable if e.frames is not None)

    @property
    def periods(self) -> Counter[str]:
        return Counter(e.period for e in self.readable if e.period)

    @property
    def interventions(self) -> dict[str, InterventionRow]:
        """Scenario -> its intervention episodes' takeovers and steps (scenarios with none are left out)."""
        rows: dict[str, InterventionRow] = {}
        for e in self.readable:
            if e.takeovers is None:
                continue
            row = rows.setdefault(e.scenario or "(no scenario)", InterventionRow())
            row.episodes += 1
            row.takeovers += e.takeovers
            row.policy_steps += e.policy_steps or 0
            row.operator_steps += e.operator_steps or 0
        return rows


def episode_files(data_dir: Path) -> list[Path]:
    """The episode files of a folder (not its subfolders or hidden temporary files), by name."""
    return sorted(p for p in data_dir.glob("*.h5") if p.is_file())


def collect(
    files: Iterable[Path],
    on_file: Callable[[Path], None] | None = None,
    info: Callable[[Path], EpisodeInfo] | None = None,
) -> DatasetStats:
    """`episode_info` of every file; `info` replaces it (`recorder.isolated.IsolatedReader.info` reads
    each file in a child process, so a file that hangs the HDF5 library cannot hang the count)."""
    stats = DatasetStats()
    for path in files:
        stats.episodes.append((info or episode_info)(path))
        if on_file is not None:
            on_file(path)
    return stats


def episode_info(path: Path) -> EpisodeInfo:
    """What `stats` counts of one file (its frames stay None when it cannot be opened as an episode)."""
    parsed = parse_episode_name(path.name)
    info = EpisodeInfo(
        path, *(parsed.scenario, parsed.pattern, parsed.distance) if parsed else (None,) * 3, None, None
    )
    if parsed is not None:
        info.period = time_period(parsed.started.hour)
    try:
        with h5py.File(path, "r") as f:
            layout = detect_layout(f)
            images = f.get(images_key(layout)) if layout else None
            if not isinstance(images, h5py.Dataset) or images.ndim < 1 or attr_problems(f):
                return info  # frames stay None: unreadable
            meta = read_meta(f, path)
            info.scenario, info.pattern, info.distance = meta.scenario, meta.pattern, meta.distance
            period = meta.attrs.get("time_period")
            info.period = period if period in PERIODS else info.period
            info.frames = int(images.shape[0])
            if meta.attrs.get("intervention"):
                info.takeovers, info.policy_steps, info.operator_steps = (
                    _count(meta.attrs.get(k)) for k in ("takeovers", "policy_steps", "operator_steps")
                )
    except H5_ERRORS:
        info.frames = None  # an LFS pointer, a truncated file: unreadable, not collected
    return info


def _count(value: object) -> int:
    """A count attribute as written (a damaged one counts as 0 here; `check` reads the group itself)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 else 0


def progress_files(stats: DatasetStats, catalogue: Catalogue, now: datetime) -> dict[str, dict]:
    """The older collector's `scenario_progress.json` and `time_period_stats.json`, rebuilt."""
    counts = Counter(e.scenario for e in stats.readable if e.scenario in catalogue.current_ids)
    scenario_stats = {s: counts.get(s, 0) for s in catalogue.current_ids}
    periods = stats.periods
    stamp = now.isoformat()
    return {
        PROGRESS_FILE: {
            "last_updated": stamp,
            "scenario_stats": scenario_stats,
            "total_completed": sum(scenario_stats.values()),
            "total_target": catalogue.total_target,
        },
        PERIODS_FILE: {
            "last_updated": stamp,
            "time_period_stats": {p: periods.get(p, 0) for p in PERIODS},
            "total_completed": sum(periods.values()),
            "total_target": catalogue.total_target,
        },
    }


def write_json_atomic(path: Path, data: dict) -> None:
    """Replace `path` atomically: the older collector never reads half a file."""
    write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")
