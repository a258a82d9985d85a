"""What a typed line means in the policy panel: a command, or else the instruction; and what each asks of
the app (`to_intent`), without Textual."""

from __future__ import annotations

from pathlib import Path

import pytest

from mvla_tui.core.intents import InferOnce, LoadPolicy, RunPolicy, SetInstruction, StopPolicy
from mvla_tui.operator_commands import (
    COMMANDS,
    AppAction,
    BenchmarkJob,
    ClearJob,
    MemoryJob,
    OperatorCommand,
    Say,
    Submit,
    help_lines,
    parse_command,
    to_intent,
)
from mvla_tui.robot.intents import SetMode
from policies.default_policy import DEFAULT_DIR


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("infer", OperatorCommand("infer")),
        ("  RUN ", OperatorCommand("run")),
        ("benchmark", OperatorCommand("benchmark", "50")),
        ("benchmark 200", OperatorCommand("benchmark", "200")),
        ("load /data/ckpt", OperatorCommand("load", "/data/ckpt")),
        ("mode hold", OperatorCommand("mode", "hold")),
        ("stop at the cup", OperatorCommand("instruction", "stop at the cup")),  # a sentence, not `stop`
        ("Navigate  around the obstacle", OperatorCommand("instruction", "Navigate around the obstacle")),
    ],
)
def test_lines(line: str, command: OperatorCommand) -> None:
    assert parse_command(line) == command


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("benchmark many", "whole number"),
        ("benchmark 0", "from 1 to 10000"),
        ("load", "name a checkpoint"),
        ("mode drift", "use one of step, hold, latch"),
    ],
)
def test_bad_arguments_are_one_line_errors(line: str, message: str) -> None:
    command = parse_command(line)
    assert command.name == "error" and message in command.argument


def test_empty_lines_mean_nothing_and_help_lists_every_command() -> None:
    assert parse_command("   ") is None
    text = "\n".join(help_lines())
    assert all(usage.split()[0] in text for usage, _ in COMMANDS.values()) and "anything else" in text


def test_every_palette_entry_runs_its_command_and_none_needs_an_argument() -> None:
    """The command palette is built from COMMANDS: each entry's line parses as that command (not as an
    instruction or an error), every argument-free command is offered, and `quit` stays the palette's own."""
    from mvla_tui.operator_commands import palette_commands

    offered = [line for _title, line, _help in palette_commands()]
    for line in offered:
        assert parse_command(line).name == line
    assert {"infer", "run", "stop", "benchmark", "memory", "clear", "episodes", "help"} <= set(offered)
    assert not {"load", "mode", "quit"} & set(offered)
    assert set(offered) <= set(COMMANDS)


@pytest.mark.parametrize(
    ("line", "order"),
    [
        ("", None),
        ("go around the box", Submit(SetInstruction("go around the box"), "instruction: go around the box")),
        ("mode hold", Submit(SetMode("hold"), "teleop mode hold")),
        ("infer", Submit(InferOnce())),
        ("run", Submit(RunPolicy())),
        ("stop", Submit(StopPolicy())),
        ("benchmark", BenchmarkJob(50)),
        ("benchmark 7", BenchmarkJob(7)),
        ("memory", MemoryJob()),
        ("clear", ClearJob()),
        ("quit", AppAction("quit")),
        ("episodes", AppAction("episodes")),
        ("benchmark 0", Say(("benchmark N: N must be a whole number from 1 to 10000, got '0'",), error=True)),
    ],
)
def test_to_intent(line: str, order: object) -> None:
    assert to_intent(parse_command(line)) == order


def test_to_intent_help_is_an_answer_with_every_command() -> None:
    assert to_intent(parse_command("help")) == Say(tuple(help_lines()))


@pytest.mark.parametrize("line", ["infer", "run", "stop", "benchmark", "memory", "clear", "load default"])
def test_without_a_policy_driver_the_policy_commands_are_refused(line: str) -> None:
    assert to_intent(parse_command(line), driver=False) == Say(
        ("the policy driver is off in this session",), error=True
    )


@pytest.mark.parametrize("line", ["go left", "mode step", "help", "quit", "episodes"])
def test_without_a_policy_driver_the_rest_still_works(line: str) -> None:
    assert to_intent(parse_command(line), driver=False) == to_intent(parse_command(line))


def test_load_resolves_the_checkpoint_or_refuses_in_one_line(tmp_path: Path) -> None:
    assert to_intent(parse_command(f"load {tmp_path}")) == Submit(
        LoadPolicy(str(tmp_path)), f"loading {tmp_path} (driving goes on meanwhile)..."
    )
    order = to_intent(parse_command(f"load {tmp_path / 'nothing'}"))
    assert isinstance(order, Say) and order.error and len(order.lines) == 1
    assert order.lines[0].startswith(f"load {tmp_path / 'nothing'}: no such checkpoint directory")
    if (DEFAULT_DIR / "manifest.json").is_file():
        assert to_intent(parse_command("load default")) == Submit(
            LoadPolicy(str(DEFAULT_DIR)), f"loading {DEFAULT_DIR} (driving goes on meanwhile)..."
        )
