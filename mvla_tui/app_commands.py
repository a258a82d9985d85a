"""What the typed commands of the policy panel (and the command palette) do in the app.

Each turns into an intent for the operating core (`infer`, `run`, `stop`, `load`, an instruction), or into
work off the UI thread whose answer comes back as a message: `benchmark` and the episode replay run on the
policy worker (the thread that owns the model), `clear` in a thread worker, `memory` reads the latest
telemetry sample. Nothing here blocks the UI thread or touches the robot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mvla_tui import messages
from mvla_tui.core.intents import InferOnce, LoadPolicy, RunPolicy, SetInstruction, StopPolicy
from mvla_tui.operator_commands import help_lines, parse_command
from mvla_tui.panels.format import triple
from mvla_tui.robot.intents import SetMode
from mvla_tui.telemetry.format import gib, sample_rows

if TYPE_CHECKING:
    from mvla_tui.app import MvlaApp


class AppCommands:
    def __init__(self, app: MvlaApp) -> None:
        self.app = app
        self.awaiting_infer = False
        self._answered = 0

    def state_updated(self, state) -> None:
        """Print the chunk of an `infer` once its answer is in the state."""
        policy = state.policy
        if policy is None or policy.answered == self._answered:
            return
        self._answered = policy.answered
        if self.awaiting_infer and policy.chunk is not None:
            self.awaiting_infer = False
            self.panel.say(f"infer: {policy.latency_ms:.1f} ms, chunk of {len(policy.chunk)} actions:")
            for i, action in enumerate(policy.chunk):
                self.panel.say(f"  {i}: {triple(action)}")

    @property
    def panel(self):
        return self.app.policy_panel

    def run(self, line: str) -> None:
        command = parse_command(line)
        if command is None:
            return
        name, arg = command.name, command.argument
        session = self.app.session
        if name == "error":
            self.panel.say(arg, "red")
        elif name == "instruction":
            session.submit(SetInstruction(arg))
            self.panel.say(f"instruction: {arg}")
        elif name == "help":
            for text in help_lines():
                self.panel.say(text)
        elif name == "quit":
            self.app.run_action("quit")
        elif name == "episodes":
            self.app.action_episodes()
        elif name == "mode":
            session.submit(SetMode(arg))
            self.panel.say(f"teleop mode {arg}")
        elif session.policy is None:
            self.panel.say("the policy driver is off in this session", "red")
        elif name == "infer":
            self.awaiting_infer = True
            session.submit(InferOnce())
        elif name == "run":
            session.submit(RunPolicy())
        elif name == "stop":
            session.submit(StopPolicy())
        elif name == "load":
            self.load(arg)
        elif name == "benchmark":
            self.benchmark(int(arg))
        elif name == "memory":
            self.memory()
        elif name == "clear":
            self.clear()

    def load(self, source: str) -> None:
        from configs import MvlaError
        from policies.default_policy import resolve

        try:
            path = resolve(source, "load")
        except MvlaError as exc:
            self.panel.say(str(exc), "red")
            return
        self.app.session.submit(LoadPolicy(str(path)))
        self.panel.say(f"loading {path} (driving goes on meanwhile)...")

    def _policy_idle(self, what: str) -> str | None:
        state = self.app.state.policy if self.app.state is not None else None
        if state is None or not state.label:
            return f"{what}: no policy loaded (load CKPT)"
        if state.running:
            return f"{what}: the policy is driving; `stop` it first"
        return None

    def benchmark(self, steps: int) -> None:
        from mvla_tui.core.policy_jobs import benchmark

        problem = self._policy_idle("benchmark")
        frame = self.app.frames.latest
        if problem is None and frame is None:
            problem = "benchmark: no camera frame yet (is the camera shown? ctrl+t)"
        if problem is not None:
            self.panel.say(problem, "red")
            return
        session = self.app.session
        instruction = self.app.state.policy.instruction or session.default_instruction()
        if not instruction:  # never an invented one: the latency of the policy depends on what it reads
            self.panel.say(
                "benchmark: no instruction yet; type one (or set up an episode), then benchmark", "red"
            )
            return
        post = self.app.post_message
        post(messages.BenchmarkProgressed(0, steps))

        def job(runtime):
            return benchmark(
                runtime,
                frame.image,
                instruction,
                steps,
                lambda i, n: post(messages.BenchmarkProgressed(i, n)),
            )

        def done(result, error) -> None:
            post(messages.PolicyTaskDone("benchmark", result.lines() if result else [], error, result))

        session.worker.call(job, done)
        session.submit(
            SetInstruction(instruction)
        )  # the benchmark reset the window: the policy starts afresh

    def memory(self) -> None:
        sample = self.app.sampler.latest()
        if sample is None:
            self.panel.say("memory: no telemetry sample yet", "red")
            return
        wanted = ("RAM", "Swap", "Process RSS", "Torch CUDA")
        lines = [
            f"{label}: {value}"
            for label, value in sample_rows(sample)
            if label in wanted or label.startswith("GPU")
        ]
        if sample.torch_peak_bytes is not None:
            lines.append(f"CUDA peak allocated: {gib(sample.torch_peak_bytes)}")
        self.app.post_message(
            messages.PolicyTaskDone("memory", ["memory:", *(f"  {line}" for line in lines)])
        )

    def clear(self) -> None:
        from mvla_tui.telemetry.clear import clear_caches

        app = self.app

        def job() -> None:
            result = clear_caches(app.telemetry)
            app.post_message(messages.PolicyTaskDone("clear", [f"clear: {result.summary()}"]))

        app.run_worker(job, thread=True, group="clear", exit_on_error=False, description="Clear caches")

    def replay(self, episode, on_done) -> None:
        """Replay `episode` through the policy on its worker; `on_done(replay)` runs on the UI thread."""
        from mvla_tui.core.policy_jobs import replay

        problem = self._policy_idle("replay")
        if problem is not None:
            self.app.notify(problem, severity="warning")
            return
        instruction = episode.meta.instruction or self.app.session.default_instruction()
        if (
            not instruction
        ):  # never an invented one: the replay would score the policy on words it was not given
            self.app.notify(
                f"replay: {episode.name} stores no instruction and none is set; type one, then replay",
                severity="warning",
            )
            return
        app = self.app

        def done(result, error) -> None:
            if error is not None:
                app.post_message(messages.PolicyTaskDone("replay", [], error))
                return
            lines = [
                f"replay of {episode.name}: agreement {100 * result.agreement:.0f}% of {len(episode)} frames"
            ]
            app.post_message(messages.PolicyTaskDone("replay", lines, None, result))
            app.call_from_thread(on_done, result)

        app.session.worker.call(
            lambda runtime: replay(runtime, episode.images, episode.actions, instruction), done
        )
        app.session.submit(SetInstruction(instruction))
