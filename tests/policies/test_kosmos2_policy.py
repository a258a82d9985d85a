"""The Kosmos-2 policy on a tiny Kosmos-2 saved to disk: the action-token feature is what Kosmos-2 itself
computes, the backbone modes train exactly what they say, checkpoints hold exactly what they need,
gradient checkpointing really recomputes, and a backbone that cannot load is a one-line error."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from configs import ConfigError, from_dict
from policies import PolicyLoadError
from policies.batch import Batch
from policies.checkpoint import load_checkpoint, save_checkpoint
from policies.kosmos2.backbone import RandomInitWarning
from policies.kosmos2.config import Kosmos2BackboneConfig, Kosmos2Config, Kosmos2Sizes, LoraSettings
from policies.kosmos2.model import Kosmos2Policy
from policies.kosmos2.prompt import IMAGE_START
from policies.normalisation import ActionNormalisation
from tests.policies.tiny_kosmos import IMAGE_SIZE, tiny_kosmos2_config, write_tiny_clip, write_tiny_kosmos2

LEFT = "Navigate around the obstacle on the left side and reach the cup"
RIGHT = "Navigate around the obstacle on the right side and reach the cup"


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kosmos")


def _policy(root: Path, mode: str = "lora", **backbone) -> Kosmos2Policy:
    config = tiny_kosmos2_config(root, mode=mode)
    for key, value in backbone.items():
        setattr(config.backbone, key, value)
    torch.manual_seed(0)
    return Kosmos2Policy(config)


def _pixels(policy: Kosmos2Policy, n: int, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return policy.preprocess(rng.integers(0, 256, (n, 30, 40, 3), dtype=np.uint8))


def _batch(policy: Kosmos2Policy) -> Batch:
    b, t, n, a = 2, policy.window, policy.horizon, policy.action_dim
    return Batch.of_windows(
        _pixels(policy, b * t).view(b, t, 3, IMAGE_SIZE, IMAGE_SIZE),
        [LEFT, "go left"],
        torch.rand(b, t, n, a) * 2 - 1,
        torch.ones(b, t, n, dtype=torch.bool),
    )


def test_frame_feature_is_kosmos2_hidden_state_at_the_action_token(root: Path) -> None:
    policy = _policy(root, "frozen").eval()
    model, layout = policy.backbone, policy.prompt
    token = layout.tokenizer.convert_tokens_to_ids("\u2581cup")
    with torch.no_grad():
        # With the action token set to a real token's embedding, the feature must equal what
        # Kosmos2Model computes from ids + image mask, the processor's layout, at that last token.
        policy.action_token.copy_(model.get_input_embeddings().weight[token])
        pixels = _pixels(policy, 3)
        features = policy.encode_frame(pixels, policy.encode_instruction([LEFT]))
        ids = layout.head + layout.image + [layout.eoi] + layout.text_ids(LEFT) + [token]
        image_mask = torch.zeros(1, len(ids), dtype=torch.long)
        image_mask[0, IMAGE_START : IMAGE_START + layout.latent_queries] = 1
        reference = model(
            pixel_values=pixels,
            input_ids=torch.tensor([ids] * 3),
            image_embeds_position_mask=image_mask.expand(3, -1),
        ).last_hidden_state[:, -1]
    assert features.shape == (3, model.config.text_config.embed_dim)
    torch.testing.assert_close(features, reference, rtol=0, atol=1e-5)


def test_feature_depends_on_image_and_instruction(root: Path) -> None:
    policy = _policy(root).eval()
    with torch.no_grad():
        pixels = _pixels(policy, 2)
        left = policy.encode_frame(pixels, policy.encode_instruction([LEFT]))
        right = policy.encode_frame(pixels, policy.encode_instruction([RIGHT]))
    assert not torch.allclose(left[0], left[1])
    assert not torch.allclose(left, right)


def test_padded_instruction_batch_matches_one_at_a_time(root: Path) -> None:
    policy = _policy(root).eval()
    with torch.no_grad():
        pixels = _pixels(policy, 2)
        both = policy.encode_frame(pixels, policy.encode_instruction([LEFT, "go"]))
        alone = policy.encode_frame(pixels[1:], policy.encode_instruction(["go"]))
    torch.testing.assert_close(both[1:], alone, rtol=0, atol=1e-6)


def test_instruction_is_tokenised_once(root: Path) -> None:
    policy = _policy(root)
    calls = []
    tokenizer = policy.prompt.tokenizer

    def counting(*args, **kwargs):
        calls.append(args)
        return tokenizer(*args, **kwargs)

    policy.prompt.tokenizer = counting
    policy.encode_instruction([LEFT] * 8)
    policy.encode_instruction([LEFT])
    assert len(calls) == 1


def test_preprocess_resizes_whole_frame_and_normalises_with_clip_statistics(root: Path) -> None:
    policy = _policy(root)
    frames = np.zeros((2, 3, 30, 40, 3), np.uint8)
    frames[..., 0], frames[..., 1], frames[..., 2] = 255, 128, 0
    pixels = policy.preprocess(frames)
    assert pixels.shape == (2, 3, 3, IMAGE_SIZE, IMAGE_SIZE) and pixels.dtype == torch.float32
    mean, std = np.array(policy.image_mean), np.array(policy.image_std)
    want = (np.array([255, 128, 0]) / 255.0 - mean) / std
    for c in range(3):
        torch.testing.assert_close(
            pixels[:, :, c], torch.full_like(pixels[:, :, c], want[c]), rtol=0, atol=1e-5
        )
    torch.testing.assert_close(policy.preprocess(torch.from_numpy(frames)), pixels)
    with pytest.raises(ValueError, match="RGB uint8"):
        policy.preprocess(frames.astype(np.float32))


def test_lora_adapts_only_the_target_modules(root: Path) -> None:
    policy = _policy(root, "lora", lora=LoraSettings(r=4, alpha=8, target_modules=("q_proj", "fc2")))
    adapted = {name for name, module in policy.backbone.named_modules() if hasattr(module, "lora_A")}
    targets = {
        name for name, _ in policy.backbone.named_modules() if name.rsplit(".", 1)[-1] in ("q_proj", "fc2")
    }
    assert adapted and adapted == targets
    assert any(n.startswith("text_model.") for n in adapted) and any(
        n.startswith("vision_model.") for n in adapted
    )
    trainable = {n for n, p in policy.named_parameters() if p.requires_grad}
    assert trainable == set(policy.trainable_state_dict())
    assert "action_token" in trainable and any(n.startswith("head.") for n in trainable)
    backbone_trainable = {n for n in trainable if n.startswith("backbone.")}
    assert backbone_trainable and all(".lora_A." in n or ".lora_B." in n for n in backbone_trainable)


def test_lora_with_unknown_target_module_is_a_config_error(root: Path) -> None:
    with pytest.raises(ConfigError, match="backbone.lora.target_modules"):
        _policy(root, "lora", lora=LoraSettings(target_modules=("no_such_proj",)))


def test_frozen_mode_trains_only_head_and_action_token(root: Path) -> None:
    policy = _policy(root, "frozen").train()
    assert not any(p.requires_grad for p in policy.backbone.parameters())
    keys = set(policy.trainable_state_dict())
    assert keys == {"action_token"} | {k for k in policy.state_dict() if k.startswith("head.")}
    policy(_batch(policy)).loss.backward()
    assert all(p.grad is None for p in policy.backbone.parameters())
    assert policy.action_token.grad is not None and policy.action_token.grad.abs().sum() > 0


def test_full_mode_trains_and_stores_every_weight(root: Path) -> None:
    policy = _policy(root, "full").train()
    assert all(p.requires_grad for p in policy.parameters())
    assert set(policy.trainable_state_dict()) == {n for n, _ in policy.named_parameters()}
    policy(_batch(policy)).loss.backward()
    vision = policy.backbone.vision_model.model.encoder.layers[0].self_attn.q_proj.weight
    assert vision.grad is not None and vision.grad.abs().sum() > 0


@pytest.mark.parametrize("mode", ["frozen", "lora", "full"])
def test_trainable_state_dict_reloads_bit_exactly(root: Path, mode: str) -> None:
    trained = _policy(root, mode)
    with torch.no_grad():
        for p in trained.parameters():
            if p.requires_grad:  # as if trained: differ from a fresh build
                p.add_(torch.randn_like(p) * 0.01)
    fresh = _policy(root, mode)
    missing, unexpected = fresh.load_state_dict(trained.trainable_state_dict(), strict=False)
    assert not unexpected
    assert not set(missing) & {n for n, p in fresh.named_parameters() if p.requires_grad}
    trained.eval(), fresh.eval()
    with torch.no_grad():
        pixels = _pixels(trained, trained.window)
        a = trained.decode(trained.encode_frame(pixels, trained.encode_instruction([LEFT]))[None])
        b = fresh.decode(fresh.encode_frame(pixels, fresh.encode_instruction([LEFT]))[None])
    assert torch.equal(a, b)


def test_gradient_checkpointing_recomputes_blocks_in_backward(root: Path) -> None:
    counts = {}
    for checkpointing in (False, True):
        policy = _policy(root, "lora", gradient_checkpointing=checkpointing).train()
        counts[checkpointing] = 0

        def count(*_, key=checkpointing) -> None:
            counts[key] += 1

        # A module inside the block: transformers checkpoints the block's forward, not its hooks.
        policy.backbone.text_model.model.layers[0].self_attn.register_forward_hook(count)
        loss = policy(_batch(policy)).loss
        loss.backward()
        assert torch.isfinite(loss)
        assert any(p.grad is not None for n, p in policy.named_parameters() if "lora_B" in n)
    assert counts == {False: 1, True: 2}


def test_missing_backbone_is_one_line_error(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_config(root)
    config.backbone.source = str(tmp_path / "no-such-kosmos")
    with pytest.raises(PolicyLoadError) as err:
        Kosmos2Policy(config)
    message = str(err.value)
    assert "backbone.source" in message and "no-such-kosmos" in message and "\n" not in message


def test_backbone_of_another_model_type_is_refused(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_config(root)
    config.backbone.source = str(write_tiny_clip(tmp_path / "clip"))
    with pytest.raises(PolicyLoadError, match="'clip' model, not 'kosmos-2'"):
        Kosmos2Policy(config)


def test_backbone_with_missing_weights_is_refused_not_randomised(root: Path, tmp_path: Path) -> None:
    config = tiny_kosmos2_config(root)
    copy = Path(shutil.copytree(config.backbone.source, tmp_path / "kosmos"))
    tensors = load_file(str(copy / "model.safetensors"))
    dropped = next(k for k in sorted(tensors) if "text_model.model.layers.1.ffn.fc1.weight" in k)
    del tensors[dropped]
    save_file(tensors, str(copy / "model.safetensors"), metadata={"format": "pt"})
    config.backbone.source = str(copy)
    with pytest.raises(PolicyLoadError, match="lack 1 tensor") as err:
        Kosmos2Policy(config)
    assert "\n" not in str(err.value)


TINY_SIZES = {
    "vision_hidden": 16,
    "vision_layers": 1,
    "vision_heads": 2,
    "vision_intermediate": 32,
    "image_size": 28,
    "patch_size": 14,
    "text_dim": 16,
    "text_layers": 1,
    "text_heads": 2,
    "text_ffn": 32,
    "vocab_size": 512,
    "latent_queries": 4,
}


def test_random_init_is_announced_and_seeded_by_the_config() -> None:
    config = from_dict(
        Kosmos2Config,
        {"head": {"hidden": 8}, "backbone": {"init": "random", "mode": "frozen", "architecture": TINY_SIZES}},
    )
    torch.manual_seed(1)
    with pytest.warns(RandomInitWarning, match="RANDOM weights"):
        a = Kosmos2Policy(config)
    torch.manual_seed(2)  # the global RNG does not matter, the config's seed does
    with pytest.warns(RandomInitWarning):
        b = Kosmos2Policy(config)
    assert all(torch.equal(v, b.backbone.state_dict()[k]) for k, v in a.backbone.state_dict().items())
    with torch.no_grad():
        pixels = a.preprocess(np.zeros((1, 30, 40, 3), np.uint8))
        assert a.encode_frame(pixels, a.encode_instruction([LEFT])).shape == (1, 16)


def test_random_init_needs_sizes_and_a_large_enough_vocabulary() -> None:
    with pytest.raises(ConfigError, match="backbone.architecture is missing"):
        from_dict(Kosmos2Config, {"backbone": {"init": "random"}})
    with pytest.raises(ConfigError, match="only used with backbone.init: random"):
        from_dict(Kosmos2Config, {"backbone": {"architecture": {}}})
    small = Kosmos2BackboneConfig(
        init="random", architecture=Kosmos2Sizes(**{**TINY_SIZES, "vocab_size": 64})
    )
    with pytest.raises(ConfigError, match="vocab_size must be at least"):
        Kosmos2Policy(Kosmos2Config(backbone=small))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"text_heads": 3}, "text_heads (3) must divide text_dim (16)"),
        ({"vision_heads": 3}, "vision_heads (3) must divide vision_hidden (16)"),
        ({"patch_size": 0}, "patch_size must be >= 1"),
        ({"patch_size": 56}, "patch_size (56) must be at most image_size (28)"),
        ({"text_layers": -1}, "text_layers must be >= 1"),
    ],
)
def test_random_architecture_sizes_are_validated(change: dict, message: str) -> None:
    data = {"backbone": {"init": "random", "architecture": {**TINY_SIZES, **change}}}
    with pytest.raises(ConfigError, match=re.escape(message)) as err:
        from_dict(Kosmos2Config, data, source="k.yaml")
    assert "\n" not in str(err.value)


def test_lora_defaults_are_rank_32_alpha_16_dropout_0_1() -> None:
    lora = Kosmos2BackboneConfig().lora
    assert (lora.r, lora.alpha, lora.dropout) == (32, 16, 0.1)
    assert Kosmos2BackboneConfig().mode == "lora"


def _own_backbone(root: Path, tmp_path: Path) -> Kosmos2Config:
    """A config whose backbone folder this test may damage or replace."""
    config = tiny_kosmos2_config(root)
    shutil.copytree(config.backbone.source, tmp_path / "backbone")
    config.backbone.source = str(tmp_path / "backbone")
    return config


def test_truncated_backbone_weights_are_a_one_line_error_naming_the_file(root: Path, tmp_path: Path) -> None:
    config = _own_backbone(root, tmp_path)
    weights = tmp_path / "backbone" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(PolicyLoadError, match="model.safetensors") as err:
        Kosmos2Policy(config)
    assert "\n" not in str(err.value) and "damaged" in str(err.value)


class _RunsCode:
    def __reduce__(self):
        return (print, ("a pickle ran code",))


def test_pickled_objects_in_backbone_weights_are_never_loaded(root: Path, tmp_path: Path) -> None:
    """PyTorch weight files are read with torch.load(weights_only=True): tensors only, never code."""
    config = _own_backbone(root, tmp_path)
    folder = tmp_path / "backbone"
    state = load_file(str(folder / "model.safetensors"))
    torch.save({**state, "extra": _RunsCode()}, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(PolicyLoadError, match="weights_only=True") as err:
        Kosmos2Policy(config)
    assert "\n" not in str(err.value)


def test_checkpoint_saved_after_freezing_a_lora_policy_still_loads(root: Path, tmp_path: Path) -> None:
    policy = _policy(root, "lora")
    with torch.no_grad():
        policy.action_token.add_(0.5)
    policy.requires_grad_(False)
    ckpt = save_checkpoint(policy, tmp_path / "ckpt", ActionNormalisation.identity(3))
    loaded, _, info = load_checkpoint(ckpt)
    assert info.num_tensors > 2  # head, action token and the LoRA adapter
    assert torch.equal(loaded.action_token, policy.action_token)


def test_checkpoint_refuses_a_backbone_other_than_its_own(root: Path, tmp_path: Path) -> None:
    config = _own_backbone(root, tmp_path)
    torch.manual_seed(0)
    ckpt = save_checkpoint(Kosmos2Policy(config), tmp_path / "ckpt", ActionNormalisation.identity(3))
    load_checkpoint(ckpt)  # the same backbone: fine
    write_tiny_kosmos2(tmp_path / "backbone", seed=1)  # same architecture and files, other weights
    with pytest.raises(PolicyLoadError, match="trained on backbone weights") as err:
        load_checkpoint(ckpt)
    assert "model.safetensors" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.gpu
def test_runtime_step_on_cuda_in_fp16(root: Path) -> None:
    from policies.normalisation import ActionNormalisation
    from policies.runtime import PolicyRuntime, RuntimeConfig

    policy = _policy(root)
    runtime = PolicyRuntime(policy, ActionNormalisation((1.15, 1.15, 1.15)), RuntimeConfig(device="cuda"))
    runtime.reset(LEFT)
    rng = np.random.default_rng(0)
    for _ in range(policy.window + 1):
        chunk = runtime.step(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    assert runtime.precision == "fp16"
    assert not chunk.stop and np.isfinite(chunk.actions).all()
    assert chunk.actions.shape == (policy.horizon, 3)
