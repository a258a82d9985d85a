"""Seeded layouts of the obstacle scenarios: where the boxes and the cup stand, and how the scene looks.

Owns the geometry and its randomisation as plain numbers; it imports no MuJoCo (the expert and the
success check plan with it too) and builds no scene (`mvla_tui.sim.scene` does).

World frame (REP 103): the robot starts at the origin facing +x; +y is left. Scales, chosen to look
like the real set-up; the scripted expert takes about 12-20 key presses per scenario (core style):
- robot: 0.36 m long, 0.32 m wide; its camera sits 0.25 m high at the front;
- one key press (1.15 at throttle 50% for 0.4 s) moves 0.17 m (see `SimConfig`);
- obstacle distance, from the robot's front to the obstacle's near face: close 0.35 m, medium 0.60 m,
  far 0.85 m (each +-0.05 m);
- a box is 0.20-0.28 m deep and 0.34-0.46 m wide ("hori": its long side across the path) or the
  other way round ("vert": long side along the path); "2box" puts two boxes side by side across the
  path for "hori" (a wider obstacle: more side steps to pass it) or one behind the other for "vert"
  (a longer obstacle); boxes are 0.24-0.40 m high;
- the cup (the target) stands 0.90-1.10 m behind the obstacle, in line with it (+-0.03 m);
- position bias shifts the obstacle and cup across the path: left +0.12 m, center 0, right -0.12 m
  (+-0.04 m), so the obstacle sits left, centre or right in the camera image;
- the arena is a walled floor 4.5 m x 3.2 m.

What a scenario id means (boxes, layout, side) and which distances exist come from the catalogue
(`recorder.catalogue`); its order of ids and distances seeds the layouts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from configs import ConfigError
from recorder.catalogue import load_catalogue

ROBOT_HALF_LENGTH = 0.18  # m
ROBOT_HALF_WIDTH = 0.16  # m
CAMERA_HEIGHT = 0.25  # m
ARENA_X = (-1.0, 3.5)  # m, inner faces of the walls
ARENA_Y = (-1.6, 1.6)

BIASES = ("left", "center", "right")

_DISTANCE_M = {"close": 0.35, "medium": 0.60, "far": 0.85}
_BIAS_M = {"left": 0.12, "center": 0.0, "right": -0.12}


@dataclass(frozen=True)
class Box:
    center: tuple[float, float]  # m, world x, y of the box centre on the floor
    half_size: tuple[float, float, float]  # m, half extents along x, y, z
    rgba: tuple[float, float, float, float]

    @property
    def x_range(self) -> tuple[float, float]:
        return self.center[0] - self.half_size[0], self.center[0] + self.half_size[0]

    @property
    def y_range(self) -> tuple[float, float]:
        return self.center[1] - self.half_size[1], self.center[1] + self.half_size[1]


@dataclass(frozen=True)
class Cup:
    center: tuple[float, float]  # m
    radius: float  # m
    half_height: float  # m
    rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class Look:
    """Everything random about the appearance: floor texture and lighting."""

    floor_builtin: str  # MuJoCo texture builtin: "checker", "gradient" or "flat"
    floor_rgb1: tuple[float, float, float]
    floor_rgb2: tuple[float, float, float]
    floor_repeat: float  # texture repeats per metre
    floor_noise: float  # fraction of random speckle pixels
    light_dir: tuple[float, float, float]
    light_diffuse: float
    ambient: float
    wall_rgba: tuple[float, float, float, float]


@dataclass(frozen=True)
class Layout:
    scenario: str
    nbox: int  # 1 or 2
    orientation: str  # "hori" or "vert"
    side: str  # "left" or "right": the side to pass the obstacle on
    distance: str
    bias: str
    seed: int
    boxes: tuple[Box, ...]
    cup: Cup
    look: Look

    @property
    def obstacle_x(self) -> tuple[float, float]:
        """Near and far face of the whole obstacle (all boxes), m along x."""
        return min(b.x_range[0] for b in self.boxes), max(b.x_range[1] for b in self.boxes)

    @property
    def obstacle_y(self) -> tuple[float, float]:
        return min(b.y_range[0] for b in self.boxes), max(b.y_range[1] for b in self.boxes)

    @property
    def obstacle_center_y(self) -> float:
        lo, hi = self.obstacle_y
        return (lo + hi) / 2.0


def _check_words(scenario: str, distance: str, bias: str) -> None:
    """A `ConfigError` naming the first word that is no scenario id or distance of the catalogue, or no bias."""
    catalogue = load_catalogue()
    for what, word, known in (
        ("scenario", scenario, catalogue.ids),
        ("distance", distance, catalogue.distances),
        ("position bias", bias, BIASES),
    ):
        if word not in known:
            raise ConfigError(f"unknown {what} {word!r}; known: {', '.join(known)}")


def make_layout(scenario: str, distance: str = "medium", bias: str = "center", seed: int = 0) -> Layout:
    """The layout of `scenario` at `distance` with position `bias`; the same seed gives the same layout."""
    _check_words(scenario, distance, bias)
    catalogue = load_catalogue()
    spec = catalogue.get(scenario)
    nbox, orientation, side = spec.boxes, spec.layout, spec.side
    # The catalogue's order is part of the seed: a layout stays the same as long as the ids keep their places.
    rng = np.random.default_rng(
        [seed, catalogue.ids.index(scenario), catalogue.distances.index(distance), BIASES.index(bias)]
    )

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    near = ROBOT_HALF_LENGTH + _DISTANCE_M[distance] + u(-0.05, 0.05)
    center_y = _BIAS_M[bias] + u(-0.04, 0.04)
    boxes: list[Box] = []
    if nbox == 1:
        long_half, short_half = u(0.17, 0.23), u(0.10, 0.14)
        hx, hy = (short_half, long_half) if orientation == "hori" else (long_half, short_half)
        boxes.append(Box((near + hx, center_y), (hx, hy, u(0.12, 0.20)), _box_colour(rng)))
    elif orientation == "hori":
        gap = u(0.0, 0.04)
        halves = [(u(0.10, 0.14), u(0.12, 0.16)) for _ in range(2)]
        width = sum(2 * hy for _, hy in halves) + gap
        y = center_y + width / 2.0
        for hx, hy in halves:
            boxes.append(Box((near + hx, y - hy), (hx, hy, u(0.12, 0.20)), _box_colour(rng)))
            y -= 2 * hy + gap
    else:
        x = near
        for _ in range(2):
            hx, hy = u(0.10, 0.14), u(0.15, 0.20)
            boxes.append(Box((x + hx, center_y + u(-0.02, 0.02)), (hx, hy, u(0.12, 0.20)), _box_colour(rng)))
            x += 2 * hx + u(0.0, 0.05)
    far_face = max(b.x_range[1] for b in boxes)
    cup = Cup(
        center=(far_face + u(0.90, 1.10), center_y + u(-0.03, 0.03)),
        radius=u(0.035, 0.045),
        half_height=u(0.05, 0.07),
        rgba=(u(0.6, 1.0), u(0.0, 0.3), u(0.0, 0.3), 1.0),
    )
    return Layout(scenario, nbox, orientation, side, distance, bias, seed, tuple(boxes), cup, _look(rng))


def _box_colour(rng: np.random.Generator) -> tuple[float, float, float, float]:
    # Mostly cardboard-like browns, sometimes a painted box, so the policy cannot key on one colour.
    if rng.uniform() < 0.6:
        base = rng.uniform(0.45, 0.75)
        return (base, base * rng.uniform(0.7, 0.8), base * rng.uniform(0.45, 0.6), 1.0)
    r, g, b = rng.uniform(0.1, 0.9, size=3)
    return (float(r), float(g), float(b), 1.0)


def _look(rng: np.random.Generator) -> Look:
    builtin = str(rng.choice(["checker", "gradient", "flat"]))
    tone = rng.uniform(0.25, 0.7)
    rgb1 = tuple(float(v) for v in np.clip(tone + rng.uniform(-0.1, 0.1, size=3), 0, 1))
    rgb2 = tuple(float(v) for v in np.clip(np.array(rgb1) * rng.uniform(0.6, 0.9), 0, 1))
    azimuth, elevation = rng.uniform(0, 2 * np.pi), rng.uniform(np.radians(35), np.radians(85))
    light_dir = (
        float(np.cos(elevation) * np.cos(azimuth)),
        float(np.cos(elevation) * np.sin(azimuth)),
        float(-np.sin(elevation)),
    )
    wall = rng.uniform(0.5, 0.9)
    return Look(
        floor_builtin=builtin,
        floor_rgb1=rgb1,  # type: ignore[arg-type]
        floor_rgb2=rgb2,  # type: ignore[arg-type]
        floor_repeat=float(rng.uniform(0.5, 3.0)),
        floor_noise=float(rng.uniform(0.0, 0.05)),
        light_dir=light_dir,
        light_diffuse=float(rng.uniform(0.4, 0.9)),
        ambient=float(rng.uniform(0.25, 0.5)),
        wall_rgba=(
            float(wall),
            float(wall * rng.uniform(0.9, 1.0)),
            float(wall * rng.uniform(0.85, 1.0)),
            1.0,
        ),
    )
