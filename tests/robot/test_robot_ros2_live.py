"""With real ROS 2 (marker `ros`; conftest runs these inside a private network namespace): the twists the
control loop sends reach `/cmd_vel` straight from the link, or `/mvla/cmd_vel` and then `/cmd_vel` through
a running `mvla watchdog`, and the state warns when no watchdog relays them; camera frames from
`sensor_msgs/Image` (bgr8, rgb8, mono8) and `CompressedImage` (PNG, JPEG) topics arrive as RGB with the
camera's rate, and a camera that stops publishing is an error (rate 0), never its last frame again."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack, closing

import cv2
import numpy as np
import pytest
from test_robot_ros2_watchdog import Closing, Listener, Watchdog, wait_for

from mvla_tui.robot.config import CameraConfig, RobotConfig, Ros2Config, TeleopConfig
from mvla_tui.robot.link import RobotLinkError
from mvla_tui.robot.state import RobotState, Step
from tests.robot.robot_parts import OnStep

pytestmark = pytest.mark.ros


class LoopThread(Closing):
    """A `ControlLoop` on the real link, run on a thread as the app runs it, with its states and steps."""

    def __init__(self, link, teleop: TeleopConfig) -> None:
        from mvla_tui.robot.control import ControlLoop

        self.states: list[RobotState] = []
        self.steps: list[Step] = []
        self.done = threading.Event()
        self.loop = ControlLoop(link, teleop, on_state=self.states.append, parts=[OnStep(self.steps.append)])
        self.thread = threading.Thread(
            target=self.loop.run, kwargs={"should_stop": self.done.is_set}, daemon=True
        )
        self.thread.start()
        try:
            wait_for(lambda: self.states and self.states[-1].running, 20.0, "the loop to connect")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """End the loop (it stops the robot and closes the link); idempotent."""
        self.done.set()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive()


@pytest.mark.parametrize("route", ["direct", "relay"])
def test_the_control_loops_twists_reach_cmd_vel(route: str) -> None:
    from mvla_tui.robot.intents import TeleopKey
    from mvla_tui.robot.ros2 import Ros2Link

    with ExitStack() as stack:
        watchdog = stack.enter_context(Watchdog(0.5)) if route == "relay" else None
        cmd_vel = stack.enter_context(Listener("/cmd_vel", publishers=1 if watchdog else 0))
        discovery = 10.0 if watchdog else 0.5
        link = Ros2Link(
            RobotConfig(camera=CameraConfig(source="none"), ros2=Ros2Config(discovery_s=discovery))
        )
        stack.callback(link.close)
        # Latch mode: the command is re-sent every 0.1 s until space, so DDS discovery may take its time.
        running = stack.enter_context(LoopThread(link, TeleopConfig(mode="latch")))
        # Listening on the relay topic before the link connected would have counted as a relay.
        relay = stack.enter_context(Listener("/mvla/cmd_vel", publishers=1)) if watchdog else None
        running.loop.submit(TeleopKey("w"))
        cmd_vel.first(after=0.0, zero=False)
        if relay is not None:
            relay.first(after=0.0, zero=False)
        moving_state = running.loop.state
        assert moving_state.moving and not moving_state.twist.is_zero
        sent = moving_state.twist  # what the loop sends
        running.loop.submit(TeleopKey(" "))
        wait_for(lambda: not running.loop.state.moving, 5.0, "the stop")
        wait_for(lambda: cmd_vel.twists()[-1].is_zero, 5.0, "the zero on /cmd_vel")
        state = running.loop.state
        running.close()
        moving = [t for t in cmd_vel.twists() if not t.is_zero]
        assert moving and all(t == sent for t in moving)  # what the loop sent, and nothing else
        assert cmd_vel.twists()[-1].is_zero
        if relay is not None:
            assert link.cmd_topic == "/mvla/cmd_vel" and state.warnings == ()
            relayed = [t for t in relay.twists() if not t.is_zero]
            assert relayed and all(t == sent for t in relayed)
            assert watchdog.stop() == 0
        else:
            assert link.cmd_topic == "/cmd_vel"
            assert len(state.warnings) == 1 and "no watchdog" in state.warnings[0]


RGB = np.random.default_rng(0).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)


def camera_message(ros, kind: str):
    """A message of `kind` showing `RGB` (mono8: its red channel), and the RGB image it must arrive as."""
    if kind in ("png", "jpeg"):
        ok, payload = cv2.imencode(f".{kind}", np.ascontiguousarray(RGB[..., ::-1]))
        assert ok
        msg = ros.ros.CompressedImage()
        msg.format = kind
        msg.data = payload.tobytes()
        expected = cv2.imdecode(payload, cv2.IMREAD_COLOR)[..., ::-1]
        return msg, expected
    msg = ros.ros.Image()
    msg.height, msg.width, msg.encoding = RGB.shape[0], RGB.shape[1], kind
    if kind == "mono8":
        pixels, expected = RGB[..., 0], np.repeat(RGB[..., :1], 3, axis=2)
    else:
        pixels, expected = (RGB[..., ::-1] if kind == "bgr8" else RGB), RGB
    msg.step = pixels.shape[1] * (1 if kind == "mono8" else 3)
    msg.data = np.ascontiguousarray(pixels).tobytes()
    return msg, expected


class Camera(Closing):
    """Publishes one message at `hz` on a thread until `stop`."""

    def __init__(self, topic: str, kind: str, hz: float = 20.0) -> None:
        from mvla_tui.robot.ros2 import RosNode

        self.ros = RosNode("mvla_test_camera")
        self.msg, self.expected = camera_message(self.ros, kind)
        msg_type = self.ros.ros.CompressedImage if kind in ("png", "jpeg") else self.ros.ros.Image
        self.publisher = self.ros.node.create_publisher(msg_type, topic, 10)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(1.0 / hz,), daemon=True)
        self._thread.start()

    def _run(self, period: float) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            self.publisher.publish(self.msg)
            next_at += period
            self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def close(self) -> None:
        self.stop()
        self.ros.shutdown()


def camera_link(topic: str):
    from mvla_tui.robot.ros2 import Ros2Link

    camera = CameraConfig(source="topic", topic=topic, startup_timeout_s=20.0, frame_timeout_s=0.3)
    return Ros2Link(RobotConfig(camera=camera, ros2=Ros2Config(cmd_vel_topic="/mvla_test/cmd_vel")))


# Each waits out a 2 s rate window: one encoding in the fast loop, the others with the slow tests.
@pytest.mark.parametrize(
    "kind", ["bgr8", *(pytest.param(k, marks=pytest.mark.slow) for k in ("rgb8", "mono8", "png", "jpeg"))]
)
def test_camera_frames_arrive_as_rgb_with_the_rate_and_a_stall_is_an_error(kind: str) -> None:
    topic = "/mvla_test/image/compressed" if kind in ("png", "jpeg") else "/mvla_test/image"
    with Camera(topic, kind, hz=20.0) as camera, closing(camera_link(topic)) as link:
        link.connect()
        frame = wait_for(link.latest_frame, 20.0, "the first frame")
        assert frame.image.dtype == np.uint8 and np.array_equal(frame.image, camera.expected)
        if kind == "png":
            assert np.array_equal(frame.image, RGB)  # lossless: exactly what the camera saw
        time.sleep(2.0)  # a full rate window
        assert 14.0 <= link.camera_hz <= 26.0, link.camera_hz
        camera.stop()
        time.sleep(0.5)  # longer than frame_timeout_s
        with pytest.raises(RobotLinkError, match="camera topic /mvla_test/image.*stalled"):
            link.latest_frame()
        assert link.camera_hz == 0.0


def test_a_stalled_camera_is_never_recorded_as_a_frame() -> None:
    from mvla_tui.robot.intents import TeleopKey

    with ExitStack() as stack:
        camera = stack.enter_context(Camera("/mvla_test/image", "bgr8"))
        link = stack.enter_context(closing(camera_link("/mvla_test/image")))
        link.connect()
        wait_for(link.latest_frame, 20.0, "the first frame")
        running = stack.enter_context(LoopThread(link, TeleopConfig(mode="step", step_s=0.2)))
        running.loop.submit(TeleopKey("w"))
        wait_for(lambda: running.steps, 5.0, "a recorded step")
        assert np.array_equal(running.steps[0].frame.image, RGB)
        camera.stop()
        time.sleep(0.6)
        running.loop.submit(TeleopKey("d"))
        wait_for(lambda: running.loop.state.last_error, 5.0, "the camera error in the state")
        assert "stalled" in running.loop.state.last_error
        assert len(running.steps) == 1  # the old frame was not handed on
