"""The MJCF text of one layout: arena, floor, lights, boxes, cup and the holonomic robot with its camera.

Owns the scene description only; it does not load MuJoCo or step anything (`mvla_tui.sim.world`).
The robot is a box on three joints (slide x, slide y, hinge yaw) driven by velocity actuators, so it
follows a commanded planar velocity like an omni-wheel base. It floats 2 cm above the floor and the
floor collides with nothing, so every contact the robot has is a real collision with a box, the cup
or a wall.
"""

from __future__ import annotations

import math

from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import ARENA_X, ARENA_Y, CAMERA_HEIGHT, ROBOT_HALF_LENGTH, ROBOT_HALF_WIDTH, Layout

ROBOT_MASS = 6.0  # kg
VELOCITY_GAIN = 600.0  # N per m/s: time constant mass / gain = 10 ms, so the base tracks its command
YAW_GAIN = 12.0  # N m per rad/s, for a yaw inertia of about 0.12 kg m^2
CAMERA_PITCH_DEG = 12.0  # down from horizontal
WALL_HALF_THICKNESS = 0.05
WALL_HALF_HEIGHT = 0.4  # 0.8 m walls close the view like a room


def _v(values: tuple[float, ...] | list[float]) -> str:
    return " ".join(f"{v:.4f}" for v in values)


def scene_xml(layout: Layout, config: SimConfig, width: int, height: int) -> str:
    """MJCF for `layout`; offscreen buffers fit a `width` x `height` camera."""
    look = layout.look
    pitch = math.radians(CAMERA_PITCH_DEG)
    # Camera axes in the robot frame: image x to the robot's right, image y up and tilted forward,
    # so the camera looks along +x and slightly down.
    cam_axes = (0.0, -1.0, 0.0, math.sin(pitch), 0.0, math.cos(pitch))
    boxes = "\n".join(
        f'    <geom name="box{i}" type="box" pos="{_v((*b.center, b.half_size[2]))}" '
        f'size="{_v(b.half_size)}" rgba="{_v(b.rgba)}"/>'
        for i, b in enumerate(layout.boxes)
    )
    cup = layout.cup
    x0, x1 = ARENA_X
    y0, y1 = ARENA_Y
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    hx, hy = (x1 - x0) / 2 + WALL_HALF_THICKNESS, (y1 - y0) / 2 + WALL_HALF_THICKNESS
    t, h = WALL_HALF_THICKNESS, WALL_HALF_HEIGHT
    walls = [
        ("wall_back", (x0 - t, cy, h), (t, hy, h)),
        ("wall_front", (x1 + t, cy, h), (t, hy, h)),
        ("wall_right", (cx, y0 - t, h), (hx, t, h)),
        ("wall_left", (cx, y1 + t, h), (hx, t, h)),
    ]
    wall_xml = "\n".join(
        f'    <geom name="{name}" type="box" pos="{_v(pos)}" size="{_v(size)}" rgba="{_v(look.wall_rgba)}"/>'
        for name, pos, size in walls
    )
    hl, hw = ROBOT_HALF_LENGTH, ROBOT_HALF_WIDTH
    floor_size = max(hx, hy) + 1.0
    return f"""<mujoco model="mvla_{layout.scenario}_{layout.distance}_{layout.seed}">
  <compiler angle="radian"/>
  <option timestep="{config.timestep_s}" integrator="implicitfast" gravity="0 0 -9.81"/>
  <visual>
    <global offwidth="{max(width, 64)}" offheight="{max(height, 64)}"/>
    <headlight ambient="{_v((look.ambient,) * 3)}" diffuse="0.2 0.2 0.2" specular="0 0 0"/>
    <quality shadowsize="2048" offsamples="{config.multisamples}"/>
  </visual>
  <asset>
    <texture name="sky" type="skybox" builtin="gradient" rgb1="0.75 0.75 0.78" rgb2="0.45 0.45 0.5"
             width="64" height="64"/>
    <texture name="floor" type="2d" builtin="{look.floor_builtin}" rgb1="{_v(look.floor_rgb1)}"
             rgb2="{_v(look.floor_rgb2)}" mark="random" random="{look.floor_noise:.4f}"
             markrgb="{_v(look.floor_rgb2)}" width="256" height="256"/>
    <material name="floor" texture="floor" texrepeat="{look.floor_repeat * floor_size:.3f} {look.floor_repeat * floor_size:.3f}"/>
  </asset>
  <worldbody>
    <light name="sun" directional="true" castshadow="{str(config.shadows).lower()}" pos="0 0 4" dir="{_v(look.light_dir)}"
           diffuse="{_v((look.light_diffuse,) * 3)}" specular="0.1 0.1 0.1"/>
    <geom name="floor" type="plane" size="{floor_size:.3f} {floor_size:.3f} 0.1" material="floor"
          contype="0" conaffinity="0"/>
{wall_xml}
{boxes}
    <geom name="cup" type="cylinder" pos="{_v((*cup.center, cup.half_height))}"
          size="{cup.radius:.4f} {cup.half_height:.4f}" rgba="{_v(cup.rgba)}"/>
    <body name="robot" pos="0 0 0.02">
      <joint name="x" type="slide" axis="1 0 0"/>
      <joint name="y" type="slide" axis="0 1 0"/>
      <joint name="yaw" type="hinge" axis="0 0 1"/>
      <geom name="robot_base" type="box" pos="0 0 0.06" size="{hl} {hw} 0.06" mass="{ROBOT_MASS}"
            rgba="0.15 0.15 0.18 1"/>
      <geom name="robot_mast" type="box" pos="{hl - 0.03:.3f} 0 0.16" size="0.02 0.04 0.06" mass="0.2"
            rgba="0.3 0.3 0.3 1"/>
      <camera name="front" pos="{hl + 0.005:.3f} 0 {CAMERA_HEIGHT - 0.02:.3f}" xyaxes="{_v(cam_axes)}"
              fovy="{config.fovy_deg(width, height):.3f}"/>
    </body>
  </worldbody>
  <actuator>
    <velocity name="vx" joint="x" kv="{VELOCITY_GAIN}"/>
    <velocity name="vy" joint="y" kv="{VELOCITY_GAIN}"/>
    <velocity name="wz" joint="yaw" kv="{YAW_GAIN}"/>
  </actuator>
</mujoco>
"""
