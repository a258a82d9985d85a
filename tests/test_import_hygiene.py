"""The dependency direction of ARCHITECTURE.md: headless packages never pull in Textual, policies never
pull in h5py, and `mvla --help` imports neither torch nor a model."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

HEADLESS = [
    "recorder",
    "policies",
    "trainer",
    "mvla_tui.core",
    "mvla_tui.doctor",
    "mvla_tui.robot",
    "mvla_tui.sim",
    "mvla_tui.telemetry",
]


def _modules(package: str) -> list[str]:
    """The package and every submodule below it, at any depth."""
    path = ROOT.joinpath(*package.split("."))
    return [package] + [m.name for m in pkgutil.walk_packages([str(path)], prefix=f"{package}.")]


def _imported_after(modules: list[str]) -> set[str]:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}:\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ImportError as e:\n"
        "        if e.name in ('rclpy', 'mujoco', 'jtop', 'pynvml', 'onnxruntime', 'tensorrt', 'cv2'):\n"
        "            continue\n"
        "        raise\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {line.split(".")[0] for line in out.stdout.split()}


# The packages that import torch (and transformers) take seconds each in a fresh process.
TORCH_IMPORTERS = {"policies", "trainer"}


@pytest.mark.parametrize(
    "package", [pytest.param(p, marks=pytest.mark.slow) if p in TORCH_IMPORTERS else p for p in HEADLESS]
)
def test_headless_packages_do_not_import_textual(package: str) -> None:
    assert "textual" not in _imported_after(_modules(package))


@pytest.mark.slow
def test_policies_do_not_import_h5py() -> None:
    assert "h5py" not in _imported_after(_modules("policies"))


def test_recorder_imports_no_torch() -> None:
    loaded = _imported_after(_modules("recorder"))
    assert "torch" not in loaded and "textual" not in loaded


def test_the_operating_core_imports_no_torch() -> None:
    """The app starts its session before any policy is loaded: torch comes with the first checkpoint."""
    loaded = _imported_after(_modules("mvla_tui.core"))
    assert "torch" not in loaded and "textual" not in loaded


def test_chunks_and_their_execution_import_no_torch() -> None:
    """The operating core holds an `ActionChunk` and uses the executor's stop rule; both are numpy only."""
    loaded = _imported_after(["policies.chunk", "policies.execution"])
    assert "torch" not in loaded and "textual" not in loaded


def test_the_walk_reaches_nested_modules() -> None:
    assert "policies.kosmos2.model" in _modules("policies") and "mvla_tui.core.session" in _modules(
        "mvla_tui.core"
    )


def test_dataset_check_imports_neither_textual_nor_torch(tmp_path) -> None:
    code = (
        "import sys; from mvla_tui.cli import main\n"
        f"main(['dataset', 'check', {str(tmp_path)!r}])\n"
        "print(' '.join(sys.modules), file=sys.stderr)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    loaded = {m.split(".")[0] for m in out.stderr.split()}
    assert "h5py" in loaded or "recorder" in loaded
    assert not loaded & {"torch", "textual", "transformers"}


def test_cli_help_is_light() -> None:
    code = "import sys; from mvla_tui.cli import build_parser; build_parser(); print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = {m.split(".")[0] for m in out.stdout.split()}
    assert not loaded & {"torch", "transformers", "mujoco", "textual", "h5py"}
