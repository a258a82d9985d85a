"""`mvla dataset check` and `mvla dataset stats` as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from recorder_builders import record, v4_file, v5_file

from recorder import journal
from tests.cli_helpers import mvla


def test_check_names_each_problem_and_fails(tmp_path: Path) -> None:
    good = record(tmp_path, 3)
    lfs = tmp_path / "episode_20250808_123136_1box_vert_left.h5"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:00\nsize 9\n")
    result = mvla("dataset", "check", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "Git LFS pointer" in result.stdout and good.name in result.stdout
    assert "2 file(s): 1 sound, 1 with problems (1 Git LFS pointer)" in result.stdout

    report = json.loads(mvla("dataset", "check", str(tmp_path), "--json").stdout)
    by_file = {Path(f["file"]).name: f for f in report["files"]}
    assert by_file[good.name]["problems"] == [] and by_file[good.name]["frames"] == 3
    assert by_file[good.name]["layout"] == "v4" and by_file[good.name]["scenario"] == "1box_left"
    assert [p["kind"] for p in by_file[lfs.name]["problems"]] == ["lfs_pointer"]
    assert report["summary"]["with_problems"] == 1

    lfs.unlink()
    assert mvla("dataset", "check", str(tmp_path)).returncode == 0
    journal.journal_path(tmp_path, "episode_20251112_131153_1box_hori_left_core_far").write_bytes(b"x")
    # a temporary file with no frame is no loss
    assert mvla("dataset", "check", str(tmp_path)).returncode == 0
    missing = mvla("dataset", "check", str(tmp_path / "nope"))
    assert (
        missing.returncode == 2 and "Traceback" not in missing.stderr and "no such folder" in missing.stderr
    )


def test_stats_shows_what_is_left_and_keeps_the_collector_files(tmp_path: Path) -> None:
    record(tmp_path, 4, scenario="1box_left")
    record(tmp_path, 5, scenario="1box_left")
    record(tmp_path, 18, scenario="2box_right")
    v4_file(tmp_path, "episode_20250808_123136_1box_vert_left", 3)
    v5_file(tmp_path, "v5_episode_0001")  # 2box_right / variant / far only in its attributes
    (tmp_path / "episode_20251112_010101_1box_hori_right_exception_far.h5").write_text(
        "version https://git-lfs"
    )
    truncated = record(tmp_path, 6, scenario="2box_left")
    truncated.write_bytes(truncated.read_bytes()[:3000])
    result = mvla("dataset", "stats", str(tmp_path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "7 episode file(s), 2 unreadable (not counted)" in out
    assert "2/75" in out  # 1box_left core medium
    assert "2/250" in out and "248" in out  # 1box_left total and still needed
    assert "4/1000" in out and "996" in out  # LFS pointer and truncated file are not episodes
    assert "1box_vert_left 1" in out  # older scenario listed, not counted
    assert "no scenario" not in out  # the V5 file is counted from its attributes
    assert "2 file(s) cannot be read as episodes" in out

    progress = json.loads((tmp_path / "scenario_progress.json").read_text())
    assert progress == {
        "last_updated": progress["last_updated"],
        "scenario_stats": {"1box_left": 2, "1box_right": 0, "2box_left": 0, "2box_right": 2},
        "total_completed": 4,
        "total_target": 1000,
    }
    periods = json.loads((tmp_path / "time_period_stats.json").read_text())
    assert set(periods["time_period_stats"]) == {"dawn", "morning", "evening", "night"}
    assert sum(periods["time_period_stats"].values()) == 4  # the V5 file carries no time
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes leave nothing


def test_stats_counts_malformed_files_as_unreadable(tmp_path: Path) -> None:
    record(tmp_path, 3)
    for i, images in enumerate(["group", np.uint8(7)]):
        path, _ = v4_file(tmp_path, f"episode_20251112_13115{i}_1box_hori_left_core_medium")
        with h5py.File(path, "r+") as f:
            del f["images"]
            if images == "group":
                f.create_group("images")
            else:
                f["images"] = images
    result = mvla("dataset", "stats", str(tmp_path), "--no-write")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "3 episode file(s), 2 unreadable" in result.stdout and "1/75" in result.stdout


def test_check_refuses_a_folder_without_episode_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no episodes here")
    for folder in (tmp_path, tmp_path / "empty"):
        folder.mkdir(exist_ok=True)
        result = mvla("dataset", "check", str(folder))
        assert result.returncode == 2, result.stdout
        assert result.stderr.count("\n") == 1 and "no episode files" in result.stderr


def test_stats_no_write_and_bad_folder(tmp_path: Path) -> None:
    record(tmp_path, 3)
    assert mvla("dataset", "stats", str(tmp_path), "--no-write").returncode == 0
    assert not (tmp_path / "scenario_progress.json").exists()
    bad = mvla("dataset", "stats", str(tmp_path / "missing"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such folder" in bad.stderr
