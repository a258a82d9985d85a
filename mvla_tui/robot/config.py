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
from mvla_tui.sim.config import SimConfig
from policies.execution import STOP_BELOW

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
    # Step mode, for the drivers that press keys themselves (the scripted expert, a policy): after a step's
    # stop they wait this long, so the next frame is taken with the robot at rest, as an operator's was.
    settle_s: float = 0.15
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
        if not (math.isfinite(self.settle_s) and self.settle_s >= 0):
            raise ValueError(f"teleop.settle_s must be a finite number >= 0, got {self.settle_s!r}")
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
    # How long to wait for the relay to show up in the ROS graph (returns as soon as it does). DDS discovery
    # between processes can take 2-3 s; a shorter wait would drive without the watchdog though it runs.
    discovery_s: float = 3.0
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
    # Each frame is stamped this long before it is read, as a camera whose images arrive late would give
    # (a frame read right after the robot stopped was then taken before it stopped).
    frame_lag_s: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.frame_lag_s) and self.frame_lag_s >= 0):
            raise ValueError(f"fake.frame_lag_s must be a finite number >= 0, got {self.frame_lag_s!r}")


@dataclass
class HybridConfig:
    """A teleop key overrides a driving policy at once; the policy takes over again `resume_s` after the
    last key (0: it does not, the operator stays in control until `run` again)."""

    resume_s: float = 1.5

    def __post_init__(self) -> None:
        if not (math.isfinite(self.resume_s) and self.resume_s >= 0):
            raise ValueError(f"policy.hybrid.resume_s must be a finite number >= 0, got {self.resume_s!r}")


PolicyExecution = Literal["step", "continuous"]


@dataclass
class PolicyDriveConfig:
    """How a policy drives this robot (`mvla_tui.core.policy_driver`).

    `execution`: `step` executes each action the way the data was recorded (a press of `teleop.step_s`,
    then `teleop.settle_s` at rest, then the next frame), one step every `period_s`, which must leave room
    for the model (`period_s - step_s - settle_s` is its budget; a later action is a missed deadline);
    `continuous` sends a new action every `period_s` while moving (the model must answer within it).
    Frames: in step mode a policy acts only on a frame taken after the settle (the robot at rest), in both
    modes only on one at most `max_frame_age_s` old when its step was due; it waits up to `frame_wait_s`
    for one, then counts a stale frame and waits again; `stale_limit` stale frames in a row stop the policy.
    A run ends when the policy predicts a stop (every axis of its command below `stop_below` key units,
    `policies.execution.is_stop`; the runtime's predicted stop uses the same threshold), or after
    `max_steps` actions without one (the stop latches, like an e-stop).
    `device`, `precision` and `chunk_execution` are the policy runtime's (`policies.runtime`), and so is
    `command_resolution`: each command sent is rounded to a multiple of it (0.01 key units is
    5 mm/s at throttle 50 %, below what a base's motor controllers resolve), so that runtimes differing
    in their last bits (torch, ONNX Runtime) drive the same trajectory; 0 sends commands unrounded."""

    execution: PolicyExecution = "step"
    period_s: float = 0.6  # step: 0.4 s press + 0.15 s settle + 0.05 s for the frame and the model
    hybrid: HybridConfig = field(default_factory=HybridConfig)
    device: str = "auto"  # auto (CUDA when available), cpu, cuda, cuda:N
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    chunk_execution: Literal["first", "chunk", "ensemble"] = "first"
    threads: int | None = None  # CPU threads for torch (None: torch's choice; 1 is steadiest on a busy CPU)
    command_resolution: float = 0.01  # key units (a press is 1.15): the command sent is rounded to it
    max_steps: int = 60  # actions per run without a predicted stop before the policy is stopped
    stop_below: float = STOP_BELOW  # key units: a command below this on every axis is the policy's "done"
    frame_wait_s: float = 0.3  # how long a due step waits for a fresh frame before counting it stale
    max_frame_age_s: float = 0.25  # the oldest frame a step may act on, counted from when it was due
    stale_limit: int = 3  # stale frames in a row that stop the policy (the camera is not delivering)

    def __post_init__(self) -> None:
        for name in ("period_s", "frame_wait_s", "max_frame_age_s"):
            _positive(f"policy.{name}", getattr(self, name))
        if not (math.isfinite(self.command_resolution) and self.command_resolution >= 0):
            raise ValueError(f"policy.command_resolution must be >= 0, got {self.command_resolution}")
        if not (math.isfinite(self.stop_below) and self.stop_below >= 0):
            raise ValueError(f"policy.stop_below must be a finite number >= 0, got {self.stop_below!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"policy.threads must be >= 1, got {self.threads}")
        for name in ("max_steps", "stale_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"policy.{name} must be >= 1, got {getattr(self, name)}")


RobotKind = Literal["ros2", "sim", "fake"]
ROBOT_KINDS: tuple[str, ...] = get_args(RobotKind)


@dataclass
class RobotConfig:
    """One robot: which link (`kind`), the limits and teleop rules the control loop applies to it, and
    the sections of each link (only the one of `kind` is used)."""

    kind: RobotKind = "ros2"
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    teleop: TeleopConfig = field(default_factory=TeleopConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    ros2: Ros2Config = field(default_factory=Ros2Config)
    sim: SimConfig = field(default_factory=SimConfig)
    fake: FakeConfig = field(default_factory=FakeConfig)
    policy: PolicyDriveConfig = field(default_factory=PolicyDriveConfig)

    def __post_init__(self) -> None:
        t, p = self.teleop, self.policy
        if p.execution == "step" and p.period_s < t.step_s + t.settle_s:
            raise ValueError(
                f"policy.period_s {p.period_s:g} s is shorter than a step (teleop.step_s {t.step_s:g} s + "
                f"teleop.settle_s {t.settle_s:g} s); make it at least {t.step_s + t.settle_s:g} s"
            )
        if p.execution == "continuous" and p.period_s > t.max_motion_s:
            raise ValueError(
                f"policy.period_s {p.period_s:g} s is longer than a motion may last without a new command "
                f"({t.max_motion_s:g} s, teleop.step_s/deadman_s); make it shorter"
            )

    @property
    def camera_size(self) -> tuple[int, int]:
        """(width, height) of this robot's camera frames, from the section of its `kind`."""
        if self.kind == "sim":
            return self.sim.camera_width, self.sim.camera_height
        if self.kind == "fake":
            return self.fake.width, self.fake.height
        return self.camera.width, self.camera.height

    @property
    def camera_label(self) -> str:
        """How episode files name the camera: `sim:224x224`, `fake:320x240`, `topic:1280x720`, ..."""
        width, height = self.camera_size
        source = self.kind if self.kind in ("sim", "fake") else self.camera.source
        return f"{source}:{width}x{height}"


def load_robot_config(name_or_path: str | Path = "ros2", overrides: list[str] | None = None) -> RobotConfig:
    """A packaged robot config by name (`ros2`, `sim`, `fake`) or any YAML file by path."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        try:
            path = config_path(f"robot/{name_or_path}.yaml")
        except ConfigError:
            raise ConfigError(
                f"robot config {str(name_or_path)!r}: no such packaged config; use "
                f"{', '.join(ROBOT_KINDS)} or a YAML path"
            ) from None
    return load(RobotConfig, path, overrides)
