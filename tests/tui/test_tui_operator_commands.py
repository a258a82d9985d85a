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
