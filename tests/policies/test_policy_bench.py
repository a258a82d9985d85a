"""`mvla bench`: the figures it reports, and one-line errors for a bad policy or config."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from mvla_tui.cli import main
from policies import registry
from policies.bench import format_report, run_benchmark
from policies.compact.model import CompactPolicy
from policies.normalisation import ActionNormalisation
from policies.runtime import RuntimeConfig
from tests.policies.conftest import tiny_compact_config


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
