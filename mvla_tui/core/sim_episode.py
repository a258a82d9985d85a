"""One episode in the simulator, driven by the scripted expert or a policy through a `Session`: the same
control loop, recorded steps and policy driver as on the robot, on the simulated clock.

`plan_episodes` spreads episodes evenly over scenario x distance x pattern cells with a seeded position
bias; `sim_robot_config` turns a robot config into the one of an episode's layout; `run_sim_episode`
builds the session, lets the driver act until the episode is over, and reports what happened. An episode
is over when the expert has nothing more to press (or after `sim.max_presses` presses), when the robot
touches anything, or when the policy's run ends as it would in the app (`PolicyDriver.ended`): it predicts
a stop, it used its `policy.max_steps` (a timeout), its frames stay stale or it fails.
`realtime=True` runs the episode on the wall clock exactly as the app does: the simulator's camera thread
renders on demand, the deadline guard watches the control thread, the policy waits for fresh frames, and a
display tap asks for frames as the app's camera panel does (`display_hz`); so its figures (missed deadlines,
stale frames, guard stops, steps per second) are the app's. With a data folder the episode is recorded and saved with
its outcome and the sim's verdict (`sim_success`, `sim_failure`, `sim_seed`, `sim_bias`, `sim_noise`);
with `video` the recorded frames go to an MP4 (kept only when the episode failed, for eval).
This module must not import textual.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mvla_tui.core.expert_operator import ExpertOperator
from mvla_tui.core.frame_tap import FrameTap
from mvla_tui.core.intents import RunPolicy, SetInstruction, StartEpisode
from mvla_tui.core.key_driver import KeyDriver, expert_driver
from mvla_tui.core.policy_worker import PolicyWorker
from mvla_tui.core.session import Session
from mvla_tui.robot.config import RobotConfig
from mvla_tui.robot.hooks import LoopPart
from mvla_tui.robot.state import Step
from mvla_tui.sim.expert import ScriptedExpert
from mvla_tui.sim.layout import BIASES
from mvla_tui.sim.link import SimLink
from mvla_tui.sim.success import EpisodeResult
from recorder.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    import cv2

log = logging.getLogger(__name__)
DISPLAY_HZ = 4.0  # the app's camera panel asks for a frame this often (`MvlaApp.camera_hz`)
_POLICY_ENDINGS = {"done": "policy stop", "budget": "timeout", "collision": "collision"}


def episode_ending(ended: str, reason: str | None) -> str:
    """How a policy's run ended (`PolicyDriver.ended`), as an episode's ending: "policy stop", "timeout",
    "collision", or "policy stale: ...", "policy error: ...", "policy stopped: ..." with the reason."""
    return _POLICY_ENDINGS.get(ended, f"policy {ended}: {reason or 'stopped'}")


@dataclass(frozen=True)
class EpisodeSpec:
    scenario: str
    pattern: str  # "core" | "variant": the expert's style and the recorded pattern
    distance: str
    bias: str
    seed: int


@dataclass
class SimEpisode:
    spec: EpisodeSpec
    instruction: str
    result: EpisodeResult
    ended: (
        str  # "expert done", "policy stop", "collision", "timeout", "policy error: ...", "policy stale: ...",
        # "policy refused: ..." (`run` was refused: no policy loaded)
    )
    steps: int  # motion commands executed
    keys: list[str] = field(default_factory=list)  # the expert's presses
    latencies_ms: list[float] = field(default_factory=list)  # per policy step
    missed_deadlines: int = 0
    stale_frames: int = 0
    guard_stops: int = 0
    steps_per_s: float | None = None  # the policy's effective step rate (loop clock)
    takeovers: int = 0  # with the expert as operator: how often it took over from the policy
    takeover_reasons: list[str] = field(default_factory=list)
    policy_steps: int = 0  # actions the policy executed
    operator_steps: int = 0  # keys the expert pressed as the operator
    saved: Path | None = None
    video: Path | None = None
    save_error: str | None = None

    @property
    def timed_out(self) -> bool:
        return self.ended == "timeout"


def plan_episodes(
    episodes: int,
    scenarios: Sequence[str] | None = None,
    patterns: Sequence[str] = ("core",),
    distances: Sequence[str] | None = None,
    seed: int = 0,
) -> list[EpisodeSpec]:
    """`episodes` specs cycling through every scenario x distance x pattern cell in turn, so any prefix is
    spread evenly (default: the catalogue's current scenarios and every distance); the position bias is
    drawn per episode from `seed`."""
    catalogue = load_catalogue()
    scenarios = catalogue.current_ids if scenarios is None else scenarios
    distances = catalogue.distances if distances is None else distances
    cells = list(itertools.product(distances, patterns, scenarios))
    rng = np.random.default_rng(seed)
    specs = []
    for i in range(episodes):
        distance, pattern, scenario = cells[i % len(cells)]
        specs.append(EpisodeSpec(scenario, pattern, distance, str(rng.choice(BIASES)), seed * 1_000_003 + i))
    return specs


def sim_robot_config(base: RobotConfig, spec: EpisodeSpec, realtime: bool = False) -> RobotConfig:
    """`base` (kind sim) set to the layout of `spec`, in simulated time or on the wall clock."""
    sim = dataclasses.replace(
        base.sim,
        scenario=spec.scenario,
        distance=spec.distance,
        bias=spec.bias,
        seed=spec.seed,
        realtime=realtime,
    )
    return dataclasses.replace(base, kind="sim", sim=sim)


def expert_attrs(
    spec: EpisodeSpec, result: EpisodeResult, noise: float
) -> dict[str, str | int | float | bool]:
    """Root attributes of a sim episode, so training can drop failed demonstrations (`sim_success`)."""
    return {
        "sim_success": result.success,
        "sim_failure": "" if result.success else result.reason,
        "sim_seed": spec.seed,
        "sim_bias": spec.bias,
        "sim_noise": float(noise),
    }


class _EpisodeWatch(LoopPart):
    """Decides when the episode is over, and then saves or discards the recording (control thread)."""

    def __init__(
        self,
        session: Session,
        link: SimLink,
        expert: KeyDriver | None,
        max_steps: int,
        spec: EpisodeSpec,
        noise: float,
        keep_failed: bool,
        video: _Video | None,
        operator: ExpertOperator | None = None,
    ):
        self.session = session
        self.operator = operator
        self.link = link
        self.expert = expert
        self.max_steps = max_steps
        self.spec = spec
        self.noise = noise
        self.keep_failed = keep_failed
        self.video = video
        self.ended: str | None = None
        self.result: EpisodeResult | None = None

    @property
    def steps(self) -> int:
        """Motions started in the episode, counted by the loop (a step whose frame was lost still counts)."""
        return self.session.loop.steps

    def on_step(self, step: Step) -> None:
        if self.video is not None:
            self.video.add(step, self.steps)

    def on_tick(self, now: float) -> None:
        if self.ended is not None:
            return
        policy = self.session.policy
        if self.link.collision is not None:
            self.ended = "collision"
        elif self.expert is not None:
            if self.expert.done:
                self.ended = "expert done"
            elif self.steps >= self.max_steps and self.session.loop.moving_source is None:
                self.ended = "timeout"
        elif self.operator is not None and self.operator.done:
            self.ended = "operator done"
        elif policy is not None and not policy.running and policy.ended is None:
            # `run` is handled in the first tick: a policy that is not driving and never was refused it
            # (no policy loaded, no instruction); the simulation must not go on without it.
            self.ended = f"policy refused: {policy.snapshot(now).error or 'it never started'}"
        elif (
            policy is not None
            and not policy.running
            and policy.ended is not None
            and (self.operator is None or not self.operator.in_control or self.session.loop.estopped)
        ):
            self.ended = episode_ending(policy.ended, policy.snapshot(now).stop_reason)
        if self.ended is not None:
            self.session.loop.halt()
            self.result = self.link.result()
            self._save()

    def _save(self) -> None:
        recording = self.session.recording
        if recording is None or not recording.recording or self.result is None:
            return
        if self.result.success or self.keep_failed:
            outcome = "success" if self.result.success else "failure"
            recording.save(outcome, expert_attrs(self.spec, self.result, self.noise))
        else:
            recording.discard()

    def on_close(self) -> None:
        if self.result is None and self.link.connected:  # ended by a signal: judge where the robot stands
            self.result = self.link.result()


class _Video:
    """The recorded frames of an episode as an MP4, one frame per step, labelled with the step's action."""

    def __init__(self, path: Path, fps: float = 4.0) -> None:
        self.path = path
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None

    def add(self, step: Step, index: int) -> None:
        import cv2

        image = cv2.cvtColor(step.frame.image, cv2.COLOR_RGB2BGR)
        if self._writer is None:
            h, w = image.shape[:2]
            fourcc = cv2.VideoWriter.fourcc(*"mp4v")
            self._writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
        a = step.action
        label = f"{index} {step.event_type} [{a[0]:+.2f} {a[1]:+.2f} {a[2]:+.2f}]"
        scale = max(0.35, image.shape[1] / 900)
        cv2.putText(image, label, (6, int(22 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 255), 1)
        self._writer.write(image)

    def close(self, keep: bool) -> Path | None:
        if self._writer is not None:
            self._writer.release()
        if keep and self.path.exists():
            return self.path
        self.path.unlink(missing_ok=True)
        return None


def run_sim_episode(
    base: RobotConfig,
    spec: EpisodeSpec,
    catalogue: Catalogue,
    *,
    instruction: str | None = None,
    worker: PolicyWorker | None = None,
    noise: float = 0.0,
    data_dir: Path | None = None,
    keep_failed: bool = False,
    video_dir: Path | None = None,
    realtime: bool = False,
    display_hz: float | None = DISPLAY_HZ,
    expert_operator: bool = False,
) -> SimEpisode:
    """Run one episode: the scripted expert drives when `worker` is None, else the worker's policy; on the
    wall clock with `realtime` (then a display tap asks for frames `display_hz` times a second, as the
    app's camera panel does; None: no display). With `expert_operator` (and a worker) the expert watches
    the policy drive and takes over as an operator would (`ExpertOperator`): an intervention episode."""
    config = sim_robot_config(base, spec, realtime)
    link = SimLink(config)
    session = Session(
        config,
        link=link,
        data_dir=data_dir,
        worker=worker,
        policy=worker is not None,
        catalogue=catalogue,
        side_files=False,
        count_existing=False,
    )
    instruction = instruction or catalogue.default_instruction(spec.scenario)
    expert = None
    if worker is None:
        style = catalogue.normalise_pattern(spec.pattern)  # an unknown pattern is an error, not "core"
        expert = expert_driver(
            session.loop,
            link,
            ScriptedExpert(link.layout, config.sim, config.teleop, style, noise, spec.seed),
            config.teleop,
            config.sim.max_presses,
        )
        session.add_part(expert)
    operator = None
    if worker is not None and expert_operator:
        assert session.policy is not None  # a session with a worker has a policy driver
        style = catalogue.normalise_pattern(spec.pattern)
        operator = ExpertOperator(
            session.loop,
            link,
            ScriptedExpert(link.layout, config.sim, config.teleop, style, 0.0, spec.seed),
            session.policy,
            config.teleop,
            max_presses=config.sim.max_presses,
        )
        session.add_part(operator)
    video = None
    if video_dir is not None:
        video = _Video(video_dir / f"{spec.scenario}_{spec.distance}_{spec.bias}_seed{spec.seed}.mp4")
    watch = _EpisodeWatch(
        session, link, expert, config.sim.max_presses, spec, noise, keep_failed, video, operator
    )
    session.add_part(watch)
    if realtime and display_hz is not None:
        session.add_part(FrameTap(session.loop, display_hz))
    if data_dir is not None:
        session.submit(StartEpisode(spec.scenario, spec.pattern, spec.distance, instruction))
    if worker is not None:
        session.submit(SetInstruction(instruction))
        session.submit(RunPolicy())
    saved: list = []
    session.run(should_stop=lambda: watch.ended is not None)
    result = watch.result if watch.result is not None else EpisodeResult(False, "not run", None, None, False)
    recording = session.recording.snapshot() if session.recording is not None else None
    if recording is not None and recording.last_saved:
        saved.append(Path(recording.data_dir) / recording.last_saved)
    policy = session.policy
    policy_state = policy.snapshot(0.0) if policy is not None else None
    return SimEpisode(
        spec=spec,
        instruction=instruction,
        result=result,
        ended=watch.ended or "interrupted",
        steps=watch.steps,
        keys=list(expert.keys) if expert is not None else [],
        latencies_ms=policy.latencies_ms if policy is not None else [],
        missed_deadlines=policy_state.missed_deadlines if policy_state is not None else 0,
        stale_frames=policy_state.stale_frames if policy_state is not None else 0,
        guard_stops=session.loop.state.guard_stops,
        steps_per_s=policy_state.effective_hz if policy_state is not None else None,
        takeovers=operator.takeovers if operator is not None else 0,
        takeover_reasons=list(operator.reasons) if operator is not None else [],
        policy_steps=watch.steps - len(operator.keys)
        if operator is not None
        else (watch.steps if worker else 0),
        operator_steps=len(operator.keys) if operator is not None else 0,
        saved=saved[0] if saved else None,
        video=video.close(keep=not result.success) if video is not None else None,
        save_error=recording.last_error if recording is not None else None,
    )
