"""`MvlaApp`: the terminal app. It composes the panels, routes keys and typed commands to the operating core
as intents or jobs, and shows the `ControlState` snapshots, reports, telemetry and camera frames that come
back.

The app never drives the robot itself: the `Session` (control loop, recording, policy driver) runs in a
thread worker, telemetry in a background sampler, policy work on the policy worker; each posts messages.
What a typed command means is `operator_commands.to_intent`; the jobs it starts are `mvla_tui.core`'s.
E-stop (Escape) is a priority binding: it works whatever has focus, including the command line, and
latches until ctrl+e. Bindings follow state (`check_action`): what cannot be done now is dimmed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer

from mvla_tui import messages
from mvla_tui.core import host_jobs, policy_jobs
from mvla_tui.core.frame_tap import FrameTap
from mvla_tui.core.intents import DiscardEpisode, LoadPolicy, SaveEpisode
from mvla_tui.core.policy_driver import PolicyState
from mvla_tui.core.reports import JobDone, ReplayDone, Report
from mvla_tui.core.session import Session
from mvla_tui.core.state import ControlState
from mvla_tui.key_release import KeyboardReport, KeyReleased
from mvla_tui.operator_commands import (
    AppAction,
    BenchmarkJob,
    ClearJob,
    MemoryJob,
    Say,
    Submit,
    palette_commands,
    parse_command,
    to_intent,
)
from mvla_tui.panels.camera import CameraPanel
from mvla_tui.panels.log import LogPanel, news
from mvla_tui.panels.monitor import MonitorPanel
from mvla_tui.panels.policy import PolicyPanel
from mvla_tui.panels.recording import RecordingPanel
from mvla_tui.panels.status import StatusPanel
from mvla_tui.panels.teleop import TeleopPanel
from mvla_tui.robot.intents import ChangeThrottle, ClearEStop, EStop, ReleaseKey, TeleopKey
from mvla_tui.screens.episodes import EpisodesScreen
from mvla_tui.telemetry.protocol import Telemetry
from mvla_tui.telemetry.sampler import BackgroundSampler
from recorder.catalogue import MOVE_KEYS, STOP_KEY


def settle_heap() -> None:
    """Take everything alive now (modules, widgets, a loaded model) out of the garbage collector's sight:
    a full collection over a heap holding torch and a policy pauses every thread for 100-170 ms on a small
    CPU, a visible freeze of the screen and a late control tick. Objects made later are still collected."""
    gc.freeze()


class MvlaApp(App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses (tests) live elsewhere
    TITLE = "mvla"
    BINDINGS = [
        Binding("escape", "estop", "E-STOP", priority=True),
        Binding("ctrl+e", "clear_estop", "clear e-stop", priority=True),
        *[Binding(k, f"key('{k}')", k, show=False) for k in MOVE_KEYS],
        Binding(STOP_KEY, f"key('{STOP_KEY}')", "stop", show=False),
        Binding("f", "throttle(-1)", "slower", show=False),
        Binding("g", "throttle(1)", "faster", show=False),
        Binding("n", "new_episode", "new episode"),
        Binding("m", "save('success')", "save"),
        Binding("b", "save('failure')", "save failed"),
        Binding("x", "discard", "discard"),
        Binding("i,slash", "focus_command", "command"),
        Binding("ctrl+t", "toggle_camera", "camera"),
        Binding("ctrl+o", "episodes", "episodes"),
        Binding("ctrl+q", "quit", "quit", priority=True),
    ]

    def __init__(
        self,
        session: Session,
        telemetry: Telemetry,
        *,
        policy_source: str | None = None,
        graphics: bool = True,
        sample_interval_s: float = 1.0,
        camera_hz: float = 4.0,
        log_clock: Callable[[], time.struct_time] = time.localtime,
        driver_class: type | None = None,
    ) -> None:
        """`graphics=False` draws no camera image (tests, snapshots); `log_clock` stamps the log;
        `driver_class` the terminal driver (the app uses `KeyReleaseDriver` on Linux and macOS)."""
        super().__init__(driver_class=driver_class)
        self.log_clock = log_clock
        self.session = session
        self.telemetry = telemetry
        self.policy_source = policy_source
        self.graphics = graphics
        self.camera_hz = camera_hz
        self.sampler = BackgroundSampler(
            telemetry, sample_interval_s, on_sample=lambda s: self.post_message(messages.TelemetrySampled(s))
        )
        self.frames = FrameTap(session.loop, camera_hz)
        session.add_part(self.frames)
        session.on_state = lambda state: self.post_message(messages.StateUpdated(state))
        session.on_report = self._report
        self.state: ControlState | None = None
        self._binding_flags: tuple[bool, bool] | None = None
        self._policy_label: str | None = None
        self.key_release = False  # the terminal reports key releases (set by its answer, if any)

    def compose(self) -> ComposeResult:
        # Kept as attributes: the app updates them even while another screen (episodes) is on top.
        self.status = StatusPanel(id="status")
        self.camera = CameraPanel(graphics=self.graphics, id="camera")
        self.teleop = TeleopPanel(id="teleop")
        self.recording_panel = RecordingPanel(id="recording")
        self.policy_panel = PolicyPanel(id="policy")
        self.monitor = MonitorPanel(id="monitor")
        self.log_panel = LogPanel(clock=self.log_clock, id="log")
        yield self.status
        with Horizontal(id="top"):
            yield self.camera
            with Vertical(id="side"):
                yield self.teleop
                yield self.recording_panel
        with Horizontal(id="bottom"):
            yield self.policy_panel
            yield self.monitor
        yield self.log_panel
        yield Footer()

    def on_mount(self) -> None:
        self._control()
        self.sampler.start()
        self.set_interval(1.0 / self.camera_hz, self._show_frame)
        self.log_panel.add("info", f"robot: {self.session.link_reason}")
        if self.session.recording is None:
            self.log_panel.add("info", "no data folder: start with --data DIR to record episodes")
        if self.policy_source is not None:
            self.session.submit(LoadPolicy(self.policy_source))
        self.call_after_refresh(settle_heap)

    @work(thread=True, group="control", exit_on_error=False, description="Control loop")
    def _control(self) -> None:
        error = None
        try:
            self.session.run()
        except Exception as exc:  # the robot is stopped by then; the operator must see why it ended
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(messages.ControlLoopEnded(error))

    # ---- messages from the threads -----------------------------------------------------------------

    def on_state_updated(self, message: messages.StateUpdated) -> None:
        state = self.state = message.state
        self.status.state = state
        self.teleop.robot = state.robot
        self.recording_panel.recording = state.recording
        self.policy_panel.policy = state.policy
        self.status.camera_hz = (
            state.robot.camera_hz if state.robot.camera_hz is not None else self.frames.rate_hz
        )
        flags = (state.robot.estop, state.recording is not None and state.recording.recording)
        if flags != self._binding_flags:  # what `check_action` depends on changed: redraw the footer
            self._binding_flags = flags
            self.refresh_bindings()
        label = state.policy.label if state.policy is not None else None
        if label != self._policy_label:  # a policy was loaded: its tensors and modules are long-lived
            self._policy_label = label
            settle_heap()
        for level, text in news(state):  # new ones, once; the ones that stop things also as notifications
            if self.log_panel.add_once(level, text) and level == "error":
                self.notify(text, severity="error", timeout=8)

    def on_telemetry_sampled(self, message: messages.TelemetrySampled) -> None:
        self.monitor.sample = message.sample

    def on_control_loop_ended(self, message: messages.ControlLoopEnded) -> None:
        if message.error:
            self.log_panel.add("error", f"control loop ended: {message.error}; the robot is stopped")
            self.notify(f"control loop ended: {message.error}", severity="error", timeout=30)

    def on_key_released(self, message: KeyReleased) -> None:
        if message.key in MOVE_KEYS:
            self.session.submit(ReleaseKey(message.key))

    def on_keyboard_report(self, message: KeyboardReport) -> None:
        """The terminal said whether it reports key releases (hold mode then stops on release)."""
        self.key_release = message.release
        self.status.key_mode = "key release (kitty protocol)" if message.release else "key repeat (deadman)"
        self.log_panel.add("info", f"keys: {self.status.key_mode}")

    def _report(self, report: Report) -> None:  # any thread
        self.post_message(messages.Reported(report))

    def on_reported(self, message: messages.Reported) -> None:
        report, screen = message.report, self.screen
        self.policy_panel.show(report)
        if isinstance(report, JobDone):
            error = f"{report.task}: {report.error}" if report.error else None
            self.log_panel.add("warning" if error else "info", error or next(iter(report.lines), report.task))
        if isinstance(report, ReplayDone) and isinstance(screen, EpisodesScreen):
            screen.show_replay(report.episode, report.replay)

    def _show_frame(self) -> None:
        frame = self.frames.latest
        camera, policy = self.camera, self._policy()
        camera.action = policy.command if policy is not None and policy.running else None
        if frame is not None and frame is not camera.frame:
            camera.frame = frame

    # ---- actions (keys) ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        rec = self.state.recording if self.state is not None else None
        recording = rec is not None and rec.recording
        if action == "new_episode":
            return None if self.session.recording is None or recording else True
        if action in ("save", "discard"):
            return True if recording else None
        if action == "clear_estop":
            return True if self.state is not None and self.state.robot.estop else None
        return True

    def action_estop(self) -> None:
        self.session.submit(EStop())
        self.log_panel.add("error", "E-STOP: the robot is stopped and latched; ctrl+e clears it")

    def action_clear_estop(self) -> None:
        self.session.submit(ClearEStop())
        self.log_panel.add("info", "e-stop cleared")

    def action_key(self, key: str) -> None:
        self.session.submit(TeleopKey(key))

    def action_throttle(self, direction: int) -> None:
        self.session.submit(ChangeThrottle(direction))

    def action_new_episode(self) -> None:
        from mvla_tui.screens.new_episode import NewEpisodeScreen

        rec = self.state.recording if self.state is not None else None
        previous = (
            {"scenario": rec.scenario, "pattern": rec.pattern, "distance": rec.distance} if rec else None
        )

        def started(intent) -> None:
            if intent is not None:
                self.session.submit(intent)

        self.push_screen(NewEpisodeScreen(self.session.catalogue, previous), started)

    def action_save(self, outcome: str) -> None:
        self.session.submit(SaveEpisode(outcome))

    def action_discard(self) -> None:
        self.session.submit(DiscardEpisode())

    def action_focus_command(self) -> None:
        self.policy_panel.command.focus()

    def action_toggle_camera(self) -> None:
        self.camera.shown = not self.camera.shown
        self.frames.enabled = self.camera.shown

    def action_episodes(self) -> None:
        if self.session.recording is None:
            self.notify("no data folder: start with --data DIR", severity="warning")
            return
        self.push_screen(EpisodesScreen(self.session.recording.data_dir, graphics=self.graphics))

    def get_system_commands(self, screen):
        from textual.app import SystemCommand

        yield from super().get_system_commands(screen)
        for title, line, help_text in palette_commands():
            yield SystemCommand(title, help_text, lambda line=line: self.obey(line))

    def on_unmount(self) -> None:
        """Every way out of the app stops the robot: the control loop ends, which stops it."""
        self.session.stop("the app ended")
        self.sampler.close()

    # ---- typed commands ----------------------------------------------------------------------------

    @on(PolicyPanel.CommandEntered)
    def _command(self, event: PolicyPanel.CommandEntered) -> None:
        self.obey(event.line)

    def obey(self, line: str) -> None:
        """Do what a typed line (or a palette entry) asks for."""
        order = to_intent(parse_command(line), driver=self.session.policy is not None)
        say = self.policy_panel.say
        if isinstance(order, Say):
            for text in order.lines:
                say(text, "red" if order.error else "")
        elif isinstance(order, Submit):
            self.session.submit(order.intent)
            if order.echo:
                say(order.echo)
        elif isinstance(order, AppAction):
            self.call_next(self.run_action, order.action)
        elif isinstance(order, BenchmarkJob):
            frame = self.frames.latest
            problem = policy_jobs.benchmark(self.session, self._policy(), frame, order.steps, self._report)
            if problem is not None:
                say(problem, "red")
        elif isinstance(order, MemoryJob):
            self._report(host_jobs.memory(self.sampler.latest()))
        elif isinstance(order, ClearJob):
            job = partial(host_jobs.clear, self.telemetry, self._report)
            self.run_worker(job, thread=True, group="clear", exit_on_error=False, description="Clear caches")

    def on_replay_requested(self, message: messages.ReplayRequested) -> None:
        problem = policy_jobs.replay(self.session, self._policy(), message.episode, self._report)
        if problem is not None:
            self.notify(problem, severity="warning")

    def _policy(self) -> PolicyState | None:
        return self.state.policy if self.state is not None else None
