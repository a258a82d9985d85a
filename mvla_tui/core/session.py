"""`Session`: the operating core. One control thread that drives, records and runs a policy, on the robot
or in the simulator; the app only displays it, and `mvla eval --sim`, `mvla sim collect`, `mvla drive`
and the tests drive the very same thing.

A session owns the link (from `make_link`) and the `ControlLoop` that is its only user, and composes the
parts that live on the control thread with it (`LoopPart`s, which the loop calls itself): the
`RecordingSession` (when there is a data folder), the `PolicyDriver` (with the `PolicyWorker` thread that
owns the model), in the simulator the `SimVerdict`, and what its users add (the scripted expert, a frame
tap, an evaluation's observer). Every intent goes through `submit` (thread-safe); every change comes back as a
`ControlState` through `on_state`, at most `teleop.state_hz` times a second, built on the control thread.
A link in simulated time (its `simulated_time()` is a clock) runs the loop on that clock: waiting
advances the physics, so a simulated episode is recorded exactly as a real one, as fast as it renders.
`run` serves in the calling thread; `start` / `stop` serve in a thread of their own. Every way out stops
the robot (the loop's guarantee); an episode being recorded keeps its journal; saves in flight finish.
This module must not import textual.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from mvla_tui.core.intents import CoreIntent
from mvla_tui.core.policy_driver import PolicyDriver
from mvla_tui.core.policy_worker import PolicyWorker, RuntimeOptions
from mvla_tui.core.recording import RecordingSession
from mvla_tui.core.reports import Report, Reporter
from mvla_tui.core.sim_verdict import SimVerdict
from mvla_tui.core.state import ControlState
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.control import ControlLoop
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.intents import CaptureEpisodeStart, Intent, Quit
from mvla_tui.robot.link import RobotLink
from mvla_tui.robot.links import make_link
from mvla_tui.robot.state import RobotState

if TYPE_CHECKING:
    from mvla_tui.sim.link import SimLink
from recorder.catalogue import Catalogue, load_catalogue


def runtime_options(config: RobotConfig, runtime: str = "torch", export: str | None = None) -> RuntimeOptions:
    """The policy runtime's options from the robot config, computed by `runtime` (torch | onnx | trt,
    the latter two on the export folder `export`, default inside the checkpoint)."""
    p = config.policy
    return RuntimeOptions(
        device=p.device,
        precision=p.precision,
        execution=p.chunk_execution,
        threads=p.threads,
        runtime=runtime,
        export=export,
        command_resolution=p.command_resolution,
        stop_below=p.stop_below,  # the runtime's predicted stop and the driver's "done" share the threshold
    )


def _sim_link(link: RobotLink) -> SimLink | None:
    """`link` as the simulator's, else None. A `SimLink` exists only once its module is loaded, so a session
    on a robot does not import the simulator (and MuJoCo) to ask."""
    module = sys.modules.get("mvla_tui.sim.link")
    return link if module is not None and isinstance(link, module.SimLink) else None


class Session:
    def __init__(
        self,
        config: RobotConfig,
        *,
        link: RobotLink | None = None,
        link_reason: str = "",
        data_dir: Path | None = None,
        worker: PolicyWorker | None = None,
        policy: bool = True,
        on_state: Callable[[ControlState], None] | None = None,
        catalogue: Catalogue | None = None,
        extra_attrs: Mapping[str, str | int | float | bool] | None = None,
        side_files: bool = True,
        count_existing: bool = True,
        clock: Callable[[], float] = time.monotonic,
        runtime: str = "torch",
        export: str | None = None,
    ) -> None:
        """`policy=False` leaves the policy driver out (a session that only records, such as the expert's);
        otherwise a `PolicyWorker` is started unless one is given (shared across sessions by `eval`),
        running policies with `runtime` (torch | onnx | trt, on the export folder `export`)."""
        self.config = config
        self.catalogue = catalogue or load_catalogue()
        self.link = link if link is not None else make_link(config, clock)
        self.link_reason = link_reason or f"{config.kind}"
        self.on_state = on_state
        self.on_report: Reporter | None = None  # hears the core's reports besides the state (`core.reports`)
        self.loop = ControlLoop(
            self.link, config.teleop, config.limits, on_state=self._robot_state, clock=clock
        )
        self.recording: RecordingSession | None = None
        if data_dir is not None:
            self.recording = RecordingSession(
                data_dir,
                self.catalogue,
                self.loop.submit,
                lambda now: self.loop.handle_now(CaptureEpisodeStart(), now),
                robot=config.kind,
                camera=config.camera_label,
                extra_attrs=extra_attrs,
                side_files=side_files,
                count_existing=count_existing,
            )
            self.loop.add_part(self.recording)
        self._own_worker = False
        self.worker: PolicyWorker | None = None
        self.policy: PolicyDriver | None = None
        if policy:
            if worker is None:
                worker = PolicyWorker(runtime_options(config, runtime, export), config.limits)
                self._own_worker = True
            self.worker = worker
            worker.attach(self.loop.submit)
            self.policy = PolicyDriver(
                self.loop, worker, config.policy, config.teleop, self.default_instruction, self._report
            )
            self.loop.add_part(self.policy)
            if self.recording is not None:
                self.recording.policy_instruction = self.policy.driving_instruction
        self.verdict: SimVerdict | None = None
        sim = _sim_link(self.link)
        if self.policy is not None and sim is not None:  # only the simulator can judge a run
            self.verdict = SimVerdict(sim.result, self.policy)
            self.loop.add_part(self.verdict)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._serving = False
        self._ended = threading.Event()

    def add_part(self, part: LoopPart) -> None:
        """Another part on the control thread (the scripted expert, an evaluation's observer)."""
        self.loop.add_part(part)

    # ---- any thread --------------------------------------------------------------------------------

    def submit(self, intent: Intent | CoreIntent) -> None:
        self.loop.submit(intent)

    def waiting(self) -> bool:
        """True while a part awaits an answer from another thread (a policy step in flight)."""
        return any(part.waiting() for part in self.loop.parts)

    @property
    def state(self) -> ControlState:
        return self._compose(self.loop.state)

    def run(self, duration_s: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        """Serve in this thread until `Quit`, a signal, `duration_s` or `should_stop()`; then clean up."""
        self._serving = True
        self._ended.clear()
        try:
            self.loop.run(duration_s, should_stop)
        finally:
            try:
                if self._own_worker and self.worker is not None:
                    self.worker.close()
                # Answers that came in while the loop was ending (a save the recording session waited for).
                for intent in self.loop.pending_intents():
                    self.loop.offer(intent, self.loop.clock())
            finally:
                self._serving = False
                self._ended.set()

    def start(self) -> None:
        """Serve in a thread of its own (the app); `stop` ends it."""

        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # handed to the caller by `stop`
                self._error = exc

        self._thread = threading.Thread(target=target, name="mvla-control", daemon=True)
        self._thread.start()

    def stop(self, reason: str = "quit", timeout_s: float = 60.0) -> None:
        """End the control loop (stopping the robot) and wait for it, whichever thread serves it; re-raise
        what ended a `start`ed loop early."""
        self.loop.submit(Quit(reason))
        if self._serving:
            self._ended.wait(timeout_s)
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._error is not None:
            raise self._error

    # ---- state -------------------------------------------------------------------------------------

    def _robot_state(self, robot: RobotState) -> None:
        if self.on_state is not None:
            self.on_state(self._compose(robot))

    def _compose(self, robot: RobotState) -> ControlState:
        return ControlState(
            robot=robot,
            link=self.config.kind,
            link_reason=self.link_reason,
            recording=self.recording.snapshot() if self.recording is not None else None,
            policy=self.policy.snapshot(robot.t) if self.policy is not None else None,
            sim_result=self.verdict.result if self.verdict is not None else None,
        )

    def _report(self, report: Report) -> None:
        if self.on_report is not None:
            self.on_report(report)

    def default_instruction(self) -> str | None:
        """A policy with no instruction typed uses the recording scenario's, when one is chosen."""
        if self.recording is None:
            return None
        return self.recording.snapshot().instruction
