"""Checkpoint files beyond the contract: atomic replacement, provenance, the normalisation they carry."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from configs import MvlaError
from policies import PolicyLoadError, checkpoint
from policies.checkpoint import Provenance, load_checkpoint, save_checkpoint, write_manifest
from policies.compact.model import CompactPolicy
from policies.normalisation import ActionNormalisation
from tests.policies.conftest import tiny_compact_config

SCALE = ActionNormalisation((1.15, 1.15, 0.5))


def _policy(seed: int) -> CompactPolicy:
    torch.manual_seed(seed)
    return CompactPolicy(tiny_compact_config(None))


def test_saving_over_a_checkpoint_replaces_it_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "run" / "last"
    save_checkpoint(_policy(0), target, SCALE, Provenance(steps=1))
    second = _policy(1)
    save_checkpoint(second, target, SCALE, Provenance(steps=2))
    assert sorted(p.name for p in target.parent.iterdir()) == ["last"]
    assert sorted(p.name for p in target.iterdir()) == [
        "config.yaml",
        "manifest.json",
        "model.safetensors",
        "normalisation.json",
        "provenance.json",
    ]
    loaded, _, info = load_checkpoint(target)
    assert info.provenance.steps == 2 and info.provenance.created
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in second.state_dict().items())


def test_provenance_and_normalisation_are_plain_json(tmp_path: Path) -> None:
    ckpt = save_checkpoint(
        _policy(0), tmp_path / "c", SCALE, Provenance(data=["d1", "d2"], steps=40, commit=None)
    )
    provenance = json.loads((ckpt / "provenance.json").read_text())
    assert provenance["data"] == ["d1", "d2"] and provenance["steps"] == 40 and provenance["commit"] is None
    assert json.loads((ckpt / "normalisation.json").read_text())["scale"] == [1.15, 1.15, 0.5]
    manifest = json.loads((ckpt / "manifest.json").read_text())
    assert manifest["files"]["model.safetensors"]["size"] == (ckpt / "model.safetensors").stat().st_size


def test_loading_to_a_dtype_converts_the_weights(tmp_path: Path) -> None:
    ckpt = save_checkpoint(_policy(0), tmp_path / "c", SCALE)
    policy, _, _ = load_checkpoint(ckpt, dtype=torch.bfloat16)
    assert {p.dtype for p in policy.parameters()} == {torch.bfloat16} and not policy.training


def test_not_a_checkpoint_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PolicyLoadError, match="no such checkpoint directory"):
        load_checkpoint(tmp_path / "nope")


def test_normalisation_scale_comes_from_the_largest_action() -> None:
    actions = np.array([[1.15, 0.0, 0.0], [-1.15, 1.15, 0.0], [0.0, -0.5, 0.0]], np.float32)
    norm = ActionNormalisation.from_actions(actions)
    assert norm.scale == pytest.approx((1.15, 1.15, 1.0))  # a dimension that never moves keeps scale 1
    assert np.abs(norm.normalise(actions)).max() <= 1.0
    np.testing.assert_allclose(norm.denormalise(norm.normalise(actions)), actions, rtol=1e-6)


def test_saving_never_replaces_a_directory_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(MvlaError, match="is not a checkpoint"):
        save_checkpoint(_policy(0), tmp_path, SCALE)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_checkpoint_saved_after_freezing_still_loads(tmp_path: Path) -> None:
    policy = _policy(0)
    policy.requires_grad_(False)  # e.g. frozen for evaluation: must not change what is saved
    ckpt = save_checkpoint(policy, tmp_path / "c", SCALE)
    loaded, _, info = load_checkpoint(ckpt)
    assert info.num_tensors == len(list(policy.parameters()))
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in policy.state_dict().items())


def _bad_files(manifest: dict) -> None:
    manifest["files"] = list(manifest["files"])


def _no_size(manifest: dict) -> None:
    del manifest["files"]["model.safetensors"]["size"]


def _string_entry(manifest: dict) -> None:
    manifest["files"]["config.yaml"] = "abc"


@pytest.mark.parametrize("damage", [_bad_files, _no_size, _string_entry])
def test_malformed_manifest_is_a_one_line_load_error(tmp_path: Path, damage) -> None:
    ckpt = save_checkpoint(_policy(0), tmp_path / "c", SCALE)
    manifest = json.loads((ckpt / "manifest.json").read_text())
    damage(manifest)
    (ckpt / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(PolicyLoadError, match="manifest.json") as err:
        load_checkpoint(ckpt)
    assert "\n" not in str(err.value)


def test_config_that_is_not_utf8_is_a_one_line_load_error(tmp_path: Path) -> None:
    ckpt = save_checkpoint(_policy(0), tmp_path / "c", SCALE)
    (ckpt / "config.yaml").write_bytes(b"policy: compact\nwindow: \xff\xfe\n")
    write_manifest(ckpt)  # a manifest that matches: only the decoding can fail
    with pytest.raises(PolicyLoadError, match=r"config.yaml: not UTF-8") as err:
        load_checkpoint(ckpt)
    assert "\n" not in str(err.value)


def test_provenance_marks_uncommitted_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {"rev-parse": "0123abc", "status": " M policies/base.py"}
    monkeypatch.setattr(checkpoint, "_git", lambda where, command, *rest: answers[command])
    assert checkpoint.git_commit() == "0123abc-dirty"
    answers["status"] = ""
    assert checkpoint.git_commit() == "0123abc"
