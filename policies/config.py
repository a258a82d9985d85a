"""The config fields every policy shares, and the shared LSTM head built from them.

A policy's config is a dataclass that subclasses `PolicyConfig` and adds its own fields (each with a
default, as dataclass inheritance requires). The shared fields are what the runtime, the trainer and
the checkpoint rely on:

- `window`: frames the LSTM head sees (8);
- `fwd_pred_next_n`: actions predicted per chunk (10);
- `action_dim`: 2 (`linear_x, linear_y`) or 3 (`linear_x, linear_y, angular_z`);
- `loss`: "huber" or "mse" over the chunk;
- `head`: the LSTM head sizes (`HeadConfig`).

A policy YAML file names its policy with a top-level `policy:` key followed by these fields; the
registry (`policies.registry`) reads it. This module must not import torch at module level, so that
configs can be read (and validated) before a model is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from policies.action_head import LSTMActionHead


@dataclass
class HeadConfig:
    """Sizes of the LSTM action head (RoboVLMs' LSTM decoder)."""

    hidden: int = 512
    layers: int = 1
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"head.hidden and head.layers must be >= 1, got {self.hidden}, {self.layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"head.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class PolicyConfig:
    """Fields shared by every policy config; subclass it and add the model's own fields."""

    window: int = 8
    fwd_pred_next_n: int = 10
    action_dim: int = 3
    loss: Literal["huber", "mse"] = "huber"
    head: HeadConfig = field(default_factory=HeadConfig)

    def __post_init__(self) -> None:
        if self.window < 1:
            raise ValueError(f"window must be >= 1, got {self.window}")
        if self.fwd_pred_next_n < 1:
            raise ValueError(f"fwd_pred_next_n must be >= 1, got {self.fwd_pred_next_n}")
        if self.action_dim not in (2, 3):
            raise ValueError(f"action_dim must be 2 or 3, got {self.action_dim}")


def build_head(config: PolicyConfig, in_dim: int) -> LSTMActionHead:
    """The shared LSTM head for a policy whose frame features have `in_dim` values."""
    from policies.action_head import LSTMActionHead

    return LSTMActionHead(
        in_dim,
        hidden=config.head.hidden,
        layers=config.head.layers,
        horizon=config.fwd_pred_next_n,
        action_dim=config.action_dim,
        dropout=config.head.dropout,
    )
