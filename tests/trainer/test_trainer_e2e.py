"""End to end on a CPU, through the command line: `mvla sim collect` a few episodes, `mvla train` a tiny
Kosmos-2 LoRA policy and the compact policy for a few steps, then `mvla eval` both offline on the
episodes and closed loop in the sim (`--sim`). Their numbers mean nothing after a few steps; the path
is what is tested."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from mvla_tui.cli import main
from policies import registry
from tests.policies.conftest import make_tiny_config
from tests.trainer.trainer_helpers import train_config


@pytest.fixture(scope="module")
def episodes(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    argv = ["sim", "collect", "--episodes", "4", "--size", "64x48", "--out", str(out), "--seed", "3"]
    argv += ["--scenario", "1box_left", "1box_right"]  # two per scenario: one held out of each
    assert main([*argv, "--pattern", "core", "variant", "--noise", "0.1"]) == 0
    assert len(list(out.glob("*.h5"))) == 4
    return out


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["kosmos2", "compact"])
def test_collect_train_checkpoint_eval(policy: str, episodes: Path, tmp_path: Path, capsys) -> None:
    if policy == "kosmos2":
        data = registry.config_to_dict("kosmos2", make_tiny_config("kosmos2", tmp_path / "backbone"))
        path = tmp_path / "kosmos2.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        config = train_config(tmp_path, [episodes], policy=str(path), steps=2)
    else:
        config = train_config(tmp_path, [episodes], steps=3, policy__head__kind="discrete")
    run = tmp_path / "run"
    argv = [
        "train",
        "--config",
        str(config),
        "--set",
        "data.val_fraction=0.25",
        "--set",
        "eval_every=2",
        "--quiet",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "final checkpoint" in out and (run / "final" / "manifest.json").is_file()
    assert (run / "best" / "manifest.json").is_file() and list((run / "checkpoints").iterdir())

    # Offline: the held-out episodes by default (one per scenario here).
    assert (
        main(["eval", "--data", str(episodes), "--policy", str(run / "final"), "--json", "--device", "cpu"])
        == 0
    )
    offline = json.loads(capsys.readouterr().out)
    assert offline["split"] == "held-out" and 1 <= offline["episodes"] < 4
    overall = offline["groups"]["all"]
    assert overall["steps"] > 0 and set(overall["axes"]) == {"linear_x", "linear_y", "angular_z"}
    if policy == "compact":
        assert overall["confusion"]  # a discrete head: per-key confusion

    argv = [
        "eval",
        "--sim",
        "--policy",
        str(run / "final"),
        "--episodes",
        "2",
        "--size",
        "64x48",
        "--seed",
        "9",
    ]
    assert main([*argv, "--json", "--set", "policy.max_steps=4", "--device", "cpu"]) == 0
    closed = json.loads(capsys.readouterr().out)
    assert closed["rows"][-1]["episodes"] == 2
    assert all(1 <= e["steps"] <= 4 or e["ended"] == "policy stop" for e in closed["episodes"])
