"""Reading untrusted files in a child process: the same answers as in-process for sound and damaged
files, and a file that hangs the HDF5 library (found by fuzzing: benchmarks/fuzz_reader.py), a FIFO
that never returns, or a reader process that dies, is reported as unreadable — the caller never hangs
and never crashes. `mvla dataset check` goes through it."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.cli import main
from recorder.check import inspect_file
from recorder.errors import EpisodeFileError
from recorder.isolated import IsolatedReader, check_files
from recorder.reader import read_episode
from tests.recorder.recorder_builders import v4_file, v5_file

DATA = Path(__file__).resolve().parent / "data"


def test_child_answers_match_the_in_process_check(tmp_path: Path) -> None:
    good, _ = v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=5)
    bad = tmp_path / "episode_20251030_132726_1box_vert_left_core_close.h5"
    bad.write_bytes(good.read_bytes()[:3000])
    reports = list(check_files([good, bad], timeout_s=20))
    for path, report in zip([good, bad], reports, strict=True):
        local = inspect_file(path)
        assert (report.layout, report.frames, report.scenario) == (local.layout, local.frames, local.scenario)
        assert [(p.kind, p.message) for p in report.problems] == [(p.kind, p.message) for p in local.problems]


def test_an_episode_read_in_the_child_is_the_in_process_one(tmp_path: Path) -> None:
    v4, _ = v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=4, instruction="go left")
    v5, _ = v5_file(tmp_path, "episode_20250808_123136_2box_right", jpeg=True)
    with IsolatedReader(timeout_s=20) as reader:
        for path in (v4, v5):
            child, local = reader.episode(path), read_episode(path)
            assert (child.layout, child.name, child.event_types) == (
                local.layout,
                local.name,
                local.event_types,
            )
            assert child.meta == local.meta
            for a, b in ((child.images, local.images), (child.actions, local.actions)):
                assert a.dtype == b.dtype and np.array_equal(a, b)
            assert (child.timestamps is None) == (local.timestamps is None)
        bad = tmp_path / "episode_20251030_132726_1box_vert_left_core_close.h5"
        bad.write_bytes(v4.read_bytes()[:3000])
        with pytest.raises(EpisodeFileError) as child_error:
            reader.episode(bad)
    with pytest.raises(EpisodeFileError) as local_error:
        read_episode(bad)
    assert (child_error.value.kind, str(child_error.value)) == (
        local_error.value.kind,
        str(local_error.value),
    )


def test_runtime_errors_of_h5py_are_the_readers_own_error() -> None:
    """Fuzzing found damaged B-trees on which h5py raises RuntimeError: the reader names the file."""
    with pytest.raises(EpisodeFileError, match="truncated or unreadable"):
        read_episode(DATA / "fuzzed_runtime_error.h5")
    assert [p.kind for p in inspect_file(DATA / "fuzzed_runtime_error.h5").problems] == ["truncated"]


def test_a_file_that_hangs_the_hdf5_library_is_unreadable_not_a_hang(tmp_path: Path) -> None:
    started = time.monotonic()
    with IsolatedReader(timeout_s=3.0) as reader:
        report = reader.inspect(DATA / "fuzzed_hangs_hdf5.h5")
        assert time.monotonic() - started < 20
        assert [p.kind for p in report.problems] in (["unreadable"], ["truncated"])  # truncated: a fixed HDF5
        good, _ = v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=3)
        assert reader.inspect(good).ok  # a fresh child takes the next file


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_read_that_never_returns_times_out(tmp_path: Path) -> None:
    fifo = tmp_path / "episode_20251030_132725_1box_vert_left_core_close.h5"
    os.mkfifo(fifo)
    with IsolatedReader(timeout_s=2.0) as reader:
        report = reader.inspect(fifo)
    assert report.problems[0].kind == "unreadable"
    assert "did not finish within 2 s" in report.problems[0].message
    assert reader.restarts == 1


def test_a_reader_process_that_dies_is_reported(tmp_path: Path) -> None:
    good, _ = v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=3)
    # 32 MB of address space: the child cannot even import numpy and dies at once.
    with IsolatedReader(timeout_s=20.0, memory_limit_gb=0.03) as reader:
        report = reader.inspect(good)
    assert report.problems[0].kind == "unreadable"
    assert (
        "killed the reading process" in report.problems[0].message or "crashed" in report.problems[0].message
    )


def test_a_segfault_in_the_reader_is_one_line_naming_where(tmp_path: Path, monkeypatch, capsys) -> None:
    """A file that segfaults the HDF5 library (here a stand-in: the child's `inspect_file` raises the
    signal for files named crash*) is one problem line naming the signal and the innermost Python frame
    (the child runs with faulthandler); the next file is read by a fresh child."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os, signal\n"
        "import recorder.check\n"
        "_inspect = recorder.check.inspect_file\n"
        "def segfault_in_hdf5(path):\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
        "def inspect_file(path):\n"
        "    return segfault_in_hdf5(path) if path.name.startswith('crash') else _inspect(path)\n"
        "recorder.check.inspect_file = inspect_file\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("PYTHONPATH", str(site))
    data = tmp_path / "data"
    data.mkdir()
    good, _ = v4_file(data, "episode_20251030_132725_1box_vert_left_core_close", n=3)
    crash = data / "crash_20251030_132726_1box_vert_left_core_far.h5"
    shutil.copy(good, crash)
    with IsolatedReader(timeout_s=20.0) as reader:
        report = reader.inspect(crash)
        assert reader.inspect(good).ok
    assert [p.kind for p in report.problems] == ["unreadable"]
    message = report.problems[0].message
    assert message.startswith("reading it crashed the HDF5 library (SIGSEGV) in ")
    assert "sitecustomize.py line 5 (segfault_in_hdf5)" in message and "\n" not in message
    assert main(["dataset", "check", str(crash), "--json"]) == 1
    (problem,) = json.loads(capsys.readouterr().out)["files"][0]["problems"]
    assert problem["message"].endswith("(SIGSEGV) in site/sitecustomize.py line 5 (segfault_in_hdf5)")


@pytest.mark.slow
def test_dataset_check_reports_a_hanging_file_and_goes_on(tmp_path: Path, capsys) -> None:
    v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=3)
    shutil.copy(
        DATA / "fuzzed_hangs_hdf5.h5", tmp_path / "episode_20251030_132726_1box_vert_left_core_far.h5"
    )
    assert main(["dataset", "check", str(tmp_path), "--json", "--timeout", "3"]) == 1
    import json

    out = json.loads(capsys.readouterr().out)
    assert out["summary"]["files"] == 2 and out["summary"]["sound"] == 1
    kinds = [p["kind"] for f in out["files"] for p in f["problems"]]
    assert kinds in (["unreadable"], ["truncated"])


@pytest.mark.slow
def test_dataset_stats_counts_a_hanging_file_as_unreadable(tmp_path: Path, capsys) -> None:
    v4_file(tmp_path, "episode_20251030_132725_1box_vert_left_core_close", n=3)
    shutil.copy(
        DATA / "fuzzed_hangs_hdf5.h5", tmp_path / "episode_20251030_132726_1box_vert_left_core_far.h5"
    )
    started = time.monotonic()
    assert main(["dataset", "stats", str(tmp_path), "--no-write", "--timeout", "3"]) == 0
    assert time.monotonic() - started < 30
    assert "2 episode file(s), 1 unreadable" in capsys.readouterr().out
