"""`import_bag`: a rosbag2 (`.db3` or `.mcap`, or its folder) to mvla episode files, with `rosbags`.

Reads camera images (`sensor_msgs/Image` bgr8/rgb8/mono8, `sensor_msgs/CompressedImage` JPEG/PNG) and
velocity commands (`geometry_msgs/Twist` or `TwistStamped`) in two passes: first the commands (and the
optional marker topic), which `rosbag_events` turns into episodes of frames; then the images, streamed in
time order, each frame taking the image its rule names (decoded only then: a 30 Hz camera is mostly
skipped). Every time is the bag's receive time, also for `TwistStamped` and for images (their header
stamps may come from another clock). Commands become key units with the robot's throttle:
`configs.limits.unthrottled`, the exact inverse of what mvla's link publishes; a command beyond the
limits (key units) is clamped to them and counted.

Episodes are written with `EpisodeWriter` into a hidden staging folder inside `out` and moved to their
final names only when the whole bag has been read, never over an existing file (`staging`): a damaged bag (one-line
`RecorderError`) or an interruption leaves `out` as it was. This module never prints; `on_progress`
reports images read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from configs.limits import LimitsConfig, unthrottled
from recorder.catalogue import START_EVENT
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError
from recorder.interop.rosbag_events import NS, Command, Event, Marker, PlannedEpisode, Segmentation, plan
from recorder.interop.staging import import_stage, publish_staged
from recorder.ros_images import ImagePayloadError, compressed_to_rgb, raw_to_rgb
from recorder.writer import EpisodeWriter

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
TWIST_TYPES = ("geometry_msgs/msg/Twist", "geometry_msgs/msg/TwistStamped")
MARKER_TYPE = "std_msgs/msg/String"
IMAGE_WAIT_S = 1.0  # a frame takes an image at most this long after (or before) its event, else is dropped


@dataclass(frozen=True)
class ImportOptions:
    image_topic: str
    cmd_vel_topic: str
    marker_topic: str | None = None
    scenario: str | None = None
    pattern: str | None = "core"
    distance: str | None = None
    instruction: str | None = None
    throttle: float = 50.0  # percent: what the robot's link multiplied the key units by
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    rules: Segmentation = field(default_factory=Segmentation)


@dataclass
class ImportReport:
    episodes: list[Path] = field(default_factory=list)
    frames: int = 0
    images: int = 0  # image messages read
    image_bytes: int = 0  # their serialised size
    commands: int = 0
    clamped: int = 0  # commands beyond the limits, clamped
    notes: list[str] = field(default_factory=list)  # what was left out and why


class _Damaged(Exception):
    """Raised inside this module when the bag library fails; becomes a one-line `RecorderError`."""


def import_bag(
    bag: Path, out: Path, options: ImportOptions, on_progress: Callable[[int, int], None] | None = None
) -> ImportReport:
    """Episodes of `bag` as V4 files in `out` (created if missing). `on_progress(done, total)` counts
    image messages."""
    try:
        from rosbags.rosbag2 import Reader
        from rosbags.typesys import Stores, get_typestore
    except ModuleNotFoundError as exc:
        if exc.name is not None and exc.name.split(".")[0] == "rosbags":
            raise RecorderError('rosbags is not installed: pip install "mobile-vla[rosbag]"') from None
        raise
    if not bag.exists():
        raise RecorderError(f"{bag}: no such rosbag (pass a .db3 or .mcap file or a bag folder)")
    if bag.is_dir() and not (bag / "metadata.yaml").exists():
        raise RecorderError(
            f"{bag}: no metadata.yaml in this folder (a recording that was not closed?); pass its .db3 or "
            ".mcap file itself, or run `ros2 bag reindex` on it"
        )
    typestore = get_typestore(Stores.ROS2_HUMBLE)
    report = ImportReport()
    with import_stage(out, "rosbag") as stage:
        try:
            with Reader(bag) as reader:
                conns = {c.topic: c for c in reader.connections}
                image = _connection(bag, conns, options.image_topic, IMAGE_TYPES, "--image-topic")
                twist = _connection(bag, conns, options.cmd_vel_topic, TWIST_TYPES, "--cmd-vel-topic")
                marker = (
                    _connection(bag, conns, options.marker_topic, (MARKER_TYPE,), "--marker-topic")
                    if options.marker_topic
                    else None
                )
                commands, markers = _commands(reader, typestore, twist, marker, options, report)
                planned = plan(commands, markers, options.rules)
                report.notes += planned.notes
                staged = _write(
                    reader, typestore, image, planned.episodes, bag, stage, options, report, on_progress
                )
        except _Damaged as exc:
            raise RecorderError(f"{bag}: damaged or truncated rosbag ({exc}); nothing was imported") from None
        except Exception as exc:  # the bag library's own errors (sqlite, mcap, yaml): one line, no traceback
            if isinstance(exc, RecorderError):
                raise
            raise RecorderError(
                f"{bag}: cannot read this rosbag ({type(exc).__name__}: {exc}); nothing was imported"
            ) from None
        report.episodes = publish_staged(staged, out, "bag")
    return report


def _connection(bag: Path, conns: dict[str, Any], topic: str, types: tuple[str, ...], option: str) -> Any:
    conn = conns.get(topic)
    if conn is None:
        listed = ", ".join(f"{t} ({c.msgtype})" for t, c in sorted(conns.items())) or "none"
        raise RecorderError(f"{bag}: no topic {topic!r} ({option}); the bag has: {listed}")
    if conn.msgtype not in types:
        raise RecorderError(
            f"{bag}: topic {topic} carries {conn.msgtype}, not {' or '.join(types)} ({option})"
        )
    return conn


def _messages(reader: Any, conns: list[Any]) -> Iterator[tuple[Any, int, bytes]]:
    """The reader's messages of `conns`; a failure of the library while reading becomes `_Damaged`."""
    iterator = iter(reader.messages(connections=conns))
    while True:
        try:
            item = next(iterator)
        except StopIteration:
            return
        except Exception as exc:  # sqlite, mcap, decompression: all mean the file is damaged
            raise _Damaged(f"{type(exc).__name__}: {exc}") from None
        yield item


def _decode(typestore: Any, raw: bytes, msgtype: str, topic: str, t: int) -> Any:
    try:
        return typestore.deserialize_cdr(raw, msgtype)
    except Exception as exc:  # a message cut short or of another definition
        raise _Damaged(f"{topic} message at {t / NS:.3f} s does not decode as {msgtype}: {exc}") from None


def _commands(
    reader: Any,
    typestore: Any,
    twist: Any,
    marker: Any | None,
    options: ImportOptions,
    report: ImportReport,
) -> tuple[list[Command], list[Marker] | None]:
    commands: list[Command] = []
    markers: list[Marker] | None = [] if marker is not None else None
    bound = np.asarray(options.limits.as_tuple(), np.float32)
    for conn, t, raw in _messages(reader, [twist] + ([marker] if marker is not None else [])):
        msg = _decode(typestore, raw, conn.msgtype, conn.topic, t)
        if markers is not None and conn is marker:
            markers.append(Marker(t, str(msg.data)))
            continue
        body = msg.twist if conn.msgtype.endswith("TwistStamped") else msg
        sent = np.array([body.linear.x, body.linear.y, body.angular.z], np.float64)
        if not np.isfinite(sent).all():
            raise RecorderError(
                f"{conn.topic} at {t / NS:.3f} s: command {sent.tolist()} is not finite; nothing was imported"
            )
        action = unthrottled(sent, options.throttle)
        clamped = np.clip(action, -bound, bound)
        report.clamped += int(not np.array_equal(clamped, action))
        commands.append(Command(t, clamped))
    report.commands = len(commands)
    # Storage order is receive order; a bag merged from several may not be, and the rules need it.
    commands.sort(key=lambda c: c.t)
    if markers is not None:
        markers.sort(key=lambda m: m.t)
    return commands, markers


class _Episode:
    """One planned episode while its frames are written: the writer opens on its first frame."""

    def __init__(self, index: int, planned: PlannedEpisode, bag: Path, stage: Path, options: ImportOptions):
        self.index, self.planned, self.bag, self.stage, self.options = index, planned, bag, stage, options
        self.writer: EpisodeWriter | None = None
        self.dropped = False  # its episode_start frame had no image
        self.t0 = 0
        self.left = len(planned.events)
        self.missing = 0

    def meta(self, image: np.ndarray) -> EpisodeMeta:
        """The start marker's words and instruction first, then the options."""
        o = self.options
        words: tuple[str | None, ...] = self.planned.words + (None,) * 3
        names = ("scenario", "pattern", "distance")
        defaults = (o.scenario, o.pattern, o.distance)
        given = {n: words[i] or defaults[i] for i, n in enumerate(names)}
        missing = [n for n in names if not given[n]]
        if missing:
            raise RecorderError(
                f"{self.bag}: episode {self.index + 1} has no {' or '.join(missing)}; pass "
                + " ".join(f"--{n}" for n in missing)
                + " (or name them in its start marker)"
            )
        scenario, pattern, distance = (given[n] for n in names)
        height, width = image.shape[:2]
        return EpisodeMeta(
            scenario=scenario,
            pattern=pattern,
            distance=distance,
            instruction=self.planned.instruction or o.instruction,
            robot="ros2",
            camera=f"rosbag:{width}x{height}",
        )

    def add(self, event: Event, image: np.ndarray | None, t_image: int, report: ImportReport) -> Path | None:
        """Append the frame of `event` (None: no image in time); returns the file once the last is in."""
        self.left -= 1
        if self.dropped:
            pass
        elif image is None:
            if event.kind == START_EVENT:
                self.dropped = True
                report.notes.append(
                    f"episode {self.index + 1} (at {event.t / NS:.3f} s) left out: no image within "
                    f"{IMAGE_WAIT_S:g} s of its start"
                )
            else:
                self.missing += 1
        else:
            if self.writer is None:
                self.t0 = t_image
                started = datetime.fromtimestamp(t_image / NS)
                self.writer = EpisodeWriter(
                    self.stage,
                    self.meta(image),
                    now=lambda: started,
                    extra_attrs={
                        "source_format": "rosbag2",
                        "source_file": self.bag.name,
                        "source_image_topic": self.options.image_topic,
                        "source_cmd_vel_topic": self.options.cmd_vel_topic,
                        "source_throttle": float(self.options.throttle),
                    },
                )
            self.writer.append(image, event.action, event.kind, (t_image - self.t0) / NS)
        if self.left:
            return None
        return self.close(report)

    def close(self, report: ImportReport) -> Path | None:
        if self.missing:
            report.notes.append(
                f"episode {self.index + 1}: {self.missing} frame(s) left out (no image within {IMAGE_WAIT_S:g} s)"
            )
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        if len(writer) < 2:
            writer.abort()
            report.notes.append(f"episode {self.index + 1} left out: no motion command with an image")
            return None
        report.frames += len(writer)
        return writer.finish()


def _write(
    reader: Any,
    typestore: Any,
    image_conn: Any,
    planned: list[PlannedEpisode],
    bag: Path,
    stage: Path,
    options: ImportOptions,
    report: ImportReport,
    on_progress: Callable[[int, int], None] | None,
) -> list[Path]:
    """Second pass: stream the images and hand each event the image its rule names."""
    episodes = [_Episode(i, p, bag, stage, options) for i, p in enumerate(planned)]
    queue = sorted(
        ((e.t, e.image != "before", n, i, e) for i, p in enumerate(planned) for n, e in enumerate(p.events)),
        key=lambda q: q[:3],
    )
    wait = round(IMAGE_WAIT_S * NS)
    compressed = image_conn.msgtype.endswith("CompressedImage")
    cache: tuple[int, np.ndarray] | None = None
    staged: list[Path] = []

    def rgb(t: int, raw: bytes) -> np.ndarray:
        nonlocal cache
        if cache is None or cache[0] != t:
            msg = _decode(typestore, raw, image_conn.msgtype, image_conn.topic, t)
            try:
                array = (
                    compressed_to_rgb(msg.data)
                    if compressed
                    else raw_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)
                )
            except ImagePayloadError as exc:
                raise RecorderError(f"{bag}: {image_conn.topic} at {t / NS:.3f} s: {exc}") from None
            cache = (t, array)
        return cache[1]

    def resolve(k: int, picked: tuple[int, bytes] | None) -> None:
        _, _, _, i, event = queue[k]
        ok = picked is not None and abs(picked[0] - event.t) <= wait
        image = rgb(*picked) if ok and picked is not None and not episodes[i].dropped else None
        done = episodes[i].add(event, image, picked[0] if picked is not None else 0, report)
        if done is not None:
            staged.append(done)

    k, previous = 0, None
    total = image_conn.msgcount
    try:
        for _, t, raw in _messages(reader, [image_conn]):
            report.images += 1
            report.image_bytes += len(raw)
            # Every event up to this image's time is due: a "before" one takes the image preceding this
            # one, an "after" one this one.
            while k < len(queue) and queue[k][0] <= t:
                resolve(k, (t, raw) if queue[k][1] else previous)
                k += 1
            previous = (t, raw)
            if on_progress is not None and report.images % 32 == 0:
                on_progress(report.images, total)
        while k < len(queue):
            resolve(k, previous if not queue[k][1] else None)
            k += 1
    except BaseException:
        for episode in episodes:
            if episode.writer is not None:
                episode.writer.abort()
        raise
    if on_progress is not None:
        on_progress(report.images, total)
    return staged
