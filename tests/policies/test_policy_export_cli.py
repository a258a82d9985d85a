"""`mvla export`, and `--runtime onnx` of `mvla bench` and `mvla eval --sim`, end to end on tiny
checkpoints: the parity table and JSON, a missed gate (an injected perturbation) failing the command
with the output and gate named, TensorRT missing in one line, the runtime comparison's ratio, and a
closed-loop evaluation driven by ONNX Runtime."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.cli import main
from policies.export.backends import OrtGraph
from tests.policies.test_policy_export import tiny_checkpoint


@pytest.fixture
def checkpoint(tiny_config, tmp_path: Path) -> Path:
    return tiny_checkpoint("compact", tiny_config, tmp_path)


def test_export_prints_the_parity_table_on_simulator_frames(checkpoint: Path, capsys) -> None:
    pytest.importorskip("mujoco")  # without it the frames are the fixed synthetic set
    assert main(["export", "--policy", str(checkpoint), "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert f"exported compact to {checkpoint / 'onnx'}" in out
    assert "simulator frames" in out and "1 intra-op threads" in out
    for row in ("instruction/text", "frame/features", "head/output", "actions"):
        assert row in out
    assert "all gates passed" in out


def test_export_json_on_a_recorded_episode(checkpoint: Path, tmp_path: Path, capsys) -> None:
    from mvla_tui.core.sim_episode import plan_episodes, run_sim_episode
    from recorder.catalogue import load_catalogue
    from tests.sim.sim_configs import sim_config

    data = tmp_path / "episodes"
    data.mkdir()
    spec = plan_episodes(1, seed=2)[0]
    assert run_sim_episode(sim_config(width=64, height=48), spec, load_catalogue(), data_dir=data).saved
    out = tmp_path / "fp16"
    assert (
        main(
            [
                "export",
                "--policy",
                str(checkpoint),
                "--fp16",
                "--data",
                str(data),
                "--out",
                str(out),
                "--json",
            ]
        )
        == 0
    )
    meta = json.loads(capsys.readouterr().out)
    assert meta["precision"] == "fp16" and meta["parity"]["passed"]
    assert meta["parity"]["frames_source"].startswith("recorded episode")
    assert (out / "export.json").is_file()


def test_a_missed_gate_fails_the_command_naming_output_and_gate(
    checkpoint: Path, monkeypatch, capsys
) -> None:
    run = OrtGraph.run

    def perturbed(self, feeds):
        out = run(self, feeds)
        if "features" in out and "pixels" in feeds:
            out["features"] = out["features"] + np.float32(1e-3)
        return out

    monkeypatch.setattr(OrtGraph, "run", perturbed)
    assert main(["export", "--policy", str(checkpoint), "--threads", "1"]) == 1
    captured = capsys.readouterr()
    assert "frame/features: max abs 0.001 misses the gate max abs <= 5e-05" in captured.err
    assert "MISSED" in captured.out
    monkeypatch.setattr(OrtGraph, "run", run)
    argv = ["bench", "--policy", str(checkpoint), "--runtime", "onnx", "--steps", "1", "--warmup", "0"]
    assert main(argv) == 2
    assert "missed its parity gates (frame/features" in capsys.readouterr().err


def test_out_replaces_only_an_export_folder(checkpoint: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    """An export replaces its folder whole: never one holding other files, never the current folder."""
    out = tmp_path / "out"
    assert main(["export", "--policy", str(checkpoint), "--out", str(out), "--threads", "1"]) == 0
    assert main(["export", "--policy", str(checkpoint), "--out", str(out), "--threads", "1"]) == 0  # again
    (out / "notes.txt").write_text("mine")
    capsys.readouterr()
    assert main(["export", "--policy", str(checkpoint), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "also holds notes.txt, which no export wrote" in err and err.count("\n") == 1
    assert (out / "notes.txt").read_text() == "mine"
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "export.json").write_text("{}")  # not a record of an export
    (mine / "data.csv").write_text("1,2")
    assert main(["export", "--policy", str(checkpoint), "--out", str(mine)]) == 2
    assert "is not an export folder" in capsys.readouterr().err and (mine / "data.csv").exists()
    assert (
        main(["export", "--policy", str(checkpoint), "--out", str(tmp_path / "x"), "--instruction", " "]) == 2
    )
    assert "--instruction is empty" in capsys.readouterr().err and not (tmp_path / "x").exists()
    monkeypatch.chdir(out)
    assert main(["export", "--policy", str(checkpoint), "--out", "."]) == 2
    assert "the current folder or one above it" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no staging left


def test_tensorrt_missing_is_one_line(checkpoint: Path, monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # `import tensorrt` raises ImportError
    assert main(["export", "--policy", str(checkpoint), "--format", "tensorrt"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "TensorRT is not installed here" in err and "--format onnx" in err
    assert not (checkpoint / "tensorrt").exists()
    argv = ["bench", "--policy", str(checkpoint), "--runtime", "trt", "--steps", "1"]
    assert main(argv) == 2  # not "run mvla export --format tensorrt", which cannot work here either
    err = capsys.readouterr().err
    assert "TensorRT is not installed here" in err and "--runtime onnx" in err and "no export at" not in err


def test_bench_compares_onnx_with_torch_in_one_run(checkpoint: Path, capsys) -> None:
    assert main(["export", "--policy", str(checkpoint)]) == 0
    capsys.readouterr()
    argv = ["bench", "--policy", str(checkpoint), "--runtime", "onnx", "--compare", "torch", "--threads", "1"]
    assert main([*argv, "--steps", "3", "--warmup", "1", "--frame-size", "64x48", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["runtime"] for r in report["runs"]] == ["onnx", "torch"]
    assert report["speedup"] > 0 and report["runs"][0]["precision_note"].startswith("onnx runtime")
    assert main([*argv, "--steps", "2", "--warmup", "1", "--frame-size", "64x48"]) == 0
    assert "onnx is" in capsys.readouterr().out


def test_bench_on_onnx_alone_counts_the_graphs_weights(checkpoint: Path, capsys) -> None:
    assert main(["export", "--policy", str(checkpoint)]) == 0
    capsys.readouterr()
    counts = []
    for runtime in ("onnx", "torch"):
        argv = ["bench", "--policy", str(checkpoint), "--runtime", runtime, "--steps", "1", "--warmup", "0"]
        assert main([*argv, "--frame-size", "64x48", "--threads", "1", "--json"]) == 0
        counts.append(json.loads(capsys.readouterr().out)["runs"][0]["parameters"])
    assert counts[0] == counts[1] > 0  # a compact policy has no LoRA to merge: the same weights


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--runtime", "onnx", "--device", "cuda"], "--runtime onnx runs on the CPU"),
        (["--runtime", "onnx", "--precision", "fp16"], "the precision is the export's"),
        (["--export", "somewhere"], "--export somewhere: that is for --runtime onnx or trt"),
    ],
)
def test_options_a_runtime_would_ignore_are_refused(checkpoint: Path, extra, says, capsys) -> None:
    assert main(["bench", "--policy", str(checkpoint), "--steps", "1", *extra]) == 2
    err = capsys.readouterr().err
    assert says in err and err.count("\n") == 1


def test_bench_exports_an_untrained_config_on_the_fly(capsys) -> None:
    argv = ["bench", "--config", "configs/policy/compact.yaml", "--compare", "onnx", "--threads", "1"]
    assert main([*argv, "--steps", "2", "--warmup", "1", "--frame-size", "64x48", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["runtime"] for r in report["runs"]] == ["torch", "onnx"]


@pytest.mark.slow
def test_eval_sim_runs_on_onnx_runtime(checkpoint: Path, capsys) -> None:
    assert main(["export", "--policy", str(checkpoint)]) == 0
    capsys.readouterr()
    argv = ["eval", "--sim", "--policy", str(checkpoint), "--runtime", "onnx", "--episodes", "1"]
    assert main([*argv, "--size", "64x48", "--set", "policy.max_steps=3", "--threads", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "onnx runtime: fp32 graphs" in report["policy"]
    assert report["rows"][-1]["episodes"] == 1


def test_runtime_trt_without_tensorrt_is_one_line(checkpoint: Path, monkeypatch) -> None:
    """A TensorRT export folder (its record made from the ONNX one here: no GPU builds engines) on a
    machine without tensorrt: the policy worker's load answers with the one-line reason."""
    from mvla_tui.core.policy_worker import RuntimeOptions, load_runtime

    assert main(["export", "--policy", str(checkpoint)]) == 0
    record = json.loads((checkpoint / "onnx" / "export.json").read_text())
    folder = checkpoint / "tensorrt"
    folder.mkdir()
    record["format"] = "tensorrt"
    record["graphs"] = {g: f"{g}.engine" for g in record["graphs"]}
    (folder / "export.json").write_text(json.dumps(record))
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    from configs import MvlaError

    with pytest.raises(MvlaError, match="TensorRT is not installed here"):
        load_runtime(str(checkpoint), RuntimeOptions(runtime="trt"), None)


def test_the_app_and_eval_take_the_runtime_options() -> None:
    from mvla_tui.cli import build_parser
    from mvla_tui.core.session import runtime_options
    from mvla_tui.robot.config import load_robot_config

    args = build_parser().parse_args(["--runtime", "onnx", "--export", "/x/onnx"])
    assert (args.runtime, args.export) == ("onnx", "/x/onnx")
    args = build_parser().parse_args(["eval", "--sim", "--expert", "--runtime", "trt"])
    assert args.runtime == "trt" and args.export is None
    options = runtime_options(load_robot_config("sim"), "onnx", "/x/onnx")
    assert (options.runtime, options.export) == ("onnx", "/x/onnx")
