"""LeRobot v3 export and import (`recorder.interop.lerobot_*`): the on-disk layout LeRobot reads, the
one-row-per-recorded-frame resampling, damaged files skipped with the check's reason, atomic publishing,
and the round trip HDF5 -> LeRobot -> HDF5 (actions bit-exact, images within the codec's error)."""

from __future__ import annotations

import json
from datetime import datetime
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
from recorder.interop.lerobot_import import ImportDefaults, import_lerobot  # noqa: E402
from recorder.reader import read_episode  # noqa: E402
from recorder.writer import EpisodeWriter  # noqa: E402
from tests.cli_helpers import mvla  # noqa: E402
from tests.recorder.lerobot_builders import public_dataset  # noqa: E402
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
    """An episode recorded at minute `seed` of a fixed day: file names (which carry the time) sort in recording
    order, and the export, which goes by name, sees them in that order whatever second the test runs in."""
    meta = EpisodeMeta(scenario=scenario, pattern="core", distance="far", robot="sim", camera="test")
    started = datetime(2026, 1, 5, 10, seed)
    with EpisodeWriter(folder, meta, now=lambda: started) as writer:
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


# Datasets shaped like public ones, written by `lerobot_builders` with pyarrow and PyAV alone.
GIVEN = ("--scenario", "1box_left", "--pattern", "core", "--distance", "far")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize(
    ("camera", "dim", "codec", "size"),
    [
        ("observation.images.top", 2, "libx264", (48, 64)),
        ("observation.images.cam_high", 3, "libsvtav1", (64, 96)),
    ],
)
def test_a_public_v3_dataset_imports_with_the_given_metadata(
    tmp_path: Path, camera: str, dim: int, codec: str, size: tuple[int, int]
):
    """Another camera key, no mvla columns, a 2-dimensional ([linear_x, angular_z]) or 3-dimensional
    action, a robot state beside it, two episodes back to back in one mp4 (H.264, or AV1 as LeRobot
    encodes by default) at 10 frames/s, tasks in tasks.parquet: the command imports it and the episodes
    pass `mvla dataset check`."""
    ds = public_dataset(tmp_path / "pub", cameras=(camera,), action_dim=dim, codec=codec, size=size)
    out = tmp_path / "eps"
    run = mvla("dataset", "import", "--format", "lerobot", str(ds.root), "--out", str(out), *GIVEN)
    assert run.returncode == 0, run.stderr
    assert "2 episode(s) written" in run.stdout
    files = sorted(out.glob("*.h5"))
    assert sorted(p.name for p in out.iterdir()) == [p.name for p in files]  # no staging folder left
    for path, actions, frames, task in zip(files, ds.actions, ds.frames, ds.tasks, strict=True):
        episode = read_episode(path)
        assert len(episode) == len(actions)
        expected = (
            actions if dim == 3 else np.stack([actions[:, 0], np.zeros(len(actions)), actions[:, 1]], 1)
        )
        assert episode.actions.tobytes() == expected.astype(np.float32).tobytes()
        assert episode.event_types == ["episode_start"] + ["start_action"] * (len(actions) - 1)
        assert (episode.meta.scenario, episode.meta.distance, episode.meta.instruction) == (
            "1box_left",
            "far",
            task,
        )
        assert episode.images.shape == frames.shape and psnr(frames, episode.images) >= MIN_PSNR_DB
        np.testing.assert_allclose(episode.timestamps, np.arange(len(actions)) / 10, atol=1e-6)
    assert mvla("dataset", "check", str(out)).returncode == 0


def test_without_scenario_pattern_distance_it_says_which_to_pass(tmp_path: Path):
    ds = public_dataset(tmp_path / "pub")
    with pytest.raises(
        RecorderError, match=r"no scenario, pattern, distance; pass --scenario \.\.\. --pattern"
    ):
        import_lerobot(ds.root, tmp_path / "eps")
    assert not list((tmp_path / "eps").glob("*"))


def test_two_cameras_need_camera_and_the_chosen_one_is_read(tmp_path: Path):
    ds = public_dataset(
        tmp_path / "pub", cameras=("observation.images.cam_high", "observation.images.cam_low")
    )
    run = mvla("dataset", "import", "--format", "lerobot", str(ds.root), "--out", str(tmp_path / "x"), *GIVEN)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert (
        "2 cameras (observation.images.cam_high, observation.images.cam_low); pass --camera KEY" in run.stderr
    )
    assert len(run.stderr.strip().splitlines()) == 1
    defaults = ImportDefaults("1box_left", "core", "far")
    with pytest.raises(RecorderError, match="no camera 'observation.images.wrist'.*cam_high, observation"):
        import_lerobot(ds.root, tmp_path / "x", defaults, camera="observation.images.wrist")
    files = import_lerobot(ds.root, tmp_path / "low", defaults, camera="observation.images.cam_low")
    low = read_episode(files[0]).images
    assert psnr(255 - ds.frames[0], low) >= MIN_PSNR_DB  # the second camera shows the negative


@pytest.mark.parametrize("dim", [1, 6, 14])
def test_an_action_of_another_dimension_is_refused_in_one_line(tmp_path: Path, dim: int):
    ds = public_dataset(tmp_path / "pub", action_dim=dim)
    run = mvla("dataset", "import", "--format", "lerobot", str(ds.root), "--out", str(tmp_path / "x"), *GIVEN)
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"`action` has shape [{dim}]; mvla reads a mobile base's velocity" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_info(root: Path, change) -> None:
    path = root / layout.INFO_PATH
    info = json.loads(path.read_text())
    change(info)
    path.write_text(json.dumps(info))


VIDEO = "videos/observation.images.top/chunk-000/file-000.mp4"
DAMAGE = {
    # name: (what is done to the dataset, the file the line names, what the line tells to do)
    "truncated data parquet": (
        lambda r: _cut(r / "data/chunk-000/file-001.parquet"),
        "data/chunk-000/file-001.parquet",
        "download or export it again",
    ),
    "truncated episodes parquet": (
        lambda r: _cut(r / "meta/episodes/chunk-000/file-000.parquet"),
        "meta/episodes/chunk-000/file-000.parquet",
        "download or export it again",
    ),
    "truncated tasks parquet": (
        lambda r: _cut(r / layout.TASKS_PATH),
        layout.TASKS_PATH,
        "download or export it again",
    ),
    "missing mp4": (lambda r: (r / VIDEO).unlink(), VIDEO, "missing; the dataset is damaged or incomplete"),
    "truncated mp4": (lambda r: _cut(r / VIDEO), VIDEO, "download or export it again"),
    "info.json without fps": (lambda r: _edit_info(r, lambda i: i.pop("fps")), layout.INFO_PATH, "no 'fps'"),
    "info.json without data_path": (
        lambda r: _edit_info(r, lambda i: i.pop("data_path")),
        layout.INFO_PATH,
        "no 'data_path'",
    ),
    "info.json not JSON": (
        lambda r: (r / layout.INFO_PATH).write_text('{"codebase_version": "v3.0",'),
        layout.INFO_PATH,
        "download or export it again",
    ),
    "codebase_version v2.1": (
        lambda r: _edit_info(r, lambda i: i.update(codebase_version="v2.1")),
        layout.INFO_PATH,
        "convert it first with LeRobot's",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_dataset_is_one_line_naming_the_file_and_writes_nothing(tmp_path: Path, damage: str):
    """Each damage is one line that names the file at fault and what to do, never a traceback; the
    episodes already read (the first one, for a damaged second data file) never reach OUT."""
    ds = public_dataset(tmp_path / "pub", data_file_per_episode=True)
    harm, file, todo = DAMAGE[damage]
    harm(ds.root)
    out = tmp_path / "eps"
    out.mkdir()
    with pytest.raises(RecorderError) as err:
        import_lerobot(ds.root, out, ImportDefaults("1box_left", "core", "far"))
    line = str(err.value)
    assert "\n" not in line and str(ds.root / file) in line and todo in line, line
    assert list(out.iterdir()) == []
    run = mvla("dataset", "import", "--format", "lerobot", str(ds.root), "--out", str(out), *GIVEN)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and todo in run.stderr
    assert list(out.iterdir()) == []
