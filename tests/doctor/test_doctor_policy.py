"""The doctor's policy and engines lines: a checkpoint that verifies, one altered after it was saved, one
loading would refuse (no record of its backbone weights), a missing `default`, exported engines against
the installed TensorRT (none, another version, no record, no tensorrt), and ONNX exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mvla_tui.doctor.policy import engines_check, policy_check, resolve_policy

pytest.importorskip("torch")


def checkpoint(path: Path) -> Path:
    """A real (tiny, untrained) compact checkpoint, as `mvla train` saves one."""
    from policies.checkpoint import Provenance, save_checkpoint
    from policies.compact.model import CompactPolicy
    from policies.normalisation import ActionNormalisation
    from tests.policies.conftest import tiny_compact_config

    policy = CompactPolicy(tiny_compact_config(path))
    return save_checkpoint(policy, path, ActionNormalisation((1.15,) * 3), Provenance(steps=1200))


def test_a_checkpoint_that_verifies(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path / "best")
    check = policy_check(str(ckpt), ckpt)
    assert check.status == "ok" and "a compact checkpoint" in check.detail and "1200 steps" in check.detail


def test_an_altered_checkpoint_fails_naming_the_file(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path / "best")
    data = bytearray((ckpt / "model.safetensors").read_bytes())
    data[-1] ^= 1  # one bit of one weight
    (ckpt / "model.safetensors").write_bytes(bytes(data))
    check = policy_check(str(ckpt), ckpt)
    assert check.status == "fail"
    assert "model.safetensors: sha256 differs from the manifest" in check.detail
    assert "copy the checkpoint again" in check.fix


def test_a_checkpoint_loading_would_refuse_fails_here_too(tmp_path: Path) -> None:
    """Its files match a manifest written after the backbone record was dropped from the weights."""
    from safetensors.torch import load_file, save_file

    from policies.checkpoint import write_manifest

    ckpt = checkpoint(tmp_path / "best")
    save_file(load_file(ckpt / "model.safetensors"), ckpt / "model.safetensors")  # no metadata
    write_manifest(ckpt)
    check = policy_check(str(ckpt), ckpt)
    assert check.status == "fail" and "does not record which backbone weights" in check.detail


def test_missing_checkpoint_and_missing_default(tmp_path: Path, monkeypatch) -> None:
    path, failure = resolve_policy(str(tmp_path / "nope"))
    assert path is None and failure.status == "fail" and "no such checkpoint directory" in failure.detail
    monkeypatch.setattr("policies.default_policy.DEFAULT_DIR", tmp_path / "default")
    _, failure = resolve_policy("default")
    assert failure.status == "fail" and "no default policy" in failure.detail
    assert policy_check(None, None).status == "warn"  # none given: said, not failed


def engines(ckpt: Path, recorded: str | None) -> None:
    export = ckpt / "export"
    export.mkdir()
    (export / "vision.engine").write_bytes(b"x")
    (export / "decoder.plan").write_bytes(b"y")
    if recorded is not None:
        (export / "export.json").write_text(json.dumps({"tensorrt": recorded}))


@pytest.mark.parametrize(
    ("recorded", "installed", "status", "says"),
    [
        ("10.3.0", "10.3.0", "ok", "built with TensorRT 10.3.0, as installed"),
        ("8.6.2", "10.3.0", "fail", "built with TensorRT 8.6.2, installed 10.3.0"),
        (None, "10.3.0", "warn", "no export.json says which TensorRT built them"),
        ("10.3.0", None, "warn", "tensorrt does not import here"),
    ],
)
def test_engines_against_the_installed_tensorrt(tmp_path: Path, recorded, installed, status, says) -> None:
    ckpt = checkpoint(tmp_path / "best")
    engines(ckpt, recorded)
    check = engines_check(ckpt, lambda: installed)
    assert check.status == status and says in check.detail
    assert "export/decoder.plan, export/vision.engine" in check.detail
    if status == "fail":
        assert "mvla export" in check.fix


def test_no_engines(tmp_path: Path) -> None:
    ckpt = checkpoint(tmp_path / "best")
    check = engines_check(ckpt, lambda: None)
    assert check.status == "ok" and "the policy runs in PyTorch" in check.detail


def _onnx_record(manifest_sha256: str) -> str:
    """The default policy's export.json, of other weights and without file hashes (no graphs here)."""
    data = json.loads((Path(__file__).parents[2] / "policies/default/onnx/export.json").read_text())
    del data["sha256"]
    return json.dumps({**data, "checkpoint_manifest_sha256": manifest_sha256})


def test_an_onnx_export_of_these_weights_or_of_others(tmp_path: Path, monkeypatch) -> None:
    from policies.export.exported import manifest_hash

    ckpt = checkpoint(tmp_path / "best")
    (ckpt / "onnx").mkdir()
    record = ckpt / "onnx" / "export.json"
    record.write_text(_onnx_record(manifest_hash(ckpt)))
    check = engines_check(ckpt, lambda: None)
    assert check.status == "ok" and "ONNX export in onnx/ made from these weights" in check.detail
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None)  # onnxruntime missing
    check = engines_check(ckpt, lambda: None)
    assert check.status == "warn" and "onnxruntime is not installed" in check.detail
    monkeypatch.undo()
    record.write_text(_onnx_record("0" * 64))
    check = engines_check(ckpt, lambda: None)
    assert check.status == "warn" and "in onnx/ is of other weights" in check.detail
    assert "--format onnx" in check.fix
