"""Seeded layouts: the same seed gives the same scene, every scenario x distance builds, and the
geometry follows the scenario's meaning (boxes, orientation, distance, bias)."""

from __future__ import annotations

import dataclasses

import pytest

from configs import ConfigError
from mvla_tui.sim.config import SimConfig
from mvla_tui.sim.layout import BIASES, make_layout
from mvla_tui.sim.scene import scene_xml
from recorder.catalogue import load_catalogue

SCENARIOS = load_catalogue().ids
DISTANCES = load_catalogue().distances


def test_same_seed_same_layout_and_scene() -> None:
    a = make_layout("2box_left", "far", "right", seed=7)
    b = make_layout("2box_left", "far", "right", seed=7)
    assert a == b
    assert scene_xml(a, SimConfig(), 64, 64) == scene_xml(b, SimConfig(), 64, 64)


def test_other_seed_changes_positions_sizes_colours_and_look() -> None:
    a = make_layout("1box_right", "medium", "center", seed=1)
    b = make_layout("1box_right", "medium", "center", seed=2)
    assert a.boxes[0].center != b.boxes[0].center
    assert a.boxes[0].half_size != b.boxes[0].half_size
    assert a.boxes[0].rgba != b.boxes[0].rgba
    assert a.cup.center != b.cup.center
    assert a.look != b.look
    assert dataclasses.replace(a, seed=2) != b


def test_every_layout_has_the_boxes_orientation_and_side_its_catalogue_entry_names() -> None:
    catalogue = load_catalogue()
    for spec in catalogue.all_scenarios:
        layout = make_layout(spec.id)
        assert (layout.nbox, layout.orientation, layout.side) == (spec.boxes, spec.layout, spec.side)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_scenario_and_distance_builds_a_mujoco_model(scenario: str) -> None:
    from mvla_tui.sim.world import SimWorld

    for distance in DISTANCES:
        world = SimWorld(make_layout(scenario, distance, "center", seed=3), SimConfig(), 32, 32)
        pose = world.pose()
        assert (pose.x, pose.y, pose.yaw) == (0.0, 0.0, 0.0)
        assert world.result().collision is None


def test_geometry_follows_the_scenario() -> None:
    one = make_layout("1box_hori_left", seed=0)
    vert = make_layout("1box_vert_left", seed=0)
    two_hori = make_layout("2box_hori_left", seed=0)
    two_vert = make_layout("2box_vert_left", seed=0)
    assert len(one.boxes) == len(vert.boxes) == 1 and len(two_hori.boxes) == len(two_vert.boxes) == 2
    hx, hy, _ = one.boxes[0].half_size
    assert hy > hx, "a horizontal box is wider than deep"
    hx, hy, _ = vert.boxes[0].half_size
    assert hx > hy, "a vertical box is deeper than wide"
    a, b = two_hori.boxes
    assert abs(a.center[0] - b.center[0]) < 0.05 < abs(a.center[1] - b.center[1]), (
        "side by side across the path"
    )
    a, b = two_vert.boxes
    assert abs(a.center[1] - b.center[1]) < 0.05 < abs(a.center[0] - b.center[0]), "one behind the other"
    for layout in (one, vert, two_hori, two_vert):
        assert layout.cup.center[0] > layout.obstacle_x[1] + 0.5, "the cup stands behind the obstacle"


def test_distance_and_bias_move_the_obstacle() -> None:
    for seed in range(5):
        near = [make_layout("1box_left", d, "center", seed).obstacle_x[0] for d in DISTANCES]
        assert near[0] < near[1] < near[2]
        centre = [make_layout("1box_left", "medium", b, seed).obstacle_center_y for b in BIASES]
        assert centre[0] > centre[1] > centre[2], "left bias puts the obstacle on the robot's left (+y)"


def test_unknown_ids_are_one_line_errors() -> None:
    with pytest.raises(ConfigError, match="unknown scenario 'box_left'"):
        make_layout("box_left")
    with pytest.raises(ConfigError, match="unknown distance"):
        make_layout("1box_left", "near")
    with pytest.raises(ConfigError, match="unknown position bias"):
        make_layout("1box_left", "far", "middle")
