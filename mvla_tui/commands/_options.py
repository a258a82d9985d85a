"""Command-line options that several `mvla` commands share, defined once: `--set KEY=VALUE`, `--robot`,
`--runtime`, and the few rules that turn their values into a config: a `WxH` size (`parse_size`, always
(width, height)), a sim robot config at a camera size (`with_camera_size`), and the app's real-time sim
unless `--set sim.realtime` says otherwise (`realtime_sim`).

Only argparse and dataclasses here (the parsers are built for `mvla --help`, so nothing heavy may be
imported); what the values mean is `configs.apply_overrides` and `mvla_tui.robot.links.choose_robot`.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from configs import ConfigError
from mvla_tui.robot.links import ROBOT_CHOICES

if TYPE_CHECKING:
    from mvla_tui.robot.config import RobotConfig


def add_set_option(parser: argparse.ArgumentParser, what: str, example: str) -> None:
    """`--set KEY=VALUE` (repeatable) into `args.overrides`: a dotted key of `what`."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a field of {what} (repeatable; dotted keys), e.g. {example}",
    )


def add_robot_option(parser: argparse.ArgumentParser, default: str = "auto") -> None:
    """`--robot auto|ros2|sim|fake` and `--robot-config FILE`."""
    parser.add_argument(
        "--robot",
        choices=ROBOT_CHOICES,
        default=default,
        help="the robot to drive: ros2 (the real one), sim (MuJoCo), fake (tests), or auto: ros2 when ROS 2 "
        f"is sourced, else the simulator, saying so (default {default})",
    )
    parser.add_argument(
        "--robot-config",
        metavar="FILE",
        help="a robot config YAML (default: the packaged configs/robot/<kind>.yaml); its kind must match --robot",
    )


RUNTIME_CHOICES = ("torch", "onnx", "trt")


def add_runtime_option(parser: argparse.ArgumentParser) -> None:
    """`--runtime torch|onnx|trt` and `--export DIR` (`policies.export.exported`)."""
    parser.add_argument(
        "--runtime",
        choices=RUNTIME_CHOICES,
        default="torch",
        help="what computes the policy: torch (default), onnx (ONNX Runtime) or trt (TensorRT engines) "
        "on the graphs of `mvla export`; the runtime's window, ensembling, clamping and stops are the same",
    )
    parser.add_argument(
        "--export",
        metavar="DIR",
        help="the export folder for --runtime onnx|trt (default: CKPT/onnx, or CKPT/tensorrt for trt, "
        "where `mvla export` writes); it must have been exported from this checkpoint",
    )


def parse_size(text: str, option: str, example: str = "1280x720") -> tuple[int, int]:
    """`WIDTHxHEIGHT` (e.g. 1280x720) -> (width, height), in the order it is written; a one-line
    `ConfigError` naming `option` otherwise. Frames are shaped (height, width): swap where they are made."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match or min(int(match[1]), int(match[2])) < 1:
        raise ConfigError(f"{option} {text!r}: expected WIDTHxHEIGHT in pixels, e.g. {example}")
    return int(match[1]), int(match[2])


def with_camera_size(config: RobotConfig, size: str, option: str = "--size") -> RobotConfig:
    """The sim robot `config` with its camera at `size` (WxH); the range is `SimConfig`'s own check."""
    width, height = parse_size(size, option)
    try:
        sim = dataclasses.replace(config.sim, camera_width=width, camera_height=height)
    except ValueError as exc:
        raise ConfigError(f"{option} {size!r}: {exc}") from None
    return dataclasses.replace(config, sim=sim)


def realtime_sim(config: RobotConfig, overrides: Sequence[str]) -> RobotConfig:
    """`config` as the app and `mvla drive` run it: a sim on the wall clock, unless a `--set sim.realtime=`
    override (any value, as YAML reads it: false, no, off) already decided."""
    if config.kind != "sim" or any(o.replace(" ", "").startswith("sim.realtime=") for o in overrides):
        return config
    return dataclasses.replace(config, sim=dataclasses.replace(config.sim, realtime=True))
