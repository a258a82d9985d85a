"""The data's vocabulary, in one place: scenario ids (current and older) with their file-name tokens,
patterns and their aliases, distances, default instructions and collection targets (loaded from
`configs/scenarios.yaml`), the frame event types, and the operators' key map (DATA_FORMAT.md).

Every other list of these words derives from here: the simulator's layouts, file-name parsing, argparse
choices, the app's bindings and key panel, the trainer's key scale, the guide. It owns what the words
mean; it does not know file names (`recorder.naming`), decode files (`recorder.reader.read_meta`, which
resolves the aliases defined here) or count episodes
(`recorder.stats`). Scenario ids of older file names map onto the same catalogue so that every
generation of episode stays readable. No h5py here: policies import the key map and event types.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from configs import ConfigError, config_path, load, load_yaml
from recorder.errors import RecorderError

Targets = dict[str, dict[str, int]]  # pattern -> distance -> episodes wanted

# The event type of each recorded frame: frame 0 before moving, one per key press (a policy step), and
# the rare stop (space while moving).
EventType = Literal["episode_start", "start_action", "stop_action"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
START_EVENT, STEP_EVENT, STOP_EVENT = EVENT_TYPES

# The operators' keys, as the earlier collector recorded them: 1.15 (as float32) on each axis a key moves,
# [linear_x, linear_y, angular_z] in the robot frame (REP 103).
KEY_SPEED = 1.15
STOP_KEY = "space"
_S = KEY_SPEED
KEYMAP: dict[str, tuple[float, float, float]] = {
    "w": (_S, 0.0, 0.0),
    "s": (-_S, 0.0, 0.0),
    "a": (0.0, _S, 0.0),
    "d": (0.0, -_S, 0.0),
    "q": (_S, _S, 0.0),
    "e": (_S, -_S, 0.0),
    "z": (-_S, _S, 0.0),
    "c": (-_S, -_S, 0.0),
    "r": (0.0, 0.0, _S),
    "t": (0.0, 0.0, -_S),
    STOP_KEY: (0.0, 0.0, 0.0),
}
MOVE_KEYS = tuple(k for k in KEYMAP if k != STOP_KEY)
_KEY_NAMES = tuple(KEYMAP)
_KEY_ACTIONS = np.asarray([KEYMAP[k] for k in _KEY_NAMES], np.float32)  # (11, 3), the stop key zeros


def normalise_key(key: str) -> str:
    """Terminal key names to KEYMAP keys, lower-case: `" "` and `"SPACE"` (the older collector's files) are
    the stop key."""
    key = key.lower()
    return STOP_KEY if key in (" ", "space") else key


def key_action(key: str) -> np.ndarray:
    """The recorded action of a key, float32 (3,). Raises KeyError for a key that is not in KEYMAP."""
    return np.array(KEYMAP[normalise_key(key)], dtype=np.float32)


def key_of(action: np.ndarray, tolerance: float = 1e-3) -> str | None:
    """The key whose recorded action is nearest to `action` (largest difference on any axis, key units),
    if that difference is at most `tolerance`; else None. The default tells recorded presses apart
    exactly; 0.3 names a policy's action by the press it stands for; `math.inf` names the nearest."""
    action = np.asarray(action, np.float32).reshape(-1)[: _KEY_ACTIONS.shape[1]]
    gaps = np.abs(_KEY_ACTIONS[:, : action.shape[0]] - action[None]).max(axis=1)
    best = int(np.argmin(gaps))
    return _KEY_NAMES[best] if gaps[best] <= tolerance else None


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

    @property
    def ids(self) -> tuple[str, ...]:
        """Every scenario id, the current ones first, in the file's order (layout seeds depend on it)."""
        return tuple(s.id for s in self.all_scenarios)

    @property
    def pattern_spellings(self) -> tuple[str, ...]:
        """Every way a file may spell a pattern: the patterns, then their older aliases."""
        return self.patterns + tuple(self.pattern_aliases or {})

    def read_pattern(self, pattern: str) -> str:
        """A pattern as found in a file, its alias resolved (`exception` reads as `variant`); an unknown
        word is kept as found, for `check` to name."""
        return (self.pattern_aliases or {}).get(pattern, pattern)

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
        pattern = self.read_pattern(pattern)
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
    """The packaged catalogue (read once), or the one at `path`; a malformed file is a `ConfigError`."""
    return _packaged() if path is None else load(Catalogue, path)


@functools.cache
def _packaged() -> Catalogue:
    return load(Catalogue, config_path("scenarios.yaml"))


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
