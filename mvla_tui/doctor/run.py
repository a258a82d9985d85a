"""`diagnose`: every doctor check for one robot, in the order an operator fixes things (ROS 2, the base,
the watchdog, the camera, GPU, temperatures, disk, policy, engines), each bounded in time.

`Machine` is what the checks read of this machine: the filesystem root of sysfs and /proc, jtop's socket,
stand-ins for pynvml and jtop, the environment and TensorRT's version; tests pass fake ones. The camera
frame one check saw is handed to the disk check, so the episode size estimate is measured on this camera.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mvla_tui.doctor import camera, disk, gpu, policy, ros
from mvla_tui.doctor.camera import CameraProbe
from mvla_tui.doctor.checks import Check, bounded, fail, warn
from mvla_tui.robot.config import RobotConfig

WINDOW_S = 2.0  # how long a camera's rate is measured
SLACK_S = 5.0  # beyond a check's own waits, before it is called hung (imports, rclpy start-up)


@dataclass
class Machine:
    root: Path = Path("/")
    jtop_socket: Path | None = None  # default ROOT/run/jtop.sock
    nvml_module: Any = None  # pynvml stand-in (tests)
    jtop_factory: Callable[[], Any] | None = None  # jtop.jtop stand-in (tests)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    tensorrt_version: Callable[[], str | None] = policy.installed_tensorrt
    cwd: Path | None = None  # where an episode folder is looked for without --data (None: os.getcwd())

    @property
    def socket(self) -> Path:
        from mvla_tui.telemetry.jetson import JTOP_SOCKET

        return self.jtop_socket if self.jtop_socket is not None else self.root / JTOP_SOCKET


@dataclass
class DoctorRequest:
    config: RobotConfig
    policy: str | None = None  # --policy CKPT|default
    data: Path | None = None  # --data DIR
    timeout_s: float = 3.0  # each ROS 2 wait (discovery, the camera's service or first image)
    window_s: float = WINDOW_S


def diagnose(request: DoctorRequest, machine: Machine | None = None) -> list[Check]:
    machine = machine or Machine()
    config = request.config
    ros_line = ros.environment_check(config.kind, machine.environ)
    if config.kind == "ros2":
        graph, probe, camera_line = _ros2_checks(request, ros_line.status != "fail")
    else:
        graph, (probe, camera_line) = [], _link_camera(request)
    checks = [ros_line, *graph, camera_line]
    checks.extend(_system_checks(machine, request.timeout_s + SLACK_S))
    frame = probe.frame if probe is not None else None
    checks.append(
        disk.disk_check(
            request.data,
            config.camera_size,
            _episode_frames(),
            frame.image if frame is not None else None,
            frame.synthetic if frame is not None else False,
            machine.cwd,
        )
    )
    path, resolve_failure = policy.resolve_policy(request.policy)
    checks.append(resolve_failure or _bounded_policy(request.policy, path))
    checks.append(policy.engines_check(path, machine.tensorrt_version))
    return checks


def _budget(request: DoctorRequest) -> float:
    """The longest a robot probe may take: discovery, the service or first image, the rate window."""
    return 2 * request.timeout_s + request.window_s + SLACK_S


def _ros2_checks(request: DoctorRequest, ros_ok: bool) -> tuple[list[Check], CameraProbe | None, Check]:
    """The `cmd_vel` and `watchdog` lines, the camera probe and the camera line of the real robot."""
    config = request.config
    source = config.camera.source
    ros_camera = source not in ("opencv", "none")
    where = f"camera (camera.source {source})"
    if not ros_ok:
        why = "ROS 2 is not available (see the ros2 line)"
        graph = ros.not_checked(why)
        probe = CameraProbe(where, None, None, False, error=f"not checked: {why}") if ros_camera else None
        fix = ros.SOURCE_FIX
    else:

        def hung(why: str) -> tuple[list[Check], CameraProbe | None]:
            graph_why = f"the ROS 2 graph {why}"
            return ros.not_checked(graph_why), CameraProbe(where, None, None, False, error=graph_why)

        graph, probe = bounded(
            lambda: ros.probe_graph(config, request.timeout_s, request.window_s), _budget(request), hung
        )
        fix = ros.camera_fix(config)
    if source == "none":
        detail = "camera.source is none: no images to record or to drive a policy with"
        return graph, None, warn("camera", detail, "set camera.source in the robot config")
    if not ros_camera:
        probe = bounded(
            lambda: camera.probe_opencv(config, request.timeout_s, request.window_s),
            _budget(request),
            lambda why: CameraProbe(where, None, None, True, error=why),
        )
        fix = camera.opencv_fix(config)
    assert probe is not None
    return graph, probe, camera.camera_verdict(probe, config, fix)


def _link_camera(request: DoctorRequest) -> tuple[CameraProbe, Check]:
    """The camera of the fake or the simulator, asked through its link (which `mvla` would drive)."""
    from configs import ConfigError
    from mvla_tui.robot.links import make_link

    config = request.config
    source = "fake camera" if config.kind == "fake" else "sim camera (rendered on demand)"
    fix = (
        "install the sim extra (pip install 'mobile-vla[sim]'); headless rendering needs EGL, "
        "or MUJOCO_GL=osmesa"
        if config.kind == "sim"
        else "the fake robot draws its frames with OpenCV: check that cv2 imports"
    )
    try:
        link = make_link(config)
    except ConfigError as exc:
        probe = CameraProbe(source, None, None, False, error=str(exc))
    else:
        probe = bounded(
            lambda: camera.probe_link(link, source, request.window_s),
            _budget(request) + SLACK_S,  # building a MuJoCo scene takes a few seconds on a slow CPU
            lambda why: CameraProbe(source, None, None, False, error=why),
        )
    return probe, camera.camera_verdict(probe, config, fix)


def _system_checks(machine: Machine, budget: float) -> list[Check]:
    def probe() -> list[Check]:
        from mvla_tui.telemetry import make_telemetry
        from mvla_tui.telemetry.jetson import is_jetson

        telemetry = make_telemetry(
            root=machine.root,
            jtop_socket=machine.socket,
            nvml_module=machine.nvml_module,
            jtop_factory=machine.jtop_factory,
        )
        try:
            sample = telemetry.sample()
        finally:
            telemetry.close()
        return [
            gpu.gpu_check(
                sample,
                on_jetson=is_jetson(machine.root),
                socket=machine.socket,
                jtop_installed=machine.jtop_factory is not None
                or importlib.util.find_spec("jtop") is not None,
                nvidia_driver=(machine.root / "proc/driver/nvidia/version").exists(),
            ),
            gpu.thermal_check(sample, machine.root),
        ]

    fix = "check jtop's service (sudo systemctl status jtop) and the GPU driver"
    return bounded(probe, budget, lambda why: [fail("gpu", f"telemetry {why}", fix)])


def _bounded_policy(source: str | None, path: Path | None) -> Check:
    # Verifying hashes every file: a large full fine-tune takes a while on an SD card.
    return bounded(
        lambda: policy.policy_check(source, path),
        120.0,
        lambda why: fail("policy", f"verifying {path} {why}", "check the disk the checkpoint is on"),
    )


def _episode_frames() -> int:
    from recorder.catalogue import load_catalogue

    return load_catalogue().episode_frames
