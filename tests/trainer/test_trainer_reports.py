"""`Validation`: the flat names metrics.jsonl and TensorBoard keep, and each best metric's direction."""

from __future__ import annotations

from trainer.reports import Validation


def _validation(loss: float, within_01: float, accuracy: float | None = None) -> Validation:
    return Validation(
        loss=loss,
        mse=0.5,
        accuracy=accuracy,
        accuracy_all={0.1: within_01, 0.3: 0.9},
        mae={"linear_x": 0.2, "linear_y": 0.3},
    )


def test_record_keeps_the_names_and_order_of_the_metrics_log() -> None:
    assert list(_validation(1.0, 0.4).record().items()) == [
        ("val_loss", 1.0),
        ("val_mse", 0.5),
        ("val_accuracy_0.1", 0.4),
        ("val_accuracy_0.3", 0.9),
        ("val_mae_linear_x", 0.2),
        ("val_mae_linear_y", 0.3),
    ]
    assert list(_validation(1.0, 0.4, accuracy=0.7).record())[2] == "val_accuracy"


def test_score_is_lower_for_the_better_validation_of_either_metric() -> None:
    worse, better = _validation(2.0, 0.3), _validation(1.0, 0.6)
    for metric in ("val_loss", "val_accuracy_0.1"):
        assert better.score(metric) < worse.score(metric)
