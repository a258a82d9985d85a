"""From a rosbag's velocity commands (already in key units) and optional markers to the episodes mvla's
recorder would have written: which frames, of which event type, with which action, at what time.

Owns the rules (README, "rosbag2"):
- A command is a new motion (a `start_action` frame) unless it repeats the running motion's action
  within `resend_s` of its last message (mvla re-sends a motion every 0.1 s; a teleop that publishes at
  a rate does too). A motion with no message for longer than `resend_s` ended by itself (a base's or the
  watchdog's timeout).
- A zero command ends the running motion. It is a `stop_action` frame (the operator's stop) when the
  motion ran for less than `step_s - STOP_TOLERANCE_S` (`stops="early"`: in mvla's step mode the press
  that ran its course stops itself at `step_s` and records nothing), for any motion (`stops="all"`) or
  never (`stops="none"`). A zero followed within `RESTART_S` by a new motion is mvla's restart of a step
  (stop, then the next press), not a stop.
- Episodes: without markers a new episode starts at a motion that follows more than `gap_s` of no motion;
  its `episode_start` frame takes the last image *before* that first command. With markers (a
  `std_msgs/String` topic: `start [SCENARIO [PATTERN [DISTANCE]]] [| INSTRUCTION]` and `end`) an episode
  is what lies between a start and the next end (or start, or the end of the bag); its `episode_start`
  frame takes the first image at or after the start marker, and commands outside episodes are left out.
  Everything after the first `|` of a start marker is the episode's instruction (a marker without one,
  as older exports wrote, gives none).
Times are integer nanoseconds of the bag's clock. Pure logic: no rosbag reading, no files, no images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from recorder.catalogue import START_EVENT, STEP_EVENT, STOP_EVENT, EventType

StopFrames = Literal["early", "all", "none"]
STOP_FRAMES: tuple[StopFrames, ...] = ("early", "all", "none")
NS = 1_000_000_000
STOP_TOLERANCE_S = 0.05  # a zero this close to `step_s` after the press is the press ending by itself
RESTART_S = 0.05  # a zero followed this soon by a new motion is a restart, not the operator's stop
MARKER_WORDS = ("start", "end")
INSTRUCTION_SEPARATOR = "|"  # in a start marker, between its words and the episode's instruction


@dataclass(frozen=True)
class Segmentation:
    """How commands become frames and episodes (see the module docstring)."""

    gap_s: float = 10.0  # no motion for longer than this starts a new episode (no markers)
    resend_s: float = 0.5  # the same command again within this is the same motion (teleop.max_motion_s)
    step_s: float = 0.4  # a press of mvla's step mode (teleop.step_s)
    stops: StopFrames = "early"


@dataclass(frozen=True)
class Command:
    t: int  # ns, bag time of the message
    action: np.ndarray  # float32 (3,), key units


@dataclass(frozen=True)
class Marker:
    t: int
    text: str


@dataclass(frozen=True)
class Event:
    t: int  # ns: when the command (or marker) arrived; its image is taken relative to this
    kind: EventType
    action: np.ndarray  # float32 (3,), key units
    image: Literal["before", "after"]  # the last image before `t`, or the first at or after it


@dataclass
class PlannedEpisode:
    events: list[Event] = field(default_factory=list)
    words: tuple[str, ...] = ()  # scenario, pattern, distance given by the start marker, as many as given
    opened_at: int = 0  # ns
    instruction: str | None = None  # given by the start marker after INSTRUCTION_SEPARATOR


@dataclass
class Plan:
    episodes: list[PlannedEpisode]
    notes: list[str]  # what was left out and why, one line each


ZERO = np.zeros(3, np.float32)


def command_events(commands: list[Command], rules: Segmentation) -> tuple[list[Event], list[int]]:
    """The `start_action` and `stop_action` events of time-sorted commands, and the times at which each
    motion last showed activity (for the gap rule): one entry per event, the activity before it."""
    resend, step = round(rules.resend_s * NS), round((rules.step_s - STOP_TOLERANCE_S) * NS)
    restart = round(RESTART_S * NS)
    events: list[Event] = []
    idle_since: list[int] = []
    motion: tuple[np.ndarray, int] | None = None  # (action, started)
    last = -(2**62)  # last message of the running motion, or when the last one ended
    for i, command in enumerate(commands):
        if motion is not None and command.t - last > resend:
            motion = None  # ended by itself (a timeout); `last` is when it was last seen
        if not command.action.any():
            if motion is not None:
                after = commands[i + 1] if i + 1 < len(commands) else None
                restarting = after is not None and after.action.any() and after.t - command.t <= restart
                ran = command.t - motion[1]
                stop = rules.stops == "all" or (rules.stops == "early" and ran < step)
                if stop and not restarting:
                    events.append(Event(command.t, STOP_EVENT, ZERO, "after"))
                    idle_since.append(last)
                motion, last = None, command.t
            continue
        if motion is not None and np.array_equal(command.action, motion[0]):
            last = command.t
            continue
        events.append(Event(command.t, STEP_EVENT, command.action, "after"))
        idle_since.append(last if motion is None else command.t)
        motion, last = (command.action, command.t), command.t
    return events, idle_since


def start_marker(words: list[str], instruction: str | None) -> str:
    """The text of a start marker: `start` and the words, then the instruction after a separator."""
    text = " ".join(["start", *words])
    return f"{text} {INSTRUCTION_SEPARATOR} {instruction}" if instruction else text


def parse_marker(text: str) -> tuple[tuple[str, ...], str | None]:
    """The words of a marker (its first is `start` or `end`) and the instruction after the separator."""
    head, sep, tail = text.partition(INSTRUCTION_SEPARATOR)
    return tuple(head.split()), (tail.strip() or None) if sep else None


def plan(commands: list[Command], markers: list[Marker] | None, rules: Segmentation) -> Plan:
    """Episodes of time-sorted commands: split on gaps, or between markers when `markers` is given."""
    events, idle_since = command_events(commands, rules)
    if markers is None:
        return Plan(_split_on_gaps(events, idle_since, rules), [])
    return _split_on_markers(events, markers)


def _split_on_gaps(events: list[Event], idle_since: list[int], rules: Segmentation) -> list[PlannedEpisode]:
    gap = round(rules.gap_s * NS)
    episodes: list[PlannedEpisode] = []
    for event, idle in zip(events, idle_since, strict=True):
        if event.kind == STEP_EVENT and (not episodes or event.t - idle > gap):
            start = Event(event.t, START_EVENT, ZERO, "before")
            episodes.append(PlannedEpisode([start], opened_at=event.t))
        if episodes:  # a stop before any motion of the bag belongs to no episode
            episodes[-1].events.append(event)
    return episodes


def _split_on_markers(events: list[Event], markers: list[Marker]) -> Plan:
    notes: list[str] = []
    windows: list[tuple[int, int | None, tuple[str, ...], str | None]] = []
    open_at: tuple[int, tuple[str, ...], str | None] | None = None
    for marker in markers:
        words, instruction = parse_marker(marker.text)
        word = words[0].lower() if words else ""
        if word not in MARKER_WORDS:
            notes.append(f"marker {marker.text!r} at {marker.t / NS:.3f} s ignored (use 'start' or 'end')")
            continue
        if open_at is not None:
            windows.append((open_at[0], marker.t, open_at[1], open_at[2]))
            open_at = None
        elif word == "end":
            notes.append(f"'end' marker at {marker.t / NS:.3f} s without a 'start' before it ignored")
        if word == "start":
            open_at = (marker.t, words[1:], instruction)
    if open_at is not None:
        windows.append((open_at[0], None, open_at[1], open_at[2]))
    episodes = [
        PlannedEpisode([Event(start, START_EVENT, ZERO, "after")], words, start, instruction)
        for start, _, words, instruction in windows
    ]
    outside = 0
    k = 0
    for event in events:
        while k < len(windows) and (end := windows[k][1]) is not None and event.t >= end:
            k += 1
        if k < len(windows) and event.t >= windows[k][0]:
            episodes[k].events.append(event)
        else:
            outside += 1
    if outside:
        notes.append(f"{outside} command(s) outside any start/end markers left out")
    return Plan(episodes, notes)
