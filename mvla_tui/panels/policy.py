"""`PolicyPanel`: the policy, its instruction and who drives, the last chunk and latency figures, the
answers to typed commands, and the command line (with history: up / down).

It only displays and reports: a submitted line goes up as `CommandEntered`; the app acts on it, and hands
down what the core reports back (`show`): the answer to `infer`, a benchmark's progress, a job's lines.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input, ProgressBar, RichLog, Static

from mvla_tui.core.policy_driver import PolicyState
from mvla_tui.core.reports import BenchmarkDone, BenchmarkProgressed, InferAnswered, Report
from mvla_tui.panels.format import arrow, ms, triple

NO_POLICY = "no policy: `load CKPT` (or start with --policy CKPT), or train one with `mvla train`"


def stop_line(p: PolicyState | None) -> tuple[str, str | None]:
    """(level, text) of the log line saying how the last run ended: info when the policy finished by
    predicting a stop, a warning otherwise; no text while nothing ended."""
    if p is None or not p.stop_reason:
        return "info", None
    if p.ended == "done":
        return "info", f"policy done: {p.stop_reason}"
    return "warning", f"policy stopped: {p.stop_reason}"


class CommandInput(Input):
    """An input that remembers what was entered (up / down walk the history)."""

    BINDINGS = [("up", "history(-1)", "previous"), ("down", "history(1)", "next")]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.history: list[str] = []
        self._position = 0

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
        self._position = len(self.history)

    def action_history(self, direction: int) -> None:
        if not self.history:
            return
        self._position = min(max(self._position + direction, 0), len(self.history))
        self.value = self.history[self._position] if self._position < len(self.history) else ""
        self.cursor_position = len(self.value)


class PolicyPanel(Vertical):
    policy: reactive[PolicyState | None] = reactive(None)
    benchmark: reactive[tuple[int, int] | None] = reactive(None)  # (done, total) while a benchmark runs

    class CommandEntered(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._summary_view = Static(id="policy-summary")
        self._bar = ProgressBar(total=1, show_eta=False, id="policy-benchmark")
        self._output = RichLog(id="policy-output", wrap=True, markup=False, max_lines=500)
        self.command = CommandInput(
            placeholder="instruction, or: infer run stop benchmark memory clear load help", id="command"
        )

    def compose(self) -> ComposeResult:
        yield self._summary_view
        yield self._bar
        yield self._output
        yield self.command

    def on_mount(self) -> None:
        self.border_title = "Policy"
        self._bar.display = False
        self.watch_policy(self.policy)

    def say(self, text: str, style: str = "") -> None:
        self._output.write(Text(text, style=style))

    def show(self, report: Report) -> None:
        """Show what the core reported: a benchmark's progress bar, the chunk `infer` answered, or the lines
        (or the error, in red) of a job that ended."""
        if isinstance(report, BenchmarkProgressed):
            self.benchmark = (report.done, report.total)
            return
        if isinstance(report, InferAnswered):
            self.say(f"infer: {report.latency_ms:.1f} ms, chunk of {len(report.chunk)} actions:")
            for i, action in enumerate(report.chunk):
                self.say(f"  {i}: {triple(action)}")
            return
        if isinstance(report, BenchmarkDone):
            self.benchmark = None
        if report.error:
            self.say(f"{report.task}: {report.error}", "red")
        for line in report.lines:
            self.say(line)

    @on(Input.Submitted, "#command")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        command = self.command
        command.remember(line)
        command.value = ""
        if line:
            self.say(f"> {line}", "bold")
            self.post_message(self.CommandEntered(line))

    def watch_benchmark(self, progress: tuple[int, int] | None) -> None:
        bar = self._bar
        bar.display = progress is not None
        if progress is not None:
            bar.update(total=progress[1], progress=progress[0])

    def watch_policy(self, policy: PolicyState | None) -> None:
        self._summary_view.update(self._summary(policy), layout=False)  # 6 lines, fixed

    @staticmethod
    def _summary(p: PolicyState | None) -> Text:
        if p is None:
            return Text("the policy driver is off in this session", style="dim")
        text = Text()
        if p.loading:
            text.append(f"loading {p.source}...\n", style="italic")
        elif p.label:
            text.append(f"{p.label}  ", style="bold")
            text.append(f"{p.describe}\n", style="dim")
        else:
            text.append(NO_POLICY + "\n", style="dim")
        if p.load_error:
            text.append(f"load failed: {p.load_error}\n", style="red")
        text.append(f"instruction: {p.instruction or '(none yet: type one)'}\n")
        control = p.control + (f", resumes in {p.resumes_in_s:.1f} s" if p.resumes_in_s is not None else "")
        text.append(f"control {control}   steps {p.steps}/{p.max_steps}   ")
        text.append(f"action {arrow(p.command)} {triple(p.command)}\n")
        hz = "-" if p.effective_hz is None else f"{p.effective_hz:.2f} Hz"
        text.append(
            f"latency {ms(p.latency_ms)} (p50 {ms(p.latency_p50_ms)}, p99 {ms(p.latency_p99_ms)})  "
            f"{hz}  missed {p.missed_deadlines}  stale frames {p.stale_frames}"
        )
        if p.stop_reason:
            done = p.ended == "done"
            text.append(
                f"\n{'done' if done else 'stopped'}: {p.stop_reason}", style="green" if done else "yellow"
            )
        if p.error:
            text.append(f"\n{p.error}", style="yellow")
        return text
