"""`Ros2Link`: the real robot through rclpy (imported lazily: the package works without ROS 2).

Twists go out as `geometry_msgs/Twist` on `/cmd_vel`, or on `/mvla/cmd_vel` when the `mvla watchdog` relay
subscribes to it (see `ros_messages.choose_cmd_topic`). Camera frames come from the robot's existing
`get_image_service` (`camera_interfaces/srv/GetImage`, response field `image`; `reset_camera_service` is
`std_srvs/Empty`) when that interface imports, otherwise from a `sensor_msgs/Image` or `CompressedImage`
topic, or from an `OpenCVCamera` opened directly. The node lives in its own rclpy context with its own
executor thread, and installs no signal handlers (the control loop's `install_signal_stop` owns those).
When twists do not go through the watchdog relay, `warnings` says so (the control loop shows it) and it is
logged once per connection. `camera_hz` is the rate frames arrive at (0 once the camera stalls; a stalled
camera's `latest_frame` is an error, never its last frame). `close` publishes a zero twist and waits briefly
until reliable subscribers (the watchdog, the base) acknowledged it before the node goes, and runs every
clean-up step even when an earlier one fails.
Only rclpy API that ROS 2 Humble has is used here (the tests run newer rclpy wheels, see the `ros-test` extra).
Pure logic lives in `ros_messages`, `images` and `camera`; this module only wires rclpy to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from mvla_tui.robot.camera import FrameSlot, OpenCVCamera, RateMeter
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.images import rotate_180
from mvla_tui.robot.link import STOP, Frame, RobotLinkError, SimulatedTime, Twist
from mvla_tui.robot.ros_messages import (
    choose_camera_mode,
    choose_cmd_topic,
    compressed_msg_to_rgb,
    image_msg_to_rgb,
    taken_at,
    topic_is_compressed,
    twist_to_msg,
    watchdog_warning,
)
from mvla_tui.robot.safety import clamp_twist, run_every

log = logging.getLogger(__name__)
ROS_MISSING = "ROS 2 (rclpy) is not available; source your ROS 2 setup.bash in this shell first"
# How long `close` (and the watchdog on its way out) waits for the last zero twist to be acknowledged.
FLUSH_S = 0.3


def import_ros() -> SimpleNamespace:
    """rclpy and the message packages we use, or a one-line `RobotLinkError` saying ROS 2 must be sourced."""
    try:
        import rclpy
        from geometry_msgs.msg import Twist as TwistMsg
        from rclpy.context import Context
        from rclpy.duration import Duration
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.qos import qos_profile_sensor_data
        from sensor_msgs.msg import CompressedImage, Image
    except ImportError as exc:
        raise RobotLinkError(f"{ROS_MISSING} ({exc.name} is missing)") from None
    return SimpleNamespace(
        rclpy=rclpy,
        Context=Context,
        Duration=Duration,
        SingleThreadedExecutor=SingleThreadedExecutor,
        qos_sensor=qos_profile_sensor_data,
        TwistMsg=TwistMsg,
        Image=Image,
        CompressedImage=CompressedImage,
    )


def import_camera_service() -> tuple[Any, Any] | None:
    """(GetImage, Empty) service types when the robot's camera interface is installed, else None."""
    try:
        from camera_interfaces.srv import GetImage
        from std_srvs.srv import Empty
    except ImportError:
        return None
    return GetImage, Empty


class RosNode:
    """One rclpy node in a private context, spun by its own executor (on a thread, or by `spin_once`)."""

    def __init__(self, name: str) -> None:
        self.ros = import_ros()
        self.context = self.ros.Context()
        # A private context: rclpy installs no SIGINT/SIGTERM handlers for it, so ours stay in charge.
        self.ros.rclpy.init(context=self.context)
        self.node = self.ros.rclpy.create_node(name, context=self.context)
        self.executor = self.ros.SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread: threading.Thread | None = None

    def spin_in_background(self) -> None:
        self._thread = threading.Thread(target=self.executor.spin, name="mvla-ros2", daemon=True)
        self._thread.start()

    def flush(self, publisher: Any, timeout_s: float = FLUSH_S) -> bool:
        """Wait until reliable subscribers acknowledged what `publisher` sent (at most `timeout_s`)."""
        return publisher.wait_for_all_acked(self.ros.Duration(seconds=timeout_s))

    def shutdown(self) -> None:
        run_every(self.executor.shutdown, self._join, self.node.destroy_node, self.context.try_shutdown)

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=2.0)


class Ros2Link:
    def __init__(self, config: RobotConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.cmd_topic: str | None = None
        self.camera_mode: str | None = None
        self._ros: RosNode | None = None
        self._publisher: Any = None
        self._slot: FrameSlot | None = None
        self._camera: OpenCVCamera | None = None
        self._get_image: Any = None
        self._reset_camera: Any = None
        self._service_types: tuple[Any, Any] | None = None
        self._service_rate = RateMeter()
        self.warnings: list[str] = []  # for the operator, e.g. driving without the watchdog relay

    def connect(self) -> None:
        if self._ros is not None:
            return
        cfg = self.config
        self._ros = ros = RosNode(cfg.ros2.node_name)
        try:
            self.cmd_topic = choose_cmd_topic(cfg.ros2, self._wait_for_relay(ros))
            self._publisher = ros.node.create_publisher(ros.ros.TwistMsg, self.cmd_topic, 10)
            warning = watchdog_warning(cfg.ros2, self.cmd_topic)
            self.warnings = [] if warning is None else [warning]
            if warning is not None:
                log.warning(warning)
            self._service_types = import_camera_service()
            self.camera_mode = choose_camera_mode(cfg.camera, self._service_types is not None)
            ros.spin_in_background()
            self._open_camera(ros)
        except BaseException as exc:
            run_every(self.close, error=exc)  # raises exc once everything is closed

    def send(self, twist: Twist) -> Twist:
        publisher, ros = self._publisher, self._ros
        if publisher is None or ros is None:
            raise RobotLinkError("ROS 2 link: send() before connect()")
        twist = clamp_twist(twist, self.config.limits)
        self._publish(publisher, ros, twist)
        return twist

    def stop(self) -> None:
        publisher, ros = self._publisher, self._ros
        if publisher is not None and ros is not None:
            self._publish(publisher, ros, STOP)

    def latest_frame(self, not_before: float | None = None) -> Frame | None:
        if self.camera_mode == "none":
            return None
        if self.camera_mode == "service":
            return self._call_camera_service()
        if self._camera is not None:
            return self._camera.latest_frame()
        if self._slot is None:
            raise RobotLinkError("ROS 2 link: latest_frame() before connect()")
        return self._slot.get()

    def simulated_time(self) -> SimulatedTime | None:
        """The wall clock."""
        return None

    @property
    def camera_hz(self) -> float | None:
        """Frames per second the camera delivered over the last two seconds (0.0 once it stalls); None
        without a camera, before connect and before the first frame."""
        if self.camera_mode == "service":
            return self._service_rate.rate(self.clock())
        if self._camera is not None:
            return self._camera.slot.rate_hz()
        if self._slot is not None:
            return self._slot.rate_hz()
        return None

    @property
    def collision(self) -> str | None:
        """A ROS 2 base reports no contacts here (no bumper topic is read)."""
        return None

    def reset_camera(self) -> None:
        """Ask the camera service to reset the camera (service mode only)."""
        if self._reset_camera is None or self._service_types is None:
            raise RobotLinkError("camera reset needs camera.source 'service' and a connected link")
        self._call(self._reset_camera, self._service_types[1].Request(), self.config.camera.reset_service)

    def close(self) -> None:
        """Stop the robot, close the camera and shut ROS down; every step runs even when one raises."""
        run_every(self.stop, self._close_camera, self._shutdown_ros)

    # ---- internals -----------------------------------------------------------------------------------

    def _close_camera(self) -> None:
        camera, self._camera = self._camera, None
        if camera is not None:
            camera.close()

    def _shutdown_ros(self) -> None:
        publisher, self._publisher = self._publisher, None
        ros, self._ros = self._ros, None
        if ros is not None:
            # The zero twist `close` just published must reach the watchdog or the base before the node goes.
            run_every(lambda: self._flush(ros, publisher), ros.shutdown)

    def _flush(self, ros: RosNode, publisher: Any) -> None:
        if publisher is not None and not ros.flush(publisher):
            log.warning("the last zero twist on %s was not acknowledged within %g s", self.cmd_topic, FLUSH_S)

    def _publish(self, publisher: Any, ros: RosNode, twist: Twist) -> None:
        try:
            publisher.publish(twist_to_msg(twist, ros.ros.TwistMsg))
        except Exception as exc:  # rclpy's RCLError and friends: the caller must see the robot is not reached
            raise RobotLinkError(f"publishing on {self.cmd_topic} failed: {exc}") from exc

    def _wait_for_relay(self, ros: RosNode) -> int:
        """Subscribers of the relay topic, waiting up to `discovery_s` for the watchdog to show up."""
        cfg = self.config.ros2
        if cfg.cmd_vel_topic != "auto" and not cfg.require_watchdog:
            return 0
        deadline = time.monotonic() + cfg.discovery_s
        while True:
            count = ros.node.count_subscribers(cfg.relay_topic)
            if count > 0 or time.monotonic() >= deadline:
                return count
            time.sleep(0.05)

    def _open_camera(self, ros: RosNode) -> None:
        cam = self.config.camera
        node = ros.node
        if self.camera_mode == "service":
            if self._service_types is None:  # chosen only when they import: a bug if not
                raise RobotLinkError("camera.source 'service' without the camera service's message types")
            get_image, empty = self._service_types
            self._get_image = node.create_client(get_image, cam.service)
            self._reset_camera = node.create_client(empty, cam.reset_service)
            if not self._get_image.wait_for_service(timeout_sec=cam.startup_timeout_s):
                raise RobotLinkError(
                    f"camera service {cam.service} did not appear within {cam.startup_timeout_s:g} s; "
                    "is the camera node running?"
                )
        elif self.camera_mode == "topic":
            self._slot = slot = FrameSlot(
                f"camera topic {cam.topic}", cam.startup_timeout_s, cam.frame_timeout_s, self.clock
            )
            compressed = topic_is_compressed(cam)
            msg_type = ros.ros.CompressedImage if compressed else ros.ros.Image
            convert = compressed_msg_to_rgb if compressed else image_msg_to_rgb
            node.create_subscription(msg_type, cam.topic, self._on_image(slot, convert), ros.ros.qos_sensor)
        elif self.camera_mode == "opencv":
            self._camera = OpenCVCamera(cam, clock=self.clock)
            self._camera.open()

    def _on_image(self, slot: FrameSlot, convert: Callable[[Any], Any]) -> Callable[[Any], None]:
        rotate, clock = self.config.camera.rotate_180, self.clock

        def callback(msg: Any) -> None:
            arrived = clock()
            try:
                image = convert(msg)
            except RobotLinkError as exc:  # an encoding we cannot read will not fix itself: tell the reader
                slot.fail(str(exc))
                return
            slot.put(rotate_180(image) if rotate else image, taken_at(msg, arrived, time.time() - arrived))

        return callback

    def _call_camera_service(self) -> Frame:
        cam = self.config.camera
        if self._get_image is None or self._service_types is None:
            raise RobotLinkError("ROS 2 link: latest_frame() before connect()")
        response = self._call(self._get_image, self._service_types[0].Request(), cam.service)
        arrived = self.clock()
        image = image_msg_to_rgb(response.image)
        self._service_rate.add(arrived)
        stamp = taken_at(response.image, arrived, time.time() - arrived)
        return Frame(rotate_180(image) if cam.rotate_180 else image, stamp)

    def _call(self, client: Any, request: Any, name: str) -> Any:
        return call_service(client, request, name, self.config.ros2.service_timeout_s)


def call_service(client: Any, request: Any, name: str, timeout_s: float) -> Any:
    """The response of one call of the service `name`, waiting at most `timeout_s` (a spinning executor
    completes the future); a one-line `RobotLinkError` when it does not answer or fails."""
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout_s):
        future.cancel()
        raise RobotLinkError(f"service {name} did not answer within {timeout_s:g} s")
    response = future.result()
    if response is None:
        raise RobotLinkError(f"service {name} failed: {future.exception()}")
    return response
