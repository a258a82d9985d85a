"""`CameraPanel`: the live camera image in the terminal (textual-image: Kitty or Sixel graphics where the
terminal has them, coloured half-blocks otherwise), with the policy's current action drawn as an arrow
when a policy drives. The app hands it frames a few times a second; `shown = False` hides the image so a
slow SSH link stays responsive."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from mvla_tui.robot.link import Frame
from recorder.catalogue import KEY_SPEED

if TYPE_CHECKING:
    from PIL import Image as PILImage


def overlay_action(image: np.ndarray, action: tuple[float, float, float] | None) -> np.ndarray:
    """A copy of `image` with `action` (key units, robot frame) drawn as an arrow from the bottom centre:
    forward is up, left is left; turning bends a short arc."""
    if action is None:
        return image
    import cv2

    out = image.copy()
    h, w = out.shape[:2]
    start = (w // 2, int(h * 0.9))
    scale = 0.35 * min(h, w) / KEY_SPEED  # a full press spans 35 % of the frame
    end = (int(start[0] - action[1] * scale), int(start[1] - action[0] * scale))
    thickness = max(2, min(h, w) // 60)
    if end != start:
        cv2.arrowedLine(out, start, end, (255, 220, 0), thickness, tipLength=0.25)
    if abs(action[2]) > 0.05:
        radius = max(6, min(h, w) // 10)
        sweep = int(90 * min(1.0, abs(action[2]) / KEY_SPEED))
        begin, stop = (270 - sweep, 270) if action[2] > 0 else (270, 270 + sweep)
        cv2.ellipse(out, start, (radius, radius), 0, begin, stop, (255, 120, 0), thickness)
    return out


@functools.cache
def _frame_image_class() -> type:
    """textual-image's `Image`, told that a camera's frames keep their size. Its `image` setter asks for a
    layout of the whole screen on every new image (the size might have changed): with a frame 4 times a
    second that was about a third of the UI thread's work while a policy drove, time in which the policy's
    thread waits for the GIL. A frame of the size of the one before only repaints the image. Imported on
    first use: textual-image asks the terminal about its graphics when it is imported."""
    from textual_image.widget import Image

    # Renderable: the renderer textual-image chose for this terminal (Kitty, Sixel or half-cells).
    class FrameImage(Image, Renderable=Image._Renderable):
        _same_size = False

        def show(self, image: PILImage.Image) -> None:
            self._same_size = self.image is not None and getattr(self.image, "size", None) == image.size
            try:
                self.image = image
            finally:
                self._same_size = False

        def refresh(self, *regions, repaint: bool = True, layout: bool = False, recompose: bool = False):
            return super().refresh(
                *regions, repaint=repaint, layout=layout and not self._same_size, recompose=recompose
            )

    return FrameImage


class CameraPanel(Vertical):
    shown = reactive(True)
    frame: reactive[Frame | None] = reactive(None, always_update=True)
    action: reactive[tuple[float, float, float] | None] = reactive(None)

    def __init__(self, graphics: bool = True, **kwargs) -> None:
        """`graphics=False` draws no image at all (tests and snapshots: the terminal's graphics differ)."""
        super().__init__(**kwargs)
        self.graphics = graphics
        self._image = None
        self._caption = Static("waiting for the camera...", id="camera-caption")

    def compose(self) -> ComposeResult:
        yield self._caption
        if self.graphics:
            self._image = _frame_image_class()(id="camera-image")
            yield self._image

    def on_mount(self) -> None:
        self.border_title = "Camera"

    def watch_shown(self, shown: bool) -> None:
        if self._image is not None:
            self._image.display = shown
        if not shown:
            self._caption.update("camera hidden (ctrl+t shows it)")

    def watch_frame(self, frame: Frame | None) -> None:
        if frame is None or not self.shown or not self.is_mounted:
            return
        h, w = frame.image.shape[:2]
        label = "SYNTHETIC (fake robot)" if frame.synthetic else "camera"
        self._caption.update(f"{label} {w}x{h}  t={frame.stamp:.1f}", layout=False)  # one line
        if self._image is not None:
            from PIL import Image as PILImage

            self._image.show(PILImage.fromarray(overlay_action(frame.image, self.action)))
