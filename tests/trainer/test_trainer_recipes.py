"""The shipped GPU recipes (configs/train/kosmos2_lora.yaml, kosmos2_clip_lora.yaml) load, say what the
issue asks of them, and build their policy on tiny backbones written to a temporary folder (the recipe's
hub ids are replaced with `--set`, as a user points them at a local folder; nothing is downloaded: the
test session runs with HF_HUB_OFFLINE=1). One test trains the Kosmos-2 recipe for one optimiser step
as it is (bf16 autocast, gradient checkpointing, accumulation 4), only smaller."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from configs import config_path
from policies import PolicyLoadError, registry
from tests.policies.tiny_kosmos import write_tiny_clip, write_tiny_kosmos2
from tests.trainer.trainer_helpers import write_folder
from trainer.config import TrainConfig, load_train_config
from trainer.loop import prepare_data, train

RECIPES = {"kosmos2": "kosmos2_lora.yaml", "kosmos2_clip": "kosmos2_clip_lora.yaml"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("recipes")
    data = root / "episodes"
    write_folder(data, 4, steps=6)
    return {
        "data": data,
        "kosmos2": write_tiny_kosmos2(root / "kosmos2"),
        "clip": write_tiny_clip(root / "clip"),
    }


def _recipe(name: str, tiny: dict[str, Path], tmp_path: Path, *more: str) -> TrainConfig:
    overrides = [
        f"data.dirs=[{tiny['data']}]",
        "data.workers=0",
        f"output={tmp_path / 'run'}",
        f"policy.backbone.source={tiny['kosmos2']}",
    ]
    if name == "kosmos2_clip":
        overrides.append(f"policy.clip.source={tiny['clip']}")
    return load_train_config(config_path(f"train/{RECIPES[name]}"), [*overrides, *more])


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_recipe_says_what_the_seeds_ran(name: str, tiny: dict[str, Path], tmp_path: Path) -> None:
    config = _recipe(name, tiny, tmp_path)
    assert (config.optim.lr, config.optim.schedule, config.precision) == (1e-4, "cosine", "bf16")
    assert config.data.episodes_per_batch == 4 and config.optim.accumulation > 1
    setup = prepare_data(config, tmp_path)
    assert setup.name == name
    policy_config = setup.policy_config
    assert (policy_config.window, policy_config.fwd_pred_next_n) == (8, 10)
    backbone = policy_config.backbone  # type: ignore[attr-defined]
    assert backbone.mode == "lora" and backbone.gradient_checkpointing
    assert set(backbone.lora.target_modules) == {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"}


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_the_recipe_builds_on_a_local_backbone(name: str, tiny: dict[str, Path], tmp_path: Path) -> None:
    setup = prepare_data(_recipe(name, tiny, tmp_path), tmp_path)
    policy = registry.build_policy(setup.name, setup.policy_config)
    lora = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in policy.named_parameters() if ".lora_A" in n}
    assert lora == {"q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"}  # attention and MLP
    assert policy.backbone.is_activation_checkpointing  # type: ignore[union-attr]
    stored = policy.trainable_state_dict()
    assert not any(k.startswith("backbone.") and "lora_" not in k for k in stored)  # LoRA + head only


def test_the_recipe_never_downloads_its_backbone(tiny: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    """The recipe as shipped names a hub id; with an empty hub cache and no network it is a one-line
    error saying where to point it, not a download."""
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache" / "hub"))
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache" / "hub"))
    config = load_train_config(
        config_path(f"train/{RECIPES['kosmos2']}"),
        [f"data.dirs=[{tiny['data']}]", "data.workers=0", f"output={tmp_path / 'run'}"],
    )
    setup = prepare_data(config, tmp_path)
    with pytest.raises(PolicyLoadError, match="microsoft/kosmos-2-patch14-224.*local hub cache") as info:
        registry.build_policy(setup.name, setup.policy_config)
    assert "\n" not in str(info.value)


def test_one_step_of_the_kosmos2_recipe_trains(tiny: dict[str, Path], tmp_path: Path) -> None:
    """bf16 autocast on the CPU, gradient checkpointing, batch 4 and accumulation 4, as on a GPU."""
    config = _recipe(
        "kosmos2",
        tiny,
        tmp_path,
        "steps=1",
        "optim.warmup_steps=0",
        "data.val_fraction=0.0",
        "tensorboard=false",
        "device=cpu",
    )
    # Accelerate keeps one mixed-precision state per process, and the other tests train in fp32: a bf16
    # run starts and leaves it reset.
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)
    try:
        result = train(config, log=lambda _: None)
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.losses[1]))
    assert result.final is not None and (result.final / "model.safetensors").is_file()
