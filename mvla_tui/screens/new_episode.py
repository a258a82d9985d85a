"""`NewEpisodeScreen`: setting up an episode with the older collector's keys, N -> scenario 1-4 -> C/V
(core/variant) -> J/K/L (close/medium/far) -> repeat count (+/-) -> Enter.

`o` shows the 8 older scenario ids instead (keys 1-8). Every choice has a default but the scenario, so
Enter may come as soon as one is picked. `x` cancels. It dismisses with a `StartEpisode` intent (or None);
the app submits it. Other letters are swallowed here so they do not drive the robot while the operator
types; the e-stop (Escape) is the app's priority binding and works here too.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from mvla_tui.core.intents import StartEpisode
from recorder.catalogue import Catalogue

PATTERN_KEYS = {"c": "core", "v": "variant"}
DISTANCE_KEYS = {"j": "close", "k": "medium", "l": "far"}


class NewEpisodeScreen(ModalScreen[StartEpisode | None]):
    BINDINGS = [
        Binding("enter", "start", "start recording"),
        Binding("x", "cancel", "cancel"),
        Binding("o", "toggle_older", "older scenarios"),
        Binding("plus,equals_sign", "repeat(1)", "more", show=False),
        Binding("minus", "repeat(-1)", "fewer", show=False),
    ]

    def __init__(self, catalogue: Catalogue, previous: dict[str, str | None] | None = None) -> None:
        super().__init__()
        self.catalogue = catalogue
        previous = previous or {}
        self.scenario: str | None = previous.get("scenario")
        self.pattern = previous.get("pattern") or "core"
        self.distance = previous.get("distance") or "medium"
        self.repeat = 1
        self.older = False

    def compose(self) -> ComposeResult:
        with Vertical(id="new-episode"):
            yield Static(id="new-episode-body")

    def on_mount(self) -> None:
        self.query_one("#new-episode").border_title = "New episode"
        self._show()

    def _choices(self) -> list[str]:
        specs = self.catalogue.older_scenarios if self.older else self.catalogue.scenarios
        return [s.id for s in specs]

    def on_key(self, event: events.Key) -> None:
        key = event.key
        if key.isdigit():
            choices = self._choices()
            index = int(key) - 1
            if 0 <= index < len(choices):
                self.scenario = choices[index]
        elif key in PATTERN_KEYS:
            self.pattern = PATTERN_KEYS[key]
        elif key in DISTANCE_KEYS:
            self.distance = DISTANCE_KEYS[key]
        elif key in ("o", "x", "enter", "plus", "equals_sign", "minus"):
            return  # the bindings above
        elif len(key) == 1 or key == "space":
            pass  # swallowed: not a robot key while setting up
        else:
            return
        event.stop()
        event.prevent_default()
        self._show()

    def _show(self) -> None:
        text = Text()
        text.append("scenario  ", style="bold")
        for i, sid in enumerate(self._choices(), 1):
            style = "reverse bold" if sid == self.scenario else ""
            text.append(f" {i} {sid} ", style=style)
            text.append(" ")
        text.append("   (o: older ids)\n" if not self.older else "   (o: current ids)\n", style="dim")
        text.append("pattern   ", style="bold")
        for key, name in PATTERN_KEYS.items():
            text.append(f" {key.upper()} {name} ", style="reverse bold" if name == self.pattern else "")
        text.append("\ndistance  ", style="bold")
        for key, name in DISTANCE_KEYS.items():
            text.append(f" {key.upper()} {name} ", style="reverse bold" if name == self.distance else "")
        text.append(f"\nrepeat    {self.repeat} episode(s) of this setting (+/-)\n", style="bold")
        if self.scenario is not None:
            text.append(
                f"\ninstruction: {self.catalogue.default_instruction(self.scenario)}\n", style="italic"
            )
        text.append("\nEnter start   x cancel   Esc e-stop", style="dim")
        self.query_one("#new-episode-body", Static).update(text)

    def action_toggle_older(self) -> None:
        self.older = not self.older
        self._show()

    def action_repeat(self, change: int) -> None:
        self.repeat = min(max(self.repeat + change, 1), 99)
        self._show()

    def action_start(self) -> None:
        if self.scenario is None:
            self.notify("pick a scenario first (1-4, or o then 1-8)", severity="warning")
            return
        repeat = self.repeat if self.repeat > 1 else None
        self.dismiss(StartEpisode(self.scenario, self.pattern, self.distance, None, repeat))

    def action_cancel(self) -> None:
        self.dismiss(None)
