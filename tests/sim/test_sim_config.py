"""Sim config values YAML can spell but physics cannot use (.nan, .inf, negatives), and layouts that do
not exist, are one-line `ConfigError`s naming the key, never a crash or a NaN episode."""

from __future__ import annotations

import pytest

from configs import ConfigError
from mvla_tui.robot.config import TeleopConfig, load_robot_config
from mvla_tui.sim.config import SimConfig

POSITIVE = ("speed_per_unit", "turn_rate_per_unit", "timestep_s", "realtime_fps")


@pytest.mark.parametrize("name", POSITIVE)
@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "0", "-1.5"])
def test_positive_fields_need_finite_positive_values(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"sim.{name} must be a finite number > 0") as info:
        load_robot_config("sim", overrides=[f"sim.{name}={value}"])
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("value", [".nan", ".inf", "-0.1"])
def test_settle_time_must_be_finite_and_not_negative(value: str) -> None:
    with pytest.raises(ConfigError, match="teleop.settle_s must be a finite number >= 0"):
        load_robot_config("sim", overrides=[f"teleop.settle_s={value}"])


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("camera_hfov_deg", ".nan", "sim.camera_hfov_deg"),
        ("scenario", "3box_left", "sim.scenario '3box_left' is unknown"),
        ("distance", "near", "sim.distance 'near' is unknown"),
        ("bias", "up", "sim.bias 'up' is unknown"),
        ("seed", "-1", "sim.seed must be >= 0"),
    ],
)
def test_range_checked_fields_are_refused(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_robot_config("sim", overrides=[f"sim.{key}={value}"])


def test_the_packaged_config_is_the_dataclass_defaults() -> None:
    """Tests and the expert build `SimConfig()` directly; the YAML users run must say the same."""
    config = load_robot_config("sim")
    assert config.kind == "sim" and config.sim == SimConfig()


def test_a_press_moves_the_documented_distance() -> None:
    teleop = TeleopConfig()
    forward, _, _ = SimConfig().key_motion([1.15, 0.0, 0.0], teleop.throttle / 100, teleop.step_s)
    assert forward == pytest.approx(0.1725)
