"""`PolicyWorker`: the one thread that owns the policy runtime (torch, the model, its window of features).

The control thread never runs the model itself: it asks this thread through a queue (load a checkpoint,
reset with an instruction, step on a frame) and gets each answer back as an intent posted to the control
loop (`PolicyLoadDone`, `PolicyStepDone`). So loading a checkpoint, or a slow step of a large model, never
stops the operator from driving, an e-stop or a teleop key acts at once, and a step that comes back too
late is simply dropped by the driver. Torch and the models are imported here, inside the thread, only
when a policy is loaded: starting the app imports neither.

One runtime at a time; a load replaces the previous one only once the new one is ready. A failed load is
one line in the answer; the previous policy (if any) stays. The worker is independent of any one control
loop (`attach` points it at the current one), so closed-loop evaluation loads a policy once and runs it
through many episodes. This module must not import textual.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from configs import MvlaError
from configs.extras import missing_module_line
from configs.limits import LimitsConfig
from mvla_tui.core.intents import PolicyLoadDone, PolicyStepDone
from mvla_tui.robot.hooks import PartIntent
from policies.execution import STOP_BELOW, Execution

if TYPE_CHECKING:  # the runtime imports torch: this module must not, until a policy is loaded
    from policies.precision import Precision
    from policies.runtime import PolicyRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuntimeOptions:
    """How a loaded policy is run (`policies.runtime.RuntimeConfig`, without importing torch here)."""

    device: str = "auto"
    precision: Precision = "auto"
    execution: Execution = "first"
    threads: int | None = None  # torch CPU threads, and ONNX Runtime's intra-op threads (None: their default)
    runtime: str = "torch"  # torch | onnx | trt: what computes the policy (`policies.export.exported`)
    export: str | None = None  # the export folder of onnx | trt (None: CKPT/onnx or CKPT/tensorrt)
    command_resolution: float = 0.01  # key units: the command sent is rounded to a multiple of it
    stop_below: float = STOP_BELOW  # key units: the predicted stop's threshold (`policies.execution.is_stop`)


def load_runtime(
    source: str, options: RuntimeOptions, limits: LimitsConfig | None
) -> tuple[PolicyRuntime, str]:
    """(PolicyRuntime, label) from a checkpoint directory. Raises `MvlaError` subclasses for user errors."""
    from pathlib import Path

    import torch

    from policies.checkpoint import load_checkpoint
    from policies.export.exported import check_runtime_request
    from policies.runtime import PolicyRuntime, RuntimeConfig

    check_runtime_request(options.runtime, options.device, options.precision, options.export)

    if options.threads is not None:
        torch.set_num_threads(options.threads)
    config = RuntimeConfig(
        device=options.device,
        precision=options.precision,
        execution=options.execution,
        limits=limits if limits is not None else LimitsConfig(),  # None: the default limits
        command_resolution=options.command_resolution,
        stop_below=options.stop_below,
    )
    if options.runtime == "torch":
        policy, normalisation, info = load_checkpoint(Path(source))
        label = ""
    else:
        # The graphs compute; torch only holds the window on the CPU, in fp32.
        import dataclasses

        from policies.export.backends import OrtSettings
        from policies.export.exported import load_exported

        export = Path(options.export) if options.export else None
        settings = OrtSettings(threads=options.threads)
        policy, normalisation, info = load_exported(Path(source), export, options.runtime, settings)
        config = dataclasses.replace(config, device="cpu", precision="fp32")
        label = f", {options.runtime}"
    runtime = PolicyRuntime(policy, normalisation, config)
    runtime.warm_up()  # on the worker thread, which steps it: the first real step is then as fast as the next
    return runtime, f"{info.name} ({Path(source).name}, {info.provenance.steps} steps{label})"


@dataclass(frozen=True)
class _Load:
    source: str


@dataclass(frozen=True, eq=False)
class _Adopt:
    runtime: PolicyRuntime
    label: str
    held: threading.Event  # set once the worker holds the runtime and has posted its answer


@dataclass(frozen=True)
class _Reset:
    instruction: str


@dataclass(frozen=True, eq=False)
class _Step:
    request: int
    image: np.ndarray


@dataclass(frozen=True)
class _Call:
    job: Callable[[PolicyRuntime], Any]
    done: Callable[[Any, str | None], None]


class _Close:
    pass


_Job = _Load | _Adopt | _Reset | _Step | _Call | _Close


class PolicyWorker:
    def __init__(
        self,
        options: RuntimeOptions | None = None,
        limits: LimitsConfig | None = None,
        loader: Callable[
            [str, RuntimeOptions, LimitsConfig | None], tuple[PolicyRuntime, str]
        ] = load_runtime,
    ) -> None:
        self.options = options or RuntimeOptions()
        self.limits = limits
        self.loader = loader
        self._post: Callable[[PartIntent], None] | None = None
        self._jobs: queue.Queue[_Job] = queue.Queue()
        self.runtime: PolicyRuntime | None = None  # read by the worker thread only, but for `describe` below
        self.label: str | None = None
        self._thread = threading.Thread(target=self._serve, name="mvla-policy", daemon=True)
        self._thread.start()

    def attach(self, post: Callable[[PartIntent], None]) -> None:
        """Send the answers to this control loop's `submit` from now on."""
        self._post = post

    # ---- any thread --------------------------------------------------------------------------------

    def load(self, source: str) -> None:
        self._jobs.put(_Load(source))

    def load_and_wait(self, source: str, timeout_s: float = 600.0) -> PolicyLoadDone:
        """Load in the worker thread and wait for the answer (headless commands, before any session)."""
        answers: queue.Queue[PartIntent] = queue.Queue()
        previous, self._post = self._post, answers.put
        try:
            self.load(source)
            while True:
                try:
                    answer = answers.get(timeout=timeout_s)
                except queue.Empty:
                    return PolicyLoadDone(
                        source, None, None, f"{source}: still loading after {timeout_s:.0f} s"
                    )
                if isinstance(answer, PolicyLoadDone):
                    return answer
        finally:
            self._post = previous

    def adopt(self, runtime: PolicyRuntime, label: str, timeout_s: float = 60.0) -> None:
        """Use a runtime built elsewhere (a test, a benchmark); answered like a load. Returns once the worker
        holds it: a driver built afterwards sees it loaded, and an intent submitted afterwards (`run`) is
        handled after the answer, however busy the machine (a `run` that overtook the answer was refused
        with "no policy loaded")."""
        held = threading.Event()
        self._jobs.put(_Adopt(runtime, label, held))
        if not held.wait(timeout_s):
            raise TimeoutError(f"the policy worker did not take the runtime {label!r} within {timeout_s:g} s")

    def reset(self, instruction: str) -> None:
        self._jobs.put(_Reset(instruction))

    def step(self, request: int, image: np.ndarray) -> None:
        self._jobs.put(_Step(request, image))

    def call(self, job: Callable[[PolicyRuntime], Any], done: Callable[[Any, str | None], None]) -> None:
        """Run `job(runtime)` on this thread, in turn with the steps (a benchmark, a replay), then
        `done(result, None)`, or `done(None, error)` when there is no policy or the job raised."""
        self._jobs.put(_Call(job, done))

    def close(self, timeout_s: float = 10.0) -> None:
        self._jobs.put(_Close())
        self._thread.join(timeout_s)

    # ---- the worker thread -------------------------------------------------------------------------

    def _answer(self, intent: PartIntent) -> None:
        if self._post is not None:
            self._post(intent)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if isinstance(job, _Close):
                return
            try:
                if isinstance(job, _Load):
                    self._load(job.source)
                elif isinstance(job, _Adopt):
                    try:
                        self.runtime, self.label = job.runtime, job.label
                        self._answer(PolicyLoadDone(job.label, job.label, job.runtime.describe(), None))
                    finally:
                        job.held.set()
                elif isinstance(job, _Reset):
                    if self.runtime is not None:
                        self.runtime.reset(job.instruction)
                elif isinstance(job, _Step):
                    self._step(job.request, job.image)
                else:
                    self._call(job.job, job.done)
            except Exception as exc:  # a bug here must not kill the thread the driver waits on
                log.exception("policy worker: %s failed", type(job).__name__)
                if isinstance(job, _Step):
                    self._answer(PolicyStepDone(job.request, None, f"policy step failed: {exc}"))

    def _load(self, source: str) -> None:
        try:
            runtime, label = self.loader(source, self.options, self.limits)
        except MvlaError as exc:
            self._answer(PolicyLoadDone(source, None, None, str(exc).splitlines()[0]))
            return
        except ImportError as exc:
            line = missing_module_line(exc) or f"cannot load ({type(exc).__name__}: {exc})"
            self._answer(PolicyLoadDone(source, None, None, f"{source}: {line}"))
            return
        except Exception as exc:  # every load is answered: the app, eval and bench wait for it
            log.exception("policy load failed")
            self._answer(
                PolicyLoadDone(source, None, None, f"{source}: cannot load ({type(exc).__name__}: {exc})")
            )
            return
        self.runtime, self.label = runtime, label
        self._answer(PolicyLoadDone(source, label, runtime.describe(), None))

    def _call(self, job: Callable[[PolicyRuntime], Any], done: Callable[[Any, str | None], None]) -> None:
        if self.runtime is None:
            done(None, "no policy loaded")
            return
        try:
            result = job(self.runtime)
        except MvlaError as exc:
            done(None, str(exc))
            return
        except Exception as exc:  # reported to the caller; the thread goes on serving steps
            log.exception("policy job failed")
            done(None, f"{type(exc).__name__}: {exc}")
            return
        done(result, None)

    def _step(self, request: int, image: np.ndarray) -> None:
        if self.runtime is None:
            self._answer(PolicyStepDone(request, None, "no policy loaded"))
            return
        try:
            chunk = self.runtime.step(image)
        except Exception as exc:  # the driver latches a stop with this reason
            log.exception("policy step failed")
            self._answer(PolicyStepDone(request, None, f"policy step failed: {type(exc).__name__}: {exc}"))
            return
        self._answer(PolicyStepDone(request, chunk))
