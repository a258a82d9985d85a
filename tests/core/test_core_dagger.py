"""`mvla sim dagger` end to end on the shipped policy at a tiny size: one round collects intervention episodes
with the expert as operator, fine-tunes from the checkpoint, evaluates on held-out seeds, and spends the
same operator frames on demonstrations; the table and the JSON rows say so, and the files are there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mvla_tui.cli import main
from recorder.reader import read_episode


@pytest.mark.slow
def test_one_dagger_round_end_to_end(tmp_path: Path, capsys) -> None:
    out = tmp_path / "dagger"
    args = ["sim", "dagger", "--policy", "default", "--rounds", "1", "--episodes-per-round", "2"]
    args += ["--steps", "2", "--eval-episodes", "2", "--size", "64x36", "--out", str(out), "--json"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    rows = json.loads(printed[printed.index("[\n") :])
    assert [(r["arm"], r["round"]) for r in rows] == [("start", 0), ("dagger", 1), ("demos", 1)]
    dagger, demos = rows[1], rows[2]
    assert demos["operator_frames"] >= dagger["operator_frames"]  # at least the same human effort
    assert Path(dagger["checkpoint"]).is_dir() and Path(demos["checkpoint"]).is_dir()
    assert "DAgger vs demonstrations" in printed
    episodes = sorted((out / "round1" / "interventions").glob("*.h5"))
    assert len(episodes) == 2
    assert all(read_episode(p).intervention is not None for p in episodes)  # the policy drove in each
    # the demonstrations arm records expert episodes only for a budget the operator spent
    assert bool(list((out / "round1").glob("demos/*.h5"))) == (dagger["operator_frames"] > 0)


def test_bad_arguments_are_one_line_errors(tmp_path: Path, capsys) -> None:
    args = ["sim", "dagger", "--policy", "default", "--episodes-per-round", "0", "--out", str(tmp_path)]
    assert main(args) == 2
    assert "--episodes-per-round must be at least 1" in capsys.readouterr().err
