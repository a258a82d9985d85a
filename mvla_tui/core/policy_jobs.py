"""Work the operator asks of the policy besides driving, run on the `PolicyWorker` thread (the one that
owns the runtime) in turn with its steps: the latency benchmark on the current camera frame (the
measurement of `mvla bench`, `policies.bench.measure_runtimes`, with the operator's step count) and the
replay of a recorded episode through the policy (its action next to the recorded one at every frame, and
how often they agree).

Each start function takes values (the session, the policy's last state, a frame or an episode) and
returns the one-line refusal when the job cannot run now: no policy, the policy driving, no camera frame,
or no instruction (never an invented one: a policy's answers and its latency depend on what it reads).
Otherwise it reports through a `Reporter` (`core.reports`): `BenchmarkProgressed` and `BenchmarkDone`,
or `ReplayDone`. Each job leaves the runtime reset and the driver starting its next episode afresh.
No textual here; torch only inside the benchmark, on the worker thread, where a policy has loaded it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from mvla_tui.core.intents import SetInstruction
from mvla_tui.core.reports import BenchmarkDone, BenchmarkProgressed, JobDone, Replay, ReplayDone, Reporter
from recorder.episode import Episode

if TYPE_CHECKING:
    from mvla_tui.core.policy_driver import PolicyState
    from mvla_tui.core.session import Session
    from mvla_tui.robot.link import Frame
    from policies.runtime import PolicyRuntime


def refusal(what: str, policy: PolicyState | None) -> str | None:
    """Why the policy cannot take on `what` now, or None."""
    if policy is None or not policy.label:
        return f"{what}: no policy loaded (load CKPT)"
    if policy.running:
        return f"{what}: the policy is driving; `stop` it first"
    return None


def benchmark(
    session: Session, policy: PolicyState | None, frame: Frame | None, steps: int, report: Reporter
) -> str | None:
    """Time `steps` policy steps on `frame` with the policy's instruction; the refusal, if it cannot."""
    problem = refusal("benchmark", policy)
    if problem is not None:
        return problem
    if frame is None:
        return "benchmark: no camera frame yet (is the camera shown? ctrl+t)"
    instruction = (policy.instruction if policy is not None else None) or session.default_instruction()
    if not instruction:
        return "benchmark: no instruction yet; type one (or set up an episode), then benchmark"
    image = frame.image

    def job(runtime: PolicyRuntime) -> BenchmarkDone:
        from policies.bench import latency_line, measure_runtimes

        (result,) = measure_runtimes(
            [runtime],
            [image],
            steps,
            instruction=instruction,
            progress=lambda done, total: report(BenchmarkProgressed(done, total)),
        )
        runtime.reset(instruction)
        return BenchmarkDone(
            (f"benchmark: {steps} steps on {runtime.describe()}", f"  {latency_line(result)}")
        )

    report(BenchmarkProgressed(0, steps))
    _on_worker(session, instruction, job, BenchmarkDone, report)
    return None


def replay(session: Session, policy: PolicyState | None, episode: Episode, report: Reporter) -> str | None:
    """Step the policy through `episode` with the instruction it was recorded with; the refusal, if it
    cannot (an episode that stores none uses the policy's, as the driver would)."""
    problem = refusal("replay", policy)
    if problem is not None:
        return problem
    instruction = episode.meta.instruction or session.default_instruction()
    if not instruction:
        return f"replay: {episode.name} stores no instruction and none is set; type one, then replay"

    def job(runtime: PolicyRuntime) -> ReplayDone:
        result = replay_through(runtime, episode.images, episode.actions, instruction)
        line = f"replay of {episode.name}: agreement {100 * result.agreement:.0f}% of {len(episode)} frames"
        return ReplayDone((line,), episode=episode.name, replay=result)

    _on_worker(session, instruction, job, ReplayDone, report)
    return None


def _on_worker(
    session: Session,
    instruction: str,
    job: Callable[[PolicyRuntime], JobDone],
    failed: Callable[..., JobDone],
    report: Reporter,
) -> None:
    """Run `job` on the policy worker and report its answer, or `failed(error=...)`; the driver's next
    step starts a new episode with `instruction` (the job reset the runtime's window)."""
    assert session.worker is not None  # a policy state (checked by `refusal`) means a policy driver

    def done(result: JobDone | None, error: str | None) -> None:
        report(result if result is not None else failed(error=error or "failed"))

    session.worker.call(job, done)
    session.submit(SetInstruction(instruction))


def replay_through(
    runtime: PolicyRuntime, images: np.ndarray, actions: np.ndarray, instruction: str
) -> Replay:
    """Step the policy through an episode's frames from a reset, as if it had been driving."""
    runtime.reset(instruction)
    predicted, latencies = [], []
    for image in images:
        chunk = runtime.step(np.ascontiguousarray(image))
        predicted.append(np.asarray(chunk.command, np.float32))
        latencies.append(chunk.latency_ms)
    runtime.reset(instruction)
    return Replay(np.asarray(actions, np.float32), np.asarray(predicted, np.float32), np.asarray(latencies))
