"""The `Policy` interface every model implements, and the chunk loss they share.

A policy sees a window of frames and an instruction and predicts a chunk of future actions:
- `encode_instruction(instructions)` turns English into whatever the frame encoder needs (cached by
  the runtime between resets);
- `encode_frame(pixels, text)` is the expensive per-frame part: (B, 3, H, W) -> (B, D) features;
- `decode_steps(features)` turns a window of features (B, T, D) into one chunk per step, each seeing
  only the steps up to it: the head's output (B, T, horizon, W), normalised actions in [-1, 1]
  (W = action_dim) for a regression head, logits over `config.head.classes` for a discrete one;
  `decode(features)` is the chunk of the last step, which is what the runtime executes.
  `output_actions` turns an output into normalised actions (the most probable class, or "hold" when
  it is not probable enough), `output_values` into what may be averaged across chunks (the actions,
  or the class probabilities).
`preprocess` is the one function that turns RGB uint8 frames into model input; the training collate
and the runtime both call it, so train/serve skew cannot creep in.

`forward(batch)` takes a `policies.batch.Batch` of whole episodes: it encodes every frame once (or
takes the cached features of a frozen frame encoder), gathers them into the batch's windows and decodes
those, so a frame shared by up to `window` windows is encoded once per step, not once per window.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

import numpy as np
import torch
from torch import nn

from policies.config import PolicyConfig
from policies.packed import unpack_linears

if TYPE_CHECKING:
    from policies.batch import Batch

TextT = TypeVar("TextT")  # what a policy's `encode_instruction` returns and its `encode_frame` reads
P = TypeVar("P", bound="Policy")  # `train` returns the policy's own type, as nn.Module.train does


@dataclass(frozen=True)
class StepOutput:
    """What `Policy.forward` (and `head_loss`) returns for a batch: the loss to backpropagate and what
    the trainer reports beside it, each a scalar tensor."""

    loss: torch.Tensor  # the training objective (Huber / MSE, or weighted cross-entropy)
    mse: torch.Tensor  # detached: mean squared error of the (most probable) normalised actions
    accuracy: torch.Tensor | None = None  # discrete head: fraction of unmasked targets classed right


class Policy(nn.Module, abc.ABC, Generic[TextT]):
    """See the module docstring. `TextT` is the policy's instruction encoding: opaque to the runtime,
    which only hands what `encode_instruction` returned to `encode_frame`."""

    name: str  # the registered name (a class attribute; an exported policy sets the one it runs)
    config: PolicyConfig  # a concrete policy narrows it to its own config class
    head: nn.Module  # the action head (`policies.config.build_head`), which `decode_steps` runs
    head_classes: torch.Tensor  # buffers: see __init__
    head_class_weights: torch.Tensor

    def __init__(self, config: PolicyConfig) -> None:
        super().__init__()
        self.config = config
        self._checkpoint_keys: frozenset[str] | None = None
        classes = torch.tensor(config.head.classes, dtype=torch.float32).reshape(-1, config.action_dim)
        self.register_buffer("head_classes", classes, persistent=False)  # (C, A); empty for regression
        weights = torch.tensor(config.head.class_weights or [1.0] * len(classes), dtype=torch.float32)
        self.register_buffer("head_class_weights", weights, persistent=False)  # (C,)

    def train(self: P, mode: bool = True) -> P:
        """Layers a runtime packed for the CPU (`policies.packed`) have no parameters: unpacked here, so a
        policy put back in training mode trains (and saves) plain layers."""
        if mode:
            unpack_linears(self)
        return super().train(mode)

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

    def forget_unseen_instructions(self, instructions: Iterable[str]) -> int:
        """Reset to zero the text parameters that none of `instructions` (every instruction training could
        show) reaches, and return how many rows were reset; the trainer calls it before it writes a policy
        checkpoint. Only encoders with per-word parameters have any (the compact policy's hashed-word
        buckets): an untrained bucket keeps its random initial vector, so an unseen word in an operator's
        instruction would add noise to the instruction's feature; at zero it only dilutes the mean."""
        return 0

    def execution_note(self) -> str:
        """How this policy computes when it is not torch modules on the runtime's device (an exported
        policy: "onnx runtime: fp16 graphs (...)"); empty for a torch policy. `PolicyRuntime.describe`
        shows it instead of the torch device and precision."""
        return ""

    @property
    def window(self) -> int:
        return self.config.window

    @property
    def horizon(self) -> int:
        return self.config.fwd_pred_next_n

    @property
    def action_dim(self) -> int:
        return self.config.action_dim

    @property
    def head_kind(self) -> str:
        """ "regression" or "discrete" (`policies.config.HeadConfig.kind`)."""
        return self.config.head.kind

    def frame_encoder_frozen(self) -> bool:
        """True when no trainable parameter shapes a frame's features (everything but `self.head` is
        frozen): then the features of a frame and instruction never change during training and may be
        computed once and cached (`trainer.features`)."""
        head = {id(p) for p in self.head.parameters()}
        return not any(p.requires_grad for p in self.parameters() if id(p) not in head)

    def feature_identity(self) -> str:
        """What a cached frame feature depends on besides the frame and the instruction: the
        pretrained weights (`backbone_identity`), the config (preprocessing, sizes) and the values of
        the stored weights outside the head (for a model without a backbone, its whole encoder).
        Cache keys include it."""
        import hashlib

        digest = hashlib.sha256(self.name.encode())
        digest.update(repr(sorted(self.backbone_identity().items())).encode())
        digest.update(repr(self.config).encode())
        for key, value in sorted(self.trainable_state_dict().items()):
            if not key.startswith("head."):
                digest.update(key.encode())
                digest.update(value.detach().float().cpu().numpy().tobytes())
        return digest.hexdigest()[:24]

    @abc.abstractmethod
    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> float pixels (..., 3, h, w) as the frame encoder wants them."""

    @abc.abstractmethod
    def encode_instruction(self, instructions: list[str]) -> TextT:
        """Tokenised / embedded instructions for a batch, on this module's device."""

    @abc.abstractmethod
    def encode_frame(self, pixels: torch.Tensor, text: TextT) -> torch.Tensor:
        """(B, 3, h, w) pixels + instruction encoding -> (B, D) frame features."""

    @abc.abstractmethod
    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) window of features -> (B, T, horizon, W) head output (see the module docstring),
        causal: step t's chunk sees only steps up to t."""

    def decode(self, features: torch.Tensor) -> torch.Tensor:
        """(B, T, D) window of features -> (B, horizon, W): the head's chunk after the last frame."""
        return self.decode_steps(features)[:, -1]

    def instruction_for_frames(self, instructions: list[str], frame_episode: torch.Tensor) -> TextT:
        """The instruction encoding of every frame: `instructions[frame_episode[i]]` for frame i."""
        return self.encode_instruction([instructions[i] for i in frame_episode.tolist()])

    def frame_features(self, batch: Batch) -> torch.Tensor:
        """(F, D) features of every frame of the batch, each encoded once (or the cached ones)."""
        if batch.features is not None:
            return batch.features
        assert batch.pixels is not None  # a batch holds pixels or features (`Batch.__post_init__`)
        text = self.instruction_for_frames(batch.instructions, batch.frame_episode)
        return self.encode_frame(batch.pixels, text)

    # ---- what the head's output means ------------------------------------------------------------

    def output_values(self, output: torch.Tensor) -> torch.Tensor:
        """What chunks average (ensembling) and precision checks compare: the normalised actions of a
        regression head, the class probabilities of a discrete one, (..., W)."""
        if self.head_kind == "discrete":
            return torch.softmax(output.float(), dim=-1)
        return output

    def values_to_actions(self, values: torch.Tensor) -> torch.Tensor:
        """`output_values` (possibly averaged) -> normalised actions (..., action_dim): for a discrete
        head the action of the most probable class, or zeros ("hold") when its probability is below
        `head.hold_threshold`."""
        if self.head_kind != "discrete":
            return values
        top, index = values.max(dim=-1)
        actions = self.head_classes.to(values.device, torch.float32)[index]
        hold = (top < self.config.head.hold_threshold).unsqueeze(-1)
        return torch.where(hold, torch.zeros_like(actions), actions)

    def output_actions(self, output: torch.Tensor) -> torch.Tensor:
        """Head output (..., W) -> normalised actions (..., action_dim)."""
        return self.values_to_actions(self.output_values(output))

    def target_classes(self, actions: torch.Tensor) -> torch.Tensor:
        """Normalised target actions (..., A) -> index of the nearest class (...,), discrete heads only."""
        classes = self.head_classes.to(actions.device, torch.float32)  # (C, A)
        distance = (actions.float().unsqueeze(-2) - classes).square().sum(-1)  # (..., C)
        return distance.argmin(dim=-1)

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """The weights a checkpoint stores: the parameters that were trainable when the policy was
        built (`record_checkpoint_keys`), whatever their `requires_grad` is now; no buffers. Frozen
        backbones are referenced by source and identity, not stored."""
        if self._checkpoint_keys is None:
            raise RuntimeError(f"{type(self).__name__}.__init__ must end with record_checkpoint_keys()")
        return {k: v for k, v in self.state_dict().items() if k in self._checkpoint_keys}

    def forward(self, batch: Batch) -> StepOutput:
        """Training step on a batch of whole episodes (`policies.batch.Batch`).

        Every frame is encoded once (`frame_features`), the features are gathered into the batch's
        windows (K, T, D) and decoded; the loss covers every step of every window against its chunk
        targets, ignoring masked ones (`StepOutput`: loss, mse, and accuracy for a discrete head)."""
        feats = self.frame_features(batch)  # (F, D)
        index = batch.windows.clamp_min(0)  # (K, T); padding reads frame 0, its targets are masked
        windows = feats[index]  # (K, T, D)
        live = (batch.windows >= 0).unsqueeze(-1).to(windows.dtype)
        output = self.decode_steps(windows * live)  # (K, T, n, W); causal: padding at the end is inert
        return self.head_loss(output, batch.actions, batch.mask, batch.weights)

    def head_loss(
        self,
        output: torch.Tensor,
        actions: torch.Tensor,
        mask: torch.Tensor,
        weights: torch.Tensor | None = None,
    ) -> StepOutput:
        """The loss of a head output (..., n, W) against normalised targets (..., n, A) and mask (..., n),
        each target weighted by `weights` (..., n) when given (`Batch.weights`)."""
        if self.head_kind == "discrete":
            return discrete_loss(
                output,
                self.target_classes(actions),
                mask,
                self.head_class_weights,
                self.values_to_actions(self.output_values(output.detach())),
                actions,
                weights,
            )
        return chunk_loss(output, actions, mask, self.config.loss, weights)


def _target_weights(mask: torch.Tensor, weights: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(m, w) in float32: the mask as 0/1 and the weight of each target (the mask when no weights are
    given, so an unweighted loss is computed exactly as before weights existed)."""
    m = mask.to(torch.float32)
    return m, m if weights is None else m * weights.to(torch.float32)


def chunk_loss(
    pred: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kind: str,
    weights: torch.Tensor | None = None,
) -> StepOutput:
    """Huber or MSE over a chunk, ignoring masked (past-the-end) steps; computed in float32.

    With `weights` (..., n) the loss is the weighted mean over the unmasked targets, sum(per * w) /
    sum(w): a target of weight 0 counts exactly as a masked one, a weight of 2 counts twice. The
    reported `mse` stays the plain mean over the unmasked targets."""
    # float32: in bf16 a count of 1001 rounds to 1000, in fp16 counts above 65504 overflow.
    m, w = _target_weights(mask, weights)
    m, w = m.unsqueeze(-1), w.unsqueeze(-1)  # (..., n, 1)
    denom = (m.sum() * pred.shape[-1]).clamp_min(1.0)
    # A weight sum may be below 1 (weights of 0.5): clamp only against division by zero.
    wdenom = denom if weights is None else (w.sum() * pred.shape[-1]).clamp_min(1e-12)
    err = pred.float() - target.float()
    if kind == "huber":
        per = nn.functional.huber_loss(pred.float(), target.float(), reduction="none", delta=1.0)
    elif kind == "mse":
        per = err.square()
    else:
        raise ValueError(f"unknown loss {kind!r}: use 'huber' or 'mse'")
    loss = (per * w).sum() / wdenom
    mse = (err.square() * m).sum() / denom
    return StepOutput(loss, mse.detach())


def discrete_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    weights: torch.Tensor,
    predicted: torch.Tensor,
    actions: torch.Tensor,
    target_weights: torch.Tensor | None = None,
) -> StepOutput:
    """Class-weighted cross-entropy over a chunk, ignoring masked steps; float32.

    logits (..., n, C), target (..., n) class indices, mask (..., n), weights (C,): a rare key's
    error costs more. The loss is the weighted sum over unmasked targets divided by their count, or,
    with `target_weights` (..., n), by the sum of those weights (sum(per * w) / sum(w), as `chunk_loss`).
    `predicted` and `actions` (..., n, A) give the reported "mse" of the most probable actions; it and
    the accuracy are plain means over the unmasked targets."""
    m, w = _target_weights(mask, target_weights)
    count = m.sum().clamp_min(1.0)
    wcount = count if target_weights is None else w.sum().clamp_min(1e-12)
    per = nn.functional.cross_entropy(
        logits.float().flatten(0, -2), target.flatten(), weight=weights.float(), reduction="none"
    ).view_as(m)
    loss = (per * w).sum() / wcount
    right = (logits.detach().argmax(-1) == target).to(torch.float32)
    mse = ((predicted.float() - actions.float()).square().mean(-1) * m).sum() / count
    return StepOutput(loss, mse.detach(), (right * m).sum() / count)
