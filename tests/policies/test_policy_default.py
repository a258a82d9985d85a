"""`--policy default`: one resolver for every command; the packaged checkpoint loads, is small enough to
ship (at most 20 MB), and drives: closed loop in the simulator it reaches the cup on the instructed side
(README "The default policy" has its 80-seed table; a few seeds here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs import ConfigError
from policies import default_policy
from policies.default_policy import DEFAULT_DIR, resolve


def test_a_checkpoint_directory_resolves_to_itself(tmp_path: Path) -> None:
    assert resolve(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="no such checkpoint directory"):
        resolve(str(tmp_path / "missing"))


def test_default_without_a_shipped_policy_is_a_one_line_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(default_policy, "DEFAULT_DIR", tmp_path / "default")
    with pytest.raises(ConfigError, match="no default policy") as err:
        resolve("default")
    assert "\n" not in str(err.value)


def test_the_shipped_default_policy_loads_and_is_small() -> None:
    from policies.checkpoint import load_checkpoint

    assert resolve("default") == DEFAULT_DIR
    size = sum(p.stat().st_size for p in DEFAULT_DIR.rglob("*") if p.is_file())
    assert size <= 20 * 2**20
    policy, norm, info = load_checkpoint(DEFAULT_DIR)
    assert info.name == "compact" and policy.config.predicts_stop and norm.action_dim == 3


@pytest.mark.slow
def test_the_default_policy_reaches_the_cup_on_the_instructed_side(capsys) -> None:
    import json

    from mvla_tui.cli import main

    argv = ["eval", "--sim", "--policy", "default", "--episodes", "8", "--seed", "7", "--size", "256x144"]
    argv += ["--scenario", "1box_vert_left", "1box_hori_right", "2box_vert_right", "2box_hori_left"]
    assert main([*argv, "--device", "cpu", "--json"]) == 0
    overall = json.loads(capsys.readouterr().out)["rows"][-1]
    assert overall["episodes"] == 8
    assert overall["success"] >= 0.75 and overall["correct_side"] >= 0.875
