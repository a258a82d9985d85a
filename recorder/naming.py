"""Episode file names: the current pattern we write and every older generation we read.

Generations (DATA_FORMAT.md): `episode_{ts}` (earliest), `episode_{ts}_{n}box_{vert|hori}_{side}`
(8 scenarios), the same plus `_{pattern}_{distance}`, and the current one where the layout is always
`hori`. A name with a pattern and `hori` maps to a current scenario id (`1box_left`); any other
scenario token keeps its older id (`1box_vert_left`, or `1box_hori_left` from the 8-scenario era,
when pattern and distance were not yet recorded). This module never opens a file.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recorder.catalogue import Catalogue, load_catalogue
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError

TIME_FORMAT = "%Y%m%d_%H%M%S"


@functools.cache
def _name_pattern() -> re.Pattern[str]:
    """File names of every generation, spelt with the catalogue's words (patterns with their aliases)."""
    catalogue = load_catalogue()
    specs = catalogue.all_scenarios

    def one_of(words: Iterable[str]) -> str:
        return "|".join(re.escape(w) for w in dict.fromkeys(words))

    return re.compile(
        r"^episode_(?P<ts>\d{8}_\d{6})"
        rf"(?:_(?P<boxes>\d)box_(?P<layout>{one_of(s.layout for s in specs)})_(?P<side>{one_of(s.side for s in specs)})"
        rf"(?:_(?P<pattern>{one_of(catalogue.pattern_spellings)})_(?P<distance>{one_of(catalogue.distances)}))?)?$"
    )


@dataclass(frozen=True)
class ParsedName:
    generation: str  # "earliest", "8-scenario", "pattern-distance" or "current"
    started: datetime  # local time from the name
    scenario: str | None
    pattern: str | None  # normalised: `exception` reads as `variant`
    distance: str | None


def episode_name(meta: EpisodeMeta, when: datetime, catalogue: Catalogue | None = None) -> str:
    """The current file-name pattern, e.g. `episode_20251112_131153_1box_hori_left_core_medium`."""
    catalogue = catalogue or load_catalogue()
    missing = [k for k in ("scenario", "pattern", "distance") if getattr(meta, k) is None]
    if missing:
        raise RecorderError(
            f"cannot name an episode without {', '.join(missing)}; set them in the episode meta"
        )
    spec = catalogue.get(meta.scenario or "")
    pattern = catalogue.normalise_pattern(meta.pattern or "")
    distance = catalogue.check_distance(meta.distance or "")
    return f"episode_{when.strftime(TIME_FORMAT)}_{spec.name_token}_{pattern}_{distance}"


def parse_episode_name(name: str | Path) -> ParsedName | None:
    """Parse a file name or stem of any generation; None when it follows none of them."""
    stem = Path(name).name
    if stem.endswith(".h5"):
        stem = stem[: -len(".h5")]
    match = _name_pattern().match(stem)
    if match is None:
        return None
    try:
        started = datetime.strptime(match["ts"], TIME_FORMAT)
    except ValueError:
        return None
    if match["boxes"] is None:
        return ParsedName("earliest", started, None, None, None)
    token = f"{match['boxes']}box_{match['layout']}_{match['side']}"
    if match["pattern"] is None:
        return ParsedName("8-scenario", started, token, None, None)
    catalogue = load_catalogue()
    pattern = catalogue.read_pattern(match["pattern"])
    for spec in catalogue.scenarios:
        if spec.name_token == token:
            return ParsedName("current", started, spec.id, pattern, match["distance"])
    return ParsedName("pattern-distance", started, token, pattern, match["distance"])
