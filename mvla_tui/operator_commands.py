"""What the operator types into the policy panel: a command word, or else an English instruction; and
what each asks for.

`parse_command("benchmark 50")` -> `OperatorCommand("benchmark", "50")`; any text that is not a command
(`navigate around the obstacle on the left side`) is `OperatorCommand("instruction", text)`. The same
names are the app's command-palette entries. `to_intent` maps a command to what the app then does
without a decision of its own: an intent for the operating core (`Submit`), a job (`BenchmarkJob`,
`MemoryJob`, `ClearJob`, run by `mvla_tui.core`), one of the app's actions (`AppAction`), or only an
answer (`Say`: help, or a mistake in red). Nothing here acts or imports textual, and only `load` looks
outside, at the file system: it resolves the checkpoint folder, so that a wrong one is refused at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from configs import MvlaError
from mvla_tui.core.intents import InferOnce, LoadPolicy, RunPolicy, SetInstruction, StopPolicy
from mvla_tui.robot.config import MODES
from mvla_tui.robot.intents import SetMode
from policies.default_policy import resolve

# name -> (usage, what it does); the order is the help's.
COMMANDS: dict[str, tuple[str, str]] = {
    "infer": ("infer", "one policy step on the current frame, without moving: the chunk and its latency"),
    "run": ("run", "let the policy drive (a teleop key overrides it; it resumes after the pause)"),
    "stop": ("stop", "stop the policy (the robot stops)"),
    "benchmark": (
        "benchmark [N]",
        "time N policy steps (default 50) on the current frame: p50/p95/p99, steps/s",
    ),
    "memory": ("memory", "RAM, swap, this process, GPU and the CUDA allocator"),
    "clear": ("clear", "garbage-collect and empty the CUDA cache; says what it freed"),
    "load": ("load CKPT", "load a policy checkpoint (`default` for the shipped one)"),
    "mode": ("mode step|hold|latch", "keys: one 0.4 s step per press / drive while held / until space"),
    "episodes": ("episodes", "the episodes in the data folder: check, scrub, replay through the policy"),
    "help": ("help", "these commands"),
    "quit": ("quit", "stop the robot and leave"),
}
DEFAULT_BENCH_STEPS = 50


@dataclass(frozen=True)
class OperatorCommand:
    name: str  # a key of COMMANDS, "instruction", or "error"
    argument: str = ""  # the rest of the line (the instruction's text, CKPT, N) or the error


def parse_command(text: str) -> OperatorCommand | None:
    """The command a line means, None for an empty line."""
    line = " ".join(text.split())
    if not line:
        return None
    word, _, rest = line.partition(" ")
    name = word.lower()
    if name not in COMMANDS:
        return OperatorCommand("instruction", line)
    if name == "benchmark":
        if not rest:
            return OperatorCommand(name, str(DEFAULT_BENCH_STEPS))
        if not rest.isdigit() or not 1 <= int(rest) <= 10_000:
            return OperatorCommand(
                "error", f"benchmark N: N must be a whole number from 1 to 10000, got {rest!r}"
            )
        return OperatorCommand(name, rest)
    if name == "load":
        if not rest:
            return OperatorCommand("error", "load CKPT: name a checkpoint directory (or `default`)")
        return OperatorCommand(name, rest)
    if name == "mode":
        if rest not in MODES:
            return OperatorCommand("error", f"mode: use one of {', '.join(MODES)}, got {rest!r}")
        return OperatorCommand(name, rest)
    if rest:
        # "stop at the cup" is an instruction, not the command `stop`.
        return OperatorCommand("instruction", line)
    return OperatorCommand(name)


@dataclass(frozen=True)
class Say:
    """Nothing to do but answer in the policy panel; `error`: in red."""

    lines: tuple[str, ...]
    error: bool = False


@dataclass(frozen=True)
class Submit:
    """An intent for the operating core, and the line that confirms it (if any)."""

    intent: SetInstruction | SetMode | LoadPolicy | InferOnce | RunPolicy | StopPolicy
    echo: str = ""


@dataclass(frozen=True)
class AppAction:
    """One of the app's own actions (`quit`, `episodes`), as its key would."""

    action: str


@dataclass(frozen=True)
class BenchmarkJob:
    """Time `steps` policy steps on the current frame (`core.policy_jobs.benchmark`)."""

    steps: int


@dataclass(frozen=True)
class MemoryJob:
    """Show the memory figures of the latest telemetry sample (`core.host_jobs.memory`)."""


@dataclass(frozen=True)
class ClearJob:
    """Clear the caches off the UI thread (`core.host_jobs.clear`)."""


Order = Say | Submit | AppAction | BenchmarkJob | MemoryJob | ClearJob
_POLICY_ORDERS: dict[str, Order] = {
    "infer": Submit(InferOnce()),
    "run": Submit(RunPolicy()),
    "stop": Submit(StopPolicy()),
    "memory": MemoryJob(),
    "clear": ClearJob(),
}


def to_intent(command: OperatorCommand | None, driver: bool = True) -> Order | None:
    """What `command` asks for (None for an empty line). `driver`: whether this session has a policy
    driver; without one, the commands about the policy and the machine are refused."""
    if command is None:
        return None
    name, arg = command.name, command.argument
    if name == "error":
        return Say((arg,), error=True)
    if name == "instruction":
        return Submit(SetInstruction(arg), f"instruction: {arg}")
    if name == "help":
        return Say(tuple(help_lines()))
    if name in ("quit", "episodes"):
        return AppAction(name)
    if name == "mode":
        return Submit(SetMode(arg), f"teleop mode {arg}")
    if not driver:
        return Say(("the policy driver is off in this session",), error=True)
    if name == "benchmark":
        return BenchmarkJob(int(arg))
    if name == "load":
        try:
            path = resolve(arg, "load")
        except MvlaError as exc:
            return Say((str(exc),), error=True)
        return Submit(LoadPolicy(str(path)), f"loading {path} (driving goes on meanwhile)...")
    return _POLICY_ORDERS[name]


def palette_commands() -> list[tuple[str, str, str]]:
    """(title, line, help) of the commands the app's command palette offers: every command that needs no
    argument (an optional one, in brackets, takes its default); `quit` is the palette's own."""
    return [
        (name.capitalize(), name, what)
        for name, (usage, what) in COMMANDS.items()
        if name != "quit" and all(token.startswith("[") for token in usage.split()[1:])
    ]


def help_lines() -> list[str]:
    return [f"{usage:<16} {what}" for usage, what in COMMANDS.values()] + [
        f"{'anything else':<16} becomes the instruction (e.g. navigate around the obstacle on the left side)"
    ]
