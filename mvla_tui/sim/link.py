"""`SimLink`: the MuJoCo simulation behind the `RobotLink` contract, in simulated or real time.

Owns one `SimWorld` and its clock; built by `make_link` from a robot config whose `sim:` section
(`SimConfig`) names the layout (scenario, distance, bias, seed) and the camera size. Two ways to run it:
- simulated time (default, headless collection and closed-loop evaluation): physics advances only
  in `advance()` (the control loop calls it while it waits: `SimulatedTime`), so an episode runs as
  fast as rendering allows; `latest_frame()` renders the camera now, in the calling thread;
- real time (`realtime=True`: the app, `mvla drive`, `mvla eval --sim --realtime`): a thread of its own
  ("sim camera") steps the physics at wall-clock pace and renders the camera on demand only. Rendering
  1280x720 in software costs about 30 ms of both cores, so it draws a frame only when a reader asks for one
  (`latest_frame()`), at most `realtime_fps` times a second for readers that take any recent frame (the
  display), and at once for a reader that names the time its frame must be taken after (`not_before`: the
  policy after the robot came to rest). `latest_frame()` never waits: it returns the newest frame (None
  before the first) and the reader looks again for a newer one. Mesa's software rasteriser (llvmpipe) starts
  one drawing thread per core by default; in real time it gets `sim.render_threads` (1), through
  `LP_NUM_THREADS` unless the caller set it, so a frame being drawn leaves a core to the control thread, the
  policy and the app. On a 2-core machine one thread draws a fresh 1280x720 frame in about 31 ms against 19
  ms with two, well inside the 0.65 s step. In benchmarks/bench_app_closed_loop.py (12 episodes, quiet
  machine) the app's policy step p99 read 13.9 and 16.0 ms with one thread, 14.9 and 17.6 ms with two: a
  p99 of 195 steps is within noise of either, so the reason is the bound (a frame never takes both cores
  from the policy), not a measured gain. Mesa reads it when a renderer is made, so it holds for the
  renderers this process makes later; a GPU renderer ignores it.

`Frame.stamp` is the simulated time in simulated-time mode and, in real time, the `time.monotonic()`
instant the physics stood at when the scene was copied for the frame (not when drawing it finished), so
the control loop judges a frame's age the same way as a camera's. Commands and scene copies first bring the
physics up to the wall clock, so a press lasts what the loop timed, to a physics step.

Twists are clamped to `LimitsConfig` like every other link; a non-finite twist stops the base and
raises `UnsafeCommandError`. Frames are rendered images of a simulated camera, so `synthetic` is
False: sim episodes are meant to be recorded. `collision` is the first thing the robot touched. It must not
import Textual.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable

from configs.errors import UnsafeCommandError
from mvla_tui.robot.camera import RateMeter
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.link import STOP, Frame, RobotLinkError, SimulatedTime, Twist
from mvla_tui.robot.safety import clamp_twist
from mvla_tui.sim.layout import make_layout
from mvla_tui.sim.success import EpisodeResult, Pose
from mvla_tui.sim.world import SimWorld

log = logging.getLogger(__name__)
_MAX_CATCH_UP_S = 0.5  # real-time mode: a longer stall (debugger, suspended laptop) is not replayed
_NICE = 5  # real-time mode: how much lower the camera thread's priority is than the control thread's
_FIRST_FRAME_S = 10.0  # real-time mode: `connect` waits this long at most for the renderer's first frame
_PHYSICS_TICK_S = 0.01  # real-time mode: the physics keeps up with the wall clock at least this often


def _yield_to_the_control_thread() -> None:
    """Lower this thread's scheduling priority (Linux: a thread's own nice value), before the renderer is
    made here, so its software rasteriser's threads inherit it: when the CPU is short, the control thread,
    the policy and the UI run first and the drawing waits (a robot's camera runs on its own hardware)."""
    if sys.platform != "linux":
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(os.getpriority(os.PRIO_PROCESS, tid) + _NICE, 19))
    except OSError as exc:  # not allowed here (a container's seccomp policy): it renders at equal priority
        log.debug("sim camera thread: cannot lower its priority (%s)", exc)


def _limit_render_threads(threads: int | None) -> None:
    """Set Mesa's llvmpipe thread count (`LP_NUM_THREADS`) for the renderers made from now on, unless the
    caller set it (theirs wins) or `threads` is None (Mesa's default: one per core)."""
    if threads is not None and "LP_NUM_THREADS" not in os.environ:
        os.environ["LP_NUM_THREADS"] = str(threads)


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
        # Real time: readers ask the camera thread for a frame through these (plain assignments: atomic).
        self._wake = threading.Event()
        self._wanted = False  # a reader takes any recent frame
        self._wanted_after = float("-inf")  # a reader needs a frame taken at or after this instant
        self._capturing_at: float | None = None  # stamp of the frame being drawn now
        self._wall0 = 0.0  # wall-clock instant of simulated time `_sim0`
        self._sim0 = 0.0

    # RobotLink contract

    def connect(self) -> None:
        if self._closed:
            raise RobotLinkError("sim: connect() after close(); make a new SimLink")
        if self._world is not None:
            return
        self._world = SimWorld(self.layout, self.config, self.width, self.height)
        if self.realtime:
            _limit_render_threads(self.config.render_threads)  # before the camera thread makes its renderer
            self._wall0, self._sim0 = self.clock(), self._world.time
            self._wanted = True  # the first frame at once: the camera is ready when connect returns
            self._thread = threading.Thread(target=self._run_realtime, name="sim camera", daemon=True)
            self._thread.start()
            deadline = time.monotonic() + _FIRST_FRAME_S
            while self._frame is None and self._thread_error is None and time.monotonic() < deadline:
                time.sleep(0.005)
            self._require_world("connect()")  # the camera thread's error, if it failed to start

    def send(self, twist: Twist) -> Twist:
        world = self._require_world("send()")
        try:
            sent = clamp_twist(twist, self.limits)
        except UnsafeCommandError:
            self.stop()
            raise
        with self._lock:
            self._catch_up(world)
            world.set_command(sent.as_array())
        return sent

    def stop(self) -> None:
        world = self._world
        if world is not None:
            with self._lock:
                self._catch_up(world)
                world.set_command(STOP.as_array())

    def latest_frame(self, not_before: float | None = None) -> Frame | None:
        """Simulated time: the camera's view now. Real time: the newest frame drawn (None before the
        first), and a request for a new one: at once when the newest (and the one being drawn) was taken
        before `not_before`, else when the newest is older than a camera period."""
        world = self._require_world("latest_frame()")
        if not self.realtime:
            return Frame(world.render(), world.time)
        frame, drawing = self._frame, self._capturing_at
        if not_before is not None:
            newest = max(
                frame.stamp if frame is not None else float("-inf"),
                drawing if drawing is not None else float("-inf"),
            )
            if newest < not_before:
                self._wanted_after = max(self._wanted_after, not_before)
                self._wake.set()
        elif drawing is None and (frame is None or self.clock() - frame.stamp >= self._period):
            self._wanted = True
            self._wake.set()
        return frame

    def close(self) -> None:
        self.stop()
        self._closed = True
        if self._thread is not None:
            self._halt.set()
            self._wake.set()
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

    def simulated_time(self) -> SimulatedTime | None:
        """In simulated time the link is its own clock (`time`, `advance`); in real time the wall clock."""
        return None if self.realtime else self

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
    def collision(self) -> str | None:
        """The name of the first thing the robot touched, or None (also before `connect`)."""
        world = self._world
        return world.tracker.collision if world is not None else None

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

    @property
    def _period(self) -> float:
        return 1.0 / self.config.realtime_fps

    def _catch_up(self, world: SimWorld) -> None:
        """Real time, under the lock: step the physics up to the wall clock (whole physics steps), so
        what happens next (a new command, a scene copy) happens at the right simulated instant."""
        if not self.realtime or self._thread is None:
            return
        now = self.clock()
        behind = (self._sim0 + now - self._wall0) - world.time
        if behind > _MAX_CATCH_UP_S:  # a long stall is not replayed: simulated time skips it
            self._sim0 -= behind - _MAX_CATCH_UP_S
            behind = _MAX_CATCH_UP_S
        steps = int(behind / world.model.opt.timestep)
        if steps > 0:
            world.step(steps * world.model.opt.timestep)

    def _frame_wait(self) -> float:
        """Seconds until a frame is due (0: draw now; the physics tick when none is asked for)."""
        frame = self._frame
        newest = frame.stamp if frame is not None else float("-inf")
        now = self.clock()
        if self._wanted_after > newest:  # a reader needs a newer frame: as soon as its instant has come
            return max(0.0, min(self._wanted_after - now, _PHYSICS_TICK_S))
        if self._wanted:
            return max(0.0, min(newest + self._period - now, _PHYSICS_TICK_S))
        return _PHYSICS_TICK_S

    def _run_realtime(self) -> None:
        world = self._world
        assert world is not None
        _yield_to_the_control_thread()
        try:
            while not self._halt.is_set():
                with self._lock:
                    self._catch_up(world)
                wait = self._frame_wait()
                if wait <= 0.0:
                    self._wanted = False
                    self._draw(world)
                    continue
                self._wake.wait(wait)
                self._wake.clear()
        except BaseException as exc:  # noqa: BLE001 - reported to the control thread by _require_world
            self._thread_error = exc
            world.set_command(STOP.as_array())
        finally:
            world.close()

    def _draw(self, world: SimWorld) -> None:
        with self._lock:  # the physics stands still only while the scene is copied, not while drawn
            self._catch_up(world)
            stamp = self.clock()
            self._capturing_at = stamp
            world.copy_scene()
        frame = Frame(world.draw(), stamp)
        with self._lock:
            self._frame = frame
            self._capturing_at = None
            self._rate.add(frame.stamp)
