"""The `mvla` command: help for every sub-command, one-line errors without a traceback, and the rules the
commands share (a WxH size, the app's real-time sim)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from configs import ConfigError
from mvla_tui.cli import build_parser
from mvla_tui.commands._options import parse_size, realtime_sim, with_camera_size
from tests.cli_helpers import mvla


def test_every_subcommand_has_help() -> None:
    parser = build_parser()
    names = parser._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert names, "no sub-commands registered"
    for name in names:
        result = mvla(name, "--help")
        assert result.returncode == 0, result.stderr
        assert "usage: mvla" in result.stdout


def test_unknown_command_is_a_usage_error() -> None:
    result = mvla("fly")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_a_missing_optional_module_is_one_line_naming_the_extra(monkeypatch, capsys) -> None:
    """ONNX Runtime is in the `export` extra, which the README's main install does not include."""
    import pytest

    from mvla_tui import cli
    from mvla_tui.commands import bench

    def run(args):
        raise ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime")

    monkeypatch.delenv("MVLA_DEBUG", raising=False)
    monkeypatch.setattr(bench, "run", run)
    assert cli.main(["bench", "--policy", "default", "--runtime", "onnx"]) == 2
    err = capsys.readouterr().err
    assert err == 'mvla bench: error: onnxruntime is not installed: pip install "mobile-vla[export]"\n'

    def broken(args):
        raise ModuleNotFoundError("No module named 'mvla_tui.nope'", name="mvla_tui.nope")

    monkeypatch.setattr(bench, "run", broken)
    with pytest.raises(ModuleNotFoundError):  # not an optional module: a bug, with its traceback
        cli.main(["bench", "--policy", "default"])


def test_a_native_crash_prints_the_python_stack() -> None:
    """A segfault inside a native library (here: the signal itself, raised inside a command) is not a
    bare "Segmentation fault": `mvla` runs with faulthandler on, which names the Python frames."""
    crash = (
        "import os, signal, sys\n"
        "from mvla_tui import cli\n"
        "def native_library_call(args):\n"
        "    os.kill(os.getpid(), signal.SIGSEGV)\n"
        "cli.run_app = native_library_call\n"
        "sys.exit(cli.main([]))\n"
    )
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=60)
    assert result.returncode == -11
    assert "Fatal Python error: Segmentation fault" in result.stderr
    assert "in native_library_call" in result.stderr and "in main" in result.stderr


def test_a_size_is_width_by_height_everywhere() -> None:
    assert parse_size("1280x720", "--size") == (1280, 720)
    assert parse_size(" 64 X 48 ", "--frame-size") == (64, 48)
    for bad in ("64", "0x48", "x", "64x48x3", "-1x4"):
        with pytest.raises(ConfigError, match=f"--frame-size '{bad}': expected WIDTHxHEIGHT"):
            parse_size(bad, "--frame-size")


def test_the_app_runs_the_sim_in_real_time_unless_set_says_otherwise() -> None:
    from mvla_tui.robot.config import load_robot_config

    assert realtime_sim(load_robot_config("sim", []), []).sim.realtime
    for value in ("false", "no", "off", " False"):  # whatever YAML reads as false is honoured
        overrides = [f"sim.realtime={value}"]
        assert not realtime_sim(load_robot_config("sim", overrides), overrides).sim.realtime
    sized = with_camera_size(load_robot_config("sim", []), "320x240")
    assert (sized.sim.camera_width, sized.sim.camera_height) == (320, 240)
    fake = load_robot_config("fake", [])
    assert realtime_sim(fake, []) == fake


def test_a_robot_config_file_is_robot_config_everywhere() -> None:
    """`--robot-config` names a robot config for the app, `eval` and `sim collect` alike; `sim collect`
    still takes its older `--config`, and refuses a config of another kind naming the option."""
    parser = build_parser()
    collect = ["sim", "collect", "--episodes", "1", "--out", "unused"]
    for option in ("--robot-config", "--config"):
        assert parser.parse_args([*collect, option, "r.yaml"]).robot_config == "r.yaml"
    assert (
        parser.parse_args(["eval", "--sim", "--expert", "--robot-config", "r.yaml"]).robot_config == "r.yaml"
    )
    args = parser.parse_args([*collect, "--robot-config", "fake"])
    with pytest.raises(ConfigError, match=r"--robot-config fake: kind is 'fake'"):
        args.func(args)
