"""The ROS 2 checks: is ROS 2 sourced (which distribution), does anything subscribe to `/cmd_vel` (the
base driver), is the `mvla watchdog` relay running, and does the camera service or topic answer?

The graph is read by a node of its own (`mvla_doctor`, in a private rclpy context, like the link's); it
subscribes to the camera topic or calls the camera service, and publishes nothing: a doctor must never
move or stop a robot someone is driving. Whether the relay counts as found is decided by the link's own
rule (`ros_messages.choose_cmd_topic` and `watchdog_warning`), so the doctor says what `mvla` would do.
Every wait is bounded by `timeout_s` (discovery returns as soon as both topics have subscribers).
rclpy is imported only when a check runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mvla_tui.doctor.camera import CameraProbe
from mvla_tui.doctor.checks import Check, fail, ok, warn
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.link import Frame, RobotLinkError

ROBOT_DISTRO = "humble"  # what the robot runs; the code keeps to its rclpy API
SOURCE_FIX = f"source /opt/ros/{ROBOT_DISTRO}/setup.bash (and the robot's workspace) in this shell"
NODE_NAME = "mvla_doctor"


def environment_check(kind: str, environ: Mapping[str, str]) -> Check:
    """`ros2`: ROS_DISTRO, whether rclpy and the message packages import, the DDS domain and RMW."""
    from mvla_tui.robot.ros2 import import_ros

    distro = environ.get("ROS_DISTRO")
    domain = environ.get("ROS_DOMAIN_ID", "0")
    rmw = environ.get("RMW_IMPLEMENTATION", "the default RMW")
    try:
        ros = import_ros()
        found = f"rclpy imports ({_where(ros.rclpy)}), ROS_DOMAIN_ID {domain}, {rmw}"
        missing = None
    except RobotLinkError as exc:
        found, missing = "rclpy does not import", str(exc)
    where = f"ROS_DISTRO {distro}" if distro else "ROS_DISTRO unset"
    detail = f"{where}; {found}"
    if kind != "ros2":
        return ok("ros2", f"not needed for --robot {kind} ({detail})")
    if missing is not None:
        return fail("ros2", f"{where}; {missing}", SOURCE_FIX)
    if not distro:
        return warn(
            "ros2",
            f"{detail}, but no ROS 2 setup is sourced (rclpy from pip wheels?)",
            f"the robot's nodes run ROS 2 {ROBOT_DISTRO.title()}: {SOURCE_FIX}",
        )
    if distro != ROBOT_DISTRO:
        return warn(
            "ros2",
            f"{detail}; the robot runs {ROBOT_DISTRO.title()}",
            f"use ROS 2 {ROBOT_DISTRO.title()} on both sides: {SOURCE_FIX}",
        )
    return ok("ros2", detail)


def not_checked(why: str) -> list[Check]:
    """The `cmd_vel` and `watchdog` lines when the graph could not be read."""
    return [fail(name, f"not checked: {why}", SOURCE_FIX) for name in ("cmd_vel", "watchdog")]


def probe_graph(
    config: RobotConfig, timeout_s: float, window_s: float
) -> tuple[list[Check], CameraProbe | None]:
    """The `cmd_vel` and `watchdog` lines, and what the camera service or topic gave (None when the
    camera is not a ROS 2 one: `camera.source` opencv or none)."""
    from mvla_tui.robot.ros2 import RosNode

    try:
        ros = RosNode(NODE_NAME)
    except RobotLinkError as exc:
        return not_checked(str(exc)), CameraProbe(_source(config), None, None, False, error=str(exc))
    try:
        direct, relay = _wait_for_subscribers(ros.node, config, timeout_s)
        checks = [cmd_vel_check(config, direct, timeout_s), watchdog_check(config, relay)]
        camera = _probe_camera(ros, config, timeout_s, window_s)
    finally:
        ros.shutdown()
    return checks, camera


def cmd_vel_check(config: RobotConfig, subscribers: int, waited_s: float) -> Check:
    topic = config.ros2.direct_topic
    if subscribers == 0:
        return fail(
            "cmd_vel",
            f"nothing subscribes to {topic} (waited {waited_s:g} s): the base will not move",
            f"start the robot's base driver (the node that subscribes to {topic}); check that it runs with "
            "the same ROS_DOMAIN_ID and RMW as this shell (ros2 topic info " + topic + ")",
        )
    return ok("cmd_vel", f"{topic} has {_plural(subscribers, 'subscriber')} (the base driver)")


def watchdog_check(config: RobotConfig, relay_subscribers: int) -> Check:
    """What `mvla` would do with this many subscribers of the relay topic, as a line."""
    from mvla_tui.robot.ros_messages import choose_cmd_topic, watchdog_warning

    cfg = config.ros2
    start = "start `mvla watchdog` on the robot (or its compose service) before mvla"
    try:
        topic = choose_cmd_topic(cfg, relay_subscribers)
    except RobotLinkError as exc:
        return fail("watchdog", str(exc), start)
    warning = watchdog_warning(cfg, topic)
    if warning is not None:
        found = (
            f"the relay subscribes to {cfg.relay_topic}, but ros2.cmd_vel_topic is {cfg.cmd_vel_topic}"
            if relay_subscribers
            else f"no `mvla watchdog` relay subscribes to {cfg.relay_topic}"
        )
        fix = "set ros2.cmd_vel_topic: auto" if relay_subscribers else start
        return warn("watchdog", f"{found}; {warning.split(';')[0]}", fix)
    return ok("watchdog", f"the relay listens on {cfg.relay_topic}; mvla will publish through it")


def camera_fix(config: RobotConfig) -> str:
    """What to do when the ROS 2 camera gave nothing."""
    cam = config.camera
    try:
        mode = camera_mode(config)
    except RobotLinkError:
        return "source the robot's workspace (it has camera_interfaces), or set camera.source: topic"
    if mode == "service":
        return f"start the robot's camera node (it serves {cam.service}); check with `ros2 service list`"
    return f"start the camera driver that publishes {cam.topic}; check with `ros2 topic hz {cam.topic}`"


def camera_mode(config: RobotConfig) -> str:
    """How the ROS 2 link would read the camera (service, topic, opencv, none), or raises `RobotLinkError`."""
    from mvla_tui.robot.ros2 import import_camera_service
    from mvla_tui.robot.ros_messages import choose_camera_mode

    return choose_camera_mode(config.camera, import_camera_service() is not None)


# ---- internals ---------------------------------------------------------------------------------------------


def _wait_for_subscribers(node: Any, config: RobotConfig, timeout_s: float) -> tuple[int, int]:
    """(subscribers of the direct topic, of the relay topic), waiting up to `timeout_s` for DDS discovery."""
    cfg = config.ros2
    deadline = time.monotonic() + timeout_s
    while True:
        direct, relay = node.count_subscribers(cfg.direct_topic), node.count_subscribers(cfg.relay_topic)
        if (direct > 0 and relay > 0) or time.monotonic() >= deadline:
            return direct, relay
        time.sleep(0.05)


def _probe_camera(ros: Any, config: RobotConfig, timeout_s: float, window_s: float) -> CameraProbe | None:
    try:
        mode = camera_mode(config)
    except RobotLinkError as exc:
        return CameraProbe(_source(config), None, None, False, error=str(exc))
    if mode in ("opencv", "none"):
        return None
    if mode == "service":
        return _probe_service(ros, config, timeout_s, window_s)
    return _probe_topic(ros, config, timeout_s, window_s)


def _probe_service(ros: Any, config: RobotConfig, timeout_s: float, window_s: float) -> CameraProbe:
    from mvla_tui.doctor.camera import MAX_FRAMES
    from mvla_tui.robot.images import rotate_180
    from mvla_tui.robot.ros2 import call_service, import_camera_service
    from mvla_tui.robot.ros_messages import image_msg_to_rgb

    cam = config.camera
    source = f"service {cam.service}"
    get_image, _empty = import_camera_service()
    client = ros.node.create_client(get_image, cam.service)
    ros.spin_in_background()  # completes the calls' futures
    if not client.wait_for_service(timeout_sec=timeout_s):
        return CameraProbe(source, None, None, False, error=f"did not appear within {timeout_s:g} s")
    frame, count = None, 0
    start = time.monotonic()
    try:
        while count < MAX_FRAMES and time.monotonic() - start < window_s:
            response = call_service(client, get_image.Request(), cam.service, config.ros2.service_timeout_s)
            image = image_msg_to_rgb(response.image)
            frame = Frame(rotate_180(image) if cam.rotate_180 else image, time.monotonic())
            count += 1
    except RobotLinkError as exc:
        return CameraProbe(source, None, None, False, error=str(exc))
    elapsed = max(time.monotonic() - start, 1e-9)
    return CameraProbe(source, frame, count / elapsed, False, latency_ms=1000.0 * elapsed / count)


def _probe_topic(ros: Any, config: RobotConfig, timeout_s: float, window_s: float) -> CameraProbe:
    from mvla_tui.robot.camera import FrameSlot
    from mvla_tui.robot.ros_messages import compressed_msg_to_rgb, image_msg_to_rgb, topic_is_compressed

    cam = config.camera
    source = f"topic {cam.topic}"
    compressed = topic_is_compressed(cam)
    # The slot's own start-up limit is longer than our wait, so the message below is the one shown.
    slot = FrameSlot(source, timeout_s + window_s + 1.0, cam.frame_timeout_s)
    convert = compressed_msg_to_rgb if compressed else image_msg_to_rgb

    def on_image(msg: Any) -> None:
        try:
            slot.put(convert(msg))
        except RobotLinkError as exc:
            slot.fail(str(exc))

    msg_type = ros.ros.CompressedImage if compressed else ros.ros.Image
    ros.node.create_subscription(msg_type, cam.topic, on_image, ros.ros.qos_sensor)
    ros.spin_in_background()
    try:
        deadline = time.monotonic() + timeout_s
        while slot.get() is None:
            if time.monotonic() >= deadline:
                return CameraProbe(source, None, None, True, error=f"no image within {timeout_s:g} s")
            time.sleep(0.02)
        time.sleep(window_s)
        frame = slot.get()
    except RobotLinkError as exc:
        return CameraProbe(source, None, None, True, error=str(exc).removeprefix(f"{source}: "))
    return CameraProbe(source, frame, slot.rate_hz(), True)


def _source(config: RobotConfig) -> str:
    return f"camera (camera.source {config.camera.source})"


def _where(module: Any) -> str:
    path = getattr(module, "__file__", None)  # None for a namespace package or a stand-in
    if path is None:
        return "location unknown"
    for marker in ("/opt/ros/", "site-packages", "dist-packages"):
        if marker in path:
            return "from " + path[: path.index(marker) + len(marker)].rstrip("/")
    return "from " + path


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"
