"""`mvla doctor` as an operator or a script runs it: lines with ok / WARN / FAIL and a fix under each
problem, one JSON object with `--json`, exit status 1 only when a check failed, a one-line error for bad
input, and a light import (no textual, torch or rclpy until a check needs them)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mvla_tui import cli
from mvla_tui.commands import doctor as doctor_command
from tests.doctor.doctor_helpers import quiet_machine

NAMES = ["ros2", "camera", "gpu", "thermal", "disk", "policy", "engines"]


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr("mvla_tui.telemetry.nvml.load_pynvml", _no_pynvml)
    root = tmp_path / "root"
    monkeypatch.setattr(doctor_command, "machine", lambda: quiet_machine(root))
    return root


def _no_pynvml():
    raise ImportError("pynvml")


def test_json_report_for_scripts(machine: Path, tmp_path: Path, capsys) -> None:
    status = cli.main(["doctor", "--robot", "fake", "--json", "--data", str(tmp_path / "episodes")])
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["ready"] is True
    assert report["robot"] == {"kind": "fake", "reason": "fake — as asked (--robot fake)"}
    assert [c["name"] for c in report["checks"]] == NAMES
    for check in report["checks"]:
        assert set(check) == {"name", "status", "detail", "fix"}
        assert check["status"] in ("ok", "warn", "fail")
        assert (check["fix"] is None) == (check["status"] == "ok")
    assert report["counts"] == {
        s: sum(c["status"] == s for c in report["checks"]) for s in ("ok", "warn", "fail")
    }
    camera = next(c for c in report["checks"] if c["name"] == "camera")
    assert camera["status"] == "ok" and "fake camera: 320x240 frames" in camera["detail"]


def test_a_failed_check_is_exit_status_1_with_its_fix_under_it(machine: Path, tmp_path: Path, capsys) -> None:
    status = cli.main(["doctor", "--robot", "fake", "--policy", str(tmp_path / "missing")])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[0] == "robot: fake — as asked (--robot fake)"
    failing = next(i for i, text in enumerate(out) if text.startswith("FAIL  policy"))
    assert "no such checkpoint directory" in out[failing]
    assert out[failing + 1].strip().startswith("fix: pass --policy a checkpoint folder")
    assert out[-1] == "not ready: 1 failed, 1 warning, 5 ok"


def test_warnings_alone_leave_exit_status_0(machine: Path, capsys) -> None:
    assert cli.main(["doctor", "--robot", "fake"]) == 0
    out = capsys.readouterr().out
    assert "WARN  policy" in out and "WARN  gpu" in out and out.rstrip().endswith("ok")
    assert out.splitlines()[-1].startswith("ready: 0 failed")


def test_bad_input_is_one_line_and_status_2(machine: Path, capsys) -> None:
    assert cli.main(["doctor", "--robot", "fake", "--timeout", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("mvla doctor: error: --timeout 0") and len(err.splitlines()) == 1
    assert cli.main(["doctor", "--robot", "fake", "--set", "nope=1"]) == 2


def test_importing_the_doctor_is_light() -> None:
    code = (
        "import sys, mvla_tui.doctor, mvla_tui.commands.doctor, mvla_tui.doctor.ros, mvla_tui.doctor.gpu;"
        "import mvla_tui.doctor.policy, mvla_tui.doctor.disk, mvla_tui.doctor.camera;"
        "print(sorted(m for m in ('textual', 'torch', 'rclpy', 'mujoco', 'jtop') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
