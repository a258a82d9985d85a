"""A stand-in for the small part of rclpy and the message packages that `ros2.py` and `watchdog.py` use, so
their wiring (topics chosen, messages built, callbacks, service calls, shutdown) runs without ROS 2.
It checks our code paths, not rclpy itself: the `ros`-marked tests do that where ROS 2 is installed."""

from __future__ import annotations

import sys
import threading
import time
import types
from collections import defaultdict
from typing import Any


class Graph:
    """Every topic and service of the fake ROS world; publishing calls subscribers synchronously."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, list[Any]] = defaultdict(list)
        self.published: dict[str, list[Any]] = defaultdict(list)
        self.services: dict[str, Any] = {}
        self.contexts: list[Context] = []
        self.flushes: list[tuple[str, float]] = []  # (topic, timeout) of each wait_for_all_acked


class Duration:
    def __init__(self, *, seconds: float = 0.0) -> None:
        self.seconds = seconds


GRAPH = Graph()


class Context:
    def __init__(self) -> None:
        self.ok = False

    def try_shutdown(self) -> None:
        self.ok = False


def init(*, context: Context) -> None:
    context.ok = True
    GRAPH.contexts.append(context)


class Publisher:
    def __init__(self, topic: str) -> None:
        self.topic = topic

    def publish(self, msg: Any) -> None:
        GRAPH.published[self.topic].append(msg)
        for callback in list(GRAPH.subscriptions[self.topic]):
            callback(msg)

    def wait_for_all_acked(self, timeout: Duration) -> bool:
        GRAPH.flushes.append((self.topic, timeout.seconds))
        return True


class Future:
    def __init__(self, response: Any) -> None:
        self._response = response

    def add_done_callback(self, callback: Any) -> None:
        if self._response is not None:
            callback(self)

    def cancel(self) -> None:
        pass

    def result(self) -> Any:
        return self._response

    def exception(self) -> None:
        return None


class Client:
    def __init__(self, name: str) -> None:
        self.name = name

    def wait_for_service(self, timeout_sec: float) -> bool:
        return self.name in GRAPH.services

    def call_async(self, request: Any) -> Future:
        handler = GRAPH.services.get(self.name)
        return Future(handler(request) if handler else None)


class Node:
    def __init__(self, name: str, context: Context) -> None:
        self.name, self.context = name, context
        self.timers: list[list[Any]] = []
        self._subs: list[tuple[str, Any]] = []

    def create_publisher(self, msg_type: Any, topic: str, qos: Any) -> Publisher:
        return Publisher(topic)

    def create_subscription(self, msg_type: Any, topic: str, callback: Any, qos: Any) -> None:
        GRAPH.subscriptions[topic].append(callback)
        self._subs.append((topic, callback))

    def count_subscribers(self, topic: str) -> int:
        return len(GRAPH.subscriptions[topic])

    def create_timer(self, period: float, callback: Any) -> None:
        self.timers.append([period, time.monotonic() + period, callback])

    def create_client(self, srv_type: Any, name: str) -> Client:
        return Client(name)

    def destroy_node(self) -> None:
        for topic, callback in self._subs:
            GRAPH.subscriptions[topic].remove(callback)
        self._subs.clear()


def create_node(name: str, *, context: Context) -> Node:
    return Node(name, context)


class SingleThreadedExecutor:
    def __init__(self, *, context: Context) -> None:
        self.context = context
        self.nodes: list[Node] = []
        self._shutdown = threading.Event()

    def add_node(self, node: Node) -> None:
        self.nodes.append(node)

    def spin_once(self, timeout_sec: float) -> None:
        self._shutdown.wait(timeout_sec)
        now = time.monotonic()
        for node in self.nodes:
            for timer in node.timers:
                if now >= timer[1]:
                    timer[1] = now + timer[0]
                    timer[2]()

    def spin(self) -> None:
        while not self._shutdown.is_set():
            self.spin_once(0.01)

    def shutdown(self) -> None:
        self._shutdown.set()


class Vector3:
    def __init__(self) -> None:
        self.x = self.y = self.z = 0.0


class Twist:
    def __init__(self) -> None:
        self.linear, self.angular = Vector3(), Vector3()


class Time:
    def __init__(self) -> None:
        self.sec = self.nanosec = 0


class Header:
    def __init__(self) -> None:
        self.stamp, self.frame_id = Time(), ""


class Image:
    def __init__(self) -> None:
        self.header = Header()
        self.height = self.width = self.step = 0
        self.encoding = ""
        self.is_bigendian = 0
        self.data = b""


class CompressedImage:
    def __init__(self) -> None:
        self.header = Header()
        self.format = ""
        self.data = b""


class GetImage:
    class Request:
        pass

    class Response:
        def __init__(self) -> None:
            self.image = Image()


class Empty:
    class Request:
        pass

    class Response:
        pass


def module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__dict__.update(attrs)
    return mod


def install(monkeypatch: Any) -> Graph:
    """Install the fake rclpy and message packages for one test (a pytest `monkeypatch` undoes it);
    returns the fresh graph."""
    global GRAPH
    GRAPH = Graph()
    modules = {
        "rclpy": module("rclpy", init=init, create_node=create_node),
        "rclpy.context": module("rclpy.context", Context=Context),
        "rclpy.duration": module("rclpy.duration", Duration=Duration),
        "rclpy.executors": module("rclpy.executors", SingleThreadedExecutor=SingleThreadedExecutor),
        "rclpy.qos": module("rclpy.qos", qos_profile_sensor_data="sensor_data"),
        "geometry_msgs": module("geometry_msgs"),
        "geometry_msgs.msg": module("geometry_msgs.msg", Twist=Twist),
        "sensor_msgs": module("sensor_msgs"),
        "sensor_msgs.msg": module("sensor_msgs.msg", Image=Image, CompressedImage=CompressedImage),
        "camera_interfaces": module("camera_interfaces"),
        "camera_interfaces.srv": module("camera_interfaces.srv", GetImage=GetImage),
        "std_srvs": module("std_srvs"),
        "std_srvs.srv": module("std_srvs.srv", Empty=Empty),
    }
    for name, mod in modules.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return GRAPH


def without_camera_service(monkeypatch: Any) -> None:
    """Make `camera_interfaces` unimportable, as on a machine without the robot's workspace."""
    monkeypatch.setitem(sys.modules, "camera_interfaces", None)
    monkeypatch.setitem(sys.modules, "camera_interfaces.srv", None)
