"""The core guide: the key sequence a "core" episode of a scenario should follow, and how far the presses
of the episode being recorded have strayed from it.

Guides come from `core_patterns.json` in the data folder, in the older collector's format
(`{combo_key: [keys]}`, `combo_key` = `"{scenario}__{pattern}__{distance}"` or a bare scenario id, keys
lower-case `w a s d q e z c r t` or `"SPACE"`, at most 17), else from the catalogue's default guide of
the scenario. The most specific entry wins. A file that cannot be read or holds something else is
reported in one line and ignored (the defaults apply); this module never writes it.
Variant episodes have no guide. It must not import textual and never touches the robot.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from recorder.catalogue import KEYMAP, Catalogue, normalise_key

GUIDE_FILE = "core_patterns.json"
MAX_GUIDE_KEYS = 17


def load_guides(data_dir: Path) -> tuple[dict[str, tuple[str, ...]], str | None]:
    """(combo key -> keys, problem or None) from `data_dir/core_patterns.json`; no file is no problem."""
    path = Path(data_dir) / GUIDE_FILE
    if not path.exists():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return {}, f"{path}: not readable as JSON ({exc}); using the default guides"
    if not isinstance(data, dict):
        return {}, f"{path}: expected an object of key lists; using the default guides"
    guides: dict[str, tuple[str, ...]] = {}
    for combo, keys in data.items():
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            return {}, f"{path}: {combo!r} is not a list of keys; using the default guides"
        normalised = tuple(normalise_key(k) for k in keys)  # the older collector spells the stop key SPACE
        bad = [k for k in normalised if k not in KEYMAP]
        if bad:
            return {}, f"{path}: {combo!r} has {bad[0]!r}, not a movement key; using the default guides"
        guides[combo] = normalised[:MAX_GUIDE_KEYS]
    return guides, None


def guide_for(
    guides: dict[str, tuple[str, ...]], catalogue: Catalogue, scenario: str, pattern: str, distance: str
) -> tuple[str, ...]:
    """The guide of one episode setting; empty for variant episodes and scenarios without one."""
    if pattern != "core":
        return ()
    for combo in (f"{scenario}__{pattern}__{distance}", scenario):
        if combo in guides:
            return guides[combo]
    return catalogue.get(scenario).guide_keys


@dataclass
class GuideTracker:
    """Follows the presses of one episode against its guide."""

    guide: tuple[str, ...]
    presses: int = 0
    mismatches: int = 0

    def press(self, key: str | None) -> None:
        """One recorded motion (`None`: not a key, e.g. a policy's action, which always counts as off)."""
        if not self.guide:
            return
        expected = self.guide[self.presses] if self.presses < len(self.guide) else None
        if key != expected:
            self.mismatches += 1
        self.presses += 1

    @property
    def next_key(self) -> str | None:
        """The guide's next key, or None when there is no guide or it is done."""
        return self.guide[self.presses] if self.presses < len(self.guide) else None
