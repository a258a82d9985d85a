"""`EpisodesScreen`: the episodes in the data folder with their check status; open one to scrub its frames
with the recorded action of each, and, with a policy loaded, replay it through the policy: the policy's
action next to the recorded one at every frame, and the agreement rate. The first thing to look at when a
policy misbehaves.

Reading and checking files runs in thread workers (a damaged file must not freeze the screen), and each
file is opened in a child process (`recorder.isolated`): the files are untrusted and a damaged HDF5 file
can crash or hang the library, in the process that drives the robot. Such a file is a one-line status in
the list, or a one-line notification when opened. The replay is asked for with a message
(`ReplayRequested`): the app runs it on the policy worker and sets `replayed` when it is done. The screen
only displays; the robot keeps its keys (the e-stop is the app's priority binding).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from mvla_tui.core.reports import Replay, nearest_key
from mvla_tui.messages import ReplayRequested
from mvla_tui.panels.camera import CameraPanel
from mvla_tui.panels.format import triple
from mvla_tui.robot.link import Frame
from recorder.episode import Episode


class EpisodesScreen(Screen):
    BINDINGS = [
        Binding("left,comma", "scrub(-1)", "previous frame"),
        Binding("right,full_stop", "scrub(1)", "next frame"),
        Binding("p", "replay", "replay through the policy"),
        Binding("backspace,ctrl+o", "app.pop_screen", "back"),
    ]

    index = reactive(0)
    replayed: reactive[Replay | None] = reactive(None)  # set by the app: the open episode's replay

    def __init__(self, data_dir: Path, graphics: bool = True) -> None:
        super().__init__()
        self.data_dir = data_dir
        self.graphics = graphics
        self.episode: Episode | None = None

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield DataTable(id="episode-list", cursor_type="row")
            with Vertical(id="episode-view"):
                yield CameraPanel(graphics=self.graphics, id="episode-frame")
                yield Static("choose an episode (Enter)", id="episode-actions")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#episode-list", DataTable)
        table.add_columns("episode", "frames", "status")
        table.border_title = f"Episodes in {self.data_dir}"
        self._list()

    @work(thread=True, exclusive=True, group="episode-list", exit_on_error=False)
    def _list(self) -> None:
        from recorder.isolated import IsolatedReader
        from recorder.stats import episode_files

        with IsolatedReader() as reader:
            for path in episode_files(self.data_dir):
                report = reader.inspect(path)
                status = "ok" if report.ok else "; ".join(str(p) for p in report.problems)[:60]
                frames = "?" if report.frames is None else str(report.frames)
                self.app.call_from_thread(self._add_row, path, frames, status)

    def _add_row(self, path: Path, frames: str, status: str) -> None:
        style = "" if status == "ok" else "red"
        self.query_one("#episode-list", DataTable).add_row(
            path.name, frames, Text(status, style=style), key=str(path)
        )

    @on(DataTable.RowSelected, "#episode-list")
    def _selected(self, event: DataTable.RowSelected) -> None:
        self._open(Path(str(event.row_key.value)))

    @work(thread=True, exclusive=True, group="episode-open", exit_on_error=False)
    def _open(self, path: Path) -> None:
        from configs import MvlaError
        from recorder.isolated import IsolatedReader

        try:
            with IsolatedReader() as reader:
                episode = reader.episode(path)
        except MvlaError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error")
            return
        self.app.call_from_thread(self._show_episode, episode)

    def _show_episode(self, episode: Episode) -> None:
        self.episode = episode
        self.set_reactive(EpisodesScreen.replayed, None)  # quietly: one redraw below, at frame 0
        self.set_reactive(EpisodesScreen.index, 0)
        self._show()

    def watch_index(self) -> None:
        self._show()

    def watch_replayed(self) -> None:
        self._show()

    def action_scrub(self, step: int) -> None:
        if self.episode is not None:
            self.index = min(max(self.index + step, 0), len(self.episode) - 1)

    def action_replay(self) -> None:
        if self.episode is None:
            self.notify("open an episode first", severity="warning")
            return
        self.post_message(ReplayRequested(self.episode))

    def show_replay(self, name: str, replay: Replay | None) -> None:
        """A replay of the episode `name` is done (None: it failed): shown if that episode is still open."""
        if self.episode is not None and self.episode.name == name:
            self.replayed = replay

    def _show(self) -> None:
        episode = self.episode
        if episode is None or not self.is_mounted:
            return
        i = self.index
        self.query_one("#episode-frame", CameraPanel).frame = Frame(
            episode.images[i], float(episode.timestamps[i]) if episode.timestamps is not None else float(i)
        )
        recorded = episode.actions[i]
        text = Text()
        text.append(f"{episode.name}\n", style="bold")
        text.append(f"frame {i + 1}/{len(episode)}  {episode.event_types[i]}  (←/→ scrub)\n")
        text.append(f"recorded {triple(recorded)}  key {nearest_key(recorded)}\n")
        text.append(f"instruction: {episode.meta.instruction}\n", style="italic")
        if self.replayed is not None:
            predicted = self.replayed.predicted[i]
            agree = nearest_key(predicted) == nearest_key(recorded)
            text.append(f"policy   {triple(predicted)}  key {nearest_key(predicted)}  ", style="bold")
            text.append("agrees\n" if agree else "differs\n", style="green" if agree else "red")
            text.append(f"agreement over the episode: {100 * self.replayed.agreement:.0f}% of frames\n")
        else:
            text.append("p: replay through the loaded policy\n", style="dim")
        self.query_one("#episode-actions", Static).update(text)
