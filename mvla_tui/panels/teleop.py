"""`TeleopPanel`: the operators' key map, the twist being sent, the throttle and the teleop mode."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from mvla_tui.panels.format import triple
from mvla_tui.robot.state import RobotState
from recorder.catalogue import KEYMAP

_ARROWS = (("↖", "↑", "↗"), ("←", "■", "→"), ("↙", "↓", "↘"), ("↺", "", "↻"))


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def key_rows() -> list[list[str]]:
    """The key map as a keyboard lays it out: each key where its motion points (forward up, left left, the
    stop key in the middle), the two rotations on a row below."""
    rows = [["", "", ""] for _ in _ARROWS]
    for key, (x, y, z) in KEYMAP.items():
        row, col = (3, 1 - _sign(z)) if z else (1 - _sign(x), 1 - _sign(y))
        rows[row][col] = f"{key} {_ARROWS[row][col]}"
    return rows


class TeleopPanel(Static):
    robot: reactive[RobotState | None] = reactive(None)

    def watch_robot(self, robot: RobotState | None) -> None:
        self.update(self._render_panel(robot), layout=False)  # fixed height (app.tcss)

    def on_mount(self) -> None:
        self.border_title = "Teleop"
        self.update(self._render_panel(None))

    def _render_panel(self, robot: RobotState | None) -> Table:
        grid = Table.grid(padding=(0, 2))
        grid.add_column()
        grid.add_column()
        keys = Table.grid(padding=(0, 1))
        for row in key_rows():
            keys.add_row(*row)
        info = Text()
        if robot is None:
            info.append("connecting...")
        else:
            moving = f"moving ({robot.source})" if robot.moving else "still"
            info.append(f"mode    {robot.mode}\n")
            info.append(f"throttle {robot.throttle}%  (f slower, g faster)\n")
            info.append(
                f"sent    {triple((robot.twist.linear_x, robot.twist.linear_y, robot.twist.angular_z))}\n"
            )
            info.append(f"        {moving}\n")
            info.append(robot.last_error or "", style="yellow")  # its line is always there
        grid.add_row(keys, info)
        return grid
