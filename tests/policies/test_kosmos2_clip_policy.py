"""The Kosmos-2 + CLIP hybrid on tiny backbones saved to disk: the fused feature feeds the head, CLIP stays
frozen and out of checkpoints whatever the Kosmos-2 mode, and a CLIP that cannot load, or whose
preprocessing differs from Kosmos-2's, is a one-line error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from policies import PolicyLoadError
from policies.batch import Batch
from policies.checkpoint import load_checkpoint, save_checkpoint
from policies.kosmos2_clip.model import Kosmos2ClipPolicy
from policies.normalisation import ActionNormalisation
from tests.policies.tiny_kosmos import tiny_kosmos2_clip_config, write_tiny_clip

LEFT = "Navigate around the obstacle on the left side and reach the cup"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kosmos_clip")


def _frames(n: int) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (n, 30, 40, 3), dtype=np.uint8)


def test_fused_feature_has_fusion_dim_and_uses_clip_text(root: Path) -> None:
    config = tiny_kosmos2_clip_config(root)
    policy = Kosmos2ClipPolicy(config).eval()
    with torch.no_grad():
        pixels = policy.preprocess(_frames(3))
        left = policy.encode_frame(pixels, policy.encode_instruction([LEFT]))
        other = policy.encode_instruction(["go right"])
        # Same Kosmos-2 prompt, other CLIP text: only the CLIP text path can change the feature.
        swapped = policy.encode_frame(
            pixels, type(other)(policy.encode_instruction([LEFT]).kosmos, other.clip_text)
        )
        chunk = policy.decode(left[None])
    assert left.shape == (3, config.fusion_dim)
    assert not torch.allclose(left, swapped)
    assert chunk.shape == (1, config.fwd_pred_next_n, config.action_dim)


@pytest.mark.parametrize("mode", ["frozen", "full"])
def test_clip_stays_frozen_and_out_of_the_checkpoint(root: Path, mode: str) -> None:
    policy = Kosmos2ClipPolicy(tiny_kosmos2_clip_config(root, mode=mode)).train()
    keys = set(policy.trainable_state_dict())
    assert not any(p.requires_grad for p in policy.clip.parameters())
    assert not any(k.startswith("clip.") for k in keys)
    assert {k for k in policy.state_dict() if k.startswith("fusion.")} <= keys
    b, t = 2, policy.window
    batch = Batch.of_windows(
        policy.preprocess(_frames(b * t)).unflatten(0, (b, t)),
        [LEFT, "go left"],
        torch.zeros(b, t, policy.horizon, policy.action_dim),
        torch.ones(b, t, policy.horizon, dtype=torch.bool),
    )
    policy(batch).loss.backward()
    assert policy.fusion.proj[0].weight.grad is not None
    assert all(p.grad is None for p in policy.clip.parameters())


def test_missing_clip_is_one_line_error(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_clip_config(root)
    config.clip.source = str(tmp_path / "no-such-clip")
    with pytest.raises(PolicyLoadError) as err:
        Kosmos2ClipPolicy(config)
    assert "clip.source" in str(err.value) and "\n" not in str(err.value)


def test_clip_with_other_preprocessing_is_refused(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_clip_config(root)
    clip = write_tiny_clip(tmp_path / "clip")
    stats = json.loads((clip / "preprocessor_config.json").read_text())
    stats["image_mean"] = [0.5, 0.5, 0.5]
    (clip / "preprocessor_config.json").write_text(json.dumps(stats))
    config.clip.source = str(clip)
    with pytest.raises(PolicyLoadError, match="preprocessing matches"):
        Kosmos2ClipPolicy(config)


def test_checkpoint_refuses_a_clip_other_than_its_own(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_clip_config(root)
    config.clip.source = str(write_tiny_clip(tmp_path / "clip"))
    torch.manual_seed(0)
    ckpt = save_checkpoint(Kosmos2ClipPolicy(config), tmp_path / "ckpt", ActionNormalisation.identity(3))
    load_checkpoint(ckpt)  # the same CLIP: fine
    write_tiny_clip(tmp_path / "clip", seed=1)  # same architecture and files, other weights
    with pytest.raises(PolicyLoadError, match="trained on clip weights") as err:
        load_checkpoint(ckpt)
    assert "\n" not in str(err.value)


def test_truncated_clip_weights_are_a_one_line_error_naming_the_file(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_clip_config(root)
    clip = write_tiny_clip(tmp_path / "clip")
    (clip / "model.safetensors").write_bytes((clip / "model.safetensors").read_bytes()[:500])
    config.clip.source = str(clip)
    with pytest.raises(PolicyLoadError, match="clip.source .*model.safetensors") as err:
        Kosmos2ClipPolicy(config)
    assert "\n" not in str(err.value)
