"""Fine-tuning (`init_from`): a run starts from a checkpoint's weights, policy config and action
normalisation; a checkpoint that does not load or is of another policy is a one-line error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from mvla_tui.cli import main
from policies import registry
from policies.checkpoint import Provenance, load_checkpoint, save_checkpoint
from policies.default_policy import DEFAULT_DIR
from policies.normalisation import ActionNormalisation
from policies.runtime import windowed_chunk
from tests.trainer.trainer_helpers import TINY_COMPACT, train_config, write_folder
from trainer.config import load_train_config
from trainer.loop import train

# An optimiser step that cannot move a float32 weight (lr x update rounds to 0): a fine-tune of "0 steps".
STILL = {"optim__lr": 1e-50, "optim__warmup_steps": 0}
ODD_UNITS = ActionNormalisation((2.0, 3.0, 4.0))  # not what the data would give (1.15 per axis)


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("episodes")
    write_folder(folder, 2, steps=4)
    return folder


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A checkpoint of the tiny compact policy (perturbed weights, so they are not an initialisation)
    whose action normalisation differs from the data's."""
    name, config = registry.config_from_dict(dict(TINY_COMPACT))
    torch.manual_seed(5)
    policy = registry.build_policy(name, config)
    with torch.no_grad():
        for tensor in policy.trainable_state_dict().values():
            tensor.add_(torch.randn_like(tensor) * 0.05)
    return save_checkpoint(policy, tmp_path_factory.mktemp("base") / "ckpt", ODD_UNITS, Provenance(steps=9))


def _weights(checkpoint: Path) -> dict[str, torch.Tensor]:
    return load_file(str(checkpoint / "model.safetensors"))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_fine_tune_starts_from_the_checkpoint_and_keeps_its_units(
    data: Path, base: Path, tmp_path: Path
) -> None:
    lines: list[str] = []
    agreeing = {"policy__head__kind": "regression", "policy__window": 4}  # overrides the checkpoint has
    config = load_train_config(
        train_config(tmp_path / "ft", [data], steps=1, init_from=str(base), **agreeing, **STILL)
    )
    result = train(config, log=lines.append)
    assert result.final is not None
    assert any(f"fine-tuning from {base}" in line for line in lines)
    want = _weights(base)
    assert _same(_weights(result.final), want)
    tuned, norm, info = load_checkpoint(result.final)
    original, _, _ = load_checkpoint(base)
    assert norm == ODD_UNITS  # not recomputed from the data
    assert f"fine-tuned from {base}" in info.provenance.notes
    frames = [np.random.default_rng(i).integers(0, 256, (24, 32, 3), dtype=np.uint8) for i in range(4)]
    with torch.inference_mode():
        a = windowed_chunk(original, frames, "go left", torch.device("cpu"), torch.float32)
        b = windowed_chunk(tuned, frames, "go left", torch.device("cpu"), torch.float32)
    assert torch.equal(a, b)

    # The same run without init_from starts elsewhere and takes its units from the data.
    fresh = train(
        load_train_config(train_config(tmp_path / "fresh", [data], steps=1, **STILL)), log=lambda _: None
    )
    assert fresh.final is not None
    assert load_checkpoint(fresh.final)[1] != ODD_UNITS
    assert not _same(_weights(fresh.final), want)


def test_a_fine_tune_trains_from_the_checkpoint(data: Path, base: Path, tmp_path: Path) -> None:
    """A real step moves the weights from the checkpoint's, and its loss is that of the checkpoint's."""
    ft = train(
        load_train_config(train_config(tmp_path / "ft", [data], steps=1, init_from=str(base))),
        log=lambda _: None,
    )
    still = train(
        load_train_config(train_config(tmp_path / "still", [data], steps=1, init_from=str(base), **STILL)),
        log=lambda _: None,
    )
    assert ft.final is not None and still.final is not None
    assert ft.losses[1] == still.losses[1]  # the first step's loss is computed before the update
    assert not _same(_weights(ft.final), _weights(base))


def test_init_from_default_is_the_shipped_policy(data: Path, tmp_path: Path) -> None:
    config = load_train_config(train_config(tmp_path, [data], steps=1, init_from="default", **STILL))
    assert config.init_from == "default"
    result = train(config, log=lambda _: None)
    assert result.final is not None
    assert _same(_weights(result.final), _weights(DEFAULT_DIR))
    shipped = yaml.safe_load((DEFAULT_DIR / "config.yaml").read_text())
    assert yaml.safe_load((result.final / "config.yaml").read_text())["window"] == shipped["window"] != 4


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_a_checkpoint_that_does_not_fit_is_a_one_line_error(
    data: Path, base: Path, tmp_path: Path, capsys
) -> None:
    config = str(train_config(tmp_path / "a", [data]))
    line = _one_line_error(
        ["train", "--config", config, "--set", f"init_from={tmp_path / 'nowhere'}"], capsys
    )
    assert "init_from" in line and "no such checkpoint directory" in line
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for f in base.iterdir():
        (damaged / f.name).write_bytes(f.read_bytes())
    (damaged / "model.safetensors").write_bytes(b"0" * 64)
    line = _one_line_error(["train", "--config", config, "--set", f"init_from={damaged}"], capsys)
    assert f"init_from {damaged}" in line and "model.safetensors" in line
    kosmos = tmp_path / "kosmos.yaml"
    kosmos.write_text(yaml.safe_dump({"policy": "kosmos2"}), encoding="utf-8")
    other = str(train_config(tmp_path / "b", [data], policy=str(kosmos)))
    line = _one_line_error(["train", "--config", other, "--set", f"init_from={base}"], capsys)
    assert f"init_from {base}: a 'compact' policy" in line and "'kosmos2'" in line
    contradicted = str(train_config(tmp_path / "c", [data], policy__head__kind="discrete"))
    line = _one_line_error(["train", "--config", contradicted, "--set", f"init_from={base}"], capsys)
    assert "the checkpoint's policy has head.kind 'regression'" in line and "'discrete'" in line
