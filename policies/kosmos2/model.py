"""`Kosmos2Policy`: RoboVLMs' policy-head design on `transformers`' Kosmos-2.

For each frame, the image and the instruction go through Kosmos-2 as the processor lays them out
(`<s> <image> [64 resampled image features] </image> instruction`), followed by one learnable action
token; the language model's last hidden state at that token is the frame feature (B, D). The shared
LSTM head turns a window of frame features into a chunk of future actions. The backbone is frozen,
adapted with LoRA, or fully fine-tuned (`backbone.mode`); `trainable_state_dict()` is then the head
and the action token, plus the LoRA adapter, or plus every backbone weight.

`preprocess` resizes the whole frame to the vision tower's square input (a centre crop, as CLIP's
processor does, would cut off obstacles at the sides of a wide camera image) with an antialiased
bicubic filter, and normalises with the backbone's own pixel statistics. The instruction encoding
(token embeddings of the prompt with the action token in place) depends only on the instruction, so
the runtime computes it once per reset. This module must not import textual or h5py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from torch import nn

from policies.adapters import unmerge_adapters
from policies.base import Policy, TextT
from policies.config import build_head
from policies.kosmos2.backbone import Backbone, load_backbone
from policies.kosmos2.config import Kosmos2Config
from policies.kosmos2.prompt import IMAGE_START, PromptLayout


@dataclass(frozen=True)
class KosmosInstruction:
    """A batch of encoded prompts, everything but the image: (B, ...) with B = 1 or the frame count."""

    before_image: torch.Tensor  # (B, 2, D) embeddings of `<s> <image>`
    after_image: torch.Tensor  # (B, S, D) `</image>`, instruction, action token, padding
    attention_mask: torch.Tensor | None  # (B, 2 + Q + S) when rows are padded, else None
    action_index: torch.Tensor  # (B,) position of the action token in the full sequence

    def expand(self, n: int) -> KosmosInstruction:
        if self.before_image.shape[0] == n:
            return self
        if self.before_image.shape[0] != 1:
            raise ValueError(f"{self.before_image.shape[0]} instructions for {n} frames; give 1 or {n}")
        mask = None if self.attention_mask is None else self.attention_mask.expand(n, -1)
        return KosmosInstruction(
            self.before_image.expand(n, -1, -1),
            self.after_image.expand(n, -1, -1),
            mask,
            self.action_index.expand(n),
        )


K = TypeVar("K", bound="Kosmos2Base")


class Kosmos2Base(Policy[TextT]):
    """Everything of a Kosmos-2 policy but what its instruction encoding is: the backbone, the prompt,
    the action token and the head. `Kosmos2Policy` encodes with Kosmos-2 alone, `Kosmos2ClipPolicy`
    adds CLIP (`policies.kosmos2_clip`)."""

    config: Kosmos2Config

    def __init__(self, config: Kosmos2Config) -> None:
        super().__init__(config)
        parts: Backbone = load_backbone(config.backbone)
        self.backbone = parts.model
        self.image_mean, self.image_std = parts.image_mean, parts.image_std
        self.image_size = parts.image_size
        self._kosmos_dim = parts.text_dim
        self.prompt = PromptLayout(parts.tokenizer, self.backbone.config.latent_query_num, parts.where)
        # Zeros, as in RoboVLMs: the token starts as "no content" and learns what to ask for; its
        # position embedding and the context already make its hidden state informative.
        self.action_token = nn.Parameter(
            torch.zeros(self.kosmos_dim), requires_grad=config.train_action_token
        )
        self.head = build_head(config, self.head_in_dim())
        self._identity = {"backbone": parts.identity}
        self.record_checkpoint_keys()

    def backbone_identity(self) -> dict[str, str]:
        return dict(self._identity)

    def train(self: K, mode: bool = True) -> K:
        """A frozen backbone stays in eval mode (no dropout) while the rest trains: it computes the
        same features in training as at run time, which is also what makes them cacheable. LoRA adapters
        that a runtime folded into the backbone are unfolded again for training."""
        super().train(mode)
        if mode:
            unmerge_adapters(self.backbone)  # a runtime folded them (`policies.precision.hold`)
        if self.config.backbone.mode == "frozen":
            self.backbone.eval()
        return self

    @property
    def kosmos_dim(self) -> int:
        return self._kosmos_dim

    def head_in_dim(self) -> int:
        return self.kosmos_dim

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> float32 (..., 3, S, S), normalised; stays on the input's device."""
        return preprocess_frames(frames, self.image_size, self.image_mean, self.image_std)

    def kosmos_instruction(self, instructions: list[str]) -> KosmosInstruction:
        """The Kosmos-2 part of an instruction encoding: its prompt, embedded."""
        prompt = self.prompt.build(instructions, self.action_token.device)
        return self.embed_prompt(
            prompt.ids, prompt.action_index, prompt.attention_mask() if prompt.padded else None
        )

    def embed_prompt(
        self, ids: torch.Tensor, action_index: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> KosmosInstruction:
        """Token ids of prompts (B, L) (`PromptLayout.build`) -> their encoding, the action token in
        its slot; the part of `kosmos_instruction` after tokenisation (an export traces this)."""
        tokens = self.backbone.get_input_embeddings()(
            ids
        )  # (B, L, D), unscaled: the text model scales inputs_embeds itself
        slot = torch.arange(tokens.shape[1], device=tokens.device)[None, :] == action_index[:, None]
        tokens = torch.where(slot[..., None], self.action_token.to(tokens.dtype), tokens)
        q = self.prompt.latent_queries
        return KosmosInstruction(
            before_image=tokens[:, :IMAGE_START],
            after_image=tokens[:, IMAGE_START + q :],
            attention_mask=attention_mask,
            action_index=action_index,
        )

    def kosmos_features(self, pixels: torch.Tensor, text: KosmosInstruction) -> torch.Tensor:
        """(N, 3, S, S) pixels + prompt -> (N, D) hidden state at the action token."""
        n = pixels.shape[0]
        text = text.expand(n)
        dtype = text.after_image.dtype
        image = self.backbone.get_image_features(pixel_values=pixels.to(dtype), return_dict=True)
        sequence = torch.cat([text.before_image, image.pooler_output.to(dtype), text.after_image], dim=1)
        out = self.backbone.text_model(
            inputs_embeds=sequence, attention_mask=text.attention_mask, use_cache=False, return_dict=True
        ).last_hidden_state  # (N, L, D)
        return out[torch.arange(n, device=out.device), text.action_index]  # (N, D)

    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # (B, T, horizon, action_dim)


class Kosmos2Policy(Kosmos2Base[KosmosInstruction]):
    name = "kosmos2"

    def encode_instruction(self, instructions: list[str]) -> KosmosInstruction:
        return self.kosmos_instruction(instructions)

    def encode_frame(self, pixels: torch.Tensor, text: KosmosInstruction) -> torch.Tensor:
        return self.kosmos_features(pixels, text)


def preprocess_frames(
    frames: np.ndarray | torch.Tensor, size: int, mean: tuple[float, ...], std: tuple[float, ...]
) -> torch.Tensor:
    """RGB uint8 (..., H, W, 3) -> float32 (..., 3, size, size): the whole frame resized (antialiased
    bicubic) and normalised with `mean` and `std`; stays on the input's device. What
    `Kosmos2Policy.preprocess` and an exported Kosmos-2 policy (`policies.export`) compute."""
    x = torch.as_tensor(frames)
    if x.dtype != torch.uint8 or x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"expected RGB uint8 frames (..., H, W, 3), got {x.dtype} {tuple(x.shape)}")
    lead, (h, w) = x.shape[:-3], x.shape[-3:-1]
    s = size
    x = x.reshape(-1, h, w, 3).permute(0, 3, 1, 2).float()  # (N, 3, H, W) in [0, 255]
    if (h, w) != (s, s):
        x = nn.functional.interpolate(x, size=(s, s), mode="bicubic", antialias=True, align_corners=False)
        x = x.clamp(0.0, 255.0)  # bicubic overshoots at edges
    mean_t = torch.tensor(mean, device=x.device).view(3, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(3, 1, 1)
    x = (x / 255.0 - mean_t) / std_t
    return x.reshape(*lead, 3, s, s)
