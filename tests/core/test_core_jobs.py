"""What the core reports besides the state, without the app: the answer to `infer` is one report per
infer (never one per driving step), the benchmark runs `mvla bench`'s measurement on the policy worker's
runtime with its warm-up rule and reports its progress, a replay steps the policy through an episode,
each refuses in one line what it cannot do (never with an invented instruction), and `memory` / `clear`
answer with their lines."""

from __future__ import annotations

import threading

import numpy as np

from mvla_tui.core import host_jobs, policy_jobs
from mvla_tui.core.intents import InferOnce, RunPolicy, SetInstruction
from mvla_tui.core.reports import (
    BenchmarkDone,
    BenchmarkProgressed,
    CachesCleared,
    InferAnswered,
    MemoryReported,
    ReplayDone,
    Report,
)
from mvla_tui.robot.link import Frame
from mvla_tui.telemetry import ORIN_NX_SAMPLE, FixedTelemetry
from recorder.episode import Episode, EpisodeMeta
from tests.core.core_helpers import ScriptedRuntime, at, fake_session, run_for, tiny_runtime, wait_until

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"


class Reports:
    """A `Reporter` that keeps what it hears (from any thread)."""

    def __init__(self) -> None:
        self.heard: list[Report] = []
        self._lock = threading.Lock()

    def __call__(self, report: Report) -> None:
        with self._lock:
            self.heard.append(report)

    def of(self, kind: type) -> list:
        with self._lock:
            return [r for r in self.heard if isinstance(r, kind)]


def test_infer_is_answered_once_as_a_report_and_driving_steps_are_not() -> None:
    session, link, clock = fake_session(runtime=ScriptedRuntime([(0.5, 0.0, 0.0)], horizon=2))
    reports = Reports()
    session.on_report = reports
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), InferOnce())
    assert reports.heard == [InferAnswered(((0.5, 0.0, 0.0), (0.5, 0.0, 0.0)), 3.0)]
    at(session, clock, 0.1, RunPolicy())
    run_for(session, clock, 0.11, 1.5)
    assert session.state.policy.steps >= 2 and len(reports.heard) == 1


def _episode(instruction: str | None, frames: int = 3) -> Episode:
    return Episode(
        path=None,  # type: ignore[arg-type]  # never read: the replay takes the arrays
        layout="v5-raw",
        name="episode_test",
        images=np.zeros((frames, 24, 32, 3), np.uint8),
        actions=np.zeros((frames, 3), np.float32),
        event_types=["episode_start"] + ["start_action"] * (frames - 1),
        meta=EpisodeMeta(instruction=instruction),
    )


def test_the_jobs_refuse_in_one_line_what_they_cannot_do() -> None:
    session, link, clock = fake_session()  # a driver, no policy loaded
    reports = Reports()
    frame = Frame(np.zeros((24, 32, 3), np.uint8), 0.0)
    policy = session.state.policy
    assert policy_jobs.benchmark(session, policy, frame, 5, reports) == (
        "benchmark: no policy loaded (load CKPT)"
    )
    assert policy_jobs.replay(session, policy, _episode(INSTRUCTION), reports) == (
        "replay: no policy loaded (load CKPT)"
    )
    session, link, clock = fake_session(runtime=ScriptedRuntime())
    policy = session.state.policy
    assert policy_jobs.benchmark(session, policy, None, 5, reports) == (
        "benchmark: no camera frame yet (is the camera shown? ctrl+t)"
    )
    # Never an invented instruction: the answers and the latency depend on what the policy reads.
    assert policy_jobs.benchmark(session, policy, frame, 5, reports) == (
        "benchmark: no instruction yet; type one (or set up an episode), then benchmark"
    )
    assert policy_jobs.replay(session, policy, _episode(None), reports) == (
        "replay: episode_test stores no instruction and none is set; type one, then replay"
    )
    at(session, clock, 0.0, SetInstruction(INSTRUCTION), RunPolicy())
    driving = session.state.policy
    assert driving.running
    assert policy_jobs.benchmark(session, driving, frame, 5, reports) == (
        "benchmark: the policy is driving; `stop` it first"
    )
    assert reports.heard == []


def test_the_benchmark_is_mvla_bench_on_the_worker_runtime_and_reports_progress() -> None:
    runtime = tiny_runtime()
    session, link, clock = fake_session(runtime=runtime)
    at(session, clock, 0.0, SetInstruction(INSTRUCTION))
    reports = Reports()
    frame = Frame(np.full((48, 64, 3), 128, np.uint8), 0.0)
    assert policy_jobs.benchmark(session, session.state.policy, frame, 3, reports) is None
    wait_until(lambda: bool(reports.of(BenchmarkDone)), timeout_s=60.0)
    assert reports.of(BenchmarkProgressed) == [BenchmarkProgressed(i, 3) for i in range(4)]
    (done,) = reports.of(BenchmarkDone)
    assert done.error is None and done.lines[0] == f"benchmark: 3 steps on {runtime.describe()}"
    # The warm-up of `mvla bench`: at least its default 10 steps, and at least a window.
    assert done.lines[1].endswith(f"over 3 steps after {max(10, runtime.policy.window)} warm-up)")
    assert "p50" in done.lines[1] and "p99" in done.lines[1]


def test_a_replay_steps_the_policy_through_the_episode_with_its_instruction() -> None:
    runtime = ScriptedRuntime([(1.15, 0.0, 0.0), (0.0, 0.0, 0.0)])
    session, link, clock = fake_session(runtime=runtime)
    reports = Reports()
    assert policy_jobs.replay(session, session.state.policy, _episode("reach the cup"), reports) is None
    wait_until(lambda: bool(reports.heard))
    (done,) = reports.heard
    assert isinstance(done, ReplayDone) and done.episode == "episode_test" and done.replay is not None
    assert len(done.replay.predicted) == 3 and runtime.resets[:1] == ["reach the cup"]
    # Recorded: stops; predicted: forward, then stops: the nearest keys agree on 2 of 3 frames.
    assert done.lines == ("replay of episode_test: agreement 67% of 3 frames",)


def test_memory_and_clear_answer_with_their_lines() -> None:
    assert host_jobs.memory(None) == MemoryReported(error="no telemetry sample yet")
    lines = host_jobs.memory(ORIN_NX_SAMPLE).lines
    assert lines[0] == "memory:" and any(line.startswith("  RAM:") for line in lines)
    assert any(line.startswith("  GPU") for line in lines)
    reports = Reports()
    host_jobs.clear(FixedTelemetry(ORIN_NX_SAMPLE), reports)
    (cleared,) = reports.heard
    assert isinstance(cleared, CachesCleared) and cleared.lines[0].startswith("clear: ")
