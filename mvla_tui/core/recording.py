"""`RecordingSession`: scenario-tagged episodes recorded on the control thread, as the older collector did.

Flow (DATA_FORMAT.md): `StartEpisode` (scenario, pattern, distance, instruction, repeat count) opens an
`EpisodeWriter` and records the current image as frame 0, `episode_start`, with a zero action; every
motion the control loop starts while recording adds the frame taken right after its command
(`start_action`, or `stop_action` when space stopped a motion); `SaveEpisode(outcome)` hands the writer to
the `EpisodeSaver`, so the file is built off the control thread while driving goes on; `DiscardEpisode`
throws it away. Timestamps are the loop clock's seconds since frame 0 (simulated seconds in the sim), so a
simulated episode is recorded exactly as a real one. A session that ends mid-episode keeps the journal for
`mvla dataset recover` (outcome "unspecified"), and so does a crash.

The state an operator watches: recording or not, frames `n/18`, elapsed time, the last saved file, the
next key of the core guide and the mismatch count, a series of repeats, and progress against the
catalogue's targets, resumed from the files already in the folder and updated on every save.
It must not import textual.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mvla_tui.core.guide import GuideTracker, guide_for, load_guides
from mvla_tui.core.intents import DiscardEpisode, EpisodeSaveDone, ProgressLoaded, SaveEpisode, StartEpisode
from mvla_tui.core.saver import EpisodeSaver
from mvla_tui.robot.hooks import LoopPart, PartIntent
from mvla_tui.robot.state import Step
from recorder.catalogue import STEP_EVENT, Catalogue
from recorder.episode import EpisodeMeta
from recorder.errors import RecorderError
from recorder.intervention import NO_PROPOSAL, FrameAnnotation, FrameSource
from recorder.writer import EpisodeWriter

SAVE_OUTCOMES = ("success", "failure")
FIRST_FRAME_WAIT_S = 5.0  # how long a started episode waits for the camera's first frame (frame 0)


@dataclass(frozen=True)
class ProgressCell:
    scenario: str
    pattern: str
    distance: str
    done: int
    target: int


@dataclass(frozen=True)
class RecordingState:
    data_dir: str
    recording: bool
    waiting_for_camera: bool  # started, frame 0 not taken yet (the camera has no frame)
    episode: str | None  # name of the episode being recorded
    scenario: str | None  # the setting of the episode being (or next to be) recorded
    pattern: str | None
    distance: str | None
    instruction: str | None
    frames: int
    target_frames: int  # frames an episode aims for (18)
    elapsed_s: float
    guide_next: str | None  # next key of the core guide (None: no guide, or its end)
    guide_mismatches: int
    series_done: int  # episodes saved of the current repeat series
    series_total: int  # 0: no series
    saving: int  # episodes handed to the saver and not yet on disk
    last_saved: str | None  # file name
    last_outcome: str | None
    last_error: str | None
    progress: tuple[ProgressCell, ...]  # current scenarios x patterns x distances
    progress_counted: bool  # False until the folder's existing episodes are counted
    policy_steps: int = 0  # steps of the episode the policy drove (an intervention episode)
    operator_steps: int = 0  # steps of the episode the operator drove
    takeovers: int = 0  # operator steps that followed a policy step


@dataclass
class _Episode:
    writer: EpisodeWriter
    cell: tuple[str, str, str]
    instruction: str
    started_at: float | None  # loop time of frame 0
    guide: GuideTracker
    policy_steps: int = 0
    operator_steps: int = 0
    takeovers: int = 0
    last_source: FrameSource | None = None  # of the last frame (a takeover follows a policy one)


class RecordingSession(LoopPart):
    def __init__(
        self,
        data_dir: Path,
        catalogue: Catalogue,
        post: Callable[[PartIntent], None],
        capture_start: Callable[[float], None],
        *,
        robot: str,
        camera: str | None,
        extra_attrs: Mapping[str, str | int | float | bool] | None = None,
        side_files: bool = True,
        count_existing: bool = True,
    ) -> None:
        """`post` submits an intent to the control loop (from any thread); `capture_start(now)` makes the
        loop hand the current frame to `on_step` as `episode_start`."""
        self.data_dir = Path(data_dir)
        self.catalogue = catalogue
        self.capture_start = capture_start
        self.robot = robot
        self.camera = camera
        self.extra_attrs = dict(extra_attrs or {})
        self.saver = EpisodeSaver(
            self.data_dir, catalogue, post, side_files=side_files, count_existing=count_existing
        )
        self.guides, self._guide_problem = load_guides(self.data_dir)
        self._episode: _Episode | None = None
        self._setting: dict[str, str | None] = {"scenario": None, "pattern": "core", "distance": "medium"}
        self._instruction: str | None = None
        self._series = (0, 0)
        self._saving = 0
        self._last_saved: str | None = None
        self._last_outcome: str | None = None
        self._last_error: str | None = self._guide_problem
        self._counts: dict[tuple[str, str, str], int] = {}
        self._counted = not count_existing
        self._now = 0.0
        self._first_frame_by = 0.0
        # The instruction of the policy while one drives (None otherwise); set by a session with a policy,
        # and then every frame is annotated for an intervention episode (`recorder.intervention`).
        self.policy_instruction: Callable[[], str | None] | None = None

    @property
    def recording(self) -> bool:
        return self._episode is not None

    # ---- control thread ----------------------------------------------------------------------------

    def on_intent(self, intent: object, now: float) -> bool:
        """Act on a recording intent (True), or leave it to others (False)."""
        if isinstance(intent, StartEpisode):
            self.start(intent, now)
        elif isinstance(intent, SaveEpisode):
            self.save(intent.outcome)
        elif isinstance(intent, DiscardEpisode):
            self.discard()
        elif isinstance(intent, EpisodeSaveDone):
            self._saved(intent)
        elif isinstance(intent, ProgressLoaded):
            self._counts = dict(intent.counts)
            self._counted = True
        else:
            return False
        return True

    def start(self, intent: StartEpisode, now: float) -> None:
        if self._episode is not None:
            self._last_error = f"already recording {self._episode.writer.name}: save or discard it first"
            return
        setting = dict(self._setting)
        for key in ("scenario", "pattern", "distance"):
            value = getattr(intent, key)
            if value is not None:
                setting[key] = value
        if setting["scenario"] is None:
            self._last_error = "choose a scenario before recording"
            return
        try:
            spec = self.catalogue.get(setting["scenario"])
            pattern = self.catalogue.normalise_pattern(setting["pattern"] or "")
            distance = self.catalogue.check_distance(setting["distance"] or "")
        except RecorderError as exc:
            self._last_error = str(exc)
            return
        if intent.instruction is not None or intent.scenario is not None:
            self._instruction = intent.instruction
        instruction = self._instruction or self.catalogue.default_instruction(spec.id)
        if intent.repeat is not None:
            self._series = (0, max(int(intent.repeat), 0))
        meta = EpisodeMeta(
            scenario=spec.id,
            pattern=pattern,
            distance=distance,
            instruction=instruction,
            robot=self.robot,
            camera=self.camera,
        )
        try:
            writer = EpisodeWriter(
                self.data_dir, meta, catalogue=self.catalogue, extra_attrs=self.extra_attrs
            )
        except RecorderError as exc:
            self._last_error = str(exc)
            return
        self._setting = {"scenario": spec.id, "pattern": pattern, "distance": distance}
        guide = GuideTracker(guide_for(self.guides, self.catalogue, spec.id, pattern, distance))
        self._episode = _Episode(writer, (spec.id, pattern, distance), instruction, None, guide)
        self._last_error = self._guide_problem
        self._first_frame_by = now + FIRST_FRAME_WAIT_S
        self.capture_start(now)  # frame 0; if the camera has none yet, `tick` tries again for a while

    @property
    def waiting_for_camera(self) -> bool:
        """An episode was started but its frame 0 has not come yet."""
        return self._episode is not None and self._episode.started_at is None

    def on_step(self, step: Step) -> None:
        episode = self._episode
        if episode is None:
            return
        if step.event_type == "episode_start":
            if episode.started_at is not None:
                return  # frame 0 is taken once, by `start`
            episode.started_at = step.t
        elif episode.started_at is None:
            return
        else:
            episode.guide.press(step.key)
        try:
            episode.writer.append(
                step.frame.image,
                step.action,
                step.event_type,
                timestamp=step.t - episode.started_at,
                annotation=self._annotate(episode, step),
            )
        except RecorderError as exc:  # the writer aborted the episode (disk full, bad frame)
            self._episode = None
            self._last_error = str(exc)

    def _annotate(self, episode: _Episode, step: Step) -> FrameAnnotation | None:
        """Who drove this frame, what the policy proposed, the instruction in force; None in a session
        without a policy (nothing but the operator can drive)."""
        if self.policy_instruction is None:
            return None
        driving = self.policy_instruction()
        source: FrameSource
        if step.event_type == "episode_start":
            source = "policy" if driving is not None else "operator"
        else:
            source = "policy" if step.source == "policy" else "operator"
        if source == "operator" and episode.last_source == "policy":  # as `recorder.intervention` counts
            episode.takeovers += 1
        episode.last_source = source
        if step.event_type == STEP_EVENT:
            if source == "policy":
                episode.policy_steps += 1
            else:
                episode.operator_steps += 1
        proposed = NO_PROPOSAL
        if step.proposed is not None:
            proposed = (float(step.proposed[0]), float(step.proposed[1]), float(step.proposed[2]))
        return FrameAnnotation(source, proposed, driving or episode.instruction)

    def save(
        self, outcome: str = "success", attrs: Mapping[str, str | int | float | bool] | None = None
    ) -> None:
        """Hand the episode to the saver; `attrs` are root attributes known only now (the sim's verdict)."""
        episode = self._episode
        if episode is None:
            self._last_error = "nothing is being recorded: start an episode first"
            return
        if outcome not in SAVE_OUTCOMES:
            self._last_error = f"outcome {outcome!r}: save with one of {', '.join(SAVE_OUTCOMES)}"
            return
        self._episode = None
        self._saving += 1
        self.saver.finish(episode.writer, outcome, episode.cell, attrs)

    def discard(self) -> None:
        episode = self._episode
        if episode is None:
            self._last_error = "nothing is being recorded: nothing to discard"
            return
        self._episode = None
        self._saving += 1
        self.saver.discard(episode.writer)

    def _saved(self, done: EpisodeSaveDone) -> None:
        self._saving = max(0, self._saving - 1)
        if done.error is not None:
            self._last_error = done.error
            return
        if done.path is None:
            return  # a discard went through
        self._last_saved = done.path.name
        self._last_outcome = done.outcome
        self._last_error = None
        if done.counts is not None:
            self._counts = dict(done.counts)
        elif done.cell is not None:  # counted again, with this file, when the first count arrives
            self._counts[done.cell] = self._counts.get(done.cell, 0) + 1
        saved, total = self._series
        if total:
            self._series = (saved + 1, total) if saved + 1 < total else (0, 0)

    def on_tick(self, now: float) -> None:
        self._now = now
        episode = self._episode
        if episode is None or episode.started_at is not None:
            return
        if now > self._first_frame_by:
            episode.writer.abort()
            self._episode = None
            self._last_error = (
                f"no camera frame within {FIRST_FRAME_WAIT_S:g} s for episode_start: the episode was not "
                "started; check the camera and try again"
            )
            return
        self.capture_start(now)

    def on_close(self) -> None:
        """The session ends: an episode in progress keeps its journal; every save handed over finishes."""
        episode, self._episode = self._episode, None
        if episode is not None:
            self.saver.keep_journal(episode.writer)
        self.saver.close()

    # ---- any thread (a snapshot of values the control thread writes) -------------------------------

    def snapshot(self) -> RecordingState:
        episode = self._episode
        scenario, pattern, distance = (
            episode.cell
            if episode is not None
            else (self._setting["scenario"], self._setting["pattern"], self._setting["distance"])
        )
        instruction = episode.instruction if episode is not None else self._instruction
        if instruction is None and scenario is not None:
            instruction = self.catalogue.default_instruction(scenario)
        started = episode.started_at if episode is not None else None
        guide = episode.guide if episode is not None else None
        return RecordingState(
            data_dir=str(self.data_dir),
            recording=episode is not None,
            waiting_for_camera=episode is not None and episode.started_at is None,
            episode=episode.writer.name if episode is not None else None,
            scenario=scenario,
            pattern=pattern,
            distance=distance,
            instruction=instruction,
            frames=len(episode.writer) if episode is not None else 0,
            target_frames=self.catalogue.episode_frames,
            elapsed_s=max(0.0, self._now - started) if started is not None else 0.0,
            guide_next=guide.next_key if guide is not None else None,
            guide_mismatches=guide.mismatches if guide is not None else 0,
            series_done=self._series[0],
            series_total=self._series[1],
            saving=self._saving,
            last_saved=self._last_saved,
            last_outcome=self._last_outcome,
            last_error=self._last_error,
            progress=self._progress(),
            progress_counted=self._counted,
            policy_steps=episode.policy_steps if episode is not None else 0,
            operator_steps=episode.operator_steps if episode is not None else 0,
            takeovers=episode.takeovers if episode is not None else 0,
        )

    def _progress(self) -> tuple[ProgressCell, ...]:
        c = self.catalogue
        return tuple(
            ProgressCell(s, p, d, self._counts.get((s, p, d), 0), c.target(s, p, d))
            for s in c.current_ids
            for p in c.patterns
            for d in c.distances
        )
