"""The `mvla` command: help for every sub-command, one-line errors without a traceback."""

from __future__ import annotations

import subprocess
import sys

from mvla_tui.cli import build_parser


def _mvla(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mvla_tui", *args], capture_output=True, text=True)


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert names, "no sub-commands registered"
    for name in names:
        result = _mvla(name, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: mvla" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = _mvla("fly")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
