"""`--policy default`: one resolver for every command; the packaged checkpoint loads, is small enough to
ship (at most 20 MB), and drives like any other checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from configs import ConfigError
from policies import default_policy
from policies.default_policy import DEFAULT_DIR, resolve


def test_a_checkpoint_directory_resolves_to_itself(tmp_path: Path) -> None:
    assert resolve(str(tmp_path)) == tmp_path
    with pytest.raises(ConfigError, match="no such checkpoint directory"):
        resolve(str(tmp_path / "missing"))


def test_default_without_a_shipped_policy_is_a_one_line_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(default_policy, "DEFAULT_DIR", tmp_path / "default")
    with pytest.raises(ConfigError, match="no default policy") as err:
        resolve("default")
    assert "\n" not in str(err.value)


@pytest.mark.skipif(
    not (DEFAULT_DIR / "manifest.json").is_file(), reason="no default policy in this checkout"
)
def test_the_shipped_default_policy_loads_and_is_small() -> None:
    from policies.checkpoint import load_checkpoint

    assert resolve("default") == DEFAULT_DIR
    size = sum(p.stat().st_size for p in DEFAULT_DIR.iterdir())
    assert size <= 20 * 2**20
    policy, norm, info = load_checkpoint(DEFAULT_DIR)
    assert info.name == "compact" and policy.config.predicts_stop and norm.action_dim == 3
