"""rosbag2 import and export: bags built here with rosbags' own writer (images, twists, markers), imported
into episodes, checked frame by frame; gaps, markers, compressed images, TwistStamped, the exact inverse of
the throttle, a round trip through export, and a damaged bag."""

from __future__ import annotations

import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("rosbags")

from rosbags.rosbag2 import StoragePlugin, Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402

from configs.limits import throttled, unthrottled  # noqa: E402
from recorder.catalogue import KEYMAP, key_action, load_catalogue  # noqa: E402
from recorder.check import check  # noqa: E402
from recorder.errors import RecorderError  # noqa: E402
from recorder.interop.rosbag_events import Marker, Segmentation, plan, start_marker  # noqa: E402
from recorder.interop.rosbag_export import ExportOptions, export_episodes  # noqa: E402
from recorder.interop.rosbag_import import ImportOptions, import_bag  # noqa: E402
from recorder.reader import read_episode  # noqa: E402
from tests.cli_helpers import mvla  # noqa: E402

TS = get_typestore(Stores.ROS2_HUMBLE)
T = TS.types
S = 1_000_000_000
T0 = 1_762_950_000 * S  # a time in Nov 2025
H, W = 12, 16
INSTRUCTION = "Go around the box on its left and stop in front of the cup"
DEFAULT_INSTRUCTION = load_catalogue().default_instruction("1box_left")


def frame(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8)


class Bag:
    """A bag written with rosbags: a camera at `fps`, twists as a robot's teleop sent them."""

    def __init__(
        self, path: Path, *, compressed: bool = False, stamped: bool = False, storage: str = "sqlite3"
    ):
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self.writer = Writer(path, version=8, storage_plugin=plugin)
        self.writer.open()
        self.compressed, self.stamped = compressed, stamped
        image_type = "sensor_msgs/msg/CompressedImage" if compressed else "sensor_msgs/msg/Image"
        twist_type = "geometry_msgs/msg/TwistStamped" if stamped else "geometry_msgs/msg/Twist"
        self.image_c = self.writer.add_connection("/cam", image_type, typestore=TS)
        self.twist_c = self.writer.add_connection("/cmd_vel", twist_type, typestore=TS)
        self.marker_c = self.writer.add_connection("/marks", "std_msgs/msg/String", typestore=TS)
        self.shown: dict[int, np.ndarray] = {}  # time -> RGB image published

    def camera(self, start: float, end: float, fps: float = 30.0, encoding: str = "bgr8") -> None:
        for k in range(int((end - start) * fps)):
            t = T0 + round((start + k / fps) * S)
            rgb = frame(k + int(start * 1000))
            self.shown[t] = rgb
            header = T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=0, nanosec=0), frame_id="c"
            )
            if self.compressed:
                ok, png = cv2.imencode(".png", rgb[..., ::-1])
                msg = T["sensor_msgs/msg/CompressedImage"](header=header, format="png", data=png.reshape(-1))
            else:
                pixels = rgb[..., ::-1] if encoding == "bgr8" else rgb
                msg = T["sensor_msgs/msg/Image"](
                    header=header,
                    height=H,
                    width=W,
                    encoding=encoding,
                    is_bigendian=0,
                    step=W * 3,
                    data=np.ascontiguousarray(pixels).reshape(-1),
                )
            self.writer.write(self.image_c, t, TS.serialize_cdr(msg, self.image_c.msgtype))

    def twist(self, at: float, v: tuple[float, float, float]) -> None:
        vec = T["geometry_msgs/msg/Vector3"]
        msg = T["geometry_msgs/msg/Twist"](
            linear=vec(x=v[0], y=v[1], z=0.0), angular=vec(x=0.0, y=0.0, z=v[2])
        )
        if self.stamped:
            header = T["std_msgs/msg/Header"](
                stamp=T["builtin_interfaces/msg/Time"](sec=1, nanosec=0), frame_id=""
            )
            msg = T["geometry_msgs/msg/TwistStamped"](header=header, twist=msg)
        self.writer.write(self.twist_c, T0 + round(at * S), TS.serialize_cdr(msg, self.twist_c.msgtype))

    def press(self, at: float, key: str, throttle: float = 50, stop_after: float | None = None) -> None:
        """As mvla's step mode sends a key: the twist, re-sent every 0.1 s, a zero after 0.4 s (or the stop)."""
        sent = tuple(float(v) for v in throttled(key_action(key), throttle))
        end = 0.4 if stop_after is None else stop_after
        k = 0
        while k * 0.1 < end - 1e-9:
            self.twist(at + k * 0.1, sent)  # type: ignore[arg-type]
            k += 1
        self.twist(at + end, (0.0, 0.0, 0.0))

    def marker(self, at: float, text: str) -> None:
        msg = T["std_msgs/msg/String"](data=text)
        self.writer.write(self.marker_c, T0 + round(at * S), TS.serialize_cdr(msg, "std_msgs/msg/String"))

    def close(self) -> None:
        self.writer.close()


def options(**kw: object) -> ImportOptions:
    base: dict[str, object] = dict(
        image_topic="/cam", cmd_vel_topic="/cmd_vel", scenario="1box_left", distance="medium"
    )
    base.update(kw)
    return ImportOptions(**base)  # type: ignore[arg-type]


def image_after(bag: Bag, t: float) -> np.ndarray:
    return bag.shown[min(k for k in bag.shown if k >= T0 + round(t * S))]


def test_images_and_twists_become_one_episode_of_key_presses(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag")
    bag.camera(0.0, 5.0)
    bag.press(1.0, "w")
    bag.press(2.0, "a")
    bag.press(3.0, "r", stop_after=0.2)  # the operator's stop
    bag.close()
    report = import_bag(tmp_path / "bag", tmp_path / "out", options())
    assert len(report.episodes) == 1 and report.clamped == 0
    ep = read_episode(report.episodes[0])
    assert ep.event_types == ["episode_start", "start_action", "start_action", "start_action", "stop_action"]
    expected = np.stack([np.zeros(3), key_action("w"), key_action("a"), key_action("r"), np.zeros(3)])
    assert np.array_equal(ep.actions, expected.astype(np.float32))  # exactly 1.15, as recorded
    assert np.array_equal(ep.images[0], image_after(bag, 1.0 - 1 / 30 - 1e-9))  # the image before moving
    for i, at in enumerate([1.0, 2.0, 3.0, 3.2], start=1):
        assert np.array_equal(ep.images[i], image_after(bag, at))  # RGB, the image right after the command
    assert ep.meta.scenario == "1box_left" and ep.meta.attrs["source_throttle"] == 50.0
    assert check(report.episodes[0]) == []


def test_gaps_split_episodes_and_the_gap_is_a_setting(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag")
    bag.camera(0.0, 20.0, fps=10)
    for at in (1.0, 2.0, 15.0, 16.0, 17.0):
        bag.press(at, "w")
    bag.close()
    two = import_bag(tmp_path / "bag", tmp_path / "a", options())
    assert [len(read_episode(p)) for p in two.episodes] == [3, 4]
    one = import_bag(tmp_path / "bag", tmp_path / "b", options(rules=Segmentation(gap_s=20.0)))
    assert [len(read_episode(p)) for p in one.episodes] == [6]


def test_compressed_images_and_twist_stamped(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag.mcap", compressed=True, stamped=True, storage="mcap")
    bag.camera(0.0, 3.0)
    bag.press(1.0, "q", throttle=30)
    bag.close()
    mcap = next((tmp_path / "bag.mcap").glob("*.mcap"))
    report = import_bag(mcap, tmp_path / "out", options(throttle=30))
    ep = read_episode(report.episodes[0])
    assert ep.event_types == ["episode_start", "start_action"]
    assert np.array_equal(ep.actions[1], key_action("q"))
    assert np.array_equal(ep.images[1], image_after(bag, 1.0))  # PNG is lossless: the RGB exactly


def test_markers_delimit_episodes_and_name_their_scenario(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag")
    bag.camera(0.0, 6.0)
    bag.press(0.5, "w")  # outside the markers
    bag.marker(1.0, "start 2box_right variant far")
    bag.press(1.5, "d")
    bag.press(2.5, "e")
    bag.marker(3.5, "end")
    bag.close()
    report = import_bag(
        tmp_path / "bag", tmp_path / "out", options(marker_topic="/marks", scenario=None, distance=None)
    )
    ep = read_episode(report.episodes[0])
    assert (ep.meta.scenario, ep.meta.pattern, ep.meta.distance) == ("2box_right", "variant", "far")
    assert np.array_equal(ep.images[0], image_after(bag, 1.0))
    assert len(ep) == 3 and any("outside" in n for n in report.notes)


def test_a_start_marker_may_carry_the_instruction_and_old_markers_still_read() -> None:
    """`start S P D | INSTRUCTION` (what the export writes) and `start S P D` (older exports, other
    tools): the words and the instruction are read; everything after the first `|` is the instruction."""
    markers = [
        Marker(1 * S, "start 1box_left core far | Go around the box | then stop at the cup"),
        Marker(2 * S, "end"),
        Marker(3 * S, "start 2box_right variant"),
        Marker(4 * S, "end"),
        Marker(5 * S, "start | Reach the cup"),
        Marker(6 * S, "start far |"),
    ]
    planned = plan([], markers, Segmentation())
    assert [(p.words, p.instruction) for p in planned.episodes] == [
        (("1box_left", "core", "far"), "Go around the box | then stop at the cup"),
        (("2box_right", "variant"), None),
        ((), "Reach the cup"),
        (("far",), None),
    ]
    assert (
        start_marker(["1box_left", "core", "far"], "Reach the cup")
        == "start 1box_left core far | Reach the cup"
    )
    assert start_marker(["1box_left"], None) == "start 1box_left"


def test_the_inverse_of_the_throttle_is_exact_for_every_key_and_throttle() -> None:
    for throttle in range(1, 101):
        for key in KEYMAP:
            sent = np.array([float(v) for v in throttled(key_action(key), throttle)])
            assert np.array_equal(unthrottled(sent, throttle), key_action(key)), (throttle, key)


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_export_then_import_gives_the_episodes_back(tmp_path: Path, storage: str) -> None:
    bag = Bag(tmp_path / "src")
    bag.camera(0.0, 30.0, fps=10)
    bag.press(1.0, "w")
    bag.press(2.0, "w", stop_after=0.2)  # cut short by a restart: the zero, then the same key again
    bag.press(2.201, "w")
    bag.press(20.0, "t", stop_after=0.1)
    bag.close()
    first = import_bag(tmp_path / "src", tmp_path / "eps", options(instruction=INSTRUCTION))
    events = [read_episode(p).event_types for p in first.episodes]
    assert events == [
        ["episode_start"] + ["start_action"] * 3,
        ["episode_start", "start_action", "stop_action"],
    ]
    export_episodes(first.episodes, tmp_path / "rt", ExportOptions(storage=storage))  # type: ignore[arg-type]
    for marker in (None, "/mvla/episode"):
        again = import_bag(
            tmp_path / "rt",
            tmp_path / f"again-{marker is None}",
            options(image_topic="/camera/image_raw", marker_topic=marker),
        )
        assert [p.name for p in again.episodes] == [p.name for p in first.episodes]
        for a, b in zip(first.episodes, again.episodes, strict=True):
            ea, eb = read_episode(a), read_episode(b)
            assert ea.event_types == eb.event_types
            assert np.array_equal(ea.actions, eb.actions) and np.array_equal(ea.images, eb.images)
            assert ea.timestamps is not None and eb.timestamps is not None
            assert np.allclose(ea.timestamps, eb.timestamps, atol=1e-6)
            # The instruction travels in the start marker; split on gaps, the scenario's default is used.
            assert eb.meta.instruction == (INSTRUCTION if marker else DEFAULT_INSTRUCTION)


def test_a_damaged_bag_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag")
    bag.camera(0.0, 3.0)
    bag.press(1.0, "w")
    bag.close()
    db3 = next((tmp_path / "bag").glob("*.db3"))
    data = db3.read_bytes()
    db3.write_bytes(data[: len(data) // 3])
    out = tmp_path / "out"
    with pytest.raises(RecorderError) as err:
        import_bag(db3, out, options())
    assert str(db3) in str(err.value) and "\n" not in str(err.value)
    assert list(out.iterdir()) == []
    run = _cli_import(db3, out)
    assert run.returncode != 0 and "Traceback" not in run.stderr and str(db3) in run.stderr
    assert list(out.iterdir()) == []


def _cli_import(bag: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """`mvla dataset import --format rosbag` of the test bags' topics, as one scenario and distance."""
    return mvla(
        "dataset",
        "import",
        "--format",
        "rosbag",
        str(bag),
        "--out",
        str(out),
        "--image-topic",
        "/cam",
        "--cmd-vel-topic",
        "/cmd_vel",
        "--scenario",
        "1box_left",
        "--distance",
        "medium",
    )


def test_cli_import_then_check_and_export(tmp_path: Path) -> None:
    bag = Bag(tmp_path / "bag")
    bag.camera(0.0, 3.0)
    bag.press(1.0, "w")
    bag.close()
    out = tmp_path / "out"
    run = _cli_import(tmp_path / "bag", out)
    assert run.returncode == 0, run.stderr
    assert "1 episode(s), 2 frame(s)" in run.stdout
    assert mvla("dataset", "check", str(out)).returncode == 0
    run = mvla("dataset", "export", "--format", "rosbag", str(out), "--out", str(tmp_path / "rt"))
    assert run.returncode == 0, run.stderr
    assert "version: 8" in (tmp_path / "rt" / "metadata.yaml").read_text()
    run = mvla(
        "dataset",
        "import",
        "--format",
        "rosbag",
        str(tmp_path / "bag"),
        "--out",
        str(out),
        "--image-topic",
        "/nope",
        "--cmd-vel-topic",
        "/cmd_vel",
        "--scenario",
        "1box_left",
        "--distance",
        "medium",
    )
    assert run.returncode != 0 and "no topic '/nope'" in run.stderr and "Traceback" not in run.stderr


def test_export_skips_a_damaged_episode_with_the_checks_reason(tmp_path: Path) -> None:
    """Episode files are read in the isolated child: a truncated one among sound ones is skipped and
    named with why, the others still make the bag; with none sound, nothing is written."""
    bag = Bag(tmp_path / "src")
    bag.camera(0.0, 5.0, fps=10)
    bag.press(1.0, "w")
    bag.close()
    (good,) = import_bag(tmp_path / "src", tmp_path / "eps", options()).episodes
    damaged = tmp_path / "eps" / "episode_20250101_000000_1box_hori_left_core_medium.h5"
    damaged.write_bytes(good.read_bytes()[:2000])
    report = export_episodes([damaged, good], tmp_path / "out", ExportOptions())
    assert report.episodes == 1 and [p for p, _ in report.skipped] == [damaged]
    assert report.skipped[0][1]  # the check's reason
    with pytest.raises(RecorderError, match="no sound episode to export"):
        export_episodes([damaged], tmp_path / "none", ExportOptions())
    assert not (tmp_path / "none").exists()
