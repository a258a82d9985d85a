"""The camera panel: the policy's action drawn where an operator expects it (forward is up,
left is left, a turn bends an arc), on a copy, never on the camera's own frame."""

from __future__ import annotations

import numpy as np
import pytest

from mvla_tui.panels.camera import overlay_action
from mvla_tui.panels.format import arrow
from mvla_tui.robot.link import Frame


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


@pytest.mark.asyncio
async def test_a_new_frame_of_the_same_size_repaints_the_image_without_a_layout_of_the_screen(
    monkeypatch,
) -> None:
    """textual-image lays out the whole screen for every new image; the camera panel keeps that for a frame
    whose size changed and only repaints for the next frame of a stream: the picture changes all the same."""
    from textual.app import App
    from textual.widget import Widget

    from mvla_tui.panels.camera import CameraPanel, _frame_image_class

    layouts: list[tuple[int, int]] = []
    refresh = Widget.refresh

    def spy(self, *regions, repaint=True, layout=False, recompose=False):
        if isinstance(self, _frame_image_class()) and layout and self.image is not None:
            layouts.append(self.image.size)
        return refresh(self, *regions, repaint=repaint, layout=layout, recompose=recompose)

    monkeypatch.setattr(Widget, "refresh", spy)

    class Shows(App):
        def compose(self):
            yield CameraPanel(graphics=True, id="camera")

    def frame(colour: tuple[int, int, int], w: int = 64, h: int = 48) -> Frame:
        return Frame(np.full((h, w, 3), colour, np.uint8), stamp=0.0)

    app = Shows()
    async with app.run_test(size=(60, 30)) as pilot:
        panel = app.query_one(CameraPanel)
        image = app.query_one("#camera-image")
        panel.frame = frame((250, 0, 0))
        await pilot.pause()
        red = image.render_lines(image.region.reset_offset)
        panel.frame = frame((0, 0, 250))
        await pilot.pause()
        blue = image.render_lines(image.region.reset_offset)
        panel.frame = frame((0, 250, 0), w=32, h=48)
        await pilot.pause()
    assert layouts == [(64, 48), (32, 48)]  # the first frame and the one of another size, not the second
    assert red != blue  # the second frame was drawn
