"""`CompactConfig`: sizes of the compact policy. No torch here, so the config loads without a model."""

from __future__ import annotations

from dataclasses import dataclass, field

from policies.config import HeadConfig, PolicyConfig


@dataclass
class CompactConfig(PolicyConfig):
    image_height: int = 96  # camera frames are resized to this before the CNN
    image_width: int = 128
    channels: tuple[int, ...] = (32, 64, 96, 128)  # one stride-2 conv block per entry
    text_buckets: int = 4096  # hashed word / word-pair vocabulary; no tokenizer download
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
        if min(self.text_buckets, self.text_dim, self.max_words, self.feature_dim) < 1:
            raise ValueError("text_buckets, text_dim, max_words and feature_dim must be >= 1")
