"""`export_episodes`: episode files to one rosbag2 that ROS 2 Humble's `ros2 bag play` reads, with `rosbags`.

Format: rosbags' writer at rosbag2 metadata version 8 (the oldest it writes; rosbags 0.11 writes 8 or
9). Humble's rosbag2 (0.15.x) reads a metadata.yaml of any version with the fields it knows (version 5:
`offered_qos_profiles` as a YAML string, which version 8 keeps and version 9 turns into a list Humble
cannot read) and ignores the newer ones (`custom_data`, `ros_distro`, `type_description_hash`); its
sqlite3 plugin selects the columns it knows from rosbags' schema-4 `.db3`. Storage `sqlite3` (a `.db3`,
Humble's default) or `mcap` (Humble reads it with the `rosbag2_storage_mcap` package installed).
Every topic gets the QoS a Humble recorder writes for a reliable, volatile publisher.

What the bag holds, per episode, on one clock (episodes in file-name order, each starting at the time in
its name, at least `gap_s + 1` s after the previous one, so a re-import splits them again):
- `image_topic`: `sensor_msgs/Image` `bgr8` (the robot camera's encoding), one per frame at its timestamp
  (frames less than 2 ms apart are moved apart to 2 ms; a file without timestamps gets one frame a second);
- `cmd_vel_topic`: `geometry_msgs/Twist` exactly as mvla's link publishes a press: the action x throttle
  (`configs.limits.throttled`, clamped to the limits) 1 ms before the frame's image, re-sent every
  `republish_s`, then a zero twist after `step_s`, at the next press (a restart) or at the stop frame;
- `marker_topic`: `std_msgs/String` `start SCENARIO PATTERN DISTANCE | INSTRUCTION` just before frame 0
  and `end` just after the last frame (the marker convention of `rosbag_events`).
The bag is built in a hidden folder beside `out` and renamed into place when complete; `out` must not
exist. This module never prints; `on_episode` reports progress.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from configs.files import fsync_path
from configs.limits import LimitsConfig, throttled
from recorder.catalogue import STEP_EVENT, STOP_EVENT
from recorder.episode import Episode
from recorder.errors import EpisodeFileError, RecorderError
from recorder.interop.rosbag_events import NS, Segmentation, start_marker
from recorder.isolated import IsolatedReader
from recorder.naming import parse_episode_name

BAG_VERSION: Literal[8] = 8  # rosbag2 metadata version written (see the module docstring)
Storage = Literal["sqlite3", "mcap"]
STORAGES: tuple[Storage, ...] = ("sqlite3", "mcap")
MS = 1_000_000
MIN_SPACING = 2 * MS  # ns between two images, so each command fits between them


@dataclass(frozen=True)
class ExportOptions:
    image_topic: str = "/camera/image_raw"
    cmd_vel_topic: str = "/cmd_vel"
    marker_topic: str = "/mvla/episode"
    storage: Storage = "sqlite3"
    throttle: float = 50.0
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    republish_s: float = 0.1  # teleop.republish_s
    rules: Segmentation = field(default_factory=Segmentation)  # step_s and gap_s of the import


@dataclass
class ExportReport:
    path: Path
    episodes: int = 0
    frames: int = 0
    notes: list[str] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # damaged files, with the check's reason


def export_episodes(
    files: list[Path], out: Path, options: ExportOptions, on_episode: Callable[[Path], None] | None = None
) -> ExportReport:
    try:
        from rosbags.rosbag2 import StoragePlugin, Writer
        from rosbags.typesys import Stores, get_typestore
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "rosbags":
            raise RecorderError('rosbags is not installed: pip install "mobile-vla[rosbag]"') from None
        raise
    if os.path.lexists(out):
        raise RecorderError(f"{out} exists already; pass a new folder for the bag")
    if options.storage not in STORAGES:
        raise RecorderError(f"storage {options.storage!r}: use one of {', '.join(STORAGES)}")
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = out.parent / f".{out.name}.{os.urandom(4).hex()}.tmp"
    stage.mkdir()
    report = ExportReport(out)
    try:
        typestore = get_typestore(Stores.ROS2_HUMBLE)
        plugin = StoragePlugin.MCAP if options.storage == "mcap" else StoragePlugin.SQLITE3
        writer = Writer(stage / out.name, version=BAG_VERSION, storage_plugin=plugin)
        writer.open()
        try:
            with IsolatedReader() as reader:
                _write_all(writer, typestore, reader, files, options, report, on_episode)
            if report.episodes == 0:
                raise RecorderError(
                    f"no sound episode to export ({len(report.skipped)} damaged; first: "
                    f"{report.skipped[0][0].name}: {report.skipped[0][1]})"
                    if report.skipped
                    else "no episode to export"
                )
        except BaseException:
            writer.abort()
            raise
        writer.close()
        for folder, _dirs, names in os.walk(stage / out.name):
            for name in names:
                fsync_path(os.path.join(folder, name))
        fsync_path(stage / out.name)
        os.rename(stage / out.name, out)  # fails rather than replace an `out` that appeared meanwhile
        fsync_path(out.parent)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return report


def _qos() -> list[Any]:
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    unset = QosTime(0, 0)
    return [
        Qos(
            QosHistory.KEEP_LAST,
            10,
            QosReliability.RELIABLE,
            QosDurability.VOLATILE,
            unset,
            unset,
            QosLiveliness.AUTOMATIC,
            unset,
            False,
        )
    ]


def _write_all(
    writer: Any,
    typestore: Any,
    reader: IsolatedReader,
    files: list[Path],
    options: ExportOptions,
    report: ExportReport,
    on_episode: Callable[[Path], None] | None,
) -> None:
    qos = _qos()
    image_c = writer.add_connection(
        options.image_topic, "sensor_msgs/msg/Image", typestore=typestore, offered_qos_profiles=qos
    )
    twist_c = writer.add_connection(
        options.cmd_vel_topic, "geometry_msgs/msg/Twist", typestore=typestore, offered_qos_profiles=qos
    )
    marker_c = writer.add_connection(
        options.marker_topic, "std_msgs/msg/String", typestore=typestore, offered_qos_profiles=qos
    )
    types = typestore.types
    bound = np.asarray(options.limits.as_tuple(), np.float32)
    gap = round((options.rules.gap_s + 1.0) * NS)
    end = -gap  # when the previous episode ended (ns)

    def stamp(t: int) -> Any:
        return types["builtin_interfaces/msg/Time"](sec=t // NS, nanosec=t % NS)

    def twist(t: int, action: np.ndarray) -> None:
        v = np.clip(throttled(action, options.throttle), -bound, bound).astype(np.float64)
        vector = types["geometry_msgs/msg/Vector3"]
        msg = types["geometry_msgs/msg/Twist"](
            linear=vector(x=float(v[0]), y=float(v[1]), z=0.0), angular=vector(x=0.0, y=0.0, z=float(v[2]))
        )
        writer.write(twist_c, t, typestore.serialize_cdr(msg, "geometry_msgs/msg/Twist"))

    def marker(t: int, text: str) -> None:
        msg = types["std_msgs/msg/String"](data=text)
        writer.write(marker_c, t, typestore.serialize_cdr(msg, "std_msgs/msg/String"))

    def image(t: int, rgb: np.ndarray) -> None:
        height, width = rgb.shape[:2]
        header = types["std_msgs/msg/Header"](stamp=stamp(t), frame_id="camera")
        msg = types["sensor_msgs/msg/Image"](
            header=header,
            height=height,
            width=width,
            encoding="bgr8",
            is_bigendian=0,
            step=width * 3,
            data=np.ascontiguousarray(rgb[..., ::-1]).reshape(-1),
        )
        writer.write(image_c, t, typestore.serialize_cdr(msg, "sensor_msgs/msg/Image"))

    for path in files:
        # Untrusted files are read in the isolated child: a damaged one is skipped with the check's reason.
        problems = reader.inspect(path).problems
        if problems:
            report.skipped.append((path, str(problems[0])))
            continue
        try:
            episode = reader.episode(path)
        except EpisodeFileError as exc:
            report.skipped.append((path, exc.detail))
            continue
        parsed = parse_episode_name(path)
        named = round(parsed.started.timestamp() * NS) if parsed is not None else 0
        base = max(named, end + gap)
        times = _image_times(episode, base)
        meta = episode.meta
        words = [w for w in (meta.scenario, meta.pattern, meta.distance) if w]
        marker(times[0] - MS, start_marker(words, meta.instruction))
        step, republish = round(options.rules.step_s * NS), round(options.republish_s * NS)
        kinds = episode.event_types
        last = times[-1] + MS  # the last message of the episode
        for i, t in enumerate(times):
            if kinds[i] == STEP_EVENT:
                command = t - MS
                stop_at = command + step
                nxt = i + 1 < len(times)
                if nxt and kinds[i + 1] == STOP_EVENT:
                    stop_at = min(stop_at, times[i + 1] - MS)  # the stop frame's own zero
                elif nxt and kinds[i + 1] == STEP_EVENT and times[i + 1] - MS < stop_at:
                    stop_at = times[i + 1] - MS - MS // 2  # a restart: stop, then the next press
                twist(command, episode.actions[i])
                resend = command + republish
                while resend < stop_at:
                    twist(resend, episode.actions[i])
                    resend += republish
                if not (nxt and kinds[i + 1] == STOP_EVENT and stop_at == times[i + 1] - MS):
                    twist(stop_at, np.zeros(3, np.float32))
                last = max(last, stop_at)
            elif kinds[i] == STOP_EVENT:
                twist(t - MS, np.zeros(3, np.float32))
            image(t, episode.images[i])
        marker(last, "end")
        end = last
        report.episodes += 1
        report.frames += len(times)
        if on_episode is not None:
            on_episode(path)


def _image_times(episode: Episode, base: int) -> list[int]:
    """The bag time (ns) of each frame's image: its timestamp after `base`, at least `MIN_SPACING` apart."""
    stamps = episode.timestamps
    seconds = stamps if stamps is not None else np.arange(len(episode), dtype=np.float64)
    times: list[int] = []
    for s in seconds:
        t = base + round(float(s) * NS)
        times.append(t if not times else max(t, times[-1] + MIN_SPACING))
    return times
