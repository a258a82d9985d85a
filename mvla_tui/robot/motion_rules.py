"""The rules of motion as pure functions: what a teleop key does in each mode, and whether a policy action
may be executed as it is. No link, no clock, no state of their own: the control loop asks them and acts.

Teleop modes (`TeleopConfig.mode`):
- *step* (default, like the existing data): a key moves the robot `step_s`, then it stops by itself; a key
  pressed during a step stops that step and starts its own at once, as the earlier collector did (so
  terminal key repeat keeps the robot going, and it stops `step_s` after the last one);
- *hold*: terminal key repeat keeps the robot moving; it stops `deadman_s` after the last repeat;
- *latch*: a key moves the robot until space (or another key) changes it.
Space always stops, and counts as a recorded `stop_action` when it stopped a motion. Where the terminal
reports key releases, releasing the key of a hold-mode motion stops it at once (nothing is recorded).

A policy action must be 3 finite numbers with a positive finite duration (the step time when none is
given); a longer one is capped at `TeleopConfig.max_motion_s`, so no motion outlives the deadman.
This module must not import a link, rclpy or textual.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from mvla_tui.robot.config import TeleopConfig
from recorder.catalogue import KEYMAP, STOP_KEY, normalise_key

KeyEffect = Literal["not_a_key", "stop", "start", "restart", "extend", "keep"]


@dataclass(frozen=True)
class KeyDecision:
    """What one teleop key does. `effect`:
    - `not_a_key`: not a movement key; report it, do nothing;
    - `stop`: space: stop (a `stop_action` when something was moving);
    - `start`: start a new motion of `key` ending at `ends_at` (None: until changed);
    - `restart`: stop the motion in progress first, then start as above (step mode);
    - `extend`: the same key repeated: move the end of the motion in progress to `ends_at`;
    - `keep`: the same key again in latch mode: nothing changes."""

    effect: KeyEffect
    key: str
    ends_at: float | None = None


def key_decision(
    mode: str, raw_key: str, moving_key: str | None, now: float, teleop: TeleopConfig
) -> KeyDecision:
    """The effect of `raw_key` pressed at `now` in `mode`, when the motion in progress (if any) was started by
    `moving_key` (None when the robot is still or a policy drives it)."""
    key = normalise_key(raw_key)
    if key not in KEYMAP:
        return KeyDecision("not_a_key", raw_key)
    if key == STOP_KEY:
        return KeyDecision("stop", key)
    if mode == "step":
        effect: KeyEffect = "start" if moving_key is None else "restart"
        return KeyDecision(effect, key, now + teleop.step_s)
    if mode == "hold":
        if moving_key == key:
            return KeyDecision("extend", key, now + teleop.deadman_s)  # a key repeat feeds the deadman
        return KeyDecision("start", key, now + teleop.deadman_s)
    if mode == "latch":
        return KeyDecision("keep" if moving_key == key else "start", key, None)
    # `TeleopConfig` and `SetMode` admit only MODES; a new mode must be handled above.
    raise AssertionError(f"teleop mode {mode!r} has no key rule")


def release_stops(mode: str, raw_key: str, moving_key: str | None) -> bool:
    """Whether releasing `raw_key` stops the motion in progress: in hold mode, when that key started it
    (hold-to-drive with real key release; step and latch motions run their course)."""
    return mode == "hold" and moving_key is not None and normalise_key(raw_key) == moving_key


@dataclass(frozen=True)
class PolicyCommand:
    """A policy action checked for execution: `action` (3,) float32 to move with for `duration_s`, or
    `error` (the robot must stop). `note` says what was changed (a capped duration)."""

    action: np.ndarray | None
    duration_s: float
    error: str | None = None
    note: str | None = None


def check_policy_action(action: object, duration_s: object, teleop: TeleopConfig) -> PolicyCommand:
    """Whether a policy action may move the robot, and for how long (see the module docstring)."""
    values = np.asarray(action, dtype=np.float64).reshape(-1)
    if values.shape != (3,) or not np.isfinite(values).all():
        return PolicyCommand(
            None, 0.0, f"policy action {values.tolist()} is not 3 finite numbers; robot stopped"
        )
    try:
        duration = teleop.step_s if duration_s is None else float(duration_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        duration = math.nan  # refused just below, like any other duration that is not a number
    if not (math.isfinite(duration) and duration > 0):  # a NaN end would never come
        return PolicyCommand(
            None, 0.0, f"policy action duration {duration_s!r} s is not a positive number; robot stopped"
        )
    note = None
    cap = teleop.max_motion_s
    if duration > cap:  # no motion may outlive the deadman: a policy must send its next action in time
        note = f"policy action duration {duration:g} s capped at {cap:g} s (teleop.step_s/deadman_s)"
        duration = cap
    return PolicyCommand(values.astype(np.float32), duration, None, note)
