"""Which pretrained files a backbone was loaded from, exactly: the identity a checkpoint records and
checks (`Policy.backbone_identity`).

Every file that decides what the backbone computes counts: the weights, `config.json`, the tokenizer
files and `preprocessor_config.json` (a changed tokenizer or pixel statistics changes the features as
surely as a changed tensor does). Two sources:
- a model in the Hugging Face hub cache: its snapshot folder holds links to blobs named by their
  content hash (sha256 for large files, the git blob hash for small ones), so the identity is the
  hub id, the commit and those blob names: nothing is read;
- a local folder (`save_pretrained`): the full sha256 of each file, cached by path, size and
  modification time in `$MVLA_CACHE_DIR/file_hashes.json` (default `~/.cache/mvla`), so a 6 GB
  backbone is hashed once, not at every load.
The identity is "<where> sha256 <16 hex digits of the hash over every (file name, content hash)>".
This module must not import torch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from configs.files import write_atomic

# Files in a model folder that never change what it computes.
IGNORED = {".gitattributes", "README.md", "LICENSE", "LICENSE.txt"}
_BLOCK = 1 << 20


def cache_dir() -> Path:
    return Path(os.environ.get("MVLA_CACHE_DIR") or Path.home() / ".cache" / "mvla")


def model_files(folder: Path) -> list[Path]:
    """The files of a model folder that count, sorted by name (links followed)."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.name not in IGNORED and not p.name.startswith(".")
    )


def file_sha256(path: Path, cache: dict[str, str] | None = None) -> str:
    """Full sha256 of a file; `cache` maps "path|size|mtime_ns" to known hashes."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    if cache is not None and key in cache:
        return cache[key]
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    value = digest.hexdigest()
    if cache is not None:
        cache[key] = value
    return value


def _load_cache() -> dict[str, str]:
    path = cache_dir() / "file_hashes.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _save_cache(cache: dict[str, str]) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(folder / "file_hashes.json", json.dumps(cache))
    except OSError:
        pass  # a read-only home: hashes are recomputed next time, nothing is wrong


def _combine(entries: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for name, value in sorted(entries):
        digest.update(f"{name}\0{value}\n".encode())
    return digest.hexdigest()[:16]


def folder_identity(folder: Path) -> str:
    """Full content hash of a local model folder (cached by size and mtime)."""
    cache = _load_cache()
    before = len(cache)
    entries = [(p.name, file_sha256(p, cache)) for p in model_files(folder)]
    if len(cache) != before:
        _save_cache(cache)
    return _combine(entries)


def snapshot_identity(snapshot: Path) -> str:
    """A hub cache snapshot: the blob names its files link to are their content hashes; files that are
    not links (a copied snapshot) are hashed in full."""
    entries = []
    cache = None
    for p in model_files(snapshot):
        if p.is_symlink():
            entries.append((p.name, Path(os.readlink(p)).name))
        else:
            cache = _load_cache() if cache is None else cache
            entries.append((p.name, file_sha256(p, cache)))
    if cache is not None:
        _save_cache(cache)
    return _combine(entries)


def hub_snapshot(source: str, revision: str | None) -> Path | None:
    """The hub cache's snapshot folder of `source` at `revision` (a branch, tag or commit; None: main),
    where `from_pretrained` has just put its files; its name is the commit."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(source, "config.json", revision=revision or "main")
    return Path(found).parent if isinstance(found, str) else None


def backbone_identity(source: str, revision: str | None) -> str:
    """The identity a checkpoint records for a backbone loaded from `source` (see the module docstring)."""
    folder = Path(source)
    if folder.is_dir():
        return f"local folder, files sha256 {folder_identity(folder)}"
    snapshot = hub_snapshot(source, revision)
    if snapshot is not None:
        return f"hub {source} commit {snapshot.name}, files sha256 {snapshot_identity(snapshot)}"
    return f"hub {source} revision {revision or 'main'} (not found in the hub cache)"
