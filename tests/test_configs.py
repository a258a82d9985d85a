"""The typed config loader: strict keys, typed values, overrides, one-line errors naming the file."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from configs import ConfigError, apply_overrides, load


@dataclass
class Inner:
    rate_hz: float = 10.0
    mode: Literal["step", "hold", "latch"] = "step"


@dataclass
class Outer:
    name: str = "x"
    window: int = 8
    inner: Inner = field(default_factory=Inner)
    targets: tuple[int, ...] = (1, 2)


def test_load_nested_with_override(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("name: robot\ninner:\n  rate_hz: 5\n")
    cfg = load(Outer, path, ["inner.mode=hold", "window=4"])
    assert cfg == Outer(name="robot", window=4, inner=Inner(rate_hz=5.0, mode="hold"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nmae: x\n", "unknown key 'nmae'"),
        ("inner:\n  rate: 3\n", "unknown key 'inner.rate'"),
        ("window: eight\n", "window must be an integer"),
        ("inner:\n  mode: run\n", "inner.mode must be one of"),
        ("name: [\n", "is not valid YAML"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path, text: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load(Outer, path)
    assert message in str(err.value)
    assert str(path) in str(err.value)
    assert "\n" not in str(err.value)


def test_override_needs_equals() -> None:
    with pytest.raises(ConfigError, match="expected key=value"):
        apply_overrides({}, ["window"])
