"""Resume is exact: a run interrupted at step k and resumed gives the same loss at every later step as an
uninterrupted run, bit for bit on a CPU — at an epoch boundary and inside an epoch (the classic failure:
the loader restarts its epoch and repeats or skips batches), with augmentation on, and with LoRA's
dropout drawing from the RNG. Ctrl-C (SIGINT) writes a resumable checkpoint too."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.trainer.trainer_helpers import train_config, write_folder
from trainer.config import load_train_config
from trainer.loop import train
from trainer.reports import Progress
from trainer.state import step_dirs

AUGMENT = {"color_jitter": 0.2, "crop": 0.1, "mirror": 0.5}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("episodes")
    write_folder(folder, 6, steps=6)  # 6 episodes, 2 per batch: 3 batches per epoch
    return folder


def _losses(config_path: Path, stop_at: int | None = None) -> dict[int, float]:
    config = load_train_config(config_path)
    first = train(config, stop_after=stop_at, log=lambda _: None)
    losses = dict(first.losses)
    if stop_at is not None:
        assert first.interrupted and first.steps == stop_at
        rest = train(load_train_config(config_path), resume=True, log=lambda _: None)
        assert min(rest.losses) == stop_at + 1
        losses.update(rest.losses)
    return losses


@pytest.mark.slow
@pytest.mark.parametrize("k", [3, 4])  # 3: at the end of epoch 0; 4: inside epoch 1
def test_resumed_run_matches_the_uninterrupted_one_bit_for_bit(data: Path, tmp_path: Path, k: int) -> None:
    whole = _losses(train_config(tmp_path / "whole", [data], augment=AUGMENT, steps=7))
    resumed = _losses(train_config(tmp_path / "resumed", [data], augment=AUGMENT, steps=7), stop_at=k)
    assert sorted(whole) == list(range(1, 8))
    assert resumed == whole  # exact float equality at every step


@pytest.mark.slow
def test_resume_with_lora_dropout_and_accumulation(data: Path, tmp_path: Path) -> None:
    """Tiny Kosmos-2 with LoRA (dropout 0.1 draws from the torch RNG) and two batches per step."""
    import yaml

    from policies import registry
    from tests.policies.conftest import make_tiny_config

    policy = registry.config_to_dict("kosmos2", make_tiny_config("kosmos2", tmp_path / "backbone"))
    policy_path = tmp_path / "kosmos.yaml"
    policy_path.write_text(yaml.safe_dump(policy), encoding="utf-8")
    fields = {"optim__accumulation": 2, "steps": 4}
    whole = _losses(train_config(tmp_path / "whole", [data], policy=str(policy_path), **fields))
    resumed = _losses(
        train_config(tmp_path / "resumed", [data], policy=str(policy_path), **fields), stop_at=2
    )
    assert resumed == whole


@pytest.mark.slow
def test_ctrl_c_writes_a_resumable_checkpoint(data: Path, tmp_path: Path) -> None:
    config = load_train_config(train_config(tmp_path, [data], steps=50))

    def interrupt(info: Progress) -> None:
        if info.step == 2:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C sends; the loop finishes the step

    result = train(config, progress=interrupt, log=lambda _: None)
    assert result.interrupted and result.steps == 2
    assert [p.name for p in step_dirs(Path(config.output))] == ["step-00000002"]
    resumed = train(
        load_train_config(train_config(tmp_path, [data], steps=50)),
        resume=True,
        stop_after=1,
        log=lambda _: None,
    )
    assert min(resumed.losses) == 3


def test_resume_refuses_another_config_and_a_fresh_run_refuses_old_checkpoints(
    data: Path, tmp_path: Path
) -> None:
    from configs import ConfigError, MvlaError

    path = train_config(tmp_path, [data], steps=3)
    train(load_train_config(path), stop_after=1, log=lambda _: None)
    with pytest.raises(MvlaError, match="add --resume"):
        train(load_train_config(path), log=lambda _: None)
    with pytest.raises(ConfigError, match="optim.lr"):
        train(load_train_config(path, ["optim.lr=0.5"]), resume=True, log=lambda _: None)
