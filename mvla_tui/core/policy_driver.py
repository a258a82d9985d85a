"""`PolicyDriver`: lets a policy drive through the control loop, on the control thread.

It never runs the model: it asks the `PolicyWorker` for one step on the current frame and, when the answer
comes back (an intent), turns the chunk's command into a `PolicyAction` for the loop. So the control thread
never waits for the model, and everything the loop guarantees (clamping, the deadman cap, e-stop) holds
for policy actions as for keys. Actions stay in the recorded key units (1.15 per axis) until the loop
scales them by the throttle, the one place where they become m/s for the link.

- `LoadPolicy` loads off the control thread; driving goes on meanwhile; a failure is one line in the
  state and nothing else changes.
- `SetInstruction` starts a new episode of the policy (its window is reset); `InferOnce` runs one step on
  the current frame without moving and reports the chunk and its latency (`InferAnswered`);
  `RunPolicy` / `StopPolicy`.
- Execution (`PolicyDriveConfig.execution`): `step` as the data was recorded: the frame is taken at rest,
  the action is pressed for `teleop.step_s`, the robot settles `teleop.settle_s`, and the next frame is
  due one `period_s` after the last (later, if the model was slow); `continuous` sends a new action every
  `period_s`, each lasting until shortly after the next is due. A step whose action comes back after its
  budget (`period_s - step_s - settle_s` in step mode, `period_s` in continuous mode) is a missed deadline.
  The state keeps per-step latency p50/p99, the effective rate and the missed deadlines.
- Frames: a step acts only on a fresh frame, judged by its stamp: in step mode one taken after the settle
  (the robot at rest), in both modes one at most `max_frame_age_s` older than the step's due time. The
  driver asks the link for one (`not_before`, so the simulator renders it) and looks again each few ms for
  up to `frame_wait_s`; then it counts a stale frame (the state's `stale_frames`) and waits again, and
  `stale_limit` stale frames in a row stop the policy with the reason. A stale frame is never used.
- A run ends by itself when the policy predicts a stop (`policies.execution.is_stop`: every axis of its
  command below `stop_below`, the rule and threshold of the runtime's own predicted stop: "done", the
  robot stays at rest, nothing latches), after `max_steps` actions without one, on a stop the loop
  latched (a collision the simulator reports, an e-stop), or on stale frames; all but "done" latch.
- Hybrid: a teleop key overrides the policy at once (an answer in flight is dropped); the policy resumes
  `hybrid.resume_s` after the last key, or never with 0 (manual until `run` again).
- An e-stop stops a running policy. A non-finite output, or an error raised by the model, latches a stop
  with its reason exactly like an e-stop (the loop refuses motion) until the operator clears it.
  `ended` says how the last run ended: done, budget, collision, stale, error or stopped (the operator).
This module must not import textual or torch. It stays one unit of about 500 lines because the step's
schedule, the frame wait, the answer in flight and the hybrid hand-over act on one run's state and must
be read together to see that no stale frame or stale answer ever moves the robot (the pure stop rule and
chunk handling are in `policies.execution`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mvla_tui.core.intents import (
    InferOnce,
    LoadPolicy,
    PolicyLoadDone,
    PolicyStepDone,
    RunPolicy,
    SetInstruction,
    StopPolicy,
)
from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.reports import InferAnswered, Reporter
from mvla_tui.robot.config import PolicyDriveConfig, TeleopConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.intents import ClearEStop, EStop, PolicyAction, TeleopKey
from mvla_tui.robot.link import Frame
from policies.execution import is_stop

_STATS_STEPS = 200  # latency percentiles and rate over this many recent steps
# Request ids unique in the process: a worker shared by consecutive sessions (evaluation) may answer a
# request of the previous session late, and that answer must never match one of the new session's.
_REQUESTS = itertools.count(1)
_EPSILON_S = 1e-6  # a step due at 0.6 s is due at 0.5999999 s of a clock summed in floating point
_FRAME_POLL_S = 0.005  # how often a step waiting for a fresh frame looks again


@dataclass(frozen=True)
class _FrameWait:
    """A step (or `infer`) waiting for a frame taken at or after `not_before`."""

    scheduled: float  # loop time the step was due
    not_before: float
    give_up_at: float  # then a stale frame is counted
    infer: bool


@dataclass(frozen=True)
class PolicyState:
    source: str | None  # the checkpoint loaded or loading
    label: str | None  # e.g. "compact (default, 3000 steps)"
    describe: str | None  # device and precision, e.g. "cpu fp32 (the CPU default)"
    loading: bool
    load_error: str | None
    instruction: str | None
    control: str  # "manual", "policy" (driving) or "hybrid" (driving, paused by a teleop key)
    running: bool
    resumes_in_s: float | None  # hybrid: seconds until the policy drives again
    steps: int  # actions executed since `run`
    chunk: tuple[tuple[float, float, float], ...] | None  # the last chunk (robot key units)
    command: tuple[float, float, float] | None  # the action of the last step
    latency_ms: float | None  # of the last step (or `infer`)
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    effective_hz: float | None
    missed_deadlines: int
    stop_reason: str | None  # why the policy last stopped by itself (latched stop, e-stop, ...)
    error: str | None  # the last refusal ("load a policy first", ...)
    max_steps: int = 60  # the run's step budget
    stale_frames: int = 0  # since `run`: waits for a fresh frame that ended without one
    frame_age_ms: float | None = None  # age of the frame the last step acted on, when it was asked
    ended: str | None = None  # how the last run ended: done | budget | collision | stale | error | stopped


class PolicyDriver(LoopPart):
    def __init__(
        self,
        loop: ControlLoop,
        worker: PolicyWorker,
        config: PolicyDriveConfig,
        teleop: TeleopConfig,
        default_instruction: Callable[[], str | None] = lambda: None,
        report: Reporter = lambda report: None,
    ) -> None:
        """`report` hears the answer to `infer` (`InferAnswered`), on the control thread."""
        self.loop = loop
        self.worker = worker
        self.config = config
        self.teleop = teleop
        self.default_instruction = default_instruction
        self.report = report
        self._source: str | None = worker.label
        self._label: str | None = worker.label
        self._describe: str | None = worker.runtime.describe() if worker.runtime is not None else None
        self._loading = False
        self._load_error: str | None = None
        self._instruction: str | None = None
        self._reset_needed = True  # the runtime's window belongs to an earlier episode
        self._running = False
        self._override_until: float | None = None
        self._next_at: float | None = None  # loop time the next step is due (while running)
        self._request = next(_REQUESTS)  # id of the step in flight; answers with another id are stale
        self._in_flight: tuple[int, float, bool] | None = None  # (request, scheduled time, infer only)
        self._latencies: deque[float] = deque(maxlen=_STATS_STEPS)
        self._executed: deque[float] = deque(maxlen=_STATS_STEPS)
        self._steps = 0
        self._missed = 0
        self._chunk: np.ndarray | None = None
        self._command: np.ndarray | None = None
        self._latency: float | None = None
        self._stop_reason: str | None = None
        self._error: str | None = None
        self._wait: _FrameWait | None = None
        self._stale = 0
        self._stale_run = 0  # stale frames in a row
        self._frame_age: float | None = None
        self._ended: str | None = None

    @property
    def loaded(self) -> bool:
        return self._label is not None

    @property
    def running(self) -> bool:
        return self._running

    @property
    def latencies_ms(self) -> list[float]:
        """Latency of each step executed since `run` (the most recent 200)."""
        return list(self._latencies)

    @property
    def last_command(self) -> np.ndarray | None:
        return self._command

    @property
    def steps(self) -> int:
        """Actions executed since `run`."""
        return self._steps

    def driving_instruction(self) -> str | None:
        """The instruction of the run in progress (paused by a takeover or not); None when no run is on."""
        return self._instruction if self._running else None

    @property
    def ended(self) -> str | None:
        """How the last run ended (None while one runs or before the first): done, budget, collision,
        stale, error or stopped."""
        return self._ended

    # ---- intents (control thread) ------------------------------------------------------------------

    def on_intent(self, intent: object, now: float) -> bool:
        """Act on a policy intent (True); watch teleop keys and e-stops without consuming them (False)."""
        if isinstance(intent, TeleopKey):
            self._override(now)
            return False
        if isinstance(intent, EStop):
            if self._running:
                self._stop("e-stop", "stopped")
            return False
        if isinstance(intent, ClearEStop):
            self._stop_reason = None
            return False
        if isinstance(intent, LoadPolicy):
            self._load(intent.source)
        elif isinstance(intent, PolicyLoadDone):
            self._loaded(intent)
        elif isinstance(intent, SetInstruction):
            self.set_instruction(intent.text)
        elif isinstance(intent, InferOnce):
            self._infer(now)
        elif isinstance(intent, RunPolicy):
            self.run(now)
        elif isinstance(intent, StopPolicy):
            self._stop("stopped by the operator", "stopped")
        elif isinstance(intent, PolicyStepDone):
            self._answered(intent, now)
        else:
            return False
        return True

    def _load(self, source: str) -> None:
        if self._running:
            self._error = "stop the policy before loading another"
            return
        self._loading = True
        self._source = source
        self._load_error = None
        self.worker.load(source)

    def _loaded(self, done: PolicyLoadDone) -> None:
        self._loading = False
        if done.error is not None:
            self._load_error = done.error
            return
        self._label, self._describe, self._source = done.label, done.describe, done.source
        self._reset_needed = True
        self._error = None

    def set_instruction(self, text: str) -> None:
        text = " ".join(text.split())
        if not text:
            self._error = "the instruction is empty"
            return
        self._instruction = text
        self._reset_needed = True
        if self._running:
            self._reset()  # a new instruction is a new episode for the policy, from the next step on

    def _ready(self) -> str | None:
        """Why the policy cannot step now, or None."""
        if not self.loaded:
            return "no policy loaded: load a checkpoint first (`load CKPT`, or --policy)"
        if self._instruction is None:
            default = self.default_instruction()
            if default is None:
                return "type an instruction first, e.g. 'Navigate around the obstacle on the left side'"
            self._instruction = default
        return None

    def _reset(self) -> None:
        assert self._instruction is not None
        self.worker.reset(self._instruction)
        self._reset_needed = False
        self._request = next(_REQUESTS)  # an answer still in flight belongs to the old episode
        self._in_flight = None
        self._wait = None

    def _infer(self, now: float) -> None:
        if self._running:
            self._error = "the policy is driving: `stop` it before `infer`"
            return
        problem = self._ready()
        if problem is not None:
            self._error = problem
            return
        if self._reset_needed:
            self._reset()
        self._begin_wait(now, infer=True)

    def run(self, now: float) -> None:
        problem = self._ready()
        if problem is not None:
            self._error = problem
            return
        if self.loop.estopped:
            self._error = "e-stop is latched: clear it before the policy drives"
            return
        self._reset()
        self._running = True
        self._override_until = None
        self._steps = 0
        self._missed = 0
        self._latencies.clear()
        self._executed.clear()
        self._stale = 0
        self._stale_run = 0
        self._frame_age = None
        self._stop_reason = None
        self._ended = None
        self._error = None
        self._next_at = self._earliest_step(now)

    def _stop(self, reason: str, ended: str) -> None:
        was_running = self._running
        self._running = False
        self._in_flight = None
        self._wait = None
        self._request = next(_REQUESTS)
        self._next_at = None
        self._override_until = None
        if was_running:
            self._stop_reason = reason
            self._ended = ended
            if self.loop.moving_source == "policy":
                self.loop.halt()

    def _latch(self, reason: str, ended: str) -> None:
        """Stop the run and latch the stop in the loop, like an e-stop, with `reason` shown."""
        self._stop(reason, ended)
        self.loop.latch_stop(f"policy stopped: {reason}")

    def _override(self, now: float) -> None:
        if not self._running:
            return
        self._in_flight = None  # the answer in flight was for a frame the operator has overruled
        self._wait = None
        self._request = next(_REQUESTS)
        if self.config.hybrid.resume_s == 0:
            self._stop("a teleop key took over (hybrid.resume_s is 0: the operator keeps control)", "stopped")
            return
        self._override_until = now + self.config.hybrid.resume_s

    # ---- stepping ----------------------------------------------------------------------------------

    def _earliest_step(self, now: float) -> float:
        """In step mode a frame is taken at rest: after the current motion ends and the robot settled."""
        if self.config.execution != "step":
            return now
        ends = self.loop.motion_ends_at
        if ends is not None:
            return max(now, ends + self.teleop.settle_s)
        if self.loop.moving_source is not None:  # an untimed (latch) teleop motion: wait for it to stop
            return now + self.teleop.tick_s
        return max(now, self.loop.stopped_at + self.teleop.settle_s)

    def on_tick(self, now: float) -> None:
        if self._running and self.loop.estopped:  # a stop the loop latched: a collision, or e-stop
            ended = "collision" if self.loop.collision is not None else "stopped"
            self._stop(self.loop.estop_reason or "stopped", ended)
            return
        if self._wait is not None:
            self._poll_frame(now)
            return
        if not self._running or self._in_flight is not None:
            return
        if self._override_until is not None:
            if now < self._override_until:
                return
            self._override_until = None
            self._next_at = self._earliest_step(now)
        if self._next_at is None or now < self._next_at - _EPSILON_S:
            return
        if self.config.execution == "step":
            at_rest = self._earliest_step(now)
            if at_rest > now:  # still moving or settling (a teleop step): not a frame to act on
                self._next_at = at_rest
                return
        if self._steps >= self.config.max_steps:
            self._latch(
                f"{self._steps} steps without predicting a stop (policy.max_steps); "
                "ctrl+e clears the stop, `run` drives again",
                "budget",
            )
            return
        self._begin_wait(now, infer=False)

    def _begin_wait(self, now: float, infer: bool) -> None:
        """Wait for a frame fit for the step due now: taken after the rest in step mode, and recent."""
        scheduled = self._next_at if (self._next_at is not None and not infer) else now
        not_before = scheduled - self.config.max_frame_age_s
        if self.config.execution == "step":
            not_before = max(not_before, self.loop.stopped_at + self.teleop.settle_s)
        self._wait = _FrameWait(scheduled, not_before, now + self.config.frame_wait_s, infer)
        self._poll_frame(now)

    def _poll_frame(self, now: float) -> None:
        wait = self._wait
        assert wait is not None
        frame = self.loop.capture_frame(not_before=wait.not_before)
        if frame is not None and frame.stamp >= wait.not_before - _EPSILON_S:
            self._wait = None
            self._stale_run = 0
            self._ask(frame, wait, now)
            return
        if now < wait.give_up_at - _EPSILON_S:
            return  # look again at `next_due`
        self._stale += 1
        newest = "no frame yet" if frame is None else f"the newest was taken {now - frame.stamp:.2f} s ago"
        late = f"no fresh camera frame within {self.config.frame_wait_s:g} s ({newest})"
        if wait.infer:
            self._wait = None
            self._error = f"infer: {late}"
            return
        self._stale_run += 1
        if self._stale_run >= self.config.stale_limit:
            self._latch(f"{late}, {self._stale_run} times in a row; check the camera", "stale")
            return
        self._wait = dataclasses.replace(wait, give_up_at=now + self.config.frame_wait_s)

    def _ask(self, frame: Frame, wait: _FrameWait, now: float) -> None:
        self._request = next(_REQUESTS)
        self._in_flight = (self._request, wait.scheduled, wait.infer)
        self._frame_age = now - frame.stamp
        self.worker.step(self._request, frame.image)

    def _answered(self, done: PolicyStepDone, now: float) -> None:
        flight = self._in_flight
        if flight is None or done.request != flight[0]:
            return  # stale: stopped, overridden or reset meanwhile
        self._in_flight = None
        _, scheduled, infer = flight
        chunk = done.chunk
        error = chunk.error if done.error is None and chunk is not None else done.error
        if chunk is not None:
            self._chunk = np.asarray(chunk.actions, np.float32)
            self._command = np.asarray(chunk.command, np.float32)
            self._latency = float(chunk.latency_ms)
        if error is not None:
            if infer:
                self._error = error
                return
            self._latch(error, "error")
            return
        if infer:
            self._error = None
            if chunk is not None:
                self.report(InferAnswered(_rows(self._chunk) or (), float(chunk.latency_ms)))
            return
        command = self._command
        if command is None:  # no chunk and no error: never sent by the worker
            self._latch("the policy worker answered without a chunk", "error")
            return
        if is_stop(command, self.config.stop_below):
            self._latencies.append(self._latency or 0.0)
            self._stop(f"predicted a stop after {self._steps} steps; the robot is at rest", "done")
            return
        self._execute(command, scheduled, now)

    def _execute(self, command: np.ndarray, scheduled: float, now: float) -> None:
        step_mode = self.config.execution == "step"
        period = self.config.period_s
        budget = period - self.teleop.step_s - self.teleop.settle_s if step_mode else period
        if now > scheduled + budget + 1e-9:
            self._missed += 1
        if step_mode:
            duration = self.teleop.step_s
        else:  # until shortly after the next command is due, so a punctual one replaces it seamlessly
            duration = min(period * 1.5, self.teleop.max_motion_s)
        self.loop.handle_now(PolicyAction(command.copy(), duration), now)
        self._latencies.append(self._latency or 0.0)
        self._executed.append(now)
        self._steps += 1
        following = scheduled + period
        if step_mode:
            following = max(following, now + duration + self.teleop.settle_s)
        self._next_at = max(following, now)

    def next_due(self, now: float) -> float | None:
        if self._wait is not None:
            return min(now + _FRAME_POLL_S, self._wait.give_up_at)
        if not self._running or self._in_flight is not None:
            return None
        if self._override_until is not None:
            return self._override_until
        return self._next_at

    def waiting(self) -> bool:
        return self._in_flight is not None

    # ---- state -------------------------------------------------------------------------------------

    def snapshot(self, now: float) -> PolicyState:
        lat = np.asarray(self._latencies, np.float64)
        done = self._executed
        hz = (len(done) - 1) / (done[-1] - done[0]) if len(done) > 1 and done[-1] > done[0] else None
        if not self._running:
            control = "manual"
        elif self._override_until is not None:
            control = "hybrid"
        else:
            control = "policy"
        resumes = (
            max(0.0, self._override_until - now)
            if self._running and self._override_until is not None
            else None
        )
        return PolicyState(
            source=self._source,
            label=self._label,
            describe=self._describe,
            loading=self._loading,
            load_error=self._load_error,
            instruction=self._instruction,
            control=control,
            running=self._running,
            resumes_in_s=resumes,
            steps=self._steps,
            chunk=_rows(self._chunk),
            command=_triple(self._command),
            latency_ms=self._latency,
            latency_p50_ms=float(np.percentile(lat, 50)) if len(lat) else None,
            latency_p99_ms=float(np.percentile(lat, 99)) if len(lat) else None,
            effective_hz=hz if hz is None or math.isfinite(hz) else None,
            missed_deadlines=self._missed,
            stop_reason=self._stop_reason,
            error=self._error,
            max_steps=self.config.max_steps,
            stale_frames=self._stale,
            frame_age_ms=None if self._frame_age is None else 1000.0 * self._frame_age,
            ended=self._ended,
        )


def _triple(command: np.ndarray | None) -> tuple[float, float, float] | None:
    return None if command is None else (float(command[0]), float(command[1]), float(command[2]))


def _rows(chunk: np.ndarray | None) -> tuple[tuple[float, float, float], ...] | None:
    if chunk is None:
        return None
    return tuple((float(a[0]), float(a[1]), float(a[2])) for a in chunk)
