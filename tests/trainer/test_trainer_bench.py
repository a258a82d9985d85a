"""The training benchmark (`trainer.bench`, run by benchmarks/bench_kosmos2_train.py) on tiny Kosmos-2
configurations: its steps go through the real training loop, and the checkpoint it writes holds the LoRA
adapter, the head and the policy's own small layers only, never the backbone (the size rule the
full-size run prints); a fully fine-tuned policy's checkpoint shows as holding the backbone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from policies import registry
from tests.policies.tiny_kosmos import tiny_kosmos2_clip_config, tiny_kosmos2_config
from trainer.bench import backbone_tensors, stored_parts, stored_sizes, train_steps

ROOT = Path(__file__).resolve().parents[2]


def _policy_yaml(tmp_path: Path, name: str, mode: str = "lora") -> Path:
    build = tiny_kosmos2_config if name == "kosmos2" else tiny_kosmos2_clip_config
    path = tmp_path / f"{name}-{mode}.yaml"
    path.write_text(yaml.safe_dump(registry.config_to_dict(name, build(tmp_path, mode))), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["kosmos2", "kosmos2_clip"])
def test_a_lora_checkpoint_is_lora_plus_head_only(name: str, tmp_path: Path) -> None:
    policy_yaml = _policy_yaml(tmp_path, name)
    result = train_steps(
        policy_yaml, tmp_path / "work", steps=2, gradient_checkpointing=True, threads=1, frame_size=(48, 64)
    )
    checkpoint = Path(result.checkpoint)
    own = {"lora", "head", "action_token"} | ({"fusion"} if name == "kosmos2_clip" else set())
    assert set(result.stored_parts) == own
    assert backbone_tensors(checkpoint) == []
    # The size rule: the file is the trainable values (fp32) and a small header, far below the backbone.
    _, config = registry.load_config(policy_yaml)
    policy = registry.build_policy(name, config)
    trainable = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    total = sum(p.numel() for p in policy.parameters())
    assert result.stored_values == trainable
    assert 4 * trainable <= result.checkpoint_bytes < 4 * trainable + 64 * 1024 < 4 * total
    assert len(result.step_s) == 2 and result.samples_per_s > 0 and result.peak_rss_mb > 0
    assert (result.window, result.batch, result.gradient_checkpointing) == (4, 1, True)


def test_a_full_fine_tune_checkpoint_shows_its_backbone(tmp_path: Path) -> None:
    result = train_steps(
        _policy_yaml(tmp_path, "kosmos2", mode="full"),
        tmp_path / "work",
        steps=1,
        gradient_checkpointing=False,
        threads=1,
        frame_size=(48, 64),
    )
    checkpoint = Path(result.checkpoint)
    assert stored_parts(stored_sizes(checkpoint))["backbone"] > 0
    assert backbone_tensors(checkpoint)


@pytest.mark.slow
def test_the_benchmark_script_runs_on_a_tiny_config(tmp_path: Path) -> None:
    """Both modes, then the checkpoint through `mvla bench --policy` and `mvla export` (parity gates)."""
    policy_yaml = _policy_yaml(tmp_path, "kosmos2")
    argv = [sys.executable, str(ROOT / "benchmarks" / "bench_kosmos2_train.py"), "--config", str(policy_yaml)]
    argv += [
        "--steps",
        "2",
        "--threads",
        "1",
        "--frame-size",
        "64x48",
        "--export",
        "--keep",
        str(tmp_path / "w"),
    ]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "checkpointing:" in out and "plain:" in out and "parity passed" in out
    assert "the checkpoint stores the trainable ones only" in out


@pytest.mark.slow
def test_the_gpu_check_dry_run_writes_its_figures(tmp_path: Path) -> None:
    """benchmarks/gpu_check.sh --cpu-dry-run: every step at tiny size on the CPU, one JSON of figures."""
    import json

    out = tmp_path / "gpu_check"
    argv = ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu-dry-run", "--out", str(out)]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=500, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert set(figures["steps"]) == {"gpu_tests", "train", "bench", "export", "engine_bench"}
    assert all(step["exit"] == 0 for step in figures["steps"].values())
    assert (
        figures["train"]["steps"] == 30 and figures["train"]["batch"] == 4 and figures["train"]["window"] == 8
    )
    assert figures["train"]["precision"] == "bf16" and figures["export"]["parity_passed"]
    assert figures["engine_bench"]["runtime"] == "onnx" and figures["bench"]["p50_ms"] > 0


def test_the_gpu_check_refuses_to_run_without_a_gpu_unless_dry(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    argv = ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--out", str(tmp_path / "out")]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 2 and "--cpu-dry-run" in done.stderr and len(done.stderr.splitlines()) == 1
