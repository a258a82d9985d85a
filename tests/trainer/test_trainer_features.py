"""Frozen backbones: frame features are computed once, cached, and read back in later epochs and runs,
giving the same losses as encoding every step; a model whose frame encoder trains gets no cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies import registry
from tests.policies.conftest import make_tiny_config
from tests.trainer.trainer_helpers import train_config, write_folder
from trainer.config import load_train_config
from trainer.loop import train


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("episodes")
    write_folder(folder, 4, steps=5)
    return folder


def _kosmos_frozen(tmp_path: Path) -> str:
    config = make_tiny_config("kosmos2", tmp_path / "backbone")
    config.backbone.mode = "frozen"
    config.train_action_token = False
    path = tmp_path / "frozen.yaml"
    path.write_text(yaml.safe_dump(registry.config_to_dict("kosmos2", config)), encoding="utf-8")
    return str(path)


def test_cached_features_give_the_same_losses_and_are_reused(data: Path, tmp_path: Path) -> None:
    policy = _kosmos_frozen(tmp_path)
    fields = {"steps": 4}
    cached = train(
        load_train_config(train_config(tmp_path / "a", [data], policy=policy, **fields)), log=lambda _: None
    )
    assert "cached" in cached.note
    files = list((tmp_path / "a" / "run" / "features").rglob("*.npy"))
    assert files  # one per (episode, instruction) seen
    plain = train(
        load_train_config(
            train_config(tmp_path / "b", [data], policy=policy, cache_features="off", **fields)
        ),
        log=lambda _: None,
    )
    assert not (tmp_path / "b" / "run" / "features").exists()
    assert plain.losses.keys() == cached.losses.keys()
    for step, loss in plain.losses.items():
        assert loss == pytest.approx(cached.losses[step], rel=1e-5, abs=1e-6), step


def test_no_cache_when_the_frame_encoder_trains_or_images_are_augmented(data: Path, tmp_path: Path) -> None:
    lora = train(load_train_config(train_config(tmp_path / "lora", [data], steps=1)), log=lambda _: None)
    assert not lora.note and not (tmp_path / "lora" / "run" / "features").exists()
    policy = _kosmos_frozen(tmp_path)
    jitter = train(
        load_train_config(
            train_config(tmp_path / "jit", [data], policy=policy, steps=1, augment={"color_jitter": 0.1})
        ),
        log=lambda _: None,
    )
    assert not jitter.note
