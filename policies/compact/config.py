"""`CompactConfig`: sizes of the compact policy. No torch here, so the config loads without a model."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from policies.config import HeadConfig, PolicyConfig


def group_count(channels: int) -> int:
    """GroupNorm groups of a conv block with `channels` outputs: up to 8 groups of at least 4."""
    return min(8, channels // 4) or 1


@dataclass
class CompactConfig(PolicyConfig):
    image_height: int = 96  # camera frames are resized to this before the CNN
    image_width: int = 128
    channels: tuple[int, ...] = (32, 64, 96, 128)  # one stride-2 conv block per entry
    # how the image feature knows where things are (policies/compact/vision.py): keypoints | coords | none
    position: Literal["keypoints", "coords", "none"] = "keypoints"
    text_buckets: int = 4096  # hashed word / word-pair vocabulary (bucket 0 is padding); no tokenizer
    text_dim: int = 64
    max_words: int = 32
    feature_dim: int = 256  # fused per-frame feature fed to the LSTM head
    head: HeadConfig = field(default_factory=lambda: HeadConfig(hidden=256))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.image_height < 16 or self.image_width < 16:
            raise ValueError(f"image size must be at least 16x16, got {self.image_height}x{self.image_width}")
        if not self.channels or min(self.channels) < 4:
            raise ValueError(f"channels must be a non-empty list of values >= 4, got {list(self.channels)}")
        bad = [c for c in self.channels if c % group_count(c)]
        if bad:
            raise ValueError(
                f"channels: {bad[0]} is not divisible by its GroupNorm group count {group_count(bad[0])} "
                "(min(8, channels // 4)); use multiples of 8 from 32 up, or 4..31 divisible by channels // 4"
            )
        if self.text_buckets < 2:
            raise ValueError(f"text_buckets must be >= 2 (bucket 0 is padding), got {self.text_buckets}")
        if min(self.text_dim, self.max_words, self.feature_dim) < 1:
            raise ValueError("text_dim, max_words and feature_dim must be >= 1")
