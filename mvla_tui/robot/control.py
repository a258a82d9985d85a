"""The control loop: the one thread that owns the robot link (and so its camera) and turns intents into motion.

Other threads `submit` intents (`mvla_tui.robot.intents`) through a thread-safe queue and receive
`RobotState` snapshots through `on_state` (called on the control thread, at most `teleop.state_hz` per
second, plus one final snapshot when the loop ends). What a key or a policy action does is decided by
the pure rules of `mvla_tui.robot.motion_rules`; this module carries them out on the link.
Every new motion command (not repeats) is handed to the parts as a `Step` with the frame taken right
after the command, the recorded action (the unscaled key vector, 1.15 per axis) and its event type
(`start_action`; `stop_action` when space stops a motion; `episode_start` on request), so a recorder can be
attached; the loop counts the motions it started itself (`RobotState.steps`), frame or not. Throttle scales the velocity sent (key or policy action x throttle / 100), never the recorded
action. All commands are clamped to `limits`; a non-finite action stops the robot and is reported.
Safety: every way out of `run` (quit, exception, signal via `emergency_stop`) stops the robot, and every
clean-up step (stop, guard, link close) runs even when an earlier one raised; `EStop` stops the link at
once from the submitting thread and latches until a `ClearEStop` submitted after it; while `run` is going,
a `DeadlineGuard` thread stops the robot if this thread is blocked past a motion's end (a slow camera call
or a part) or, in latch mode, for longer than `teleop.stall_s`. Those stops from other threads do not
wait for a `send` in flight (it may hang); instead every `send` is followed by a check, and if any of them
happened meanwhile the robot is stopped again at once, so no command sent across an e-stop outlives it.
A `RobotLinkError` is shown in the state and the robot is stopped, but the loop goes on (the operator sees
it and may retry); any other exception ends the loop after stopping the robot. A link that reports a
collision (the simulator) gets a stop latched like an e-stop, once per contact; the state counts the guard's
stops (`guard_stops`), which a healthy loop never needs. Warnings a link raises
when it connects (e.g. driving without the watchdog relay) are shown in the state for as long as it runs.
Other parts join the control thread as `LoopPart`s (`mvla_tui.robot.hooks`: the operating core's
recording session and policy driver, the scripted expert, a display's frame tap), called in the order they
were added. The camera frame is taken from the link at most once per tick and shared by the step and the
parts (`capture_frame`). A link whose `simulated_time()` is a clock (the sim in simulated time) runs the
loop on that clock, waiting by advancing it.
This module must not import textual or rclpy. It stays one unit of about 500 lines because the e-stop
ordering, the guard, the exit paths and the motion timers all act on the same motion state and are
safest read together (the rules of motion and the state snapshot are in their own modules).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from configs.errors import UnsafeCommandError
from configs.limits import LimitsConfig, throttled
from mvla_tui.robot.config import MODES, Mode, TeleopConfig
from mvla_tui.robot.hooks import LoopPart, PartIntent
from mvla_tui.robot.intents import (
    CaptureEpisodeStart,
    ChangeThrottle,
    ClearEStop,
    EStop,
    Intent,
    PolicyAction,
    Quit,
    ReleaseKey,
    SetMode,
    TeleopKey,
)
from mvla_tui.robot.link import STOP, Frame, RobotLink, RobotLinkError, Twist
from mvla_tui.robot.motion_rules import check_policy_action, key_decision, release_stops
from mvla_tui.robot.safety import DeadlineGuard, clamp_twist, run_every
from mvla_tui.robot.state import RobotState, StateEmitter, Step
from recorder.catalogue import STOP_KEY, EventType, key_action

ZERO_ACTION = np.zeros(3, dtype=np.float32)
# The guard stops a timed motion this long after its end; the loop itself stops it on time, so the guard
# only acts when the loop is blocked, and does not race it in the normal case.
GUARD_GRACE_S = 0.05


@dataclass
class _Motion:
    twist: Twist
    action: np.ndarray
    source: str
    key: str | None
    ends_at: float | None  # step end or deadman; None in latch mode


class ControlLoop:
    def __init__(
        self,
        link: RobotLink,
        teleop: TeleopConfig | None = None,
        limits: LimitsConfig | None = None,
        *,
        on_state: Callable[[RobotState], None] | None = None,
        parts: Sequence[LoopPart] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`clock`: the wall clock (injected by tests); a link with a simulated clock brings its own."""
        self.link = link
        self.teleop = teleop or TeleopConfig()
        self.limits = limits or LimitsConfig()
        self.on_state = on_state
        self.parts: list[LoopPart] = list(parts)
        # In simulated time the clock is the simulation's and waiting advances it (no guard thread: the
        # clock cannot pass a deadline while this thread is blocked).
        simulated = link.simulated_time()
        self.simulated = simulated
        self.clock = (lambda: simulated.time) if simulated is not None else clock
        # Each intent is queued with the number of e-stops submitted so far, so that a `ClearEStop` queued
        # before a later e-stop cannot clear that e-stop when the control thread gets to it.
        self._intents: queue.Queue[tuple[Intent | PartIntent, int]] = queue.Queue()
        self._estops = 0
        self._wake = threading.Event()
        # Plain attributes set from other threads or a signal handler: an assignment is atomic and takes
        # no lock, so a handler that interrupted this thread cannot deadlock on it.
        self._estop = False
        self._estop_reason: str | None = None
        self._quit_reason: str | None = None
        # Counts stops made by other threads (e-stop, signal, guard); `_send` compares it across the link
        # call to learn that one happened while its command was on its way.
        self._outside_stops = 0
        self._mode: Mode = self.teleop.mode
        self._throttle = self.teleop.throttle
        self._motion: _Motion | None = None
        self._twist = STOP
        self._action: tuple[float, float, float] | None = None
        self._last_send = float("-inf")
        self._stopped_at = float("-inf")  # when the last motion ended
        self._emit = StateEmitter(on_state, self._snapshot, self.teleop.state_hz)
        self._link_ok = True
        self._last_error: str | None = None
        self._camera_error: str | None = None  # the camera's message in _last_error, until a frame comes
        self._steps = 0
        self._frame_stamp: float | None = None
        self._tick_frame: Frame | None = None  # the frame taken this tick (`_frame_taken`), shared
        self._frame_taken = False
        self._running = False
        self._guard: DeadlineGuard | None = None
        self._guard_stops = 0
        self._collision: str | None = None
        self._warnings: tuple[str, ...] = ()

    # ---- any thread ----------------------------------------------------------------------------------

    def add_part(self, part: LoopPart) -> None:
        """Another part on the control thread, called after those already there (before `run`)."""
        self.parts.append(part)

    def submit(self, intent: Intent | PartIntent) -> None:
        """Queue an intent for the control thread. `EStop` also stops the link right away, from here."""
        estop = isinstance(intent, EStop)
        if estop:
            self._estop = True
            self._estops += 1
        self._intents.put((intent, self._estops))
        self._wake.set()
        if estop:  # after queueing, so the control thread halts its motion even if this stop raises
            self._outside_stop()

    def emergency_stop(self, reason: str) -> None:
        """Stop the robot now and end the loop. Safe from any thread and from a signal handler."""
        self._quit_reason = reason
        self._outside_stop()

    def _outside_stop(self) -> None:
        self._outside_stops += 1
        self._stop_link()

    # ---- control thread ------------------------------------------------------------------------------

    def run(self, duration_s: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        """Connect the link, serve intents until `Quit`, `emergency_stop`, `duration_s` or `should_stop()`;
        then stop the robot and close the link, whatever ended the loop. Every clean-up step runs even when
        one raises; the first error (the loop's own, else a clean-up step's) is raised afterwards."""
        self._running = True
        if self.simulated is None:
            self._guard = DeadlineGuard(self._outside_stop, self.clock)
            self._guard.start()
        run_every(
            lambda: self._serve(duration_s, should_stop),
            self._end_motion,
            self._stop_link,
            self._close_guard,
            self._close_parts,
            self.link.close,
            lambda: self._emit(self.clock(), force=True),
        )

    def _serve(self, duration_s: float | None, should_stop: Callable[[], bool] | None) -> None:
        self.link.connect()
        start = self.clock()
        self._warnings = tuple(self.link.warnings)
        self._emit(start, force=True)
        while True:
            # Cleared before the queue is drained: an intent submitted from now on wakes the next wait.
            self._wake.clear()
            now = self.clock()
            self.tick(now)
            if self._quit_reason is not None:
                break
            if duration_s is not None and now - start >= duration_s:
                break
            if should_stop is not None and should_stop():
                break
            self._wait(self._idle_time(self.clock()))

    def _wait(self, seconds: float) -> None:
        if self.simulated is None:
            self._wake.wait(seconds)
        elif self._wake.is_set():
            return  # an intent is queued: handle it at this simulated instant
        elif any(part.waiting() for part in self.parts):
            self._wake.wait(1.0)  # a result from another thread comes as an intent; simulated time stands
        else:
            self.simulated.advance(seconds)

    def _end_motion(self) -> None:
        self._running = False
        self._motion = None
        self._twist = STOP

    def _close_parts(self) -> None:
        run_every(*(part.on_close for part in self.parts))

    def _close_guard(self) -> None:
        guard, self._guard = self._guard, None
        if guard is not None:
            guard.close()

    def tick(self, now: float | None = None) -> None:
        """Handle queued intents, then due timers (step end, deadman, re-send), then the parts' tick, then
        maybe emit the state (at once when a part consumed an intent: its state changed)."""
        now = self.clock() if now is None else now
        self._frame_taken = False
        self._tick_frame = None
        if self._guard is not None and self._guard.error is not None:
            raise self._guard.error  # the guard could not stop the robot: end the loop, which stops it
        if self._guard is not None and self._guard.fired:
            self._guard.fired = False
            self._guard_stops += 1
            if self._motion is not None:
                # Stop again: a command whose send was in flight when the guard fired may have landed after.
                self._halt()
                self._last_error = (
                    "control thread was blocked past the end of a motion; the guard stopped the robot"
                )
        changed = False
        while True:
            try:
                intent, estops = self._intents.get_nowait()
            except queue.Empty:
                break
            if self.offer(intent, now):
                changed = True
                continue
            self._handle(intent, estops, now)
        self._check_collision()
        motion = self._motion
        if motion is not None and motion.ends_at is not None and now >= motion.ends_at:
            self._halt()
        elif motion is not None and now - self._last_send >= self.teleop.republish_s:
            self._send(motion.twist, now)  # a failure clears the motion and is reported in the state
        for part in self.parts:
            part.on_tick(now)
        self._arm_guard(now)
        self._emit(now, force=changed)

    def offer(self, intent: object, now: float) -> bool:
        """Hand `intent` to the parts in turn until one consumes it; True when one did."""
        return any(part.on_intent(intent, now) for part in self.parts)

    def pending_intents(self) -> list[Intent | PartIntent]:
        """Take what is still queued (after `run` ended: the answers of work finished meanwhile)."""
        pending = []
        while True:
            try:
                pending.append(self._intents.get_nowait()[0])
            except queue.Empty:
                return pending

    @property
    def state(self) -> RobotState:
        """A snapshot now; readable from any thread (values written by the control thread may lag a tick)."""
        return self._snapshot(self.clock())

    # ---- for parts, on the control thread ------------------------------------------------------------

    def handle_now(self, intent: Intent, now: float) -> None:
        """Act on `intent` at once, as if it had been submitted (parts do not see it): how the scripted
        expert presses its keys and the policy driver executes its actions."""
        self._handle(intent, self._estops, now)

    def latch_stop(self, reason: str) -> None:
        """Stop and latch like an e-stop, with `reason` shown until the operator clears it (`ClearEStop`)."""
        self._estop = True
        self._estop_reason = reason
        self._halt()

    def halt(self) -> None:
        """Stop the motion in progress (nothing is recorded)."""
        self._halt()

    def emit_state(self) -> None:
        """Send a state snapshot now, outside the rate limit (a part's state changed in a way that matters)."""
        self._emit(self.clock(), force=True)

    def capture_frame(self, not_before: float | None = None) -> Frame | None:
        """This tick's camera frame, or None (the reason is in the state's `last_error`). The link is asked
        once per tick and the frame shared (the recorded step, the policy, the display); only a caller that
        needs a frame taken at or after `not_before` which the tick's frame is not asks the link again (see
        `RobotLink.latest_frame`: a link that draws on demand only takes the request, so a frame is still
        drawn at most once per tick). The frame returned may still be older: the caller checks its stamp."""
        if self._frame_taken:
            cached = self._tick_frame
            if not_before is None or (cached is not None and cached.stamp >= not_before):
                return cached
        self._frame_taken = True
        try:
            frame = self.link.latest_frame(not_before)
        except RobotLinkError as exc:
            self._tick_frame = None
            self._last_error = self._camera_error = str(exc)
            return None
        self._tick_frame = frame
        if frame is None:
            self._last_error = self._camera_error = "no camera frame yet"
        elif self._camera_error is not None:
            # The camera is back: its message must not stay on screen beside a live image.
            if self._last_error == self._camera_error:
                self._last_error = None
            self._camera_error = None
        return frame

    @property
    def steps(self) -> int:
        """Motions started so far (teleop presses and policy actions), whether or not a frame was recorded."""
        return self._steps

    @property
    def moving_source(self) -> str | None:
        """ "teleop" or "policy" while a motion is in progress, else None."""
        return self._motion.source if self._motion is not None else None

    @property
    def motion_ends_at(self) -> float | None:
        return self._motion.ends_at if self._motion is not None else None

    @property
    def stopped_at(self) -> float:
        """When the last motion ended (-inf before the first)."""
        return self._stopped_at

    @property
    def estopped(self) -> bool:
        return self._estop

    @property
    def estop_reason(self) -> str | None:
        return self._estop_reason if self._estop else None

    @property
    def collision(self) -> str | None:
        """What the link reported the robot touched (the stop latched on it), or None."""
        return self._collision

    def _check_collision(self) -> None:
        """A link that reports a contact (the simulator) stops the robot and latches, once per contact."""
        try:
            collision = self.link.collision
        except RobotLinkError:
            return
        if collision is not None and self._collision is None:
            self._collision = collision
            self.latch_stop(f"collision: the robot touched {collision}")

    # ---- intents -------------------------------------------------------------------------------------

    def _handle(self, intent: Intent | PartIntent, estops: int, now: float) -> None:
        if isinstance(intent, TeleopKey):
            self._teleop_key(intent.key, now)
        elif isinstance(intent, ReleaseKey):
            motion = self._motion
            if release_stops(self._mode, intent.key, motion.key if motion is not None else None):
                self._halt(now=now)
        elif isinstance(intent, PolicyAction):
            self._policy_action(intent, now)
        elif isinstance(intent, EStop):
            self._estop = True
            self._estop_reason = "e-stop pressed"
            self._halt()
        elif isinstance(intent, ClearEStop):
            if estops == self._estops:
                self._estop = False
                self._estop_reason = None
            else:
                self._last_error = "e-stop pressed again after it was cleared: still latched"
        elif isinstance(intent, ChangeThrottle):
            self._change_throttle(intent.direction, now)
        elif isinstance(intent, SetMode):
            self._set_mode(intent.mode)
        elif isinstance(intent, CaptureEpisodeStart):
            self._capture(ZERO_ACTION, "episode_start", STOP, now)
        elif isinstance(intent, Quit):
            self._quit_reason = intent.reason
        else:
            raise TypeError(f"unknown intent {intent!r}")

    def _teleop_key(self, raw_key: str, now: float) -> None:
        motion = self._motion
        moving_key = motion.key if motion is not None else None
        decision = key_decision(self._mode, raw_key, moving_key, now, self.teleop)
        if decision.effect == "not_a_key":
            self._last_error = f"key {raw_key!r} is not a movement key"
        elif decision.effect == "stop":
            self._halt(event="stop_action", now=now)
        elif decision.effect == "extend" and motion is not None:
            motion.ends_at = decision.ends_at
        elif decision.effect in ("start", "restart"):
            if decision.effect == "restart":
                self._halt()  # the earlier collector stopped the running step before starting the next
            self._start(key_action(decision.key), "teleop", decision.key, decision.ends_at, now)

    def _set_mode(self, mode: str) -> None:
        if mode not in MODES:
            self._last_error = f"unknown teleop mode {mode!r} (use {', '.join(MODES)}); still in {self._mode}"
            return
        self._halt()
        self._mode = cast(Mode, mode)  # one of MODES, checked above

    def _policy_action(self, intent: PolicyAction, now: float) -> None:
        command = check_policy_action(intent.action, intent.duration_s, self.teleop)
        if command.action is None:
            self._halt()
            self._last_error = command.error
            return
        if command.note is not None:
            self._last_error = command.note
        self._start(command.action, "policy", None, now + command.duration_s, now, proposed=intent.action)

    def _change_throttle(self, direction: int, now: float) -> None:
        step = self.teleop.throttle_step * (1 if direction > 0 else -1)
        self._throttle = min(max(self._throttle + step, self.teleop.throttle_min), self.teleop.throttle_max)
        motion = self._motion
        if motion is not None:  # apply the new speed to the motion in progress, not only to the next one
            twist = self._scaled(motion.action)
            if twist is not None and self._send(twist, now) is not None:
                motion.twist = twist

    # ---- motion --------------------------------------------------------------------------------------

    def _start(
        self,
        action: np.ndarray,
        source: str,
        key: str | None,
        ends_at: float | None,
        now: float,
        proposed: np.ndarray | None = None,
    ) -> None:
        if self._quit_reason is not None:
            return
        if self._estop:
            self._last_error = f"{self._estop_reason or 'e-stop'}: latched, clear it before moving"
            return
        twist = self._scaled(action)
        if twist is None:
            return
        sent = self._send(twist, now)
        if sent is None:
            return
        self._motion = _Motion(sent, action, source, key, ends_at)
        self._arm_guard(now)  # before the capture below, which may block
        self._action = (float(action[0]), float(action[1]), float(action[2]))
        self._steps += 1
        self._capture(action, "start_action", sent, now, key, source, proposed)

    def _scaled(self, action: np.ndarray) -> Twist | None:
        try:
            return clamp_twist(Twist.from_array(throttled(action, self._throttle)), self.limits)
        except UnsafeCommandError as exc:
            self._halt()
            self._last_error = str(exc)
            return None

    def _halt(self, event: EventType | None = None, now: float | None = None) -> None:
        """Stop the robot; hand a `stop_action` to the sink when `event` is given and a motion was stopped."""
        was_moving = self._motion is not None
        self._motion = None
        self._arm_guard(0.0)
        self._stop_link()
        self._twist = STOP
        if was_moving:
            self._stopped_at = self.clock() if now is None else now
        if event is not None and was_moving:
            self._action = (0.0, 0.0, 0.0)
            self._capture(ZERO_ACTION, event, STOP, self.clock() if now is None else now, STOP_KEY, "teleop")

    def _send(self, twist: Twist, now: float) -> Twist | None:
        """Send a motion command; None (and the robot stopped, the motion dropped) when it may not stand."""
        if (self._estop or self._quit_reason is not None) and not twist.is_zero:
            self._halt()
            return None
        stops_before = self._outside_stops
        try:
            sent = self.link.send(twist)
        except RobotLinkError as exc:
            self._link_failed(exc)
            return None
        if self._outside_stops != stops_before or self._estop or self._quit_reason is not None:
            # An e-stop, signal or guard stopped the robot while this command was on its way, and the link
            # may have delivered it after that stop: stop again, so the stop is the last word.
            self._halt()
            return None
        self._twist = sent
        self._last_send = now
        self._link_ok = True
        return sent

    def _stop_link(self) -> None:
        try:
            self.link.stop()
        except RobotLinkError as exc:
            self._link_ok = False
            self._last_error = str(exc)

    def _link_failed(self, exc: RobotLinkError) -> None:
        self._motion = None
        self._stop_link()
        self._link_ok = False
        self._last_error = str(exc)

    def _arm_guard(self, now: float) -> None:
        if self._guard is None:
            return
        motion = self._motion
        if motion is None:
            self._guard.deadline = None
        elif motion.ends_at is not None:
            self._guard.deadline = motion.ends_at + GUARD_GRACE_S
        else:
            self._guard.deadline = now + self.teleop.stall_s

    def _capture(
        self,
        action: np.ndarray,
        event: EventType,
        twist: Twist,
        now: float,
        key: str | None = None,
        source: str | None = None,
        proposed: np.ndarray | None = None,
    ) -> None:
        if not self.parts:
            return
        frame = self.capture_frame()
        if frame is None:
            self._last_error = f"{self._last_error or 'no camera frame yet'}; {event} not recorded"
            return
        self._frame_stamp = frame.stamp
        if proposed is not None:
            proposed = np.array(proposed, dtype=np.float32).reshape(3)
        step = Step(frame, np.array(action, dtype=np.float32), event, twist, now, key, source, proposed)
        for part in self.parts:
            part.on_step(step)

    # ---- state ---------------------------------------------------------------------------------------

    def _idle_time(self, now: float) -> float:
        """How long nothing is due: the next motion end or re-send, or what the parts ask for; on the wall
        clock at most `tick_s` (a signal or the guard may want the loop back)."""
        due = [now + self.teleop.tick_s]
        motion = self._motion
        if motion is not None:
            if self.simulated is not None:
                due = [self._last_send + self.teleop.republish_s]
            if motion.ends_at is not None:
                due.append(motion.ends_at)
        due.extend(d for d in (part.next_due(now) for part in self.parts) if d is not None)
        return max(min(due) - now, 0.0)

    def _snapshot(self, now: float) -> RobotState:
        motion = self._motion
        return RobotState(
            t=now,
            running=self._running,
            mode=self._mode,
            estop=self._estop,
            throttle=self._throttle,
            moving=motion is not None,
            source=motion.source if motion is not None else None,
            twist=self._twist,
            action=self._action,
            link_ok=self._link_ok,
            last_error=self._last_error,
            steps=self._steps,
            frame_stamp=self._frame_stamp,
            warnings=self._warnings,
            estop_reason=self._estop_reason if self._estop else None,
            camera_hz=self._camera_hz(),
            guard_stops=self._guard_stops,
            collision=self._collision,
        )

    def _camera_hz(self) -> float | None:
        try:
            return self.link.camera_hz
        except RobotLinkError:  # a link that is not connected (yet, or any more) has no rate to tell
            return None
