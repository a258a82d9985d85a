"""The key vocabulary operators already know (DATA_FORMAT.md), with 1.15 magnitudes as float32, and the one
rule that names an action by its key."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recorder.catalogue import KEYMAP, key_action, key_of, normalise_key

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


@pytest.mark.parametrize(("raw", "key"), [("W", "w"), (" ", "space"), ("SPACE", "space"), ("space", "space")])
def test_terminal_key_names_read_as_keymap_keys(raw: str, key: str) -> None:
    assert normalise_key(raw) == key
    assert key_action(raw).tolist() == key_action(key).tolist()


@pytest.mark.parametrize(
    ("action", "tolerance", "key"),
    [
        ((1.15, 0, 0), 1e-3, "w"),  # a recorded press, exactly
        ((0, 0, 0), 1e-3, "space"),
        ((1.15, -1.15, 0), 1e-3, "e"),
        ((1.0, 0.1, 0), 1e-3, None),  # a policy's action is no recorded press
        ((1.0, 0.1, 0), 0.3, "w"),  # ... but stands for one within 0.3
        ((0.6, 0.6, 0), 0.3, None),  # halfway between w, q and stop: none of them
        ((0.6, 0.7, 0), math.inf, "q"),  # the nearest, whatever the gap
        ((0.0, 0.0, -0.9), 0.3, "t"),
        ((float("nan"), 0, 0), math.inf, None),
    ],
)
def test_key_of_names_an_action_by_the_nearest_key_within_the_tolerance(action, tolerance, key) -> None:
    assert key_of(np.asarray(action, np.float32), tolerance) == key
