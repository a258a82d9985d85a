"""`CompactPolicy`: CNN frame encoder + hashed-word instruction encoder, fused, + the shared LSTM head.

Small enough to train on a CPU in minutes; the simulator's default policy (`policies/default/`). It has no backbone to
download: a checkpoint stores every weight. Frames are resized here (`preprocess`), the one place
both training and the runtime turn camera images into model input.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from policies.base import Policy
from policies.compact.config import CompactConfig
from policies.compact.text import HashedTextEncoder
from policies.compact.vision import ConvEncoder
from policies.config import build_head

# Pixel statistics used to centre inputs; fixed (not learned) so old checkpoints stay valid.
_MEAN = 0.45
_STD = 0.25


class CompactPolicy(Policy[torch.Tensor]):
    name = "compact"
    config: CompactConfig

    def __init__(self, config: CompactConfig) -> None:
        super().__init__(config)
        self.vision = ConvEncoder(config.channels, config.feature_dim, config.position)
        self.text = HashedTextEncoder(config.text_buckets, config.text_dim, config.max_words)
        self.fuse = nn.Sequential(
            nn.Linear(config.feature_dim + config.text_dim, config.feature_dim),
            nn.SiLU(),
            nn.Linear(config.feature_dim, config.feature_dim),
        )
        self.head = build_head(config, config.feature_dim)
        self.record_checkpoint_keys()

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> (..., 3, image_height, image_width) float32, centred
        (`preprocess_frames`)."""
        return preprocess_frames(frames, self.config.image_height, self.config.image_width)

    def forget_unseen_instructions(self, instructions: Iterable[str]) -> int:
        return self.text.forget_unseen(instructions)

    def encode_instruction(self, instructions: list[str]) -> torch.Tensor:
        """(B,) strings -> (B, text_dim)."""
        return self.text(self.text.tokenize(instructions))

    def instruction_for_frames(self, instructions: list[str], frame_episode: torch.Tensor) -> torch.Tensor:
        """Each episode's instruction encoded once, then one row per frame: (F, text_dim)."""
        return self.encode_instruction(instructions)[frame_episode.to(self.text.embed.weight.device)]

    def encode_frame(self, pixels: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) + (B, text_dim) -> (B, feature_dim)."""
        image = self.vision(pixels)  # (B, feature_dim)
        return self.fuse(torch.cat([image, text.to(image.dtype)], dim=-1))

    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)  # (B, T, horizon, action_dim)


def preprocess_frames(frames: np.ndarray | torch.Tensor, h: int, w: int) -> torch.Tensor:
    """RGB uint8 (..., H, W, 3) -> (..., 3, h, w) float32, centred: the compact policy's input, as
    `CompactPolicy.preprocess` and an exported compact policy (`policies.export`) compute it.

    The resize is OpenCV's area filter on the uint8 frames (a box filter when shrinking, the right
    antialiasing for a camera frame many times the model input, and a few times faster than torch's
    antialiased bilinear on a CPU); a tensor is taken through the same path, so there is one."""
    x = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.dtype != np.uint8 or x.ndim < 3 or x.shape[-1] != 3:
        raise ValueError(f"expected RGB uint8 frames (..., H, W, 3), got {tuple(x.shape)} {x.dtype}")
    lead = x.shape[:-3]
    flat = x.reshape(-1, *x.shape[-3:])
    if flat.shape[1:3] != (h, w):
        import cv2

        flat = np.stack([cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in flat])
    out = torch.from_numpy(np.ascontiguousarray(flat)).permute(0, 3, 1, 2).float()  # (N, 3, h, w)
    out = out.div_(255.0).sub_(_MEAN).div_(_STD)
    return out.reshape(*lead, 3, h, w)
