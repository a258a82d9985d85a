"""`--policy default`: one resolver for every command, the app and its `load`; the packaged checkpoint
loads, is small enough to ship (at most 20 MB), and drives: closed loop in the simulator it reaches the
cup on the instructed side (README "The default policy" has its 80-seed table; a few seeds here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs import ConfigError
from policies import default_policy
from policies.default_policy import DEFAULT_DIR, resolve


def test_a_checkpoint_directory_resolves_to_itself(tmp_path: Path) -> None:
    assert resolve(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="no such checkpoint directory") as err:
        resolve(str(tmp_path / "missing"))
    assert str(err.value).startswith(f"--policy {tmp_path / 'missing'}: ")
    with pytest.raises(ConfigError, match="no such checkpoint directory") as err:
        resolve(str(tmp_path / "missing"), "load")  # the app's typed command: same words, its own name
    assert str(err.value).startswith(f"load {tmp_path / 'missing'}: ")


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


def test_the_robot_configs_stop_threshold_reaches_the_runtime() -> None:
    """`policy.stop_below` (which `eval --stop-below` sets) is the threshold of the runtime's predicted
    stop as well as of the driver's "done": the default policy predicts stops."""
    from mvla_tui.core.policy_worker import load_runtime
    from mvla_tui.core.session import runtime_options
    from mvla_tui.robot.config import PolicyDriveConfig, RobotConfig

    config = RobotConfig(
        kind="fake", policy=PolicyDriveConfig(device="cpu", precision="fp32", stop_below=0.25)
    )
    runtime, _ = load_runtime(str(DEFAULT_DIR), runtime_options(config), config.limits)
    try:
        assert runtime.config.stop_below == 0.25
    finally:
        runtime.close()


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


def _drive(runtime: str, specs, folder: Path) -> list[tuple[str, str, list]]:
    """(how each episode ended, the sim's verdict, the commands sent) with the default policy."""
    import dataclasses

    import h5py

    from mvla_tui.core.policy_worker import PolicyWorker
    from mvla_tui.core.session import runtime_options
    from mvla_tui.core.sim_episode import run_sim_episode
    from recorder.catalogue import load_catalogue
    from tests.sim.sim_configs import sim_config

    config = sim_config(width=256, height=144)
    config = dataclasses.replace(config, policy=dataclasses.replace(config.policy, device="cpu", threads=1))
    catalogue = load_catalogue()
    worker = PolicyWorker(runtime_options(config, runtime), config.limits)
    try:
        assert worker.load_and_wait(str(DEFAULT_DIR)).error is None
        runs = []
        for i, spec in enumerate(specs):
            data = folder / runtime / str(i)
            data.mkdir(parents=True)
            episode = run_sim_episode(config, spec, catalogue, worker=worker, data_dir=data, keep_failed=True)
            with h5py.File(episode.saved) as f:
                runs.append((episode.ended, episode.result.reason, f["actions"][:].tolist()))
        return runs
    finally:
        worker.close()


@pytest.mark.slow
def test_the_default_policy_drives_the_same_episodes_on_onnx_runtime(tmp_path: Path) -> None:
    """Closed loop, ONNX Runtime sends exactly the commands torch sends, step for step, so the success
    table of `mvla eval --sim --runtime onnx` is torch's on the same seeds (the two differ by about 1e-7
    before the command is rounded to `policy.command_resolution`; unrounded, a trajectory splits off
    within three steps)."""
    pytest.importorskip("onnxruntime")
    from mvla_tui.core.sim_episode import plan_episodes

    specs = plan_episodes(4, ["1box_vert_left", "2box_hori_right"], seed=11)
    torch_runs, onnx_runs = _drive("torch", specs, tmp_path), _drive("onnx", specs, tmp_path)
    assert all(len(commands) > 3 for _, _, commands in torch_runs)
    assert onnx_runs == torch_runs


@pytest.mark.slow
@pytest.mark.parametrize("fp16", [False, True])
def test_the_default_policy_exports_within_both_gates(fp16: bool, tmp_path: Path, capsys) -> None:
    """The trained weights (not random ones, which hide fp16 overflow), through `mvla export`."""
    import json

    pytest.importorskip("onnxruntime")
    from mvla_tui.cli import main

    argv = ["export", "--policy", "default", "--out", str(tmp_path / "export"), "--threads", "1", "--json"]
    assert main([*argv, *(["--fp16"] if fp16 else [])]) == 0
    parity = json.loads(capsys.readouterr().out)["parity"]
    assert parity["passed"] and parity["precision"] == ("fp16" if fp16 else "fp32")
    rows = {r["name"]: r for r in parity["rows"]}
    assert set(rows) >= {"instruction/text", "frame/features", "head/output", "actions"}
    if fp16:
        assert rows["frame/features"]["cosine"] >= 0.999 and rows["actions"]["max_abs"] <= 0.02
    else:
        assert all(r["max_abs"] <= 5e-5 for r in rows.values())
    assert not (DEFAULT_DIR / "onnx-fp16").exists()  # --out: the packaged folder is left as it is
