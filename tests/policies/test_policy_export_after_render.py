"""Regression (issue 17): a process that renders a simulator frame first (MUJOCO_GL=egl or osmesa, Mesa's
software renderer) and only then loads a Kosmos-2 checkpoint and exports it must not crash.

With the package registry's torch build, loading a Kosmos-2 policy imports transformers -> torch._dynamo
-> triton, and libtriton opened after Mesa's libLLVM died with SIGSEGV (`mvla_tui.sim.native_order` says
why). Pytest's own process has imported transformers long before any test renders, so the order under
test only exists in a fresh process: the child renders, then runs `mvla export` on a tiny Kosmos-2
checkpoint (which renders its parity frames and exports). With PyTorch's CPU build (no triton) it passes
either way; CI runs it with the torch the registry serves by default, the one users get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from policies.export import EXPORT_JSON
from tests.policies.test_policy_export import tiny_checkpoint

pytest.importorskip("mujoco")
pytest.importorskip("onnxruntime")

ROOT = Path(__file__).resolve().parents[2]

# Renders with the simulator before torch or transformers is imported, then hands over to `mvla`.
CHILD = """
import os, sys
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import make_layout
from mvla_tui.sim.world import SimWorld
early = sorted(m for m in ("torch", "transformers") if m in sys.modules)
assert not early, f"imported before the first frame: {early}"
world = SimWorld(make_layout("1box_hori_left", "medium", "center", 0), SimConfig(), 64, 48)
frame = world.render()
assert frame.shape == (48, 64, 3) and frame.any(), "a black or misshapen frame"
print("rendered with MUJOCO_GL=" + os.environ["MUJOCO_GL"], flush=True)
from mvla_tui.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.slow
def test_render_then_export_a_kosmos2_checkpoint_in_one_process(tiny_config, tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint("kosmos2", tiny_config, tmp_path)
    out = tmp_path / "exported"
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    export = ["export", "--policy", str(checkpoint), "--out", str(out), "--threads", "1"]
    result = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", CHILD, *export],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"exit status {result.returncode}\n{result.stdout}\n{result.stderr}"
    backend = result.stdout.splitlines()[0].removeprefix("rendered with MUJOCO_GL=")
    assert backend in ("egl", "osmesa"), result.stdout  # Mesa's renderers, the ones that load libLLVM
    assert f"exported kosmos2 to {out}" in result.stdout and "all gates passed" in result.stdout
    meta = json.loads((out / EXPORT_JSON).read_text(encoding="utf-8"))
    assert "simulator frames" in meta["parity"]["frames_source"]
