"""The `Policy` interface every model implements, and the chunk loss they share.

A policy sees a window of frames and an instruction and predicts a chunk of future actions:
- `encode_instruction(instructions)` turns English into whatever the frame encoder needs (cached by
  the runtime between resets);
- `encode_frame(pixels, text)` is the expensive per-frame part: (B, 3, H, W) -> (B, D) features;
- `decode_steps(features)` turns a window of features (B, T, D) into one chunk per step
  (B, T, horizon, action_dim) of normalised actions in [-1, 1], each seeing only the steps up to it;
  `decode(features)` is the chunk of the last step, which is what the runtime executes.
`preprocess` is the one function that turns RGB uint8 frames into model input; the training collate
and the runtime both call it, so train/serve skew cannot creep in.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn


class Policy(nn.Module, abc.ABC):
    name: ClassVar[str]

    def __init__(self, config: Any) -> None:
        super().__init__()
        self.config = config
        self._checkpoint_keys: frozenset[str] | None = None

    def record_checkpoint_keys(self) -> None:
        """Fix the checkpoint's key set: the parameters trainable now, at the end of construction,
        where the config's mode alone has set `requires_grad`. Every concrete policy calls it last in
        `__init__`, so freezing the model later (evaluation, a staged schedule) cannot change what a
        checkpoint holds and write one that never loads."""
        self._checkpoint_keys = frozenset(n for n, p in self.named_parameters() if p.requires_grad)

    def backbone_identity(self) -> dict[str, str]:
        """Which pretrained weights this policy was built on, by role (e.g. {"backbone": ...}); a
        checkpoint records it and refuses to load on other weights. Empty for a model without one."""
        return {}

    @property
    def window(self) -> int:
        return self.config.window

    @property
    def horizon(self) -> int:
        return self.config.fwd_pred_next_n

    @property
    def action_dim(self) -> int:
        return self.config.action_dim

    @abc.abstractmethod
    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> float pixels (..., 3, h, w) as the frame encoder wants them."""

    @abc.abstractmethod
    def encode_instruction(self, instructions: list[str]) -> Any:
        """Tokenised / embedded instructions for a batch, on this module's device."""

    @abc.abstractmethod
    def encode_frame(self, pixels: torch.Tensor, text: Any) -> torch.Tensor:
        """(B, 3, h, w) pixels + instruction encoding -> (B, D) frame features."""

    @abc.abstractmethod
    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) window of features -> (B, T, horizon, action_dim), causal, in [-1, 1]."""

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) window of features -> (B, horizon, action_dim): the chunk after the last frame."""
        return self.decode_steps(features)[:, -1]

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint stores: the parameters that were trainable when the policy was
        built (`record_checkpoint_keys`), whatever their `requires_grad` is now; no buffers. Frozen
        backbones are referenced by source and identity, not stored."""
        if self._checkpoint_keys is None:
            raise RuntimeError(f"{type(self).__name__}.__init__ must end with record_checkpoint_keys()")
        return {k: v for k, v in self.state_dict().items() if k in self._checkpoint_keys}

    def forward(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """Training step on a batch of windows.

        batch["pixels"]: (B, T, 3, h, w) from `preprocess`; batch["instructions"]: list of B str;
        batch["actions"]: (B, T, horizon, action_dim) normalised targets for every step of the window;
        batch["mask"]: (B, T, horizon) bool, False past an episode's end.
        Returns {"loss": scalar, "mse": scalar} with the loss averaged over unmasked targets.
        """
        pixels = batch["pixels"]
        b, t = pixels.shape[:2]
        text = self.encode_instruction(_repeat(batch["instructions"], t))
        feats = self.encode_frame(pixels.flatten(0, 1), text).view(b, t, -1)  # (B, T, D)
        preds = self.decode_steps(feats)  # (B, T, n, A)
        return chunk_loss(preds, batch["actions"], batch["mask"], self.config.loss)


def chunk_loss(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str
) -> dict[str, torch.Tensor]:
    """Huber or MSE over a chunk, ignoring masked (past-the-end) steps; computed in float32."""
    # float32: in bf16 a count of 1001 rounds to 1000, in fp16 counts above 65504 overflow.
    m = mask.unsqueeze(-1).to(torch.float32)  # (..., n, 1)
    denom = (m.sum() * pred.shape[-1]).clamp_min(1.0)
    err = pred.float() - target.float()
    if kind == "huber":
        per = nn.functional.huber_loss(pred.float(), target.float(), reduction="none", delta=1.0)
    elif kind == "mse":
        per = err.square()
    else:
        raise ValueError(f"unknown loss {kind!r}: use 'huber' or 'mse'")
    loss = (per * m).sum() / denom
    mse = (err.square() * m).sum() / denom
    return {"loss": loss, "mse": mse.detach()}


def _repeat(items: list[str], times: int) -> list[str]:
    return [s for s in items for _ in range(times)]
