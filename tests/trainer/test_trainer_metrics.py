"""Offline metrics against values worked out by hand on small arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainer.metrics import compute, key_name, per_group

# Three steps, two axes. Errors: x [0.1, 0.25, 0.0], y [0.5, 0.0, 0.15].
PRED = np.array([[1.05, 0.5], [0.9, 0.0], [0.0, -1.0]])
TRUE = np.array([[1.15, 0.0], [1.15, 0.0], [0.0, -1.15]])


def test_mae_rmse_and_accuracies_by_hand() -> None:
    m = compute(PRED, TRUE)
    x, y = m.axes["linear_x"], m.axes["linear_y"]
    assert x.mae == pytest.approx((0.1 + 0.25 + 0.0) / 3)
    assert y.mae == pytest.approx((0.5 + 0.0 + 0.15) / 3)
    assert x.rmse == pytest.approx(math.sqrt((0.01 + 0.0625 + 0.0) / 3))
    assert y.rmse == pytest.approx(math.sqrt((0.25 + 0.0 + 0.0225) / 3))
    # |err| <= t: x 0.1, 0.25, 0 ; y 0.5, 0, 0.15
    assert x.accuracy == pytest.approx({0.3: 1.0, 0.2: 2 / 3, 0.15: 2 / 3, 0.1: 2 / 3})
    assert y.accuracy == pytest.approx({0.3: 2 / 3, 0.2: 2 / 3, 0.15: 2 / 3, 0.1: 1 / 3})
    # every axis at once: step 0 (y 0.5) fails all, step 1 (x 0.25) passes 0.3 only, step 2 (y 0.15)
    assert m.accuracy_all == pytest.approx({0.3: 2 / 3, 0.2: 1 / 3, 0.15: 1 / 3, 0.1: 0.0})
    assert m.steps == 3


def test_r2_and_pearson_by_hand() -> None:
    m = compute(PRED, TRUE)
    a = TRUE[:, 0]
    ss_res = 0.01 + 0.0625 + 0.0
    ss_tot = float(((a - a.mean()) ** 2).sum())  # mean 0.7667: 0.1469 + 0.1469 + 0.5878
    assert m.axes["linear_x"].r2 == pytest.approx(1 - ss_res / ss_tot)
    p = PRED[:, 0]
    cov = ((p - p.mean()) * (a - a.mean())).sum()
    r = cov / math.sqrt(((p - p.mean()) ** 2).sum() * ((a - a.mean()) ** 2).sum())
    assert m.axes["linear_x"].pearson == pytest.approx(r)
    # A constant axis has no R² nor correlation.
    flat = compute(np.array([[0.1], [0.2]]), np.array([[0.0], [0.0]]))
    assert flat.axes["linear_x"].r2 is None and flat.axes["linear_x"].pearson is None


def test_direction_accuracy_uses_a_dead_zone() -> None:
    # Directions (dead zone 0.1): x pred +,+,0 vs true +,+,0 -> 3/3; y pred +,0,- vs true 0,0,- -> 2/3
    m = compute(PRED, TRUE)
    assert m.axes["linear_x"].sign_accuracy == 1.0
    assert m.axes["linear_y"].sign_accuracy == pytest.approx(2 / 3)
    # 0.05 is "no motion": the same direction as 0
    assert compute(np.array([[0.05]]), np.array([[0.0]])).axes["linear_x"].sign_accuracy == 1.0


def test_per_key_confusion_and_groups() -> None:
    name = key_name
    pred = np.array([[1.15, 0, 0], [0, 1.15, 0], [0, 0, 0], [0, -1.15, 0]])
    true = np.array([[1.15, 0, 0], [1.15, 0, 0], [0, 0, 0], [0, -1.15, 0]])
    groups = per_group(pred, true, ["left", "left", "right", "right"], name)
    assert list(groups) == ["left", "right", "all"]
    assert groups["all"].confusion == {"w": {"w": 1, "a": 1}, "stop": {"stop": 1}, "d": {"d": 1}}
    assert groups["left"].confusion == {"w": {"w": 1, "a": 1}}
    assert groups["right"].accuracy_all[0.1] == 1.0
    assert name(np.array([0.6, 0.6, 0.0])) == "other"


def test_shapes_must_agree() -> None:
    with pytest.raises(ValueError, match="same"):
        compute(np.zeros((2, 3)), np.zeros((3, 3)))
