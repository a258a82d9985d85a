"""`SimWorld`: one MuJoCo model of a layout, stepped in simulated time, with collision and side tracking.

Owns the MuJoCo model/data, the conversion of a robot-frame twist (as sent to the base) into the
velocity actuators' world-frame targets, and offscreen rendering of the robot's camera. It is not
thread-safe and knows nothing of real time; `mvla_tui.sim.link.SimLink` adds the clock and locking.

Headless rendering: unless the caller set `MUJOCO_GL`, it is set before MuJoCo is imported, to `egl`
when libEGL is installed, else to `osmesa`; a backend MuJoCo cannot load (at import) or a renderer
that cannot start (at the first frame) raises a one-line `RobotLinkError` naming MUJOCO_GL. Libraries
that must be loaded before Mesa are loaded before MuJoCo (`mvla_tui.sim.native_order`).
"""

from __future__ import annotations

import ctypes.util
import math
import os

import numpy as np

from mvla_tui.robot.link import RobotLinkError
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import Layout
from mvla_tui.sim.native_order import load_before_renderer
from mvla_tui.sim.scene import scene_xml
from mvla_tui.sim.success import EpisodeResult, EpisodeTracker, Pose

if "MUJOCO_GL" not in os.environ:
    os.environ["MUJOCO_GL"] = "egl" if ctypes.util.find_library("EGL") else "osmesa"
load_before_renderer()  # before Mesa: with osmesa, importing MuJoCo opens it

try:
    import mujoco  # noqa: E402  (the backend must be chosen before the import)
except (RuntimeError, ImportError, AttributeError, OSError) as _exc:
    # MuJoCo loads the GL library of MUJOCO_GL at import: an unknown name is a RuntimeError, a
    # backend whose library is missing fails inside its bindings (ImportError, AttributeError).
    raise RobotLinkError(
        f"MUJOCO_GL={os.environ['MUJOCO_GL']!r}: MuJoCo cannot start that renderer ({_exc}); "
        "set MUJOCO_GL to egl, osmesa or glfw (one this machine has), or unset it to choose automatically"
    ) from None

_OBSTACLE_PREFIXES = ("box", "cup", "wall")


class SimWorld:
    def __init__(
        self, layout: Layout, config: SimConfig, width: int | None = None, height: int | None = None
    ):
        self.layout = layout
        self.config = config
        self.width = width or config.camera_width
        self.height = height or config.camera_height
        self.model = mujoco.MjModel.from_xml_string(scene_xml(layout, config, self.width, self.height))
        self.data = mujoco.MjData(self.model)
        names = [
            mujoco.mj_id2name(self.model, mujoco.mjtObj.mjOBJ_GEOM, i) or "" for i in range(self.model.ngeom)
        ]
        self._robot_geoms = {i for i, n in enumerate(names) if n.startswith("robot_")}
        self._obstacle_names = {i: n for i, n in enumerate(names) if n.startswith(_OBSTACLE_PREFIXES)}
        self._command = np.zeros(3)  # twist as sent, robot frame
        self._renderer: mujoco.Renderer | None = None
        self.tracker = EpisodeTracker(layout)
        mujoco.mj_forward(self.model, self.data)

    @property
    def time(self) -> float:
        """Simulated seconds since the episode started."""
        return float(self.data.time)

    def pose(self) -> Pose:
        x, y, yaw = self.data.qpos[:3]
        return Pose(float(x), float(y), float(yaw))

    def set_command(self, command: np.ndarray) -> None:
        """Robot-frame twist `[linear_x, linear_y, angular_z]` as sent to the base (see `SimConfig`)."""
        self._command = np.asarray(command, dtype=np.float64).copy()

    def step(self, seconds: float) -> None:
        """Advance the physics by `seconds` (at least one physics step, so time always moves), following
        the current command."""
        n = max(1, round(seconds / self.model.opt.timestep))
        cfg = self.config
        vx, vy, wz = self._command
        vx, vy, wz = vx * cfg.speed_per_unit, vy * cfg.speed_per_unit, wz * cfg.turn_rate_per_unit
        ctrl = self.data.ctrl
        for _ in range(n):
            yaw = self.data.qpos[2]
            c, s = math.cos(yaw), math.sin(yaw)
            # The actuators act on world-frame joints; the command is in the robot frame.
            ctrl[0] = c * vx - s * vy
            ctrl[1] = s * vx + c * vy
            ctrl[2] = wz
            mujoco.mj_step(self.model, self.data)
            self.tracker.update(self.pose(), self.time, self._touching())

    def _touching(self) -> str | None:
        contact = self.data.contact
        for i in range(self.data.ncon):
            g1, g2 = int(contact.geom1[i]), int(contact.geom2[i])
            if g1 in self._robot_geoms and g2 in self._obstacle_names:
                return self._obstacle_names[g2]
            if g2 in self._robot_geoms and g1 in self._obstacle_names:
                return self._obstacle_names[g1]
        return None

    def result(self) -> EpisodeResult:
        return self.tracker.result()

    def render(self) -> np.ndarray:
        """The robot camera's view now: RGB uint8 (height, width, 3)."""
        self.copy_scene()
        return self.draw()

    def copy_scene(self) -> None:
        """Copy what the camera sees from the physics state (fast; the caller holds the physics still).
        The renderer is created on first use, in the calling thread: its GL context belongs there."""
        if self._renderer is None:
            try:
                self._renderer = mujoco.Renderer(self.model, self.height, self.width)
            except (RuntimeError, mujoco.FatalError) as exc:
                backend = os.environ.get("MUJOCO_GL")
                raise RobotLinkError(
                    f"cannot render the sim camera with MUJOCO_GL={backend} ({exc}); "
                    "set MUJOCO_GL to egl, osmesa or glfw, whichever this machine has"
                ) from None
        self._renderer.update_scene(self.data, camera="front")

    def draw(self) -> np.ndarray:
        """Draw the scene last copied (slow in software: the physics may move on meanwhile)."""
        assert self._renderer is not None, "copy_scene() first"
        return self._renderer.render().copy()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None
