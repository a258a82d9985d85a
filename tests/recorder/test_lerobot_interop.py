"""LeRobot v3 export and import (`recorder.interop.lerobot_*`): the on-disk layout LeRobot reads, the
one-row-per-recorded-frame resampling, damaged files skipped with the check's reason, atomic publishing,
and the round trip HDF5 -> LeRobot -> HDF5 (actions bit-exact, images within the codec's error)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyarrow")
pytest.importorskip("av")

import pyarrow.parquet as pq  # noqa: E402

from recorder.check import check  # noqa: E402
from recorder.episode import EpisodeMeta  # noqa: E402
from recorder.errors import RecorderError  # noqa: E402
from recorder.interop import lerobot_layout as layout  # noqa: E402
from recorder.interop.lerobot_export import ExportOptions, export_lerobot  # noqa: E402
from recorder.interop.lerobot_import import import_lerobot  # noqa: E402
from recorder.reader import read_episode  # noqa: E402
from recorder.writer import EpisodeWriter  # noqa: E402
from tests.cli_helpers import mvla  # noqa: E402
from tests.recorder.recorder_builders import damaged_folder, key_actions  # noqa: E402

# Asserted per episode: H.264 at the default crf 23, yuv420p, on these small 64x48 test frames (sharp
# coloured edges and a wrapping gradient lose most to chroma subsampling: they measure 29-34 dB);
# 1280x720 sim episodes measure 42 dB or more.
MIN_PSNR_DB = 28.0


def smooth_frames(n: int, seed: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Frames with structure a video codec keeps: a shifting gradient and a moving block (random pixel
    noise, which no codec keeps, would measure the noise rather than the export)."""
    y, x = np.mgrid[0:h, 0:w]
    frames = np.empty((n, h, w, 3), np.uint8)
    for i in range(n):
        base = np.stack([x * 3 + i * 5, y * 4, (x + y) * 2 + seed * 20], axis=-1) % 200 + 20
        base[10 + i : 20 + i, 20:30] = (230, 40, 40)
        frames[i] = base
    return frames


def recorded(folder: Path, n: int, seed: int, scenario: str = "1box_left") -> Path:
    meta = EpisodeMeta(scenario=scenario, pattern="core", distance="far", robot="sim", camera="test")
    with EpisodeWriter(folder, meta) as writer:
        for i, (image, action) in enumerate(zip(smooth_frames(n, seed), key_actions(n), strict=True)):
            writer.append(image, action, "start_action" if i else "episode_start", timestamp=0.5 + 0.56 * i)
        return writer.finish(outcome="success")


@pytest.fixture
def source(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "data"
    folder.mkdir()
    return [recorded(folder, 6, 0), recorded(folder, 4, 1, "2box_right"), recorded(folder, 5, 2)]


def test_export_writes_the_v3_layout_with_one_row_per_recorded_frame(source: list[Path], tmp_path: Path):
    out = tmp_path / "lerobot"
    result = export_lerobot(source[0].parent, out, ExportOptions(fps=2))
    assert (result.episodes, result.frames, result.skipped) == (3, 15, [])
    info = json.loads((out / layout.INFO_PATH).read_text())
    assert info["codebase_version"] == "v3.0" and info["fps"] == 2 and info["robot_type"]
    assert (info["total_episodes"], info["total_frames"], info["total_tasks"]) == (3, 15, 2)
    assert info["features"]["action"]["names"] == ["linear_x (m/s)", "linear_y (m/s)", "angular_z (rad/s)"]
    assert info["features"][layout.IMAGE_KEY]["info"]["video.codec"] == "h264"
    data = pq.read_table(out / "data/chunk-000/file-000.parquet")
    assert set(info["features"]) - {layout.IMAGE_KEY} == set(data.column_names)
    assert data["index"].to_pylist() == list(range(15))
    first = data.filter(data["episode_index"].to_numpy() == 0)
    np.testing.assert_array_equal(first["timestamp"].to_numpy(), np.arange(6, dtype=np.float32) / 2)
    np.testing.assert_allclose(first[layout.RECORDED_TIME].to_numpy(), 0.5 + 0.56 * np.arange(6), atol=1e-6)
    assert first["event_type"].to_pylist() == ["episode_start"] + ["start_action"] * 5
    assert set(first["scenario"].to_pylist()) == {"1box_left"} and set(first["outcome"].to_pylist()) == {
        "success"
    }
    episodes = pq.read_table(out / "meta/episodes/chunk-000/file-000.parquet").to_pylist()
    assert [(e["dataset_from_index"], e["dataset_to_index"]) for e in episodes] == [(0, 6), (6, 10), (10, 15)]
    key = layout.IMAGE_KEY
    assert [e[f"videos/{key}/from_timestamp"] for e in episodes] == [0.0, 3.0, 5.0]
    assert episodes[1]["tasks"] == ["Navigate around the obstacle on the right side and reach the cup"]
    assert np.asarray(episodes[0][f"stats/{key}/mean"]).shape == (3, 1, 1)
    stats = json.loads((out / layout.STATS_PATH).read_text())
    assert stats["action"]["count"] == [15] and set(stats["action"]) >= {
        "min",
        "max",
        "mean",
        "std",
        "q01",
        "q99",
    }
    assert layout.read_tasks(out / layout.TASKS_PATH) == {
        0: "Navigate around the obstacle on the left side and reach the cup",
        1: "Navigate around the obstacle on the right side and reach the cup",
    }


def test_round_trip_keeps_actions_bit_exact_and_images_within_codec_error(source: list[Path], tmp_path: Path):
    out = tmp_path / "lerobot"
    export_lerobot(source[0].parent, out)
    back = import_lerobot(out, tmp_path / "back")
    assert len(back) == 3
    for original, copy in zip(source, back, strict=True):
        a, b = read_episode(original), read_episode(copy)
        assert a.actions.tobytes() == b.actions.tobytes()
        assert a.event_types == b.event_types
        assert (a.meta.scenario, a.meta.pattern, a.meta.distance, a.meta.instruction, a.meta.outcome) == (
            b.meta.scenario,
            b.meta.pattern,
            b.meta.distance,
            b.meta.instruction,
            b.meta.outcome,
        )
        np.testing.assert_allclose(a.timestamps, b.timestamps)
        mse = np.mean((a.images.astype(np.float64) - b.images) ** 2)
        assert 10 * np.log10(255**2 / mse) >= MIN_PSNR_DB
        assert check(copy) == []


def test_damaged_files_are_skipped_with_the_checks_reason(tmp_path: Path, monkeypatch):
    files = damaged_folder(tmp_path / "data", monkeypatch)
    result = export_lerobot(files["good"].parent, tmp_path / "out")
    assert result.episodes == 1
    reasons = {p.name: why for p, why in result.skipped}
    assert "git lfs pull" in reasons[files["lfs"].name]
    assert "truncated" in reasons[files["truncated"].name]
    assert "unreadable" in reasons[files["crash"].name]


def test_an_existing_dataset_is_replaced_only_with_overwrite(source: list[Path], tmp_path: Path):
    out = tmp_path / "lerobot"
    export_lerobot(source[0].parent, out)
    with pytest.raises(RecorderError, match="does not append"):
        export_lerobot(source[0].parent, out)
    source[1].unlink()
    assert export_lerobot(source[0].parent, out, ExportOptions(overwrite=True)).episodes == 2
    assert json.loads((out / layout.INFO_PATH).read_text())["total_episodes"] == 2
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_nothing_is_published_when_no_episode_can_be_exported(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "episode_20251030_132726_1box_vert_left_core_far.h5").write_text(
        "version https://git-lfs"
    )
    with pytest.raises(RecorderError, match="none of 1 episode file"):
        export_lerobot(tmp_path / "data", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


@pytest.mark.parametrize("codec", ["h264_nvenc", "hevc_vaapi", "mpeg4"])
def test_hardware_and_unknown_encoders_are_refused(codec: str):
    with pytest.raises(RecorderError, match="not a software encoder"):
        layout.pick_encoder(codec)


def test_av1_is_a_software_choice():
    assert layout.pick_encoder("av1") in ("libsvtav1", "libaom-av1")


def test_cli_export_then_import_then_check(source: list[Path], tmp_path: Path):
    out, back = tmp_path / "lr", tmp_path / "back"
    done = mvla(
        "dataset", "export", "--format", "lerobot", str(source[0].parent), "--out", str(out), "--fps", "3"
    )
    assert done.returncode == 0, done.stderr
    assert "3 episode(s), 15 frame(s) written" in done.stdout
    assert json.loads((out / layout.INFO_PATH).read_text())["fps"] == 3
    again = mvla("dataset", "export", "--format", "lerobot", str(source[0].parent), "--out", str(out))
    assert again.returncode != 0 and "--overwrite" in again.stdout + again.stderr
    assert "Traceback" not in again.stderr
    done = mvla("dataset", "import", "--format", "lerobot", str(out), "--out", str(back))
    assert done.returncode == 0, done.stderr
    assert mvla("dataset", "check", str(back)).returncode == 0
