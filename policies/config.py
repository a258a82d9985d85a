"""The config fields every policy shares, and the shared LSTM head built from them.

A policy's config is a dataclass that subclasses `PolicyConfig` and adds its own fields (each with a
default, as dataclass inheritance requires). The shared fields are what the runtime, the trainer and
the checkpoint rely on:

- `window`: frames the LSTM head sees (8);
- `fwd_pred_next_n`: actions predicted per chunk (10);
- `action_dim`: 2 (`linear_x, linear_y`) or 3 (`linear_x, linear_y, angular_z`);
- `loss`: "huber" or "mse" over the chunk;
- `predicts_stop`: trained with stop targets after its successful episodes (`mvla train` sets it with
  `data.stop_targets`): its chunk says where an episode ends, and the runtime honours that (below);
- `head`: the LSTM head (`HeadConfig`): its sizes, and what it predicts: `regression` (a value per
  axis in [-1, 1], tanh) or `discrete` (one class per key present in the data, each class the
  normalised action of that key; the trainer fills `classes` and `class_weights` from the data). A
  discrete head is trained with a masked, class-weighted cross-entropy; at run time the action is the
  most probable class (x the normalisation scale: 1.15 for a key), chunks are ensembled by averaging
  probabilities, and a step whose top probability is below `hold_threshold` holds (a zero action).

A policy YAML file names its policy with a top-level `policy:` key followed by these fields; the
registry (`policies.registry`) reads it. This module must not import torch at module level, so that
configs can be read (and validated) before a model is loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

if TYPE_CHECKING:
    from policies.action_head import LSTMActionHead


HeadKind = Literal["regression", "discrete"]
C = TypeVar("C", bound="PolicyConfig")


@dataclass
class HeadConfig:
    """The LSTM action head (RoboVLMs' LSTM decoder): sizes and output kind."""

    hidden: int = 512
    layers: int = 1
    dropout: float = 0.0
    kind: HeadKind = "regression"
    # discrete: the normalised action of each class (one per key in the data, the zero action among
    # them), filled by the trainer from the training split
    classes: tuple[tuple[float, ...], ...] = ()
    class_weights: tuple[float, ...] = ()  # discrete: loss weight per class (rare keys weigh more)
    hold_threshold: float = 0.0  # discrete: below this top probability a step holds (zero action)

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"head.hidden and head.layers must be >= 1, got {self.hidden}, {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"head.dropout must be in [0, 1), got {self.dropout}")
        if self.kind not in ("regression", "discrete"):
            raise ValueError(f"head.kind {self.kind!r}: use regression or discrete")
        if not 0.0 <= self.hold_threshold < 1.0:
            raise ValueError(f"head.hold_threshold must be in [0, 1), got {self.hold_threshold}")
        if self.kind == "regression":
            if self.classes or self.class_weights:
                raise ValueError("head.classes and head.class_weights are for head.kind discrete only")
            return
        if len(self.classes) < 2:
            raise ValueError(
                "head.kind discrete needs head.classes (at least 2 normalised actions); "
                "mvla train fills them from the data"
            )
        if len({tuple(c) for c in self.classes}) != len(self.classes):
            raise ValueError("head.classes lists an action twice")
        for c in self.classes:
            if not all(math.isfinite(v) and -1.0 <= v <= 1.0 for v in c):
                raise ValueError(f"head.classes: {list(c)} is not a normalised action in [-1, 1]")
        if self.class_weights and (
            len(self.class_weights) != len(self.classes)
            or not all(math.isfinite(w) and w > 0 for w in self.class_weights)
        ):
            raise ValueError(
                f"head.class_weights needs one positive weight per class ({len(self.classes)}), "
                f"got {list(self.class_weights)}"
            )


@dataclass
class PolicyConfig:
    """Fields shared by every policy config; subclass it and add the model's own fields."""

    window: int = 8
    fwd_pred_next_n: int = 10
    action_dim: int = 3
    loss: Literal["huber", "mse"] = "huber"
    head: HeadConfig = field(default_factory=HeadConfig)
    # Trained with stop targets: when the chunk of the previous step predicted a stop for this step,
    # the runtime stops here (policies/execution.py, "Stopping")
    predicts_stop: bool = False

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.fwd_pred_next_n < 1:
            raise ValueError(f"fwd_pred_next_n must be >= 1, got {self.fwd_pred_next_n}")
        if self.action_dim not in (2, 3):
            raise ValueError(f"action_dim must be 2 or 3, got {self.action_dim}")
        bad = [c for c in self.head.classes if len(c) != self.action_dim]
        if bad:
            raise ValueError(
                f"head.classes: {list(bad[0])} has {len(bad[0])} values, action_dim is {self.action_dim}"
            )

    def with_gradient_checkpointing(self: C, enabled: bool) -> C:
        """This config with its backbone's gradient checkpointing set to `enabled` (the train config's
        `gradient_checkpointing` override). A policy without a pretrained backbone has none: as is."""
        return self


def build_head(config: PolicyConfig, in_dim: int) -> LSTMActionHead:
    """The shared LSTM head for a policy whose frame features have `in_dim` values."""
    from policies.action_head import LSTMActionHead

    discrete = config.head.kind == "discrete"
    return LSTMActionHead(
        in_dim,
        hidden=config.head.hidden,
        layers=config.head.layers,
        horizon=config.fwd_pred_next_n,
        action_dim=config.action_dim,
        dropout=config.head.dropout,
        classes=len(config.head.classes) if discrete else 0,
    )
