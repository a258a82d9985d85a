"""`CompactPolicy`: CNN frame encoder + hashed-word instruction encoder, fused, + the shared LSTM head.

Small enough to train on a CPU in minutes; the simulator's default policy. It has no backbone to
download: a checkpoint stores every weight. Frames are resized here (`preprocess`), the one place
both training and the runtime turn camera images into model input.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from policies.base import Policy
from policies.compact.config import CompactConfig
from policies.compact.text import HashedTextEncoder
from policies.compact.vision import ConvEncoder
from policies.config import build_head

# Pixel statistics used to centre inputs; fixed (not learned) so old checkpoints stay valid.
_MEAN = 0.45
_STD = 0.25


class CompactPolicy(Policy):
    name: ClassVar[str] = "compact"
    config: CompactConfig

    def __init__(self, config: CompactConfig) -> None:
        super().__init__(config)
        self.vision = ConvEncoder(config.channels, config.feature_dim)
        self.text = HashedTextEncoder(config.text_buckets, config.text_dim, config.max_words)
        self.fuse = nn.Sequential(
            nn.Linear(config.feature_dim + config.text_dim, config.feature_dim),
            nn.SiLU(),
            nn.Linear(config.feature_dim, config.feature_dim),
        )
        self.head = build_head(config, config.feature_dim)
        self.record_checkpoint_keys()

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        x = torch.as_tensor(frames)
        if x.dtype != torch.uint8 or x.shape[-1] != 3:
            raise ValueError(f"expected RGB uint8 frames (..., H, W, 3), got {tuple(x.shape)} {x.dtype}")
        lead = x.shape[:-3]
        x = x.reshape(-1, *x.shape[-3:]).permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, H, W)
        size = (self.config.image_height, self.config.image_width)
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
        x = (x - _MEAN) / _STD
        return x.reshape(*lead, 3, *size)

    def encode_instruction(self, instructions: list[str]) -> torch.Tensor:
        """(B,) strings -> (B, text_dim)."""
        return self.text(self.text.tokenize(instructions))

    def encode_frame(self, pixels: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) + (B, text_dim) -> (B, feature_dim)."""
        image = self.vision(pixels)  # (B, feature_dim)
        return self.fuse(torch.cat([image, text.to(image.dtype)], dim=-1))

    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # (B, T, horizon, action_dim)
