"""The rules of motion, table by table: what each key does in each teleop mode, and which policy actions
may move the robot for how long."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mvla_tui.robot.config import TeleopConfig
from mvla_tui.robot.motion_rules import check_policy_action, key_decision, release_stops

TELEOP = TeleopConfig(step_s=0.4, deadman_s=0.5)
NOW = 10.0

# mode, key pressed, key of the motion in progress (None: still or policy), effect, key, ends_at
KEY_TABLE = [
    ("step", "w", None, "start", "w", NOW + 0.4),
    ("step", "w", "w", "restart", "w", NOW + 0.4),  # a repeat starts a fresh step: stops 0.4 s after it
    ("step", "a", "w", "restart", "a", NOW + 0.4),
    ("step", "W", None, "start", "w", NOW + 0.4),
    ("hold", "r", None, "start", "r", NOW + 0.5),
    ("hold", "r", "r", "extend", "r", NOW + 0.5),  # the repeat feeds the deadman
    ("hold", "t", "r", "start", "t", NOW + 0.5),
    ("latch", "s", None, "start", "s", None),
    ("latch", "s", "s", "keep", "s", None),
    ("latch", "d", "s", "start", "d", None),
    ("step", "space", "w", "stop", "space", None),
    ("hold", " ", None, "stop", "space", None),
    ("latch", "SPACE", "q", "stop", "space", None),
    ("step", "x", None, "not_a_key", "x", None),
    ("latch", "f", "w", "not_a_key", "f", None),  # throttle keys are not motion keys
]


@pytest.mark.parametrize(("mode", "key", "moving", "effect", "out_key", "ends_at"), KEY_TABLE)
def test_key_rules(mode, key, moving, effect, out_key, ends_at) -> None:
    decision = key_decision(mode, key, moving, NOW, TELEOP)
    assert (decision.effect, decision.key) == (effect, out_key)
    assert decision.ends_at == (pytest.approx(ends_at) if ends_at is not None else None)


@pytest.mark.parametrize(
    ("mode", "released", "moving", "stops"),
    [
        ("hold", "w", "w", True),  # hold-to-drive: letting go stops at once
        ("hold", "W", "w", True),
        ("hold", "a", "w", False),  # another key's release does not stop this motion
        ("hold", "w", None, False),  # nothing (or a policy) is moving
        ("step", "w", "w", False),  # a step runs its 0.4 s, as recorded
        ("latch", "w", "w", False),  # latched until space
    ],
)
def test_release_rules(mode, released, moving, stops) -> None:
    assert release_stops(mode, released, moving) is stops


def test_a_mode_without_rules_is_a_bug_not_a_silent_no_op() -> None:
    with pytest.raises(AssertionError, match="no key rule"):
        key_decision("cruise", "w", None, NOW, TELEOP)


# action, duration asked, duration granted (None: refused), error or note fragment
POLICY_TABLE = [
    ([0.5, 0.0, 0.1], None, 0.4, None),  # no duration: one step
    ([0.5, 0.0, 0.1], 0.2, 0.2, None),
    ([0.5, 0.0, 0.1], 0.5, 0.5, None),  # exactly the deadman
    ([0.5, 0.0, 0.1], 3.0, 0.5, "capped at 0.5 s"),
    ([0.5, 0.0, 0.1], 0.0, None, "not a positive number"),
    ([0.5, 0.0, 0.1], -1.0, None, "not a positive number"),
    ([0.5, 0.0, 0.1], math.nan, None, "not a positive number"),
    ([0.5, 0.0, 0.1], math.inf, None, "not a positive number"),
    ([0.5, 0.0, 0.1], "soon", None, "not a positive number"),
    ([math.nan, 0.0, 0.0], 0.2, None, "not 3 finite numbers"),
    ([0.0, -math.inf, 0.0], 0.2, None, "not 3 finite numbers"),
    ([1.0, 2.0], 0.2, None, "not 3 finite numbers"),
]


@pytest.mark.parametrize(("action", "asked", "granted", "message"), POLICY_TABLE)
def test_policy_action_rules(action, asked, granted, message) -> None:
    command = check_policy_action(np.array(action), asked, TELEOP)
    if granted is None:
        assert command.action is None and message in command.error
        return
    assert command.error is None
    assert command.action.dtype == np.float32 and command.action.tolist() == pytest.approx(action)
    assert command.duration_s == pytest.approx(granted)
    assert (message in command.note) if message else command.note is None
