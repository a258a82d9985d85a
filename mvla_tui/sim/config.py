"""`SimConfig`: the tunable numbers of the simulator, the `sim:` section of a robot config
(`configs/robot/sim.yaml`; the defaults are the dataclass's, in one place).

Action units to motion: an operator's key press is recorded as 1.15 and sent scaled by the control
loop's throttle (`teleop.throttle`, 50 % by default, like the collector's): a twist of 0.575 m/s (or
rad/s) for `teleop.step_s` = 0.4 s. A real base does not cover the full 0.575 m/s x 0.4 s = 0.23 m: it
ramps up, brakes to a stop and its wheels slip. `speed_per_unit` and `turn_rate_per_unit` (base speed
per unit of twist) model that; at 0.75 one press moves the base 0.17 m sideways or forward, or turns
it 0.17 rad (10 deg). The 0.75 is an assumption, not a measurement of the robot (set it to a measured
press distance / 0.23 m); it was chosen so that a typical scripted episode has the 18 frames the data
targets (1 start + 17 presses).

`scenario`, `distance`, `bias` and `seed` choose the layout the sim link builds (`make_layout`);
`realtime` runs the physics on the wall clock (the app, `eval --realtime`) instead of in simulated time
(collection, evaluation); the camera is then drawn on demand (`mvla_tui.sim.link`). Owns only the dataclass and its validation; the scene geometry (robot, boxes, cup, arena)
is fixed in `mvla_tui.sim.layout`, whose docstring explains the scales. Imports no MuJoCo.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mvla_tui.sim.layout import BIASES
from recorder.catalogue import load_catalogue


@dataclass(frozen=True)
class SimConfig:
    scenario: str = "1box_left"  # any id of the catalogue, current or older
    distance: str = "medium"  # close | medium | far
    bias: str = "center"  # left | center | right: where the obstacle stands across the path
    seed: int = 0  # the same seed gives the same layout and looks
    realtime: bool = False  # physics on the wall clock (the app) instead of in simulated time
    speed_per_unit: float = 0.75  # m/s of base speed per unit of linear twist (see above)
    turn_rate_per_unit: float = 0.75  # rad/s of base turn rate per unit of angular twist
    timestep_s: float = 0.005
    camera_width: int = 1280
    camera_height: int = 720
    camera_hfov_deg: float = 90.0  # horizontal: a 224x224 image sees as wide as a 1280x720 one
    shadows: bool = True
    multisamples: int = 0  # anti-aliasing; expensive with a software renderer
    realtime_fps: float = 15.0  # real time: at most this many frames a second for readers of any recent frame
    render_threads: int | None = 1  # real time: Mesa's software rasteriser threads (None: one per core)
    max_presses: int = 40  # the scripted expert gets at most this many presses (a policy: policy.max_steps)

    def __post_init__(self) -> None:
        # YAML reads .nan and .inf as floats, and every comparison with NaN is False: a plain
        # `<= 0` check would let them through into the physics.
        for name in (
            "speed_per_unit",
            "turn_rate_per_unit",
            "timestep_s",
            "realtime_fps",
        ):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"sim.{name} must be a finite number > 0, got {value}")
        if self.seed < 0:
            raise ValueError(f"sim.seed must be >= 0, got {self.seed}")
        catalogue = load_catalogue()
        for name, known in (("scenario", catalogue.ids), ("distance", catalogue.distances), ("bias", BIASES)):
            if getattr(self, name) not in known:
                raise ValueError(
                    f"sim.{name} {getattr(self, name)!r} is unknown; use one of {', '.join(known)}"
                )
        if not (16 <= self.camera_width <= 4096 and 16 <= self.camera_height <= 4096):
            raise ValueError(
                f"sim camera size must be 16..4096 pixels, got {self.camera_width}x{self.camera_height}"
            )
        if not 10.0 <= self.camera_hfov_deg <= 150.0:
            raise ValueError(f"sim.camera_hfov_deg must be 10..150, got {self.camera_hfov_deg}")
        if not 0 <= self.multisamples <= 16:
            raise ValueError(f"sim.multisamples must be 0..16, got {self.multisamples}")
        if self.render_threads is not None and not 0 <= self.render_threads <= 64:
            raise ValueError(f"sim.render_threads must be 0..64 or null, got {self.render_threads}")
        if self.max_presses <= 0:
            raise ValueError(f"sim.max_presses must be positive, got {self.max_presses}")

    def fovy_deg(self, width: int, height: int) -> float:
        """MuJoCo's (vertical) field of view giving `camera_hfov_deg` across a `width` x `height` image."""
        half = math.radians(self.camera_hfov_deg) / 2
        return math.degrees(2 * math.atan(math.tan(half) * height / width))

    def key_motion(self, action: np.ndarray, throttle: float, step_s: float) -> np.ndarray:
        """Robot-frame displacement `[dx m, dy m, dyaw rad]` of one key press recording `action`, sent at
        `throttle` (a fraction, 0.5 for 50 %) for `step_s` seconds."""
        scale = np.array([self.speed_per_unit, self.speed_per_unit, self.turn_rate_per_unit])
        return np.asarray(action, dtype=np.float64) * throttle * scale * step_s
