"""A session on the fake robot with an injected clock, ticked by hand, a scripted stand-in for the
policy runtime (the real `PolicyWorker` thread runs it, as on the robot), and a tiny real one."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from mvla_tui.core.session import Session
from mvla_tui.robot.config import FakeConfig, PolicyDriveConfig, RobotConfig, TeleopConfig
from mvla_tui.robot.fake import FakeLink
from policies.chunk import ActionChunk


class Clock:
    def __init__(self, t: float = 100.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


class ScriptedRuntime:
    """Answers each step with the next of `commands` (key units); NaN makes a non-finite chunk, an
    exception is raised. Records the instructions it was reset with and the frames it saw."""

    def __init__(
        self,
        commands: Sequence[object] = ((0.5, 0.0, 0.0),),
        horizon: int = 4,
        gate: threading.Event | None = None,
        on_step: Callable[[], None] | None = None,
    ) -> None:
        """`gate`: each step waits for it (an answer kept in flight); `on_step` runs inside each step
        (e.g. moving the injected clock, as a slow model would)."""
        self.commands = list(commands)
        self.horizon = horizon
        self.gate = gate
        self.on_step = on_step
        self.resets: list[str] = []
        self.frames = 0

    def describe(self) -> str:
        return "cpu fp32 (scripted)"

    def reset(self, instruction: str) -> None:
        self.resets.append(instruction)

    def step(self, frame: np.ndarray) -> ActionChunk:
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the step"
        if self.on_step is not None:
            self.on_step()
        item = self.commands[min(self.frames, len(self.commands) - 1)]
        self.frames += 1
        if isinstance(item, BaseException):
            raise item
        command = np.asarray(item, np.float32)
        actions = np.repeat(command[None], self.horizon, axis=0)
        if not np.isfinite(command).all():
            zeros = np.zeros(3, np.float32)
            return ActionChunk(
                actions * 0, zeros, 3.0, self.frames - 1, True, False, "policy output is not finite"
            )
        return ActionChunk(actions, command, 3.0, self.frames - 1, True, False)


def fake_session(
    tmp_path: Path | None = None,
    *,
    mode: str = "step",
    throttle: int = 100,
    execution: str = "step",
    period_s: float = 0.6,
    resume_s: float = 1.0,
    runtime: ScriptedRuntime | None = None,
    clock: Clock | None = None,
    frame_lag_s: float = 0.0,
    link_factory: Callable[[RobotConfig, Clock], FakeLink] = FakeLink,
    **policy: object,
) -> tuple[Session, FakeLink, Clock]:
    """A connected fake-robot session, not running: tick it with `at`. `frame_lag_s`: the fake's frames
    are taken that long before they are read; `policy`: more `PolicyDriveConfig` fields."""
    clock = clock or Clock()
    config = RobotConfig(
        kind="fake",
        teleop=TeleopConfig(mode=mode, throttle=throttle, step_s=0.4, settle_s=0.15),
        policy=dataclasses.replace(
            PolicyDriveConfig(execution=execution, period_s=period_s),
            hybrid=dataclasses.replace(PolicyDriveConfig().hybrid, resume_s=resume_s),
            **policy,
        ),
        fake=FakeConfig(frame_lag_s=frame_lag_s),
    )
    link = link_factory(config, clock)
    session = Session(config, link=link, data_dir=tmp_path, clock=clock)
    link.connect()
    if runtime is not None:
        session.worker.adopt(runtime, "scripted")
        wait_until(lambda: (session.loop.tick(), session.policy.loaded)[1])
    return session, link, clock


def settle(session: Session, timeout_s: float = 10.0) -> None:
    """Tick at the same instant until nothing is awaited from another thread (the policy worker, the
    saver): the answers are handled, and time has not moved."""
    deadline = time.monotonic() + timeout_s
    session.loop.tick()
    while session.waiting() or _saving(session):
        assert time.monotonic() < deadline, "no answer from the worker threads"
        time.sleep(0.002)
        session.loop.tick()
    session.loop.tick()


def _saving(session: Session) -> bool:
    rec = session.recording
    return rec is not None and rec.snapshot().saving > 0


def at(session: Session, clock: Clock, t: float, *intents: object) -> None:
    """Submit `intents` at loop time 100 + t, tick, and handle the answers they cause."""
    clock.t = 100.0 + t
    for intent in intents:
        session.submit(intent)
    settle(session)


def run_for(session: Session, clock: Clock, start: float, end: float, step: float = 0.01) -> None:
    """Tick every `step` from `start` to `end` (loop times 100 + t), on exact multiples of `step`."""
    for i in range(round((end - start) / step) + 1):
        at(session, clock, round(start + i * step, 6))


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def tiny_runtime():
    """A tiny compact policy with untrained weights, in the real runtime (what the worker would load)."""
    import torch

    from policies.compact.model import CompactPolicy
    from policies.normalisation import ActionNormalisation
    from policies.runtime import PolicyRuntime, RuntimeConfig
    from tests.policies.conftest import tiny_compact_config

    torch.manual_seed(0)
    return PolicyRuntime(
        CompactPolicy(tiny_compact_config(Path())),
        ActionNormalisation((1.15, 1.15, 1.15)),
        RuntimeConfig(device="cpu"),
    )
