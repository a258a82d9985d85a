"""`mvla train` and `mvla eval --data` on bad input: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from mvla_tui.cli import main
from tests.trainer.trainer_helpers import train_config, write_folder


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("episodes")
    write_folder(folder, 2, steps=3)
    return folder


def _one_line_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_train_errors_are_one_line(data: Path, tmp_path: Path, capsys) -> None:
    assert "no such file" in _one_line_error(["train", "--config", str(tmp_path / "none.yaml")], capsys)
    config = train_config(tmp_path, [data])
    line = _one_line_error(["train", "--config", str(config), "--set", "optim.learning_rate=1"], capsys)
    assert "unknown key 'optim.learning_rate'" in line
    line = _one_line_error(
        ["train", "--config", str(config), "--set", f"data.dirs=[{tmp_path / 'nowhere'}]"], capsys
    )
    assert "no such folder" in line
    assert "holds no checkpoint" in _one_line_error(["train", "--config", str(config), "--resume"], capsys)
    line = _one_line_error(
        ["train", "--config", str(config), "--set", "precision=fp16", "--set", "device=cpu"], capsys
    )
    assert "fp16 needs a GPU" in line


def test_eval_offline_errors_are_one_line(data: Path, tmp_path: Path, capsys) -> None:
    line = _one_line_error(["eval", "--data", str(tmp_path / "nowhere"), "--policy", str(tmp_path)], capsys)
    assert "no such folder" in line
    line = _one_line_error(["eval", "--data", str(data), "--expert"], capsys)
    assert "--expert only runs in the sim" in line
    line = _one_line_error(["eval", "--data", str(data), "--policy", str(tmp_path / "no-ckpt")], capsys)
    assert "no such checkpoint directory" in line
