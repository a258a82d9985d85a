"""The index of a training run's episodes: every file checked once, in a child process with a timeout
(`recorder.isolated`), the sound ones described, the others skipped with a reason each, and a seeded
split by episode, stratified by scenario.

What an episode contributes (`EpisodeRecord`): its steps (`policies.windows.step_frames`: the
`start_action` frames) and their actions, its instruction (`language_instruction`, else the
catalogue's instruction of its scenario), whether stop targets follow it (its outcome is `success`, or
unknown in the older collector's files, which operators only saved at the goal; not `unspecified`, a
salvaged recording), and its scenario for stratifying and reporting; for an intervention episode
(`recorder.intervention`), who drove each step (`sources`) and where each takeover falls among the
steps (`takeover_steps`), from which the trainer weighs the steps (`trainer.data.step_weights`). Skipped: files `recorder.check`
finds a problem in (damaged, too short, all-zero actions, placeholder frames, ...), files that
crash or hang the HDF5 library, failed episodes (unless `include_failed`), episodes without a step or
without an instruction.

Checks are cached in the run folder by path, size and modification time, so a resumed run does not
read every file again. Images are never held here: the loader reads them when a batch needs them.
This module must not import torch or textual.
"""

from __future__ import annotations

import json
import os
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from configs import ConfigError
from configs.files import write_atomic
from policies.windows import step_frames
from recorder.catalogue import Catalogue
from recorder.errors import RecorderError
from recorder.intervention import StepCounts
from recorder.isolated import Summary, summaries
from recorder.stats import episode_files

INDEX_VERSION = 3  # 2: intervention sources and takeover steps; 3: stopped policy presses relabelled


@dataclass(frozen=True)
class EpisodeRecord:
    path: str
    name: str
    scenario: str | None
    pattern: str | None
    distance: str | None
    outcome: str | None
    instruction: str
    side: str | None  # the side to pass on, from the catalogue (None: unknown scenario)
    frame_index: tuple[int, ...]  # the frames that are steps
    actions: tuple[tuple[float, ...], ...]  # (S, 3) actions of the steps, robot units
    # (S,) who drove each step (`recorder.intervention.SOURCES`); () where the file does not say.
    sources: tuple[str, ...] = ()
    # Each takeover as the number of steps before its frame: steps[:t] were taken before it.
    takeover_steps: tuple[int, ...] = ()

    @property
    def steps(self) -> int:
        return len(self.frame_index)

    @property
    def intervention(self) -> bool:
        """A policy drove some of this episode: its steps have sources."""
        return bool(self.sources)

    def step_counts(self) -> StepCounts:
        """Its steps by who drove them, and its takeovers (all the operator's without intervention data)."""
        if not self.sources:
            return StepCounts(0, self.steps, 0)
        policy = self.sources.count("policy")
        return StepCounts(policy, self.steps - policy, len(self.takeover_steps))

    @property
    def stop_after(self) -> bool:
        """Stop targets follow the last step: the episode ended at its goal."""
        return self.outcome in ("success", None)

    def step_actions(self) -> np.ndarray:
        return np.asarray(self.actions, np.float32).reshape(-1, 3)


@dataclass(frozen=True)
class Skipped:
    path: str
    kind: str  # a `recorder.check.PROBLEM_KINDS` key, or failed / no_steps / no_instruction
    reason: str


@dataclass
class DatasetIndex:
    episodes: list[EpisodeRecord]
    skipped: list[Skipped]

    def skipped_counts(self) -> Counter[str]:
        return Counter(s.kind for s in self.skipped)

    def takeovers_per_100_steps(self) -> float | None:
        """`takeovers_per_100_steps` of this index's episodes."""
        return takeovers_per_100_steps(self.episodes)

    def describe_skipped(self, limit: int = 5) -> list[str]:
        """One line per kind with its count, then the first few files with their reasons."""
        lines = [f"{n} {kind}" for kind, n in self.skipped_counts().most_common()]
        lines += [f"  {Path(s.path).name}: {s.reason}" for s in self.skipped[:limit]]
        return lines


def _record(summary: Summary, catalogue: Catalogue) -> EpisodeRecord | Skipped:
    report, header = summary.report, summary.header
    path = str(report.path)
    if report.problems or header is None:
        problem = report.problems[0] if report.problems else None
        kind = problem.kind if problem else "unreadable"
        return Skipped(path, kind, str(problem) if problem else "no header")
    meta = header.meta
    frames = step_frames(header.event_types)
    if len(frames) == 0:
        return Skipped(path, "no_steps", "no start_action frame: nothing was commanded")
    side = None
    instruction = meta.instruction
    if meta.scenario:
        try:
            spec = catalogue.get(meta.scenario)
            side = spec.side
            instruction = instruction or catalogue.default_instruction(meta.scenario)
        except RecorderError:
            pass  # an unknown scenario id: no side, and the file must carry its instruction
    if not instruction:
        return Skipped(
            path, "no_instruction", "no language_instruction and no known scenario to take one from"
        )
    actions = header.actions[frames]
    sources: tuple[str, ...] = ()
    takeovers: tuple[int, ...] = ()
    if header.intervention is not None:
        actions, sources = _relabel_stops(actions, frames, header.event_types, header.intervention.sources)
        at = np.searchsorted(frames, header.intervention.takeover_frames())
        takeovers = tuple(int(i) for i in at)
    return EpisodeRecord(
        path=path,
        name=Path(path).stem,
        scenario=meta.scenario,
        pattern=meta.pattern,
        distance=meta.distance,
        outcome=meta.outcome,
        instruction=" ".join(instruction.split()),
        side=side,
        frame_index=tuple(int(i) for i in frames),
        actions=tuple(tuple(float(v) for v in row) for row in actions),
        sources=sources,
        takeover_steps=takeovers,
    )


def _relabel_stops(
    actions: np.ndarray, frames: np.ndarray, events: list[str], frame_sources: tuple[str, ...]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The steps' actions and sources, where a policy press the operator stopped with the stop key (the
    next frame is the operator's `stop_action`) becomes the operator's step, labelled with a stop: from
    that state the person's answer was "do not go on". The stop frame itself is no step (it shows the
    robot mid-press), so without this the correction would never reach the loss."""
    actions = np.array(actions, np.float32, copy=True)
    sources = [frame_sources[int(f)] for f in frames]
    for i, f in enumerate(frames):
        after = int(f) + 1
        stopped = (
            after < len(events) and events[after] == "stop_action" and frame_sources[after] == "operator"
        )
        if sources[i] == "policy" and stopped:
            actions[i] = 0.0
            sources[i] = "operator"
    return actions, tuple(sources)


def takeovers_per_100_steps(episodes: Iterable[EpisodeRecord]) -> float | None:
    """The intervention rate of a data set: takeovers per 100 steps of its intervention episodes (those a
    policy drove in part); None when it has none."""
    counts = [e.step_counts() for e in episodes if e.intervention]
    if not counts:
        return None
    total = StepCounts(
        sum(c.policy for c in counts), sum(c.operator for c in counts), sum(c.takeovers for c in counts)
    )
    return total.per_100_steps()


def build_index(
    dirs: Iterable[str | Path],
    catalogue: Catalogue,
    *,
    include_failed: bool = False,
    timeout_s: float = 60.0,
    cache: Path | None = None,
    max_episodes: int | None = None,
    on_file: Callable[[Path], None] | None = None,
) -> DatasetIndex:
    """Check and describe every episode file of `dirs` (see the module docstring)."""
    files: list[Path] = []
    for d in dirs:
        folder = Path(d)
        if not folder.is_dir():
            raise ConfigError(f"data folder {folder}: no such folder")
        found = episode_files(folder)
        if not found:
            raise ConfigError(f"data folder {folder}: no episode files (*.h5)")
        files += found
    if max_episodes is not None:
        files = files[:max_episodes]
    known = _load_cache(cache)
    results: dict[str, EpisodeRecord | Skipped] = {}
    todo = []
    for path in files:
        stat = path.stat()
        key = _cache_key(path, stat)
        hit = known.get(key)
        if hit is not None:
            results[str(path)] = hit
            if on_file is not None:
                on_file(path)
        else:
            todo.append(path)
    if todo:
        for path, summary in zip(todo, summaries(todo, timeout_s), strict=True):
            results[str(path)] = _record(summary, catalogue)  # failures are filtered below, not cached
            if on_file is not None:
                on_file(path)
        _save_cache(cache, {_cache_key(Path(p), Path(p).stat()): r for p, r in results.items()})
    episodes: list[EpisodeRecord] = []
    skipped: list[Skipped] = []
    for path in files:
        result = results[str(path)]
        if isinstance(result, EpisodeRecord) and result.outcome == "failure" and not include_failed:
            result = Skipped(str(path), "failed", "outcome failure (set data.include_failed to train on it)")
        if isinstance(result, EpisodeRecord):
            episodes.append(result)
        else:
            skipped.append(result)
    return DatasetIndex(episodes, skipped)


def _cache_key(path: Path, stat: os.stat_result) -> str:
    return f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"


def _load_cache(cache: Path | None) -> dict[str, EpisodeRecord | Skipped]:
    if cache is None or not cache.is_file():
        return {}
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("version") != INDEX_VERSION:
            return {}
        out: dict[str, EpisodeRecord | Skipped] = {}
        for key, item in data["files"].items():
            if "kind" in item:
                out[key] = Skipped(**item)
            else:
                item["frame_index"] = tuple(item["frame_index"])
                item["actions"] = tuple(tuple(a) for a in item["actions"])
                item["sources"] = tuple(item["sources"])
                item["takeover_steps"] = tuple(item["takeover_steps"])
                out[key] = EpisodeRecord(**item)
        return out
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # a damaged cache is rebuilt, never trusted


def _save_cache(cache: Path | None, results: dict[str, EpisodeRecord | Skipped]) -> None:
    if cache is None:
        return
    cache.parent.mkdir(parents=True, exist_ok=True)
    data = {"version": INDEX_VERSION, "files": {k: asdict(v) for k, v in results.items()}}
    write_atomic(cache, json.dumps(data))


def split(
    episodes: list[EpisodeRecord], val_fraction: float, seed: int
) -> tuple[list[EpisodeRecord], list[EpisodeRecord]]:
    """(train, val) by episode: within each scenario, a seeded shuffle of the episodes sorted by name,
    `round(val_fraction * n)` of them held out (at least one where a scenario has two or more and the
    fraction is not 0). The same episodes and seed always give the same split."""
    groups: dict[str, list[EpisodeRecord]] = {}
    for e in sorted(episodes, key=lambda e: e.name):
        groups.setdefault(e.scenario or "(no scenario)", []).append(e)
    train: list[EpisodeRecord] = []
    val: list[EpisodeRecord] = []
    for scenario in sorted(groups):
        group = groups[scenario]
        # Seeded by the scenario's name, so adding another scenario never reshuffles this one.
        order = np.random.default_rng([seed, zlib.crc32(scenario.encode())]).permutation(len(group))
        n_val = round(val_fraction * len(group))
        if val_fraction > 0 and len(group) >= 2:
            n_val = max(1, n_val)
        held = {int(j) for j in order[:n_val]}
        for j, e in enumerate(group):
            (val if j in held else train).append(e)
    return train, val
