"""`SimLink`: the MuJoCo simulation behind the `RobotLink` contract, in simulated or real time.

Owns one `SimWorld` and its clock; built by `make_link` from a robot config whose `sim:` section
(`SimConfig`) names the layout (scenario, distance, bias, seed) and the camera size. Two ways to run it:
- simulated time (default, headless collection and closed-loop evaluation): physics advances only
  in `advance()` (the control loop calls it while it waits: `SimulatedTime`), so an episode runs as
  fast as rendering allows; `latest_frame()` renders the camera now, in the calling thread;
- real time (`realtime=True`, when driven from the TUI's control loop): a thread steps the physics
  at wall-clock pace and renders `realtime_fps` frames per second; `latest_frame()` returns the
  newest one (None before the first).

`Frame.stamp` is the simulated time in simulated-time mode and `time.monotonic()` in real time, the
clock of the other links, so the control loop can judge a frame's age the same way.

Twists are clamped to `LimitsConfig` like every other link; a non-finite twist stops the base and
raises `UnsafeCommandError`. Frames are rendered images of a simulated camera, so `synthetic` is
False: sim episodes are meant to be recorded. It must not import Textual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from mvla_tui.robot.camera import RateMeter
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.link import STOP, Frame, RobotLinkError, Twist
from mvla_tui.robot.safety import UnsafeCommandError, clamp_twist
from mvla_tui.sim.layout import make_layout
from mvla_tui.sim.success import EpisodeResult, Pose
from mvla_tui.sim.world import SimWorld

_MAX_CATCH_UP_S = 0.5  # real-time mode: a longer stall (debugger, suspended laptop) is not replayed


class SimLink:
    def __init__(
        self, config: RobotConfig | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.robot_config = config or RobotConfig(kind="sim")
        self.config = self.robot_config.sim
        sim = self.config
        self.layout = make_layout(sim.scenario, sim.distance, sim.bias, sim.seed)
        self.width = sim.camera_width
        self.height = sim.camera_height
        self.limits = self.robot_config.limits
        self.realtime = sim.realtime
        self.clock = clock  # real time only: the stamp of rendered frames
        self.warnings: list[str] = []
        self._rate = RateMeter()  # real time: rendered frames
        self._world: SimWorld | None = None
        self._closed = False
        # RLock: stop() may run in a signal handler that interrupted this thread inside send().
        self._lock = threading.RLock()
        self._frame: Frame | None = None
        self._thread: threading.Thread | None = None
        self._halt = threading.Event()
        self._thread_error: BaseException | None = None

    # RobotLink contract

    def connect(self) -> None:
        if self._closed:
            raise RobotLinkError("sim: connect() after close(); make a new SimLink")
        if self._world is not None:
            return
        self._world = SimWorld(self.layout, self.config, self.width, self.height)
        if self.realtime:
            self._thread = threading.Thread(target=self._run_realtime, name="sim physics", daemon=True)
            self._thread.start()

    def send(self, twist: Twist) -> Twist:
        world = self._require_world("send()")
        try:
            sent = clamp_twist(twist, self.limits)
        except UnsafeCommandError:
            self.stop()
            raise
        with self._lock:
            world.set_command(sent.as_array())
        return sent

    def stop(self) -> None:
        world = self._world
        if world is not None:
            with self._lock:
                world.set_command(STOP.as_array())

    def latest_frame(self) -> Frame | None:
        world = self._require_world("latest_frame()")
        if self.realtime:
            return self._frame
        return Frame(world.render(), world.time)

    def close(self) -> None:
        self.stop()
        self._closed = True
        if self._thread is not None:
            self._halt.set()
            self._thread.join()
            self._thread = None
        elif self._world is not None:
            self._world.close()

    # Simulated time

    def advance(self, seconds: float) -> None:
        """Step the physics `seconds` of simulated time with the current command."""
        if self.realtime:
            raise RobotLinkError("sim: advance() is for simulated time; this link runs in real time")
        self._require_world("advance()").step(seconds)

    # What the sim knows that a real robot does not

    @property
    def time(self) -> float:
        """Simulated seconds since the episode started (0 before `connect`; kept after `close`)."""
        return self._world.time if self._world is not None else 0.0

    def pose(self) -> Pose:
        world = self._require_world("pose()")
        with self._lock:
            return world.pose()

    @property
    def camera_hz(self) -> float | None:
        """Rendered frames per second in real time; None in simulated time (frames render on demand)."""
        if not self.realtime:
            return None
        with self._lock:
            return self._rate.rate(self.clock())

    @property
    def connected(self) -> bool:
        return self._world is not None and not self._closed

    @property
    def collided(self) -> str | None:
        """The name of the first thing the robot touched, or None."""
        return self._require_world("collided").tracker.collision

    def result(self) -> EpisodeResult:
        world = self._require_world("result()")
        with self._lock:
            return world.result()

    def _require_world(self, what: str) -> SimWorld:
        if self._thread_error is not None:
            raise RobotLinkError(f"sim: the physics thread failed: {self._thread_error}")
        if self._closed:
            raise RobotLinkError(f"sim: {what} after close()")
        if self._world is None:
            raise RobotLinkError(f"sim: {what} before connect()")
        return self._world

    def _run_realtime(self) -> None:
        world = self._world
        assert world is not None
        period = 1.0 / self.config.realtime_fps
        try:
            wall0, sim0 = self.clock(), world.time
            next_frame = wall0
            while not self._halt.is_set():
                now = self.clock()
                behind = (sim0 + now - wall0) - world.time
                if behind > _MAX_CATCH_UP_S:
                    sim0 -= behind - _MAX_CATCH_UP_S
                    behind = _MAX_CATCH_UP_S
                if behind > 0:
                    with self._lock:
                        world.step(behind)
                if now >= next_frame:
                    self._frame = Frame(world.render(guard=self._lock), self.clock())
                    with self._lock:
                        self._rate.add(self._frame.stamp)
                    next_frame = now + period
                self._halt.wait(max(0.0, min(next_frame - self.clock(), 0.01)))
        except BaseException as exc:  # noqa: BLE001 - reported to the control thread by _require_world
            self._thread_error = exc
            world.set_command(STOP.as_array())
        finally:
            world.close()
