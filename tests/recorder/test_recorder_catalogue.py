"""The scenario catalogue and file names: defaults an operator relies on, every name generation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from configs import ConfigError, config_path
from recorder.catalogue import load_catalogue
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError
from recorder.naming import episode_name, parse_episode_name


def test_catalogue_defaults() -> None:
    cat = load_catalogue()
    assert cat.current_ids == ("1box_left", "1box_right", "2box_left", "2box_right")
    assert len(cat.older_scenarios) == 8
    assert [cat.target("1box_left", "core", d) for d in cat.distances] == [50, 75, 25]
    assert [cat.target("2box_right", "variant", d) for d in cat.distances] == [25, 25, 50]
    assert cat.scenario_target("2box_left") == 250 and cat.total_target == 1000
    assert cat.target("1box_vert_left", "core", "close") == 0  # older ids are not collected any more
    assert cat.normalise_pattern("exception") == "variant"
    assert (
        cat.default_instruction("1box_left")
        == "Navigate around the obstacle on the left side and reach the cup"
    )
    assert cat.default_instruction("2box_vert_right") == cat.default_instruction("2box_right")
    with pytest.raises(RecorderError, match="unknown scenario '3box_left'"):
        cat.default_instruction("3box_left")


def test_bad_catalogue_names_the_file_and_key(tmp_path: Path) -> None:
    text = config_path("scenarios.yaml").read_text()
    bad = tmp_path / "scenarios.yaml"
    bad.write_text(text + "colour: blue\n")
    with pytest.raises(ConfigError, match="unknown key 'colour'") as err:
        load_catalogue(bad)
    assert str(bad) in str(err.value)
    bad.write_text(text.replace("far: 25}", "}"))
    with pytest.raises(ConfigError, match="every distance"):
        load_catalogue(bad)


@pytest.mark.parametrize(
    ("name", "generation", "scenario", "pattern", "distance"),
    [
        ("episode_20250805_101010", "earliest", None, None, None),
        ("episode_20250808_123136_1box_vert_left", "8-scenario", "1box_vert_left", None, None),
        ("episode_20250901_080000_2box_hori_right", "8-scenario", "2box_hori_right", None, None),
        (
            "episode_20251030_132725_1box_vert_left_core_close",
            "pattern-distance",
            "1box_vert_left",
            "core",
            "close",
        ),
        (
            "episode_20251030_132725_2box_vert_right_exception_far",
            "pattern-distance",
            "2box_vert_right",
            "variant",
            "far",
        ),
        ("episode_20251112_131153_1box_hori_left_core_medium.h5", "current", "1box_left", "core", "medium"),
    ],
)
def test_every_name_generation_parses(name, generation, scenario, pattern, distance) -> None:
    parsed = parse_episode_name(name)
    assert parsed is not None
    assert (parsed.generation, parsed.scenario, parsed.pattern, parsed.distance) == (
        generation,
        scenario,
        pattern,
        distance,
    )


def test_foreign_names_do_not_parse() -> None:
    for name in ("scenario_progress.json", "episode_2025_1box.h5", "episode_20251399_999999_1box_hori_left"):
        assert parse_episode_name(name) is None


def test_current_name_round_trips() -> None:
    when = datetime(2025, 11, 12, 13, 11, 53)
    name = episode_name(EpisodeMeta(scenario="2box_right", pattern="exception", distance="far"), when)
    assert name == "episode_20251112_131153_2box_hori_right_variant_far"
    parsed = parse_episode_name(name)
    assert parsed is not None and (parsed.started, parsed.scenario, parsed.pattern) == (
        when,
        "2box_right",
        "variant",
    )
    with pytest.raises(RecorderError, match="without distance"):
        episode_name(EpisodeMeta(scenario="1box_left", pattern="core"), when)
