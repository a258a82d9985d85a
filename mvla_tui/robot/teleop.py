"""The operators' key vocabulary, exactly as DATA_FORMAT.md records it (the earlier collector's keys).

`KEYMAP` gives the recorded action of each key: 1.15 (as float32) on the axes it moves, REP 103 robot
frame. `intent_for_key` turns a terminal key into the intent the control loop understands (movement keys,
space, F/G throttle). This module only maps keys; it must not send anything to a robot.
"""

from __future__ import annotations

import numpy as np

from mvla_tui.robot.intents import ChangeThrottle, Intent, TeleopKey

KEY_SPEED = 1.15  # a full-speed key press on one axis, as in the existing data
STOP_KEY = "space"

_S = KEY_SPEED
# key: (linear_x, linear_y, angular_z)
KEYMAP: dict[str, tuple[float, float, float]] = {
    "w": (_S, 0.0, 0.0),
    "s": (-_S, 0.0, 0.0),
    "a": (0.0, _S, 0.0),
    "d": (0.0, -_S, 0.0),
    "q": (_S, _S, 0.0),
    "e": (_S, -_S, 0.0),
    "z": (-_S, _S, 0.0),
    "c": (-_S, -_S, 0.0),
    "r": (0.0, 0.0, _S),
    "t": (0.0, 0.0, -_S),
    STOP_KEY: (0.0, 0.0, 0.0),
}

THROTTLE_KEYS = {"f": -1, "g": +1}  # F slower, G faster, by one throttle step


def normalize_key(key: str) -> str:
    """Terminal key names to KEYMAP keys: `" "`, `"SPACE"` and `"space"` are the stop key; letters lower-case."""
    if key in (" ", "SPACE", "space"):
        return STOP_KEY
    return key.lower() if len(key) == 1 else key


def key_action(key: str) -> np.ndarray:
    """The recorded action of a key, float32 (3,). Raises KeyError for a key that is not in KEYMAP."""
    return np.array(KEYMAP[normalize_key(key)], dtype=np.float32)


def intent_for_key(key: str) -> Intent | None:
    """The intent of a terminal key, or None for a key that means nothing to the robot."""
    key = normalize_key(key)
    if key in KEYMAP:
        return TeleopKey(key)
    if key in THROTTLE_KEYS:
        return ChangeThrottle(THROTTLE_KEYS[key])
    return None
