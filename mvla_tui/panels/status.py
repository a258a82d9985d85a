"""`StatusPanel`: one line of what matters most while the robot moves: which robot and its health and
warnings, camera rate, who drives (manual / policy / hybrid), e-stop, recording, the loaded policy, and
how keys are read (key release, or the key-repeat deadman)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from mvla_tui.core.state import ControlState


class StatusPanel(Static):
    state: reactive[ControlState | None] = reactive(None, layout=False)
    key_mode = reactive("key repeat (deadman)")
    camera_hz: reactive[float | None] = reactive(None)

    def watch_state(self, state: ControlState | None) -> None:
        self.set_class(state is not None and state.robot.estop, "-estop")
        self.set_class(
            state is not None and state.recording is not None and state.recording.recording, "-recording"
        )
        self.update(self._line(), layout=False)  # one line, fixed height

    def watch_key_mode(self) -> None:
        self.update(self._line(), layout=False)  # one line, fixed height

    def watch_camera_hz(self) -> None:
        self.update(self._line(), layout=False)  # one line, fixed height

    def _line(self) -> Text:
        state = self.state
        line = Text()
        if state is None:
            return Text("starting the control loop...")
        robot = state.robot
        health = (
            "ok" if robot.link_ok and robot.running else ("stopped" if not robot.running else "LINK ERROR")
        )
        line.append(f" {state.link} ", style="bold reverse")
        line.append(f" {health}  ")
        if self.camera_hz == 0.0:
            line.append("camera STALLED  ", style="bold red")
        else:
            camera = "-" if self.camera_hz is None else f"{self.camera_hz:.0f} fps"
            line.append(f"camera {camera}  ")
        control = state.policy.control if state.policy is not None else "manual"
        line.append(f"control {control}  ", style="bold" if control != "manual" else "")
        if robot.estop:
            line.append(
                f" E-STOP: {robot.estop_reason or 'latched'} (ctrl+e clears) ", style="bold white on red"
            )
            line.append("  ")
        recording = state.recording
        if recording is not None and recording.recording:
            line.append(f" REC {recording.frames}/{recording.target_frames} ", style="bold white on dark_red")
            line.append("  ")
        policy = state.policy
        if policy is not None:
            if policy.loading:
                line.append("policy loading...  ")
            elif policy.label:
                line.append(f"policy {policy.label}  ")
            else:
                line.append("no policy  ", style="dim")
        line.append(f"keys: {self.key_mode}", style="dim")
        for warning in robot.warnings:
            line.append(f"  ⚠ {warning}", style="bold yellow")
        return line
