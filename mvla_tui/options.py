"""Command-line options that several `mvla` commands share, defined once: `--set KEY=VALUE` and `--robot`.

Only argparse here (the parsers are built for `mvla --help`, so nothing heavy may be imported); what the
values mean is `configs.apply_overrides` and `mvla_tui.robot.links.choose_robot`.
"""

from __future__ import annotations

import argparse

from mvla_tui.robot.links import ROBOT_CHOICES


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
