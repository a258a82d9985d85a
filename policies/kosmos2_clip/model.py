"""`Kosmos2ClipPolicy`: the Kosmos-2 policy whose frame feature is fused with CLIP image and text features.

Per frame: the Kosmos-2 action-token feature (as in `Kosmos2Policy`) and CLIP's projected image
embedding of the same pixels; per instruction: CLIP's projected text embedding, computed once with the
rest of the instruction encoding. `FeatureFusion` projects the three into the feature the LSTM head
reads. CLIP stays frozen in every backbone mode and is not part of `trainable_state_dict()`; the
fusion layer is. This module must not import textual or h5py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from transformers import CLIPModel

from policies import PolicyLoadError
from policies.kosmos2.backbone import (
    describe,
    load_hf_config,
    load_tokenizer,
    load_weights,
    pixel_stats,
    weights_identity,
)
from policies.kosmos2.model import Kosmos2Base, KosmosInstruction
from policies.kosmos2_clip.config import Kosmos2ClipConfig
from policies.kosmos2_clip.fusion import FeatureFusion


@dataclass(frozen=True)
class HybridInstruction:
    kosmos: KosmosInstruction
    clip_text: torch.Tensor  # (B, P) CLIP text embedding


class Kosmos2ClipPolicy(Kosmos2Base[HybridInstruction]):
    name = "kosmos2_clip"
    config: Kosmos2ClipConfig

    def __init__(self, config: Kosmos2ClipConfig) -> None:
        super().__init__(config)
        where = describe(config.clip.source, config.clip.revision, "clip.source")
        hf_config = load_hf_config(config.clip.source, config.clip.revision, where, "clip")
        loaded = load_weights(CLIPModel, config.clip.source, config.clip.revision, hf_config, where)
        self.clip = loaded.model
        self.clip.requires_grad_(False)
        self.clip_tokenizer = load_tokenizer(config.clip.source, config.clip.revision, where)
        mean, std = pixel_stats(config.clip.source, config.clip.revision, where)
        size = hf_config.vision_config.image_size
        same = all(
            math.isclose(a, b, rel_tol=1e-6)
            for a, b in zip(mean + std, self.image_mean + self.image_std, strict=True)
        )
        if size != self.image_size or not same:
            raise PolicyLoadError(
                f"{where}: expects {size}px images normalised with mean {list(mean)}, std {list(std)}, but "
                f"Kosmos-2 wants {self.image_size}px with {list(self.image_mean)}, {list(self.image_std)}; use a CLIP "
                "whose preprocessing matches"
            )
        self.clip_max_tokens = hf_config.text_config.max_position_embeddings
        self.fusion = FeatureFusion(self.kosmos_dim, hf_config.projection_dim, config.fusion_dim)
        self._identity["clip"] = weights_identity(
            config.clip.source, config.clip.revision, loaded.weights_format
        )
        self.record_checkpoint_keys()

    def train(self, mode: bool = True) -> Kosmos2ClipPolicy:
        super().train(mode)
        self.clip.eval()  # always frozen: no dropout, the same features as at run time
        return self

    def head_in_dim(self) -> int:
        return self.config.fusion_dim

    def encode_instruction(self, instructions: list[str]) -> HybridInstruction:
        # A training batch repeats each instruction for every frame of its window: encode each once.
        row_of = {s: i for i, s in enumerate(dict.fromkeys(instructions))}
        unique = list(row_of)
        tokens = self.clip_tokenizer(
            [s.strip() for s in unique],
            padding=True,
            truncation=True,
            max_length=self.clip_max_tokens,
            return_tensors="pt",
        ).to(self.clip.device)
        text = self.clip.get_text_features(**tokens, return_dict=True).pooler_output  # (U, P)
        rows = torch.tensor([row_of[s] for s in instructions], device=text.device)
        return HybridInstruction(self.kosmos_instruction(instructions), text[rows])  # (B, P)

    def encode_frame(self, pixels: torch.Tensor, text: HybridInstruction) -> torch.Tensor:
        n = pixels.shape[0]
        kosmos = self.kosmos_features(pixels, text.kosmos)  # (N, Dk)
        clip_pixels = pixels.to(self.clip.dtype)
        image = self.clip.get_image_features(
            pixel_values=clip_pixels, return_dict=True
        ).pooler_output  # (N, P)
        clip_text = text.clip_text.expand(n, -1) if text.clip_text.shape[0] == 1 else text.clip_text
        return self.fusion(kosmos, image.to(kosmos.dtype), clip_text.to(kosmos.dtype))  # (N, fusion_dim)
