"""`FeatureFusion`: one frame's Kosmos-2 feature and CLIP image and text features -> one vector.

Each source is layer-normalised on its own first (their scales differ by orders of magnitude: a
post-LayerNorm language-model state against CLIP's projected embeddings), then a learned projection
with GELU mixes them. Owns no backbone; sees only feature vectors.
"""

from __future__ import annotations

import torch
from torch import nn


class FeatureFusion(nn.Module):
    def __init__(self, kosmos_dim: int, clip_dim: int, out_dim: int) -> None:
        super().__init__()
        self.norm_kosmos = nn.LayerNorm(kosmos_dim)
        self.norm_image = nn.LayerNorm(clip_dim)
        self.norm_text = nn.LayerNorm(clip_dim)
        self.proj = nn.Sequential(nn.Linear(kosmos_dim + 2 * clip_dim, out_dim), nn.GELU())

    def forward(self, kosmos: torch.Tensor, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """(N, Dk), (N, Dc), (N, Dc) -> (N, out_dim)."""
        parts = [self.norm_kosmos(kosmos), self.norm_image(image), self.norm_text(text)]
        return self.proj(torch.cat(parts, dim=-1))
