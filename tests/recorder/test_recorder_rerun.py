"""`mvla dataset view`: episodes logged to a Rerun recording, saved with `--save` and read back with the
SDK's own reader (`rerun.chunk.RrdReader`): the entity paths, one image per frame (RGB, exactly, when
lossless), the action scalars equal to the file's actions, the arrows, the event markers, the static
description, the timelines; damaged files skipped, each named, with the exit status saying so; and the
pure decision of whether a viewer can open here. No viewer is started."""

from __future__ import annotations

import socket
from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from mvla_tui.cli import main
from mvla_tui.commands._dataset_view import _free_name, choose_viewer
from recorder.interop.rerun_layout import top_down_vector
from recorder.reader import read_episode
from tests.recorder.recorder_builders import damaged_folder, record, v4_file

rerun = pytest.importorskip("rerun")
from rerun.chunk import RrdReader  # noqa: E402

V4_NAME = "episode_20251030_132725_1box_vert_left_core_close"
V4_EVENTS = ["episode_start", "start_action", "start_action", "stop_action", "start_action"]


def read_rrd(path: Path) -> dict[str, dict[str, Any]]:
    """Every entity of the recording in `path`: its timelines and columns (rows in `frame` order; static
    entities hold their one row)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    timelines: dict[str, set[str]] = defaultdict(set)
    for chunk in RrdReader(path).stream():
        path_ = chunk.entity_path.lstrip("/")
        timelines[path_] |= set(chunk.timeline_names)
        batch = chunk.to_record_batch()
        names = [n for n in batch.schema.names if n not in ("rerun.controls.RowId", "log_time")]
        for i in range(batch.num_rows):
            row = {}
            for name in names:
                column = batch.column(name)
                row[name] = column[i].value if name == "time" else column[i].as_py()
            rows[path_].append(row)
    out = {}
    for entity, found in rows.items():
        found.sort(key=lambda r: r.get("frame", -1))
        out[entity] = {"timelines": timelines[entity], "rows": found}
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def folder_of_two(folder: Path) -> tuple[Path, Path]:
    """An episode written by EpisodeWriter (timestamps, metadata, outcome) and an older V4 file (no
    timestamps, a stop_action, an instruction)."""
    folder.mkdir()
    written = record(folder, n=4)
    actions = np.zeros((5, 3), np.float32)
    actions[1] = (1.15, 0, 0)
    actions[2] = (0, 0, 1.15)
    actions[4] = (1.15, -1.15, 0)
    old, _ = v4_file(folder, V4_NAME, n=5, events=V4_EVENTS, actions=actions, instruction="Reach the cup")
    return written, old


def test_saved_recording_holds_each_episode(tmp_path: Path, capsys) -> None:
    written, old = folder_of_two(tmp_path / "data")
    out = tmp_path / "view.rrd"
    assert main(["dataset", "view", str(tmp_path / "data"), "--save", str(out), "--lossless"]) == 0
    printed = capsys.readouterr().out
    assert f"Saved 2 episode(s), 9 frame(s) to {out}" in printed
    assert "Open it with: rerun" in printed
    recording = read_rrd(out)
    for path in (written, old):
        episode = read_episode(path)
        root = f"episodes/{path.stem}"
        assert {e for e in recording if e.startswith(root)} == {
            f"{root}/{leaf}"
            for leaf in (
                "camera",
                "action",
                "events",
                "info",
                "top_down/action",
                "top_down/turn",
                "top_down/robot",
                "top_down/axes",
            )
        }
        camera = recording[f"{root}/camera"]["rows"]
        assert [r["frame"] for r in camera] == list(range(len(episode)))
        for row, rgb in zip(camera, episode.images, strict=True):
            pixels = np.asarray(row["Image:buffer"][0], np.uint8).reshape(rgb.shape)
            np.testing.assert_array_equal(pixels, rgb)  # RGB as in memory, not the file's BGR
        action = [r for r in recording[f"{root}/action"]["rows"] if "frame" in r]
        logged = np.array([r["Scalars:scalars"] for r in action])
        np.testing.assert_array_equal(logged, episode.actions.astype(np.float64))
        series = [r for r in recording[f"{root}/action"]["rows"] if "frame" not in r][0]
        assert series["SeriesLines:names"] == [
            "linear_x (key units)",
            "linear_y (key units)",
            "angular_z (key units)",
        ]
        arrows = recording[f"{root}/top_down/action"]["rows"]
        vectors = [r["Arrows2D:vectors"][0] for r in arrows]
        np.testing.assert_allclose(vectors, [top_down_vector(a) for a in episode.actions], atol=1e-6)
        events = recording[f"{root}/events"]["rows"]
        assert [r["TextLog:level"][0] for r in events] == episode.event_types
        info = recording[f"{root}/info"]
        assert info["timelines"] == set()  # static
        text = info["rows"][0]["TextDocument:text"][0]
        for word in (episode.meta.scenario, episode.meta.pattern, episode.meta.distance):
            assert f": {word}" in text
    # The older file: no timestamps, so no time timeline; its own events, keys and instruction.
    old_root = f"episodes/{old.stem}"
    assert recording[f"{old_root}/camera"]["timelines"] == {"frame"}
    old_events = recording[f"{old_root}/events"]["rows"]
    assert [r["TextLog:level"][0] for r in old_events] == V4_EVENTS
    assert old_events[2]["TextLog:text"] == ["key r: linear_x +0.00, linear_y +0.00, angular_z +1.15"]
    labels = [r["Arrows2D:labels"][0] for r in recording[f"{old_root}/top_down/action"]["rows"]]
    assert labels[1:3] == ["w", "r"] and labels[4] == "e"
    turn = recording[f"{old_root}/top_down/turn"]["rows"]
    assert [("LineStrips2D:strips" in r and r["LineStrips2D:strips"] is not None) for r in turn] == [
        False,
        False,
        True,
        False,
        False,
    ]
    old_info = recording[f"{old_root}/info"]["rows"][0]["TextDocument:text"][0]
    assert "**instruction**: Reach the cup" in old_info and "**outcome**: not recorded" in old_info
    # The written episode has timestamps: a time timeline in seconds since its start, and its outcome.
    new_root = f"episodes/{written.stem}"
    assert recording[f"{new_root}/camera"]["timelines"] == {"frame", "time"}
    times = [r["time"] / 1e9 for r in recording[f"{new_root}/camera"]["rows"]]
    np.testing.assert_allclose(times, read_episode(written).timestamps, atol=1e-6)
    assert "**outcome**: unspecified" in recording[f"{new_root}/info"]["rows"][0]["TextDocument:text"][0]
    assert RrdReader(out).blueprints(), "the tabs' blueprint is in the file"


def test_images_are_jpeg_by_default(tmp_path: Path, capsys) -> None:
    path, rgb = v4_file(tmp_path, V4_NAME, n=2)
    out = tmp_path / "one.rrd"
    assert main(["dataset", "view", str(path), "--save", str(out), "--jpeg-quality", "95"]) == 0
    camera = read_rrd(out)[f"episodes/{V4_NAME}/camera"]["rows"]
    assert len(camera) == 2
    assert camera[0]["EncodedImage:media_type"] == ["image/jpeg"]
    decoded = cv2.imdecode(
        np.frombuffer(bytes(camera[0]["EncodedImage:blob"][0]), np.uint8), cv2.IMREAD_COLOR
    )
    assert decoded.shape == rgb[0].shape


def test_damaged_files_are_skipped_with_a_count(tmp_path: Path, monkeypatch, capsys) -> None:
    files = damaged_folder(tmp_path / "data", monkeypatch)
    out = tmp_path / "view.rrd"
    assert main(["dataset", "view", str(tmp_path / "data"), "--save", str(out)]) == 1
    printed = capsys.readouterr().out
    lines = {name: line for line in printed.splitlines() for name in [line.split(":")[0]]}
    assert lines[f"skipped {files['lfs'].name}"].endswith("run `git lfs pull` in the dataset repository")
    assert "truncated" in lines[f"skipped {files['truncated'].name}"]
    assert "crashed the HDF5 library (SIGSEGV)" in lines[f"skipped {files['crash'].name}"]
    assert "Saved 1 episode(s)" in printed and "3 damaged file(s) skipped" in printed
    assert {e.split("/")[1] for e in read_rrd(out) if e.startswith("episodes/")} == {files["good"].stem}


def test_nothing_readable_saves_nothing(tmp_path: Path, capsys) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / f"{V4_NAME}.h5").write_text("version https://git-lfs.github.com/spec/v1\n")
    out = tmp_path / "view.rrd"
    assert main(["dataset", "view", str(tmp_path / "data"), "--save", str(out)]) == 1
    assert "No episode could be read" in capsys.readouterr().out
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]  # no .rrd, no temporary left


def test_over_ssh_it_saves_in_the_current_folder_and_says_how_to_open(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    path, _ = v4_file(tmp_path, V4_NAME, n=2)
    (tmp_path / f"{V4_NAME}.rrd").write_text("somebody's file")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.9 22")
    monkeypatch.setenv("DISPLAY", "localhost:10.0")  # a forwarded X display is not enough
    assert main(["dataset", "view", str(path)]) == 0
    printed = capsys.readouterr().out
    saved = tmp_path / f"{V4_NAME}-2.rrd"
    assert f"Saved 1 episode(s), 2 frame(s) to {saved}" in printed
    assert "No viewer opened: this is an SSH session" in printed
    assert f":{saved} . && rerun {saved.name}" in printed
    assert (tmp_path / f"{V4_NAME}.rrd").read_text() == "somebody's file"
    assert f"episodes/{V4_NAME}/camera" in read_rrd(saved)


@pytest.mark.parametrize(
    ("env", "viewer", "platform", "opens", "why"),
    [
        ({"DISPLAY": ":0"}, "/usr/bin/rerun", "linux", True, "desktop"),
        ({"WAYLAND_DISPLAY": "wayland-0"}, "/usr/bin/rerun", "linux", True, "desktop"),
        ({}, "/usr/bin/rerun", "linux", False, "no display"),
        ({"DISPLAY": ":0"}, None, "linux", False, "not installed"),
        (
            {"DISPLAY": "localhost:10.0", "SSH_CONNECTION": "a 1 b 22"},
            "/usr/bin/rerun",
            "linux",
            False,
            "SSH",
        ),
        ({"SSH_TTY": "/dev/pts/1"}, "/usr/bin/rerun", "linux", False, "SSH"),
        ({"SSH_CLIENT": "a 1 22"}, "/usr/bin/rerun", "darwin", False, "SSH"),
        ({}, "/usr/local/bin/rerun", "darwin", True, "desktop"),
        ({"DISPLAY": ""}, "/usr/bin/rerun", "linux", False, "no display"),
    ],
)
def test_choose_viewer(env: dict, viewer: str | None, platform: str, opens: bool, why: str) -> None:
    choice = choose_viewer(env, viewer, platform)
    assert choice.opens is opens and why in choice.reason


def test_free_name_never_takes_an_existing_file(tmp_path: Path) -> None:
    assert _free_name(tmp_path / "a.rrd") == tmp_path / "a.rrd"
    (tmp_path / "a.rrd").touch()
    (tmp_path / "a-2.rrd").touch()
    assert _free_name(tmp_path / "a.rrd") == tmp_path / "a-3.rrd"


def test_bad_arguments_are_one_line(tmp_path: Path, capsys) -> None:
    path, _ = v4_file(tmp_path, V4_NAME, n=2)
    assert main(["dataset", "view", str(path), "--jpeg-quality", "0", "--save", str(tmp_path / "x.rrd")]) == 2
    assert capsys.readouterr().err.strip() == "mvla dataset: error: --jpeg-quality must be 1-100, got 0"
    assert main(["dataset", "view", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    assert main(["dataset", "view", str(tmp_path / "missing"), "--save", str(tmp_path / "no/x.rrd")]) == 2
    capsys.readouterr()
    assert main(["dataset", "view", str(path), "--save", str(tmp_path / "no" / "x.rrd")]) == 2
    assert "no such folder for x.rrd" in capsys.readouterr().err


def test_connect_without_a_viewer_listening_is_one_line(tmp_path: Path, capsys) -> None:
    path, _ = v4_file(tmp_path, V4_NAME, n=2)
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    url = f"rerun+http://127.0.0.1:{port}/proxy"
    assert main(["dataset", "view", str(path), "--connect", url]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"mvla dataset: error: no Rerun viewer at {url} (")
    assert main(["dataset", "view", str(path), "--connect", "http//nowhere"]) == 2
    assert "not a viewer address" in capsys.readouterr().err


def test_connect_streams_to_a_listening_viewer(tmp_path: Path, capsys) -> None:
    """A gRPC server of the SDK's own (what a workstation's `rerun` runs) receives the episode."""
    path, _ = v4_file(tmp_path, V4_NAME, n=3)
    rec = rerun.RecordingStream("listener")
    url = rec.serve_grpc(grpc_port=_free_port())
    try:
        assert main(["dataset", "view", str(path), "--connect", url]) == 0
        assert f"Sent 1 episode(s), 3 frame(s) to the viewer at {url}" in capsys.readouterr().out
    finally:
        rec.disconnect()
