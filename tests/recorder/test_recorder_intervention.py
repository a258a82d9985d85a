"""Intervention episodes in the file: who drove each frame, the policy's proposals, the instruction in force
and the takeovers, written beside the V4 layout so that older readers see the file as before."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from recorder_builders import (
    INTERVENTION_SOURCES,
    intervention_annotations,
    intervention_record,
    record,
)

from recorder.check import inspect_file
from recorder.intervention import FrameAnnotation, derive_events
from recorder.isolated import IsolatedReader
from recorder.reader import read_episode
from recorder.recover import find_leftovers, salvage
from recorder.stats import collect, episode_files


def test_sources_proposals_instructions_and_events_round_trip(tmp_path: Path) -> None:
    path = intervention_record(tmp_path)
    episode = read_episode(path)
    got = episode.intervention
    assert got is not None
    assert got.sources == INTERVENTION_SOURCES
    expected = np.array([a.proposed for a in intervention_annotations()], np.float32)
    np.testing.assert_array_equal(got.proposed, expected)  # NaN where the operator drove
    assert got.instructions == ("go left",) * 5 + ("go right",) * 2
    assert [(e.kind, e.frame, e.t) for e in got.events] == [("takeover", 3, 1.5), ("handback", 5, 2.5)]
    attrs = episode.meta.attrs
    assert attrs["intervention"] is True or attrs["intervention"] == 1
    # steps are the start_action frames: 1, 2, 5, 6 by the policy, 3 by the operator (4 is the stop)
    assert (attrs["takeovers"], attrs["policy_steps"], attrs["operator_steps"]) == (1, 4, 1)


def test_older_readers_see_the_v4_layout_unchanged(tmp_path: Path) -> None:
    path = intervention_record(tmp_path)
    with h5py.File(path, "r") as f:
        assert {"images", "actions", "action_event_types", "timestamps", "language_instruction"} <= set(f)
        assert f["images"].shape[0] == f["actions"].shape[0] == len(INTERVENTION_SOURCES)
        assert isinstance(f["intervention"], h5py.Group)  # the additions live in their own group
        assert f.attrs["num_frames"] == len(INTERVENTION_SOURCES)
    assert inspect_file(path).ok


def test_an_episode_no_policy_drove_gets_no_group(tmp_path: Path) -> None:
    path = record(tmp_path, n=3)
    with h5py.File(path, "r") as f:
        assert "intervention" not in f
        assert "takeovers" not in f.attrs
    assert read_episode(path).intervention is None


def test_check_and_the_isolated_reader_count_takeovers(tmp_path: Path) -> None:
    path = intervention_record(tmp_path)
    report = inspect_file(path)
    assert report.intervention is not None
    assert (report.intervention.policy, report.intervention.operator, report.intervention.takeovers) == (
        4,
        1,
        1,
    )
    with IsolatedReader() as reader:
        again = reader.inspect(path)
        assert again.intervention == report.intervention
        summary = reader.summary(path)
        assert summary.header is not None and summary.header.intervention is not None
        assert summary.header.intervention.takeover_frames() == (3,)
        episode = reader.episode(path)
        assert episode.intervention is not None and episode.intervention.sources == INTERVENTION_SOURCES


def test_stats_count_takeovers_per_scenario(tmp_path: Path) -> None:
    intervention_record(tmp_path)
    record(tmp_path, n=3)
    stats = collect(episode_files(tmp_path))
    row = stats.interventions["1box_left"]
    assert (row.episodes, row.takeovers, row.policy_steps, row.operator_steps) == (1, 1, 4, 1)


def test_a_salvaged_journal_keeps_the_annotations(tmp_path: Path) -> None:
    intervention_record(tmp_path, finish=False)
    (leftover,) = find_leftovers(tmp_path)
    episode = read_episode(salvage(leftover))
    assert episode.intervention is not None
    assert episode.intervention.sources == INTERVENTION_SOURCES
    assert [e.kind for e in episode.intervention.events] == ["takeover", "handback"]


def test_events_follow_the_sources() -> None:
    sources = ["operator", "operator", "policy", "operator", "policy", "policy", "operator", "operator"]
    events = derive_events(sources, [float(i) for i in range(len(sources))])
    assert [(e.kind, e.frame) for e in events] == [("takeover", 3), ("handback", 4), ("takeover", 6)]
    # the operator driving before the policy ever did is no hand-back
    assert derive_events(["operator", "policy"], [0.0, 1.0]) == []


@pytest.mark.parametrize(
    ("record_", "ok"),
    [
        ({"s": "policy", "p": [1, 2, 3], "i": "x"}, True),
        ({"s": "operator", "p": None, "i": ""}, True),
        ({"s": "robot", "p": None, "i": ""}, False),
        ({"s": "policy", "p": [1, 2], "i": ""}, False),
        ({"s": "policy", "p": None, "i": 3}, False),
        (["policy"], False),
    ],
)
def test_journal_annotation_records_are_validated(record_: object, ok: bool) -> None:
    assert (FrameAnnotation.from_record(record_) is not None) == ok
