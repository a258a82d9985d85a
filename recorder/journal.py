"""The append-only journal an episode is recorded into before it becomes an HDF5 file.

Why a journal and not a growing HDF5 file: HDF5 keeps its metadata in memory, so a file killed
mid-episode is often unreadable, and variable-length strings rule out SWMR. The journal is a magic
line, then self-checking records: 1 byte kind, u32 payload length, u32 CRC-32 of the payload, payload.
The first record (`H`) holds the episode's metadata as JSON (`JournalHeader`); each frame record (`F`) holds timestamp,
action, event code, image size and the frame's B, G and R planes, each a zlib stream -- exactly the
bytes HDF5's gzip filter stores for a chunk of one frame and one channel, so the final file is
written without compressing again. (Planes compress 10-15 % smaller than interleaved pixels.)
A frame of an episode a policy may drive is followed by an annotation record (`A`, JSON of
`recorder.intervention.FrameAnnotation`: who drove it, the policy's proposal, the instruction).
Reading stops at the first record whose length or CRC does not hold (a torn tail).

This module owns the byte format and the journal's hidden file names; it never writes HDF5.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from isal import isal_zlib

from configs import ConfigError, from_dict
from recorder.catalogue import EVENT_TYPES
from recorder.errors import RecorderError
from recorder.intervention import FrameAnnotation

MAGIC = b"MVLA-JOURNAL 1\n"
JOURNAL_SUFFIX = ".h5.partial"  # `.<name>.h5.partial`: frames as they come
BUILD_SUFFIX = ".h5.building"  # `.<name>.h5.building`: the HDF5 file during finish()
_RECORD = struct.Struct("<cII")  # kind, payload length, crc32(payload)
_FRAME = struct.Struct("<d3fBHH3I")  # timestamp s, action, event code, height, width, plane sizes
_MAX_RECORD = 1 << 30  # a length beyond this is a torn header, not a frame


AttrValue = str | int | float | bool  # what an extra root attribute may hold


@dataclass(frozen=True)
class JournalHeader:
    """The journal's first record: what the final file's root attributes need, known at the start.
    Journals of older versions lack the fields with a default; keys a newer version adds are ignored
    when salvaging (the frames matter more)."""

    name: str
    scenario: str | None
    pattern: str | None
    distance: str | None
    layout: str
    instruction: str
    collector: str
    compression_level: int
    started: str | None = None  # ISO time the recording started
    robot: str | None = None  # left out of the file when unknown
    camera: str | None = None
    color_order: str = "bgr"
    # What a salvaged journal says: the outcome is only known when the episode is saved.
    outcome: str = "unspecified"
    # Root attributes of the caller's own (e.g. the sim's expert outcome), also kept on salvage.
    extra_attrs: dict[str, AttrValue] = field(default_factory=dict)

    def to_record(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_record(cls, record: Mapping[str, object], source: Path) -> JournalHeader:
        """The header a journal holds; a `RecorderError` naming what it lacks or holds wrong."""
        fields = dataclasses.fields(cls)
        for f in fields:
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and f.name not in record:
                raise RecorderError(
                    f"{source}: header lacks {f.name!r}; written by another version, not salvaged"
                )
        known = {f.name for f in fields}
        try:
            return from_dict(cls, {k: v for k, v in record.items() if k in known}, source=str(source))
        except ConfigError as exc:
            raise RecorderError(f"{exc} in its header; written by another version, not salvaged") from None


@dataclass(frozen=True)
class JournalFrame:
    offset: int  # file offset of the compressed planes (B, G, R, back to back)
    sizes: tuple[int, int, int]  # their lengths
    timestamp: float
    action: tuple[float, float, float]
    event_type: str
    height: int
    width: int
    annotation: FrameAnnotation | None = None  # intervention episodes only (`A` record)


@dataclass
class JournalScan:
    header: dict[str, object] | None  # as recorded (`JournalHeader.from_record`); None when torn
    frames: list[JournalFrame]
    valid_bytes: int  # everything after this offset is a torn tail
    total_bytes: int


def journal_path(data_dir: Path, name: str) -> Path:
    return data_dir / f".{name}{JOURNAL_SUFFIX}"


def build_path(data_dir: Path, name: str) -> Path:
    return data_dir / f".{name}{BUILD_SUFFIX}"


def episode_name_of(temp: Path) -> str | None:
    """The episode name a hidden temporary file belongs to, or None if it is not one of ours."""
    for suffix in (JOURNAL_SUFFIX, BUILD_SUFFIX):
        if temp.name.startswith(".") and temp.name.endswith(suffix):
            return temp.name[1 : -len(suffix)]
    return None


def lock(fd: int) -> None:
    """Mark a journal as being recorded; the kernel drops the lock when the process dies, however
    it dies, so a crashed recording is never mistaken for a running one."""
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


def is_locked(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def starts_like_journal(path: Path) -> bool:
    """Whether a file begins with the magic line, or is a prefix of it: a recorder killed before its
    header was written leaves an empty or shorter file. Anything else is somebody else's file."""
    with open(path, "rb") as f:
        head = f.read(len(MAGIC))
    return MAGIC.startswith(head)


def header_bytes(header: Mapping[str, object]) -> bytes:
    """The magic line and the header record of `header` (`JournalHeader.to_record()`)."""
    payload = json.dumps(header, sort_keys=True).encode("utf-8")
    return MAGIC + _RECORD.pack(b"H", len(payload), zlib.crc32(payload)) + payload


def compress_frame(image_rgb: np.ndarray, level: int) -> tuple[bytes, bytes, bytes]:
    """The B, G and R planes of an RGB frame as zlib streams (what HDF5's gzip filter stores).

    Level 0 stores the planes uncompressed; levels 1-3 use ISA-L's deflate, which is ~6x faster than
    zlib level 1 on camera frames for about the same size. Runs in a worker thread: the plane copy
    and both compressors release the GIL."""
    planes = np.ascontiguousarray(image_rgb.transpose(2, 0, 1)[::-1])  # (3, H, W) B, G, R
    if level == 0:
        out = [zlib.compress(memoryview(p).cast("B"), 0) for p in planes]
    else:
        out = [isal_zlib.compress(memoryview(p).cast("B"), level) for p in planes]
    return out[0], out[1], out[2]


def frame_parts(
    planes: tuple[bytes, bytes, bytes],
    timestamp: float,
    action: np.ndarray,
    event_type: str,
    height: int,
    width: int,
) -> list[bytes]:
    """The record of one frame as buffers for `os.writev` (no copy of the image bytes)."""
    sizes = [len(p) for p in planes]
    fields = _FRAME.pack(
        timestamp, *(float(a) for a in action), EVENT_TYPES.index(event_type), height, width, *sizes
    )
    crc = zlib.crc32(fields)
    for plane in planes:
        crc = zlib.crc32(plane, crc)
    return [_RECORD.pack(b"F", len(fields) + sum(sizes), crc), fields, *planes]


def annotation_record(annotation: FrameAnnotation) -> bytes:
    """The `A` record that follows a frame record in an episode a policy may drive."""
    payload = json.dumps(annotation.to_record(), sort_keys=True).encode("utf-8")
    return _RECORD.pack(b"A", len(payload), zlib.crc32(payload)) + payload


def frame_header_size() -> int:
    """Bytes between the start of a frame record and its compressed planes."""
    return _RECORD.size + _FRAME.size


def scan(path: Path) -> JournalScan:
    """Read a journal, verifying every record; stops at the first torn or corrupt record."""
    with open(path, "rb") as f:
        total = os.fstat(f.fileno()).st_size
        if f.read(len(MAGIC)) != MAGIC:
            return JournalScan(None, [], 0, total)
        record = _read_record(f)
        if record is None or record[0] != b"H":
            return JournalScan(None, [], len(MAGIC), total)
        try:
            header = json.loads(record[1].decode("utf-8"))
        except ValueError:
            header = None
        if not isinstance(header, dict):
            return JournalScan(None, [], len(MAGIC), total)
        frames: list[JournalFrame] = []
        valid = f.tell()
        while True:
            record = _read_record(f)
            if record is not None and record[0] == b"A" and frames and frames[-1].annotation is None:
                annotation = _annotation(record[1])
                if annotation is None:
                    break
                frames[-1] = dataclasses.replace(frames[-1], annotation=annotation)
                valid = f.tell()
                continue
            if record is None or record[0] != b"F" or len(record[1]) < _FRAME.size:
                break
            timestamp, ax, ay, az, code, height, width, *sizes = _FRAME.unpack_from(record[1])
            size = len(record[1]) - _FRAME.size
            if code >= len(EVENT_TYPES) or sum(sizes) != size:
                break
            frames.append(
                JournalFrame(
                    f.tell() - size,
                    (sizes[0], sizes[1], sizes[2]),
                    timestamp,
                    (ax, ay, az),
                    EVENT_TYPES[code],
                    height,
                    width,
                )
            )
            valid = f.tell()
        return JournalScan(header, frames, valid, total)


def _annotation(payload: bytes) -> FrameAnnotation | None:
    try:
        return FrameAnnotation.from_record(json.loads(payload.decode("utf-8")))
    except ValueError:
        return None


def read_planes(f: BinaryIO, frame: JournalFrame) -> list[bytes]:
    f.seek(frame.offset)
    data = f.read(sum(frame.sizes))
    if len(data) != sum(frame.sizes):
        raise OSError(f"journal ended inside the frame at offset {frame.offset}")
    a, b = frame.sizes[0], frame.sizes[0] + frame.sizes[1]
    return [data[:a], data[a:b], data[b:]]


def _read_record(f: BinaryIO) -> tuple[bytes, bytes] | None:
    head = f.read(_RECORD.size)
    if len(head) < _RECORD.size:
        return None
    kind, length, crc = _RECORD.unpack(head)
    if length > _MAX_RECORD:
        return None
    payload = f.read(length)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    return kind, payload
