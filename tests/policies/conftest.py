"""Tiny configurations of every registered policy, for contract tests that must run in seconds on a CPU.

`tiny_config(name, path)` returns the config of policy `name`; models with a pretrained backbone get
tiny backbone weights saved under `path` (and loaded through the real `from_pretrained`). The Kosmos
builders live in `tests/policies/tiny_kosmos.py`, written with those models.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from policies.compact.config import CompactConfig
from policies.config import HeadConfig


def tiny_compact_config(path: Path) -> CompactConfig:
    del path  # no backbone to write
    return CompactConfig(
        window=4,
        fwd_pred_next_n=5,
        image_height=24,
        image_width=32,
        channels=(8, 16),
        text_buckets=64,
        text_dim=8,
        feature_dim=16,
        head=HeadConfig(hidden=16),
    )


def make_tiny_config(name: str, path: Path) -> Any:
    if name == "compact":
        return tiny_compact_config(path)
    if name == "kosmos2":
        from tests.policies.tiny_kosmos import tiny_kosmos2_config

        return tiny_kosmos2_config(path)
    if name == "kosmos2_clip":
        from tests.policies.tiny_kosmos import tiny_kosmos2_clip_config

        return tiny_kosmos2_clip_config(path)
    raise KeyError(f"no tiny config for policy {name!r}; add one to tests/policies/conftest.py")


@pytest.fixture(scope="session")
def tiny_config() -> Callable[[str, Path], Any]:
    return make_tiny_config
