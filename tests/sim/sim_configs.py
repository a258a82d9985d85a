"""Robot configs of kind sim for tests: a layout, a small camera, simulated time unless asked."""

from __future__ import annotations

import dataclasses

from mvla_tui.robot.config import RobotConfig
from mvla_tui.sim.config import SimConfig


def sim_config(
    scenario: str = "1box_left",
    distance: str = "medium",
    bias: str = "center",
    seed: int = 0,
    width: int = 32,
    height: int = 32,
    realtime: bool = False,
    **robot: object,
) -> RobotConfig:
    sim = SimConfig(
        scenario=scenario,
        distance=distance,
        bias=bias,
        seed=seed,
        camera_width=width,
        camera_height=height,
        realtime=realtime,
    )
    return dataclasses.replace(RobotConfig(kind="sim"), sim=sim, **robot)
