"""`mvla bench`: the figures it reports, and one-line errors for a bad policy or config."""

from __future__ import annotations

import json
from pathlib import Path

import torch
import yaml

from mvla_tui.cli import main
from policies import registry
from policies.bench import format_report, run_benchmark
from policies.checkpoint import save_checkpoint
from policies.compact.model import CompactPolicy
from policies.kosmos2.model import Kosmos2Policy
from policies.normalisation import ActionNormalisation
from policies.runtime import RuntimeConfig
from tests.policies.conftest import tiny_compact_config
from tests.policies.tiny_kosmos import tiny_kosmos2_config


def test_benchmark_reports_latency_percentiles_and_the_naive_ratio() -> None:
    policy = CompactPolicy(tiny_compact_config(None))
    report = run_benchmark(
        policy,
        ActionNormalisation.identity(3),
        RuntimeConfig(device="cpu"),
        steps=6,
        warmup=0,
        compare_naive=True,
    )
    fast, naive = report.runs
    assert (fast.mode, naive.mode) == ("per-step", "naive")
    assert fast.warmup == policy.window  # warm-up fills at least one window
    assert fast.steps == 6 and 0 < fast.p50_ms <= fast.p95_ms <= fast.p99_ms
    assert fast.input_size == (24, 32) and fast.precision == "fp32" and fast.peak_rss_mb > 0
    assert fast.cuda_peak_mb is None
    assert report.speedup == naive.p50_ms / fast.p50_ms
    text = format_report(report)
    assert "p50" in text and "p99" in text and "faster than the naive" in text


def test_bench_command_prints_json_for_a_config(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(registry.config_to_dict("compact", tiny_compact_config(None))))
    status = main(
        ["bench", "--config", str(path), "--steps", "3", "--device", "cpu", "--json", "--set", "window=2"]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert data["runs"][0]["window"] == 2 and data["runs"][0]["steps"] == 3 and data["speedup"] is None


def test_bench_command_refuses_a_bad_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--policy", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "manifest.json: missing" in err and err.count("\n") == 1 and "Traceback" not in err


def test_bench_command_refuses_set_with_a_checkpoint(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--policy", str(tmp_path), "--set", "window=2"]) == 2
    assert "--set applies to --config only" in capsys.readouterr().err


def test_bench_frames_are_camera_size_and_resized_by_preprocess(tmp_path: Path, capsys) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(registry.config_to_dict("compact", tiny_compact_config(None))))
    assert (
        main(["bench", "--config", str(path), "--steps", "2", "--device", "cpu", "--frame-size", "64x48"])
        == 0
    )
    out = capsys.readouterr().out
    assert "camera frames 64x48 resized to 32x24 (latency includes preprocess)" in out
    assert main(["bench", "--config", str(path), "--frame-size", "64"]) == 2
    assert "--frame-size '64': expected WIDTHxHEIGHT" in capsys.readouterr().err


def test_default_bench_frames_are_the_robot_camera_size() -> None:
    policy = CompactPolicy(tiny_compact_config(None))
    report = run_benchmark(policy, ActionNormalisation.identity(3), RuntimeConfig(device="cpu"), steps=1)
    assert report.runs[0].frame_size == (720, 1280) and report.runs[0].input_size == (24, 32)


def test_bench_of_a_checkpoint_whose_backbone_was_damaged(tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    policy = Kosmos2Policy(tiny_kosmos2_config(tmp_path))
    ckpt = save_checkpoint(policy, tmp_path / "ckpt", ActionNormalisation.identity(3))
    args = ["bench", "--policy", str(ckpt), "--steps", "1", "--device", "cpu", "--frame-size", "40x30"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "p50" in captured.out and "Loading weights" not in captured.err  # no progress bars
    weights = tmp_path / "kosmos2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "model.safetensors" in err and err.count("\n") == 1 and "Traceback" not in err
