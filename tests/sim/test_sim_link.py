"""`SimLink` honours the `RobotLink` contract: clamped twists, idempotent stop, RGB uint8 frames of the
requested size, motion in the robot frame, and a real-time mode for the TUI."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mvla_tui.robot.link import RobotLink, RobotLinkError, Twist
from mvla_tui.robot.safety import UnsafeCommandError
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.link import SimLink
from tests.sim.sim_configs import sim_config


@pytest.fixture
def link():
    sim = SimLink(sim_config("1box_right", "far", "center", seed=1, width=64, height=48))
    sim.connect()
    yield sim
    sim.close()


def test_is_a_robot_link(link: SimLink) -> None:
    assert isinstance(link, RobotLink)


def test_send_returns_the_clamped_twist(link: SimLink) -> None:
    sent = link.send(Twist(3.0, -2.0, 0.4))
    assert sent == Twist(1.15, -1.15, 0.4)
    assert link.send(Twist(0.2, 0.0, 0.0)) == Twist(0.2, 0.0, 0.0)


def test_non_finite_twist_stops_and_raises(link: SimLink) -> None:
    link.send(Twist(0.5, 0.0, 0.0))
    with pytest.raises(UnsafeCommandError):
        link.send(Twist(float("nan"), 0.0, 0.0))
    link.advance(0.5)
    x_after_nan = link.pose().x
    link.advance(0.5)
    assert link.pose().x == pytest.approx(x_after_nan, abs=1e-4), "the base stopped"


def test_stop_is_idempotent_and_safe_in_any_state() -> None:
    sim = SimLink(sim_config())
    sim.stop()  # before connect
    sim.connect()
    sim.send(Twist(0.5, 0.0, 0.0))
    sim.stop()
    sim.stop()
    sim.advance(0.5)
    x = sim.pose().x
    sim.advance(0.5)
    assert sim.pose().x == pytest.approx(x, abs=1e-4)
    sim.close()
    sim.stop()
    sim.close()
    with pytest.raises(RobotLinkError, match="after close"):
        sim.send(Twist(0.1, 0.0, 0.0))


def test_send_before_connect_is_an_error() -> None:
    with pytest.raises(RobotLinkError, match="before connect"):
        SimLink(sim_config()).send(Twist(0.1, 0.0, 0.0))


def test_latest_frame_is_rgb_uint8_of_the_requested_size(link: SimLink) -> None:
    frame = link.latest_frame()
    assert frame is not None and not frame.synthetic
    assert frame.image.shape == (48, 64, 3) and frame.image.dtype == np.uint8
    assert frame.image.std() > 1.0, "a rendered scene, not a blank image"
    press(link, Twist(0.0, 0.0, 0.575))
    assert not np.array_equal(link.latest_frame().image, frame.image), "the view turns with the robot"


def press(link: SimLink, twist: Twist, seconds: float = 0.4, settle_s: float = 0.15) -> None:
    """One step-mode key press as the control loop makes it: send, move, stop, settle."""
    link.send(twist)
    link.advance(seconds)
    link.stop()
    link.advance(settle_s)


def test_key_press_moves_one_step_in_the_robot_frame(link: SimLink) -> None:
    config = link.config
    step = 0.575 * config.speed_per_unit * 0.4  # a key (1.15) at throttle 50 % for 0.4 s
    press(link, Twist(0.575, 0.0, 0.0))
    assert link.pose().x == pytest.approx(step, abs=0.01)
    # Turn a quarter turn, then "forward" is the world's +y.
    link.send(Twist(0.0, 0.0, math.pi / 4 / config.turn_rate_per_unit))
    link.advance(2.0)
    link.stop()
    link.advance(0.3)
    assert link.pose().yaw == pytest.approx(math.pi / 2, abs=0.02)
    before = link.pose()
    press(link, Twist(0.575, 0.0, 0.0))
    after = link.pose()
    assert after.y - before.y == pytest.approx(step, abs=0.01)
    assert after.x == pytest.approx(before.x, abs=0.01)


def _wait_for(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_realtime_mode_moves_with_the_wall_clock() -> None:
    sim = SimLink(sim_config(realtime=True))
    sim.connect()
    try:
        assert _wait_for(lambda: sim.latest_frame() is not None), "no frame from the real-time sim"
        first = sim.latest_frame()
        assert first.image.shape == (32, 32, 3) and first.image.dtype == np.uint8
        with pytest.raises(RobotLinkError, match="real time"):
            sim.advance(0.1)
        sim.send(Twist(-0.3, 0.0, 0.0))
        assert _wait_for(lambda: sim.pose().x < -0.15), "the base did not move backwards by itself"
        sim.stop()
        moved_at = time.monotonic()
        assert _wait_for(lambda: sim.latest_frame().stamp > moved_at), "no newer frame"
        assert not np.array_equal(sim.latest_frame().image, first.image), "the view changed as it moved"
    finally:
        sim.close()
    sim.stop()


_COUNT_RASTER_THREADS = """
import os, sys
from tests.sim.sim_configs import sim_config
from mvla_tui.sim.link import SimLink
link = SimLink(sim_config(realtime=True))
link.connect()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
print(os.environ.get("LP_NUM_THREADS"), sum(n.startswith("llvmpipe") for n in names))
link.close()
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads through /proc")
@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("2", "2")])
def test_realtime_camera_draws_with_one_software_raster_thread_unless_the_caller_set_one(
    preset: str | None, expected: str
) -> None:
    """Mesa's llvmpipe starts a drawing thread per core; in real time the sim camera keeps to
    `sim.render_threads` (1) so a frame never takes every core from the policy, and a caller's own
    LP_NUM_THREADS wins. Counted in a fresh process, where the renderer is made by the camera thread."""
    env = {k: v for k, v in os.environ.items() if k != "LP_NUM_THREADS"}
    if preset is not None:
        env["LP_NUM_THREADS"] = preset
    result = subprocess.run(
        [sys.executable, "-c", _COUNT_RASTER_THREADS],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parents[2],
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    value, threads = result.stdout.split()
    assert value == expected
    if int(threads):  # 0: a GPU's EGL or a Mesa without llvmpipe threads, which ignore the setting
        assert int(threads) == int(expected)


def test_render_threads_must_be_a_small_count_or_null() -> None:
    with pytest.raises(ValueError, match="sim.render_threads"):
        SimConfig(render_threads=-1)
    assert SimConfig(render_threads=None).render_threads is None


def test_the_link_declares_its_clock() -> None:
    """In simulated time the link is the clock the control loop runs on; in real time the wall clock is."""
    simulated = SimLink(sim_config())
    assert simulated.simulated_time() is simulated
    realtime = SimLink(sim_config(realtime=True))
    assert realtime.simulated_time() is None
