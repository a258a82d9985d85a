"""The scenario catalogue: scenario ids (current and older), patterns, distances, default instructions
and collection targets, loaded from `configs/scenarios.yaml`.

It owns what the ids mean; it does not know file names (`recorder.naming`) or count episodes
(`recorder.stats`). Scenario ids of older file names map onto the same catalogue so that every
generation of episode stays readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from configs import ConfigError, config_path, load, load_yaml
from recorder.errors import RecorderError

Targets = dict[str, dict[str, int]]  # pattern -> distance -> episodes wanted


@dataclass(frozen=True)
class ScenarioSpec:
    id: str
    boxes: int
    side: Literal["left", "right"]
    layout: Literal["hori", "vert"] = "hori"  # obstacle layout, as spelt in file names
    key: str | None = None  # hotkey of the collector (current scenarios only)
    instruction: str | None = None  # default English instruction (current scenarios must have one)
    targets: Targets | None = None  # overrides the catalogue's targets for this scenario
    guide: str | None = None  # default core guide, keys separated by spaces ("w w a a"), current only

    @property
    def guide_keys(self) -> tuple[str, ...]:
        return tuple(self.guide.split()) if self.guide else ()

    @property
    def name_token(self) -> str:
        """How file names spell the scenario, e.g. `1box_hori_left`."""
        return f"{self.boxes}box_{self.layout}_{self.side}"


@dataclass(frozen=True)
class Catalogue:
    scenarios: tuple[ScenarioSpec, ...]
    older_scenarios: tuple[ScenarioSpec, ...]
    patterns: tuple[str, ...]
    distances: tuple[str, ...]
    targets: Targets
    pattern_aliases: dict[str, str] | None = None
    episode_frames: int = 18  # frames an episode aims for (1 start + 17 presses)

    def __post_init__(self) -> None:
        ids = [s.id for s in self.all_scenarios]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"scenario id {duplicates[0]!r} is listed twice")
        for spec in self.scenarios:
            if not spec.instruction:
                raise ValueError(f"scenario {spec.id!r} needs an instruction")
        for owner, targets in [("targets", self.targets)] + [
            (f"{s.id}.targets", s.targets) for s in self.scenarios if s.targets is not None
        ]:
            if set(targets) != set(self.patterns):
                raise ValueError(
                    f"{owner} must give every pattern {list(self.patterns)}, got {sorted(targets)}"
                )
            for pattern, by_distance in targets.items():
                if set(by_distance) != set(self.distances):
                    raise ValueError(f"{owner}.{pattern} must give every distance {list(self.distances)}")
        for alias, pattern in (self.pattern_aliases or {}).items():
            if pattern not in self.patterns:
                raise ValueError(f"pattern_aliases.{alias} names unknown pattern {pattern!r}")

    @property
    def all_scenarios(self) -> tuple[ScenarioSpec, ...]:
        return self.scenarios + self.older_scenarios

    @property
    def current_ids(self) -> tuple[str, ...]:
        return tuple(s.id for s in self.scenarios)

    def get(self, scenario_id: str) -> ScenarioSpec:
        for spec in self.all_scenarios:
            if spec.id == scenario_id:
                return spec
        known = ", ".join(s.id for s in self.all_scenarios)
        raise RecorderError(f"unknown scenario {scenario_id!r}; known scenarios: {known}")

    def is_current(self, scenario_id: str) -> bool:
        return scenario_id in self.current_ids

    def default_instruction(self, scenario_id: str) -> str:
        """The English instruction of a scenario; an older id borrows the current one with the same
        number of boxes and side, since the task (pass on that side, reach the cup) is the same."""
        spec = self.get(scenario_id)
        if spec.instruction:
            return spec.instruction
        for current in self.scenarios:
            if (current.boxes, current.side) == (spec.boxes, spec.side):
                return current.instruction or ""
        raise RecorderError(f"scenario {scenario_id!r} has no default instruction; pass one explicitly")

    def normalise_pattern(self, pattern: str) -> str:
        """`exception` (an older name) reads as `variant`; an unknown pattern is an error."""
        pattern = (self.pattern_aliases or {}).get(pattern, pattern)
        if pattern not in self.patterns:
            raise RecorderError(f"unknown pattern {pattern!r}; known patterns: {', '.join(self.patterns)}")
        return pattern

    def check_distance(self, distance: str) -> str:
        if distance not in self.distances:
            raise RecorderError(
                f"unknown distance {distance!r}; known distances: {', '.join(self.distances)}"
            )
        return distance

    def target(self, scenario_id: str, pattern: str, distance: str) -> int:
        """Episodes wanted for one cell; 0 for an older scenario (nobody collects those any more)."""
        spec = self.get(scenario_id)
        if not self.is_current(scenario_id):
            return 0
        targets = spec.targets if spec.targets is not None else self.targets
        return targets[self.normalise_pattern(pattern)][self.check_distance(distance)]

    def scenario_target(self, scenario_id: str) -> int:
        return sum(self.target(scenario_id, p, d) for p in self.patterns for d in self.distances)

    @property
    def total_target(self) -> int:
        return sum(self.scenario_target(s) for s in self.current_ids)


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """The packaged catalogue, or the one at `path`; a malformed file is a `ConfigError`."""
    return load(Catalogue, path if path is not None else config_path("scenarios.yaml"))


SIDES = ("left", "right")


def load_side_instructions(path: str | Path) -> dict[str, list[str]]:
    """`left:` and `right:` lists of English instructions, by the side the robot passes the obstacle on
    (`mvla eval --instructions`, the trainer's paraphrases); whitespace normalised; one-line errors."""
    data = load_yaml(path)
    unknown = sorted(set(data) - set(SIDES))
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; give lists under 'left' and 'right'")
    instructions: dict[str, list[str]] = {}
    for side in SIDES:
        items = data.get(side)
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) and i.strip() for i in items)
        ):
            raise ConfigError(f"{path}: '{side}' must be a non-empty list of instruction strings")
        instructions[side] = [" ".join(i.split()) for i in items]
    return instructions
