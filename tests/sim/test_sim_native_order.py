"""`mvla_tui.sim.native_order`: the packages that carry their own LLVM are imported before MuJoCo is, so
Mesa's libLLVM (opened by `import mujoco` with osmesa, by the first renderer with egl) comes after them.

A stand-in `triton` package records what was imported when it was, so the order is checked on any torch
build, with or without the real triton (the real crash is `tests/policies/test_policy_export_after_render.py`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mvla_tui.sim import native_order

pytest.importorskip("mujoco")

ROOT = Path(__file__).resolve().parents[2]


def _child(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    fake = tmp_path / "site" / "triton"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "import json, os, sys\n"
        "with open(os.environ['FAKE_TRITON_LOG'], 'w') as f:\n"
        "    json.dump(sorted(m for m in ('mujoco', 'torch') if m in sys.modules), f)\n",
        encoding="utf-8",
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(ROOT)]),
        "FAKE_TRITON_LOG": str(tmp_path / "log.json"),
    }
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)


def test_importing_the_world_loads_llvm_carriers_before_mujoco(tmp_path: Path) -> None:
    result = _child("import mvla_tui.sim.world, sys; assert 'mujoco' in sys.modules", tmp_path)
    assert result.returncode == 0, result.stderr
    log = tmp_path / "log.json"
    assert log.is_file(), "importing the sim world did not import triton"
    assert json.loads(log.read_text(encoding="utf-8")) == []  # neither MuJoCo nor torch was loaded yet


def test_only_installed_carriers_are_loaded(monkeypatch) -> None:
    monkeypatch.setattr(native_order, "LLVM_CARRIERS", ("mvla_no_such_package",))
    assert native_order.load_before_renderer() == []
