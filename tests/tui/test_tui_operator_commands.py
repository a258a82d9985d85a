"""What a typed line means in the policy panel: a command, or else the instruction."""

from __future__ import annotations

import pytest

from mvla_tui.operator_commands import COMMANDS, OperatorCommand, help_lines, parse_command


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
