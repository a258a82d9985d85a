"""`mvla train` and `mvla eval --data` on bad input: one line on stderr, exit status 2, no traceback."""

from __future__ import annotations

import multiprocessing
import os
import re
import signal
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


@pytest.mark.skipif(
    multiprocessing.get_start_method() != "fork", reason="the stand-in crash reaches the worker by fork"
)
def test_a_crashed_loader_worker_is_one_line_naming_the_step(
    data: Path, tmp_path: Path, monkeypatch, capfd
) -> None:
    """A data loader worker that segfaults (a stand-in: the worker's dataset raises the signal on the
    episodes of step 3) prints its Python stack, and `mvla train` stops with one line naming the step,
    leaving no half-written checkpoint behind."""
    from trainer.data import EpisodeDataset

    read = EpisodeDataset.__getitem__

    def crashing_read(self, item):
        epoch, _ = item
        if epoch == 2:  # one batch per epoch here: the batch of step 3
            os.kill(os.getpid(), signal.SIGSEGV)
        return read(self, item)

    monkeypatch.setattr(EpisodeDataset, "__getitem__", crashing_read)
    config = train_config(tmp_path, [data], data__workers=1, checkpoint_every=1)
    assert main(["train", "--config", str(config), "--quiet"]) == 2
    err = capfd.readouterr().err
    assert "Fatal Python error: Segmentation fault" in err and "in crashing_read" in err  # the worker's stack
    # Torch names the signal when its SIGCHLD handler sees the death first, else only the exit.
    assert re.fullmatch(
        r"mvla train: error: step 3: a data loader worker process died \(DataLoader worker \(pid(\(s\))? \d+\) "
        r"(is killed by signal: Segmentation fault|exited unexpectedly)\); a crash prints its Python stack "
        r"above; the checkpoints already written are complete; data\.workers=0 reads in this process",
        err.strip().splitlines()[-1],
    ), err
    checkpoints = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    # The complete checkpoints of steps 1 and 2, and no hidden stage folder of step 3 left behind.
    assert checkpoints == ["step-00000001", "step-00000002"]
