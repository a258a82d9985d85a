"""The LSTM action head every policy shares: a window of frame features in, a chunk of actions out.

RoboVLMs' LSTM decoder: an LSTM over the window of per-frame features, then an MLP that predicts
`horizon` future actions. Regression (`classes == 0`): `action_dim` values per action, tanh, normalised
to [-1, 1]. Discrete (`classes > 0`): one logit per class per action; the classes are normalised
action vectors (one per key in the data), held by the policy, not here. The LSTM is causal, so the
chunk at step t sees only frames up to t (the runtime relies on this).
"""

from __future__ import annotations

import torch
from torch import nn


class LSTMActionHead(nn.Module):
    def __init__(
        self,
        in_dim: int,
        hidden: int = 512,
        layers: int = 1,
        horizon: int = 10,
        action_dim: int = 3,
        dropout: float = 0.0,
        classes: int = 0,
    ) -> None:
        super().__init__()
        self.horizon = horizon
        self.action_dim = action_dim
        self.classes = classes
        self.lstm = nn.LSTM(
            in_dim, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        width = classes if classes else action_dim
        self.mlp = nn.Sequential(
            nn.Linear(hidden, hidden),
            nn.GELU(),
            nn.Linear(hidden, horizon * width),
            *([] if classes else [nn.Tanh()]),
        )

    @property
    def out_width(self) -> int:
        return self.classes if self.classes else self.action_dim

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, in_dim) -> (B, T, horizon, action_dim) in [-1, 1], or (B, T, horizon, classes) logits."""
        out, _ = self.lstm(features)  # (B, T, hidden)
        chunk = self.mlp(out)  # (B, T, horizon * width)
        return chunk.unflatten(-1, (self.horizon, self.out_width))
