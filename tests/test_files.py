"""The durable-file engine (`configs.files`): a file or folder is either the old one or the new one,
never half of either, and no temporary is left behind whatever fails."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from configs.files import staged_dir, write_atomic


def _fail_with_enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    ("data", "expected"),
    [(b"\x00\x01binary\xff", b"\x00\x01binary\xff"), ("Überholen\nlinks\n", "Überholen\nlinks\n".encode())],
)
def test_write_atomic_round_trip_replaces_and_leaves_only_the_file(tmp_path: Path, data, expected) -> None:
    path = tmp_path / "progress.json"
    path.write_bytes(b"older content, longer than the new one" * 10)
    write_atomic(path, data)
    assert path.read_bytes() == expected
    assert [p.name for p in tmp_path.iterdir()] == ["progress.json"]


def test_write_atomic_gives_the_permissions_of_a_plain_open(tmp_path: Path) -> None:
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    write_atomic(tmp_path / "atomic.txt", "x")
    assert (tmp_path / "atomic.txt").stat().st_mode == plain.stat().st_mode


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    path = tmp_path / "index.json"
    path.write_text("old")
    monkeypatch.setattr(os, failing, _fail_with_enospc)  # a full disk at the fsync, or a failed rename
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new" * 1000)
    monkeypatch.undo()
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["index.json"]


def test_a_failed_first_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "replace", _fail_with_enospc)
    with pytest.raises(OSError):
        write_atomic(tmp_path / "new.json", "{}")
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []


def test_staged_dir_replaces_an_existing_folder_whole(tmp_path: Path) -> None:
    final = tmp_path / "ckpt"
    (final / "sub").mkdir(parents=True)
    (final / "old.bin").write_bytes(b"old")
    (final / "sub" / "gone.txt").write_text("gone")
    with staged_dir(final) as stage:
        assert stage.parent == tmp_path and stage.name.startswith(".")
        (stage / "model.bin").write_bytes(b"new")
        (stage / "graphs").mkdir()
        (stage / "graphs" / "g.onnx").write_bytes(b"graph")
    assert _tree(final) == {"model.bin": b"new", str(Path("graphs", "g.onnx")): b"graph"}
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]  # no staging or moved-aside folder left


def test_staged_dir_creates_missing_parents(tmp_path: Path) -> None:
    final = tmp_path / "runs" / "a" / "export"
    with staged_dir(final) as stage:
        (stage / "export.json").write_text("{}")
    assert _tree(final) == {"export.json": b"{}"}
    assert [p.name for p in final.parent.iterdir()] == ["export"]


def _old_folder(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    final = tmp_path / "step-00000500"
    (final / "policy").mkdir(parents=True)
    (final / "state.json").write_text('{"step": 500}')
    (final / "policy" / "model.safetensors").write_bytes(b"weights")
    return final, _tree(final)


def test_an_error_inside_staged_dir_keeps_the_old_folder_and_leaves_no_stage(tmp_path: Path) -> None:
    final, before = _old_folder(tmp_path)
    with pytest.raises(RuntimeError, match="export failed"), staged_dir(final) as stage:
        (stage / "state.json").write_text("half")
        raise RuntimeError("export failed")
    assert _tree(final) == before
    assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_a_full_disk_at_the_fsync_keeps_the_old_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    final, before = _old_folder(tmp_path)
    with pytest.raises(OSError, match="No space left"), staged_dir(final) as stage:
        (stage / "state.json").write_text('{"step": 600}')
        monkeypatch.setattr(os, "fsync", _fail_with_enospc)
    monkeypatch.undo()
    assert _tree(final) == before
    assert [p.name for p in tmp_path.iterdir()] == [final.name]


def test_a_failed_swap_puts_the_old_folder_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    final, before = _old_folder(tmp_path)
    rename = Path.rename

    def stage_cannot_move(self: Path, target):
        if self.name.endswith(".tmp"):
            _fail_with_enospc()
        return rename(self, target)

    monkeypatch.setattr(Path, "rename", stage_cannot_move)
    with pytest.raises(OSError), staged_dir(final) as stage:
        (stage / "state.json").write_text('{"step": 600}')
    monkeypatch.undo()
    assert _tree(final) == before
    assert [p.name for p in tmp_path.iterdir()] == [final.name]
