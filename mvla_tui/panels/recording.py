"""`RecordingPanel`: the episode being recorded (setting, `n/18`, elapsed, the core guide's next key and
the mismatches; while a policy drives, the steps the policy and the operator drove and the takeovers), the
last saved file, and progress per scenario x pattern x distance against targets."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from mvla_tui.core.recording import RecordingState

HOTKEYS = "n new episode  m save (success)  b save (failure)  x discard"


class RecordingPanel(Static):
    recording: reactive[RecordingState | None] = reactive(None)

    def on_mount(self) -> None:
        self.border_title = "Recording"
        self.update(self._render_panel(None))

    def watch_recording(self, recording: RecordingState | None) -> None:
        self.set_class(recording is not None and recording.recording, "-recording")
        self.update(self._render_panel(recording), layout=False)  # fills its fixed share

    def _render_panel(self, rec: RecordingState | None) -> Group | Text:
        if rec is None:
            return Text("no data folder: start with --data DIR to record", style="dim")
        head = Text()
        setting = f"{rec.scenario or '(no scenario)'} {rec.pattern or ''} {rec.distance or ''}".strip()
        if rec.recording:
            head.append("● REC ", style="bold red")
            head.append(f"{setting}  {rec.frames}/{rec.target_frames} frames  {rec.elapsed_s:.1f} s\n")
            if rec.waiting_for_camera:
                head.append("waiting for the camera's first frame...\n", style="yellow")
            if rec.policy_steps:  # an intervention episode: the policy drove, the operator may take over
                head.append(
                    f"policy {rec.policy_steps} / operator {rec.operator_steps} steps   "
                    f"takeovers: {rec.takeovers}\n",
                    style="magenta",
                )
            if rec.guide_next is not None or rec.guide_mismatches:
                head.append(f"guide next: {rec.guide_next or 'done'}   mismatches: {rec.guide_mismatches}\n")
        else:
            head.append(f"ready: {setting}\n" if rec.scenario else "press n to set up an episode\n")
        if rec.series_total:
            head.append(f"series {rec.series_done}/{rec.series_total}\n")
        if rec.saving:
            head.append(f"saving {rec.saving}...\n", style="italic")
        if rec.last_saved:
            head.append(f"saved {rec.last_saved} ({rec.last_outcome})\n", style="green")
        if rec.last_error:
            head.append(f"{rec.last_error}\n", style="yellow")
        head.append(HOTKEYS, style="dim")
        return Group(head, self._progress(rec))

    @staticmethod
    def _progress(rec: RecordingState) -> Table:
        table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
        patterns = list(dict.fromkeys(c.pattern for c in rec.progress))
        distances = list(dict.fromkeys(c.distance for c in rec.progress))
        table.add_column("scenario", no_wrap=True, min_width=10)
        for p in patterns:
            for d in distances:
                table.add_column(f"{p[0].upper()}·{d[:3]}", justify="right", no_wrap=True)
        total_done = total_target = 0
        for scenario in dict.fromkeys(c.scenario for c in rec.progress):
            cells = {(c.pattern, c.distance): c for c in rec.progress if c.scenario == scenario}
            row = [scenario]
            for p in patterns:
                for d in distances:
                    cell = cells[(p, d)]
                    total_done += min(cell.done, cell.target)
                    total_target += cell.target
                    style = "green" if cell.done >= cell.target else ""
                    row.append(Text(f"{cell.done}/{cell.target}", style=style))
            table.add_row(*row)
        counted = "" if rec.progress_counted else " (counting the folder...)"
        table.caption = f"C core, V variant; {total_done}/{total_target} toward the targets{counted}"
        return table
