"""The camera panel's overlay: the policy's action drawn where an operator expects it (forward is up,
left is left, a turn bends an arc), on a copy, never on the camera's own frame."""

from __future__ import annotations

import numpy as np
import pytest

from mvla_tui.panels.camera import overlay_action
from mvla_tui.panels.format import arrow


def drawn(action) -> np.ndarray:
    frame = np.zeros((120, 160, 3), np.uint8)
    out = overlay_action(frame, action)
    assert not frame.any(), "the camera frame itself is never drawn on"
    return out.any(axis=2)


def test_forward_is_drawn_upwards_from_the_bottom_centre() -> None:
    mask = drawn((1.15, 0.0, 0.0))
    rows, cols = np.nonzero(mask)
    assert (
        rows.max() - rows.min() > 30 and rows.max() >= 100 and abs(cols.mean() - 80) < 5
    )  # from the bottom, up


@pytest.mark.parametrize(("action", "side"), [((0.0, 1.15, 0.0), "left"), ((0.0, -1.15, 0.0), "right")])
def test_sideways_is_drawn_to_its_side(action, side: str) -> None:
    cols = np.nonzero(drawn(action))[1]
    assert (cols.mean() < 70) if side == "left" else (cols.mean() > 90)


def test_a_turn_bends_an_arc_and_no_action_draws_nothing() -> None:
    assert drawn((0.0, 0.0, 1.15)).any()
    assert overlay_action(np.zeros((4, 4, 3), np.uint8), None).sum() == 0


@pytest.mark.parametrize(
    ("action", "symbol"),
    [((1.15, 0, 0), "↑"), ((-1.15, 1.15, 0), "↙"), ((0, 0, -1.15), "↻"), ((0.01, 0, 0), "■"), (None, " ")],
)
def test_the_arrow_of_an_action(action, symbol: str) -> None:
    assert arrow(action) == symbol
