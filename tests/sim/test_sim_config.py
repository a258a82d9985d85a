"""Sim config values YAML can spell but physics cannot use (.nan, .inf, negatives) are one-line
`ConfigError`s naming the key, never a crash or a NaN episode."""

from __future__ import annotations

import pytest

from configs import ConfigError
from mvla_tui.sim.config import SimConfig, load_sim_config

POSITIVE = ("speed_per_unit", "turn_rate_per_unit", "key_duration_s", "timestep_s", "realtime_fps")


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "0", "-1.5"])
def test_positive_fields_need_finite_positive_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a finite number > 0") as info:
        load_sim_config(overrides=[f"{name}={value}"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [".nan", ".inf", "-0.1"])
def test_settle_time_must_be_finite_and_not_negative(value: str) -> None:
    with pytest.raises(ConfigError, match="settle_s must be a finite number >= 0"):
        load_sim_config(overrides=[f"settle_s={value}"])


@pytest.mark.parametrize(("name", "value"), [("throttle", ".nan"), ("camera_hfov_deg", ".nan")])
def test_range_checked_fields_refuse_nan(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_sim_config(overrides=[f"{name}={value}"])


def test_the_packaged_config_matches_the_dataclass_defaults() -> None:
    """Tests and the expert build `SimConfig()` directly; the YAML users run must say the same."""
    assert load_sim_config() == SimConfig()


def test_a_press_moves_the_documented_distance() -> None:
    config = load_sim_config()
    forward, _, _ = config.key_motion([1.15, 0.0, 0.0])
    assert forward == pytest.approx(0.1725)
