"""What the training loop reports: a `Validation` after each pass over the validation episodes, and a
`Progress` after every optimiser step (what `mvla train`'s progress bar shows).

`Validation.record()` gives the flat `val_*` names that `metrics.jsonl`, TensorBoard (`val/<name>`) and
the summary of `mvla train` have always used, and, when the held-out episodes hold steps an operator
drove in place of a policy (intervention episodes), `val_operator_*`: the same offline metrics on those
steps alone, which tell whether the policy now does what the person had to do for it; `Validation.score(metric)` states each best-checkpoint
metric's direction (the loss falls, an accuracy rises) instead of guessing it from its name. This module
must not import textual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from policies.base import Policy
from policies.normalisation import ActionNormalisation
from trainer.config import BestMetric
from trainer.data import episode_steps
from trainer.index import EpisodeRecord
from trainer.metrics import compute, threshold_names
from trainer.offline import predict

VALIDATION_THRESHOLDS = (0.1, 0.3)  # key units: the every-axis accuracies a validation reports


@dataclass(frozen=True)
class OperatorSteps:
    """Offline metrics of the validation steps an operator drove (a takeover's corrections), key units."""

    steps: int
    accuracy_all: dict[float, float]  # threshold -> fraction of those steps with every axis within it
    mae: dict[str, float]  # axis name -> mean absolute error


@dataclass(frozen=True)
class Validation:
    """The validation episodes' window-weighted loss terms and offline metrics, in key units."""

    loss: float
    mse: float
    accuracy: float | None  # discrete head: fraction of targets whose most probable class is right
    accuracy_all: dict[float, float]  # threshold -> fraction of steps with every axis within it
    mae: dict[str, float]  # axis name -> mean absolute error
    operator: OperatorSteps | None = None  # the operator's steps of held-out intervention episodes

    def record(self) -> dict[str, float]:
        """{"val_loss", "val_mse", ["val_accuracy"], "val_accuracy_0.1", ..., "val_mae_<axis>", ...}, then
        with operator steps {"val_operator_steps", "val_operator_accuracy_0.1", ..., "val_operator_mae_<axis>"}."""
        out = {"val_loss": self.loss, "val_mse": self.mse}
        if self.accuracy is not None:
            out["val_accuracy"] = self.accuracy
        out.update({f"val_accuracy_{t}": v for t, v in threshold_names(self.accuracy_all).items()})
        out.update({f"val_mae_{axis}": v for axis, v in self.mae.items()})
        if self.operator is not None:
            out["val_operator_steps"] = float(self.operator.steps)
            accuracy = threshold_names(self.operator.accuracy_all)
            out.update({f"val_operator_accuracy_{t}": v for t, v in accuracy.items()})
            out.update({f"val_operator_mae_{axis}": v for axis, v in self.operator.mae.items()})
        return out

    def score(self, metric: BestMetric) -> float:
        """`metric` as a score where lower is better: the loss as it is, an accuracy negated."""
        if metric == "val_loss":
            return self.loss
        return -self.accuracy_all[0.1]


@dataclass(frozen=True)
class Progress:
    """One optimiser step done."""

    step: int
    total: int  # steps the run is configured for
    loss: float  # of this step, summed over its accumulated batches
    lr: float
    samples_per_s: float | None  # windows per second over this call's steps; None before any time passed
    epoch: int
    validation: Validation | None = None  # when this step ran one


def validate(
    policy: Policy, episodes: Sequence[EpisodeRecord], norm: ActionNormalisation, device: torch.device
) -> Validation | None:
    """The `Validation` of `episodes`; None when there are none."""
    if not episodes:
        return None
    preds, losses = predict(policy, (episode_steps(r, norm) for r in episodes), norm, device)
    predicted = np.concatenate([p.predicted for p in preds])
    recorded = np.concatenate([p.recorded for p in preds])
    m = compute(predicted, recorded)
    # `predict` keeps the episodes' order: each record's sources line up with its predictions.
    by_operator = np.concatenate(
        [np.asarray(r.sources) == "operator" if r.sources else np.zeros(r.steps, bool) for r in episodes]
    )
    operator = None
    if by_operator.any():
        o = compute(predicted[by_operator], recorded[by_operator])
        operator = OperatorSteps(
            steps=o.steps,
            accuracy_all={t: o.accuracy_all[t] for t in VALIDATION_THRESHOLDS},
            mae={axis: a.mae for axis, a in o.axes.items()},
        )
    return Validation(
        loss=losses.loss,
        mse=losses.mse,
        accuracy=losses.accuracy,
        accuracy_all={t: m.accuracy_all[t] for t in VALIDATION_THRESHOLDS},
        mae={axis: a.mae for axis, a in m.axes.items()},
        operator=operator,
    )
