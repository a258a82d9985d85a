"""Typed configs of the robot side: teleop, camera, ROS 2 and fake link (limits: `configs.limits`); one
`RobotConfig` each file.

The YAML files live in `configs/robot/` (`ros2.yaml`, `fake.yaml`); this module only defines what they may
say and checks the values. It must not open a link or a camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from configs import ConfigError, MvlaError, config_path, load
from configs.limits import LimitsConfig

Mode = Literal["step", "hold", "latch"]  # teleop modes, see `mvla_tui.robot.control`
MODES: tuple[str, ...] = get_args(Mode)

# Default GStreamer pipeline of the Jetson CSI camera: 1280x720 BGR frames into an appsink that keeps only
# the newest buffer, so a slow reader never sees stale images. `{sensor_id}`, `{width}`, `{height}` and
# `{fps}` are filled from the camera config; rotation is done in numpy, not with nvvidconv's flip-method.
CSI_PIPELINE = (
    "nvarguscamerasrc sensor-id={sensor_id} ! "
    "video/x-raw(memory:NVMM), width={width}, height={height}, framerate={fps}/1, format=NV12 ! "
    "nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
    "appsink drop=true max-buffers=1 sync=false"
)


def _positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


@dataclass
class TeleopConfig:
    """How keys and policy actions become motion. See `mvla_tui.robot.control` for the modes."""

    mode: Mode = "step"
    step_s: float = 0.4  # step mode: how long one key press moves the robot
    deadman_s: float = 0.5  # hold mode: stop when no key repeat arrived for this long
    # Throttle scales the velocity sent to the robot (sent = key or policy action x throttle / 100, then
    # clamped); the recorded action stays the unscaled key vector (1.15 per axis), as in the older data.
    # (The earlier collector published the unscaled 1.15 on /cmd_vel and applied its throttle only to a
    # direct motor driver; set throttle: 100 to publish exactly what it published.)
    throttle: int = 50
    throttle_step: int = 10
    throttle_min: int = 10
    throttle_max: int = 100
    # While moving, the current command is re-sent this often so that a relay with a timeout (the
    # watchdog) or a base with its own command timeout keeps the robot moving, and stops it when we die.
    republish_s: float = 0.1
    # Latch mode: if the control thread is blocked this long while the robot moves, a guard thread stops it
    # (timed motions are guarded at their end instead).
    stall_s: float = 0.3
    state_hz: float = 10.0  # at most this many state snapshots per second to the UI
    tick_s: float = 0.02  # longest sleep of the control loop when nothing is due

    @property
    def max_motion_s(self) -> float:
        """The longest one command (a key or a policy action) may move the robot without a fresh one."""
        return max(self.step_s, self.deadman_s)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"teleop.mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        for name in ("step_s", "deadman_s", "republish_s", "stall_s", "state_hz", "tick_s"):
            _positive(f"teleop.{name}", getattr(self, name))
        if not 1 <= self.throttle_min <= self.throttle_max <= 100:
            raise ValueError("teleop: need 1 <= throttle_min <= throttle_max <= 100")
        if not self.throttle_min <= self.throttle <= self.throttle_max:
            raise ValueError(
                f"teleop.throttle must be within {self.throttle_min}..{self.throttle_max}, got {self.throttle}"
            )
        if self.throttle_step < 1:
            raise ValueError("teleop.throttle_step must be >= 1")


# The `mvla watchdog` timeout: at least two of the TUI's re-send periods (one late re-send must not stop
# the robot), at most 3 s (at 1.15 m/s that is already about 3.5 m driven after the commands stopped).
WATCHDOG_MIN_TIMEOUT_S = 2 * TeleopConfig.republish_s
WATCHDOG_MAX_TIMEOUT_S = 3.0


def check_watchdog_timeout(timeout_s: float, name: str = "watchdog timeout") -> None:
    """A one-line `MvlaError` naming `name` unless the timeout is within the bounds above (NaN and inf fail)."""
    if not WATCHDOG_MIN_TIMEOUT_S <= timeout_s <= WATCHDOG_MAX_TIMEOUT_S:
        raise MvlaError(
            f"{name} must be between {WATCHDOG_MIN_TIMEOUT_S:g} s (two of mvla's re-send periods) and "
            f"{WATCHDOG_MAX_TIMEOUT_S:g} s, got {timeout_s!r}; e.g. 0.5"
        )


@dataclass
class CameraConfig:
    """Where the camera images come from.

    `source`: `service` (the existing `get_image_service`), `topic` (a `sensor_msgs/Image`, or a
    `CompressedImage` when the topic ends in `/compressed` or `topic_type` says so), `opencv` (a V4L2 device
    or GStreamer pipeline opened directly), `auto` (the service when its interface package imports, else the
    topic) or `none`.
    `opencv`: `csi` (the Jetson CSI pipeline, `CSI_PIPELINE`), a device index (`"0"`), a device path
    (`/dev/video0`) or a full GStreamer pipeline (anything containing `!`).
    """

    source: Literal["auto", "service", "topic", "opencv", "none"] = "auto"
    service: str = "get_image_service"
    reset_service: str = "reset_camera_service"
    topic: str = "/camera/image_raw"
    topic_type: Literal["auto", "raw", "compressed"] = "auto"
    opencv: str = "csi"
    sensor_id: int = 0
    width: int = 1280
    height: int = 720
    fps: int = 30
    rotate_180: bool = False  # as the existing camera service does for the upside-down mount
    startup_timeout_s: float = 5.0  # first frame must arrive within this long
    frame_timeout_s: float = 1.0  # after that, a frame older than this is an error

    def __post_init__(self) -> None:
        for name in ("startup_timeout_s", "frame_timeout_s"):
            _positive(f"camera.{name}", getattr(self, name))
        if self.width < 1 or self.height < 1 or self.fps < 1:
            raise ValueError("camera.width, camera.height and camera.fps must be >= 1")


@dataclass
class Ros2Config:
    """The ROS 2 side: where twists go and how the relay through `mvla watchdog` is found."""

    # `auto`: publish to `relay_topic` when something subscribes to it (the watchdog), else `direct_topic`.
    cmd_vel_topic: str = "auto"
    direct_topic: str = "/cmd_vel"
    relay_topic: str = "/mvla/cmd_vel"
    require_watchdog: bool = False  # refuse to drive unless the watchdog relay is found
    discovery_s: float = 1.0  # how long to wait for the relay to show up in the ROS graph
    node_name: str = "mvla"
    service_timeout_s: float = 1.0  # camera service calls

    def __post_init__(self) -> None:
        for name in ("discovery_s", "service_timeout_s"):
            _positive(f"ros2.{name}", getattr(self, name))
        if self.require_watchdog and self.cmd_vel_topic not in ("auto", self.relay_topic):
            raise ValueError("ros2.require_watchdog needs cmd_vel_topic 'auto' or the relay_topic")


@dataclass
class FakeConfig:
    """The fake robot of tests and `--robot fake`: synthetic frames, every twist recorded."""

    width: int = 320
    height: int = 240
    log_path: Path | None = None  # append every twist sent as a JSON line (for tests across processes)


@dataclass
class RobotConfig:
    kind: Literal["ros2", "sim", "fake"] = "ros2"
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    teleop: TeleopConfig = field(default_factory=TeleopConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    ros2: Ros2Config = field(default_factory=Ros2Config)
    fake: FakeConfig = field(default_factory=FakeConfig)


def load_robot_config(name_or_path: str | Path = "ros2", overrides: list[str] | None = None) -> RobotConfig:
    """A packaged robot config by name (`ros2`, `fake`) or any YAML file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        try:
            path = config_path(f"robot/{name_or_path}.yaml")
        except ConfigError:
            raise ConfigError(
                f"robot config {str(name_or_path)!r}: no such packaged config; use ros2, fake or a YAML path"
            ) from None
    return load(RobotConfig, path, overrides)
