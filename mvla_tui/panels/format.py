"""Plain-text formatting of actions and latencies shared by the panels (telemetry figures have their own,
`mvla_tui.telemetry.format`). No widgets, no textual."""

from __future__ import annotations

from collections.abc import Sequence


def triple(values: Sequence[float] | None, digits: int = 2) -> str:
    """`[+0.58 +0.00 -0.10]`, or `-` when unknown."""
    if values is None:
        return "-"
    return "[" + " ".join(f"{v:+.{digits}f}" for v in values) + "]"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def arrow(action: Sequence[float] | None) -> str:
    """The direction of an action as an arrow (robot frame: x forward = up, y left = left), with ↺/↻."""
    if action is None:
        return " "
    x, y, z = action[0], action[1], action[2]
    threshold = 0.1
    if abs(x) < threshold and abs(y) < threshold:
        if abs(z) < threshold:
            return "■"
        return "↺" if z > 0 else "↻"
    vertical = "up" if x > threshold else "down" if x < -threshold else ""
    horizontal = "left" if y > threshold else "right" if y < -threshold else ""
    return {
        ("up", ""): "↑",
        ("down", ""): "↓",
        ("", "left"): "←",
        ("", "right"): "→",
        ("up", "left"): "↖",
        ("up", "right"): "↗",
        ("down", "left"): "↙",
        ("down", "right"): "↘",
    }[(vertical, horizontal)]
