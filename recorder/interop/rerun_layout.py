"""The look of `mvla dataset view`'s recording: the blueprint (one tab per episode: camera beside the
top-down view, action plot, events and info) and the top-down drawing of an action in the robot frame
(REP 103: x forward drawn up, y left drawn left, one view unit per key unit; an arc for angular_z,
counter-clockwise positive). What is logged, and from which file, is `rerun_view`'s. The `rerun` package
is imported only inside the functions that draw with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from recorder.catalogue import KEY_SPEED

if TYPE_CHECKING:
    import rerun as rr
    import rerun.blueprint as rrb

_VIEW_BOUND = 1.8  # the top-down view shows +-1.8 key units: a diagonal press (1.15, 1.15) fits
_ROBOT_RADIUS = 0.3
_TURN_RADIUS = 0.55
_TURN_SWEEP = math.pi / 2  # the arc of a full-speed rotation (1.15)


def blueprint(entities: Sequence[str]) -> rrb.Blueprint:
    """One tab per episode: camera beside a column of the top-down view, action plot, events and info."""
    import rerun.blueprint as rrb

    bound = [-_VIEW_BOUND, _VIEW_BOUND]
    tabs = [
        rrb.Horizontal(
            rrb.Spatial2DView(origin=f"{e}/camera", name="camera"),
            rrb.Vertical(
                rrb.Horizontal(
                    rrb.Spatial2DView(
                        origin=f"{e}/top_down",
                        name="action from above: x forward (up), y left",
                        visual_bounds=rrb.VisualBounds2D(x_range=bound, y_range=bound),
                    ),
                    rrb.TextDocumentView(origin=f"{e}/info", name="episode"),
                ),
                rrb.TimeSeriesView(origin=f"{e}/action", name="action (key units)"),
                rrb.TextLogView(origin=f"{e}/events", name="events"),
                row_shares=[3, 2, 2],
            ),
            column_shares=[3, 2],
            name=e.rsplit("/", 1)[-1],
        )
        for e in entities
    ]
    # `frame` first: every file has it (only some have `time`); about the pace at which keys were pressed.
    return rrb.Blueprint(
        rrb.Tabs(*tabs),
        rrb.TimePanel(timeline="frame", fps=2.0),
        rrb.SelectionPanel(state="collapsed"),
        collapse_panels=False,
    )


def top_down_vector(action: np.ndarray) -> list[float]:
    """The (linear_x, linear_y) of an action in the top-down view's pixel-style axes (x right, y down):
    forward is up, left is left."""
    return [-float(action[1]), -float(action[0])]


def turn_arc(angular_z: float, points: int = 16) -> np.ndarray | None:
    """An arc from the robot's front, swept counter-clockwise (seen from above) for a positive angular_z,
    a quarter turn for a full-speed press; None when there is no rotation."""
    if abs(angular_z) < 1e-6:
        return None
    sweep = _TURN_SWEEP * max(-2.0, min(2.0, angular_z / KEY_SPEED))
    theta = np.linspace(0.0, sweep, points)
    # The robot-frame point (cos t, sin t) in the view's axes is (-sin t, -cos t).
    return np.stack([-np.sin(theta), -np.cos(theta)], axis=1) * _TURN_RADIUS


def log_robot(rec: rr.RecordingStream, entity: str) -> None:
    """The robot seen from above (static): its outline and its axes, x forward (up) and y left (left)."""
    import rerun as rr

    theta = np.linspace(0.0, 2 * math.pi, 33)
    outline = np.stack([np.cos(theta), np.sin(theta)], axis=1) * _ROBOT_RADIUS
    grey = (150, 150, 150)
    rec.log(f"{entity}/robot", rr.LineStrips2D([outline], colors=[grey], radii=[0.01]), static=True)
    rec.log(
        f"{entity}/axes",
        rr.Arrows2D(
            origins=[[0.0, 0.0], [0.0, 0.0]],
            vectors=[
                top_down_vector(np.array([_ROBOT_RADIUS, 0.0])),
                top_down_vector(np.array([0.0, _ROBOT_RADIUS])),
            ],
            labels=["x", "y"],
            colors=[grey, grey],
            radii=[0.015],
        ),
        static=True,
    )
