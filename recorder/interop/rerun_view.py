"""Episodes into one Rerun recording, to look at them in the Rerun viewer (`mvla dataset view`).

Layout of the recording: one entity path per episode, `episodes/<file stem>/`, all on one `frame`
timeline (the frame index) and, when the file has timestamps, one `time` timeline (seconds since the
episode's start). One shared timeline rather than a timeline per episode: scrubbing `frame` steps every
episode at once (frame k of two episodes side by side, their actions overlaid in one plot), and the
viewer's timeline menu stays short whatever the folder holds; with a timeline per episode every other
episode would vanish from view whenever one is selected. Under each episode:
- `camera`: the image, RGB (JPEG of `jpeg_quality`, or raw pixels when it is None);
- `action`: three scalars, `linear_x`, `linear_y`, `angular_z` in key units (1.15 is a full-speed key
  press, DATA_FORMAT.md), not m/s;
- `top_down/action`: the action as an arrow in a top-down view of the robot frame (REP 103: x forward
  drawn up, y left drawn left, one view unit per key unit), labelled with its key; `top_down/turn`: an
  arc for angular_z (counter-clockwise is positive); `top_down/robot` and `top_down/axes`: the
  robot's outline and axes (static);
- `events`: one text-log line per frame whose level is its event type (`episode_start`,
  `start_action`, `stop_action`), so the viewer's level filter picks out one kind of event;
- `info`: scenario, pattern, distance, instruction, outcome and where the file came from (static).
A blueprint gives each episode a tab (camera, top-down view, action plot, events, info): that layout and
the top-down drawing are in `rerun_layout`.

Files are read with `recorder.isolated.IsolatedReader` (a child process): a damaged file is skipped with
a one-line reason, never a crash or a hang. Files are published whole (`configs.files.publish_file`).
The `rerun` package (extra `rerun`) is imported only here, inside the functions that need it. This module
never modifies an episode file and never decides whether a viewer can open (that is the command's).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from configs.files import fsync_path, publish_file
from recorder.catalogue import KEY_SPEED, key_of
from recorder.episode import Episode
from recorder.errors import EpisodeFileError
from recorder.interop.rerun_layout import blueprint, log_robot, top_down_vector, turn_arc

if TYPE_CHECKING:
    import rerun as rr

APPLICATION_ID = "mvla_dataset_view"
ROOT = "episodes"
AXES = ("linear_x", "linear_y", "angular_z")
AXIS_COLOURS = ((230, 80, 60), (60, 160, 230), (240, 190, 40))
DEFAULT_JPEG_QUALITY = 90

Reader = Callable[[Path], Episode]
OnFile = Callable[[Path, "Skipped | None"], None]


@dataclass(frozen=True)
class Skipped:
    """A file that could not be logged, and why (one line: the problem kind, then the reader's detail)."""

    path: Path
    reason: str


@dataclass
class ViewReport:
    """What went into the recording: episodes (their entity paths), frames, and the files skipped."""

    entities: list[str] = field(default_factory=list)
    frames: int = 0
    skipped: list[Skipped] = field(default_factory=list)


def entity_of(path: Path) -> str:
    """The entity path of the episode in `path`: `episodes/<file stem>` (stems are unique in a folder)."""
    import rerun as rr

    return f"{ROOT}/{rr.escape_entity_path_part(Path(path).stem)}"


def new_recording() -> rr.RecordingStream:
    """A recording stream of its own (not the process-wide one), without the wall-clock `log_time`
    timeline: when a frame was logged says nothing about the episode."""
    import rerun as rr

    rec = rr.RecordingStream(APPLICATION_ID)
    rec.set_log_time_enabled(False)
    return rec


def log_episode(
    rec: rr.RecordingStream,
    episode: Episode,
    entity: str,
    *,
    jpeg_quality: int | None = DEFAULT_JPEG_QUALITY,
) -> None:
    """Log one episode under `entity` (see the module docstring for what goes where)."""
    import rerun as rr

    rec.reset_time()  # the `time` of the previous episode must not stick to one without timestamps
    rec.log(
        f"{entity}/info",
        rr.TextDocument(info_markdown(episode), media_type=rr.MediaType.MARKDOWN),
        static=True,
    )
    rec.log(
        f"{entity}/action",
        rr.SeriesLines(names=[f"{a} (key units)" for a in AXES], colors=AXIS_COLOURS),
        static=True,
    )
    log_robot(rec, f"{entity}/top_down")
    for i in range(len(episode)):
        rec.set_time("frame", sequence=i)
        if episode.timestamps is not None:
            rec.set_time("time", duration=float(episode.timestamps[i]))
        action = np.asarray(episode.actions[i], np.float64)
        key = key_of(action)
        rec.log(f"{entity}/camera", _image(episode.images[i], jpeg_quality))
        rec.log(f"{entity}/action", rr.Scalars(action))
        rec.log(
            f"{entity}/top_down/action",
            rr.Arrows2D(
                origins=[[0.0, 0.0]],
                vectors=[top_down_vector(action)],
                labels=[key or _numbers(action)],
                colors=[(250, 250, 250)],
                radii=[0.03],
            ),
        )
        arc = turn_arc(float(action[2]))
        rec.log(
            f"{entity}/top_down/turn",
            rr.LineStrips2D(
                [arc], labels=[f"angular_z {action[2]:+.2f}"], colors=[AXIS_COLOURS[2]], radii=[0.03]
            )
            if arc is not None
            else rr.Clear(recursive=False),
        )
        event = episode.event_types[i]
        line = (f"key {key}: " if key else "") + _numbers(action)  # the frame and event have columns
        rec.log(f"{entity}/events", rr.TextLog(line, level=event))
    rec.reset_time()


def info_markdown(episode: Episode) -> str:
    """The episode's static description: what it is about, how it ended, where it came from."""
    meta = episode.meta
    presses = sum(e != "episode_start" for e in episode.event_types)
    outcome = meta.outcome or "not recorded (the older collector did not save one)"
    origin = ", ".join(x for x in (meta.robot, meta.camera, meta.collector) if x) or "older collector"
    lines = [
        f"# {episode.name}",
        "",
        f"- **scenario**: {meta.scenario or 'unknown'}",
        f"- **pattern**: {meta.pattern or 'unknown'}",
        f"- **distance**: {meta.distance or 'unknown'}",
        f"- **instruction**: {meta.instruction or 'none in the file'}",
        f"- **outcome**: {outcome}",
        f"- **frames**: {len(episode)} ({presses} after the start)"
        + (", recovered after a crash" if meta.recovered else ""),
        f"- **timestamps**: {'yes (the time timeline)' if episode.timestamps is not None else 'none in the file'}",
        f"- **recorded with**: {origin}",
        f"- **file**: `{episode.path}` (layout {episode.layout})",
        "",
        f"Actions are in key units: {KEY_SPEED} on an axis is a full-speed key press.",
    ]
    return "\n".join(lines)


def log_files(
    rec: rr.RecordingStream,
    paths: Iterable[Path],
    *,
    read: Reader | None = None,
    jpeg_quality: int | None = DEFAULT_JPEG_QUALITY,
    on_file: OnFile | None = None,
) -> ViewReport:
    """Log each file's episode, in the given order; a file the reader refuses is skipped and reported.
    `read` defaults to an `IsolatedReader`'s `episode` (a child process). Sends the blueprint first
    (the viewer lays the tabs out once) and again at the end when files were skipped."""
    paths = [Path(p) for p in paths]
    report = ViewReport()
    with ExitStack() as stack:
        if read is None:
            from recorder.isolated import IsolatedReader

            read = stack.enter_context(IsolatedReader()).episode
        entities = [entity_of(p) for p in paths]
        rec.send_blueprint(blueprint(entities))
        for path, entity in zip(paths, entities, strict=True):
            skipped = None
            try:
                episode = read(path)
            except EpisodeFileError as exc:
                skipped = Skipped(path, f"{exc.kind}: {exc.detail}")
                report.skipped.append(skipped)
            else:
                log_episode(rec, episode, entity, jpeg_quality=jpeg_quality)
                report.entities.append(entity)
                report.frames += len(episode)
            if on_file is not None:
                on_file(path, skipped)
    if report.skipped:
        rec.send_blueprint(blueprint(report.entities))
    return report


def save_rrd(
    paths: Iterable[Path],
    out: Path,
    *,
    read: Reader | None = None,
    jpeg_quality: int | None = DEFAULT_JPEG_QUALITY,
    on_file: OnFile | None = None,
) -> ViewReport:
    """Log the files into a recording saved as `out`, which appears whole or not at all (built under a
    hidden name beside it); nothing is written when no episode could be read."""
    out = Path(out)
    if not out.parent.is_dir():
        from recorder.errors import RecorderError

        raise RecorderError(f"{out.parent}: no such folder for {out.name}; create it first")
    tmp = out.with_name(f".{out.name}.{os.urandom(4).hex()}.tmp")
    rec = new_recording()
    try:
        rec.save(tmp)
        report = log_files(rec, paths, read=read, jpeg_quality=jpeg_quality, on_file=on_file)
        rec.flush()
        rec.disconnect()  # closes the file: its footer is written
        if report.entities:
            fsync_path(tmp)
            publish_file(tmp, out)
        return report
    finally:
        rec.disconnect()
        tmp.unlink(missing_ok=True)


def stream_live(
    paths: Iterable[Path],
    *,
    viewer: str | None = None,
    url: str | None = None,
    read: Reader | None = None,
    jpeg_quality: int | None = DEFAULT_JPEG_QUALITY,
    on_file: OnFile | None = None,
) -> ViewReport:
    """Stream the files' episodes to a Rerun viewer: one started here from the executable `viewer` (it
    outlives this process), or one already listening at the gRPC `url`
    (`rerun+http://HOST:PORT/proxy`, e.g. a workstation's viewer reached through an SSH tunnel)."""
    import rerun.sinks

    from recorder.errors import RecorderError

    rec = new_recording()
    try:
        if url is not None:
            _check_listening(url)
            rec.connect_grpc(url)
        else:
            try:
                rerun.sinks.spawn(executable_path=viewer, recording=rec, hide_welcome_screen=True)
            except (RuntimeError, OSError) as exc:
                raise RecorderError(
                    f"cannot start the Rerun viewer {viewer} ({_first_line(exc)}); "
                    "save a file instead with --save OUT.rrd"
                ) from None
        report = log_files(rec, paths, read=read, jpeg_quality=jpeg_quality, on_file=on_file)
        try:
            rec.flush()
        except RuntimeError as exc:  # the gRPC sink raises when it never reached the viewer
            raise RecorderError(
                f"the episodes did not reach the Rerun viewer at {url or 'the one started'} "
                f"({_first_line(exc)}); is it running? Or save a file instead with --save OUT.rrd"
            ) from None
        return report
    finally:
        rec.disconnect()


def _check_listening(url: str, timeout_s: float = 3.0) -> None:
    """Fail at once, in one line, when nothing accepts connections at the viewer's address (the SDK
    would only say so after seconds of retrying, between lines of its own logging)."""
    import socket
    from urllib.parse import urlsplit

    from recorder.errors import RecorderError

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port or 9876
    except ValueError as exc:
        raise RecorderError(
            f"{url}: not a viewer address ({exc}); e.g. rerun+http://127.0.0.1:9876/proxy"
        ) from None
    if not host or not parts.scheme.startswith("rerun"):
        raise RecorderError(f"{url}: not a viewer address; e.g. rerun+http://127.0.0.1:9876/proxy")
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError as exc:
        raise RecorderError(
            f"no Rerun viewer at {url} ({exc.strerror or exc}); start `rerun` there first "
            "(through SSH: ssh -R 9876:localhost:9876 ROBOT), or save a file instead with --save OUT.rrd"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _image(rgb: np.ndarray, jpeg_quality: int | None) -> Any:
    import rerun as rr

    if jpeg_quality is None:
        return rr.Image(rgb, color_model="RGB")
    import cv2

    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(rgb[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]
    )
    if not ok:  # OpenCV refuses only an empty or malformed array, which the reader never returns
        raise ValueError(f"OpenCV could not encode a {rgb.shape} image as JPEG")
    return rr.EncodedImage(contents=encoded.tobytes(), media_type="image/jpeg")


def _numbers(action: np.ndarray) -> str:
    return ", ".join(f"{a} {float(v):+.2f}" for a, v in zip(AXES, action, strict=True))
