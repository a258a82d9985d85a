"""Policies by name: every name listed, configs read strictly, and reading a config loads no model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from configs import ConfigError, config_path
from policies import registry
from policies.compact.config import CompactConfig
from policies.kosmos2_clip.config import Kosmos2ClipConfig

ROOT = Path(__file__).resolve().parents[2]


def test_all_policies_are_registered() -> None:
    assert registry.names() == ["compact", "kosmos2", "kosmos2_clip"]


def test_packaged_compact_config_loads_with_overrides() -> None:
    name, config = registry.load_config(config_path("policy/compact.yaml"), ["window=4", "head.hidden=32"])
    assert name == "compact" and isinstance(config, CompactConfig)
    assert config.window == 4 and config.head.hidden == 32 and config.fwd_pred_next_n == 10


def test_gradient_checkpointing_is_set_on_a_backbone_and_nothing_without_one() -> None:
    _, kosmos = registry.config_from_dict({"policy": "kosmos2_clip"})
    on = kosmos.with_gradient_checkpointing(True)
    assert isinstance(on, Kosmos2ClipConfig) and on.backbone.gradient_checkpointing
    compact = CompactConfig()
    assert compact.with_gradient_checkpointing(True) == compact


def test_config_round_trips_through_a_mapping() -> None:
    config = CompactConfig(window=3, channels=(8, 8))
    assert registry.config_from_dict(registry.config_to_dict("compact", config)) == ("compact", config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("window: 8\n", "missing 'policy: <name>'"),
        ("policy: transformer\n", "unknown policy 'transformer'; registered policies: compact"),
        ("policy: compact\nwindw: 8\n", "unknown key 'windw'"),
        ("policy: compact\naction_dim: 4\n", "action_dim must be 2 or 3"),
        ("policy: compact\nhead:\n  hiden: 3\n", "unknown key 'head.hiden'"),
    ],
)
def test_bad_policy_config_is_one_line_naming_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        registry.load_config(path)
    assert message in str(err.value) and str(path) in str(err.value) and "\n" not in str(err.value)


def test_reading_a_policy_config_imports_no_torch() -> None:
    code = (
        "import sys; from policies import registry; from configs import config_path; "
        "registry.load_config(config_path('policy/compact.yaml')); print(' '.join(sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "torch" not in {m.split(".")[0] for m in out.stdout.split()}


@pytest.mark.parametrize("path", sorted((ROOT / "configs" / "policy").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_policy_config_loads_into_its_class(path: Path) -> None:
    name, config = registry.load_config(path)  # reads and validates; builds no model
    assert type(config) is registry.config_class(name)
