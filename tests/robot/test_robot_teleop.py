"""The key vocabulary operators already know (DATA_FORMAT.md), with 1.15 magnitudes as float32."""

from __future__ import annotations

import numpy as np
import pytest

from mvla_tui.robot.intents import ChangeThrottle, TeleopKey
from mvla_tui.robot.teleop import KEYMAP, intent_for_key, key_action

TABLE = {
    "w": (1.15, 0, 0),
    "s": (-1.15, 0, 0),
    "a": (0, 1.15, 0),
    "d": (0, -1.15, 0),
    "q": (1.15, 1.15, 0),
    "e": (1.15, -1.15, 0),
    "z": (-1.15, 1.15, 0),
    "c": (-1.15, -1.15, 0),
    "r": (0, 0, 1.15),
    "t": (0, 0, -1.15),
    "space": (0, 0, 0),
}


def test_keymap_is_exactly_the_documented_table() -> None:
    assert set(KEYMAP) == set(TABLE)
    for key, expected in TABLE.items():
        action = key_action(key)
        assert action.dtype == np.float32
        assert action.tolist() == np.array(expected, dtype=np.float32).tolist(), key
    assert key_action("w")[0] == np.float32(1.149999976158142)


@pytest.mark.parametrize(
    ("key", "intent"),
    [
        ("W", TeleopKey("w")),
        (" ", TeleopKey("space")),
        ("SPACE", TeleopKey("space")),
        ("f", ChangeThrottle(-1)),
        ("g", ChangeThrottle(+1)),
        ("x", None),
        ("escape", None),
    ],
)
def test_terminal_keys_to_intents(key: str, intent: object) -> None:
    assert intent_for_key(key) == intent
