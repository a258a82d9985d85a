"""Conversions between ROS 2 messages and our values, and the choices a ROS 2 link makes from its config.

Everything here is pure: message classes and objects are passed in (duck-typed), so this module imports no
rclpy and is tested without ROS 2. It must not create nodes, publishers or threads.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from mvla_tui.robot.config import CameraConfig, Ros2Config
from mvla_tui.robot.images import compressed_to_rgb, raw_to_rgb
from mvla_tui.robot.link import RobotLinkError, Twist

CameraMode = Literal["service", "topic", "opencv", "none"]


def twist_to_msg(twist: Twist, msg_class: Any) -> Any:
    """A `geometry_msgs/Twist` message of `msg_class` for our twist."""
    msg = msg_class()
    msg.linear.x = float(twist.linear_x)
    msg.linear.y = float(twist.linear_y)
    msg.angular.z = float(twist.angular_z)
    return msg


def twist_from_msg(msg: Any) -> Twist:
    """Our twist from a `geometry_msgs/Twist`; the axes a holonomic base ignores (z, roll, pitch) are dropped."""
    return Twist(float(msg.linear.x), float(msg.linear.y), float(msg.angular.z))


def is_finite(twist: Twist) -> bool:
    return all(math.isfinite(v) for v in (twist.linear_x, twist.linear_y, twist.angular_z))


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """A `sensor_msgs/Image` (bgr8 / rgb8 / mono8) as RGB uint8 (H, W, 3)."""
    return raw_to_rgb(msg.encoding, msg.height, msg.width, msg.step, msg.data)


# A header stamp this far before its arrival is not believed (a camera whose clock is not the robot's).
HEADER_TRUST_S = 10.0


def taken_at(msg: Any, arrived: float, wall_minus_clock: float) -> float:
    """When an image message was taken, on the link's clock: its header stamp (ROS time: the system clock,
    moved onto the link's by `wall_minus_clock` = `time.time()` - clock at arrival), so a frame that spent
    time in a driver or on the wire is judged by its age, not by when it arrived; the arrival time when the
    header is empty (0) or not believable (after the arrival, or more than `HEADER_TRUST_S` before it)."""
    stamp = msg.header.stamp
    seconds = stamp.sec + stamp.nanosec * 1e-9
    if seconds <= 0:
        return arrived
    taken = seconds - wall_minus_clock
    if taken > arrived or taken < arrived - HEADER_TRUST_S:
        return arrived
    return taken


def compressed_msg_to_rgb(msg: Any) -> np.ndarray:
    """A `sensor_msgs/CompressedImage` (JPEG or PNG) as RGB uint8 (H, W, 3)."""
    return compressed_to_rgb(msg.data)


def choose_cmd_topic(config: Ros2Config, relay_subscribers: int) -> str:
    """The topic twists go to, given how many subscribers the relay topic has (the watchdog is one).

    `auto` publishes through the relay when it is running, else straight to `direct_topic`.
    """
    if config.require_watchdog and relay_subscribers == 0:
        raise RobotLinkError(
            f"no watchdog relay subscribes to {config.relay_topic}; start `mvla watchdog` on the robot first "
            "(or set ros2.require_watchdog: false)"
        )
    if config.cmd_vel_topic != "auto":
        return config.cmd_vel_topic
    return config.relay_topic if relay_subscribers > 0 else config.direct_topic


def watchdog_warning(config: Ros2Config, cmd_topic: str) -> str | None:
    """What the operator must be told when twists do not go through the watchdog relay, else None.

    Driving without it is allowed (`require_watchdog: false`), but then a killed `mvla` or a frozen SSH
    session leaves the robot on its last command until the base's own timeout, if it has one.
    """
    if cmd_topic == config.relay_topic:
        return None
    return (
        f"no watchdog: publishing straight to {cmd_topic}, so the robot keeps its last command if mvla dies; "
        "start `mvla watchdog` on the robot (or set ros2.require_watchdog: true)"
    )


def choose_camera_mode(config: CameraConfig, service_interface_importable: bool) -> CameraMode:
    if config.source == "auto":
        return "service" if service_interface_importable else "topic"
    if config.source == "service" and not service_interface_importable:
        raise RobotLinkError(
            "camera.source is 'service' but camera_interfaces (GetImage) does not import; source the robot's "
            "workspace or set camera.source: topic"
        )
    return config.source


def topic_is_compressed(config: CameraConfig) -> bool:
    if config.topic_type == "auto":
        return config.topic.rstrip("/").endswith("/compressed")
    return config.topic_type == "compressed"
