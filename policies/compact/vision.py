"""The compact policy's image encoder: stride-2 conv blocks with GroupNorm, pooled to one vector.

GroupNorm (not BatchNorm) so a frame's feature does not depend on what else is in the batch: the
runtime encodes one frame at a time and must match training, which encodes whole windows.
"""

from __future__ import annotations

import torch
from torch import nn

from policies.compact.config import group_count


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=False),
        nn.GroupNorm(group_count(c_out), c_out),
        nn.SiLU(),
    )


class ConvEncoder(nn.Module):
    def __init__(self, channels: tuple[int, ...], out_dim: int) -> None:
        super().__init__()
        widths = (3, *channels)
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        self.proj = nn.Linear(channels[-1], out_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) normalised pixels -> (B, out_dim)."""
        x = self.blocks(pixels)  # (B, C, h / 2^k, w / 2^k)
        return self.proj(x.mean(dim=(-2, -1)))  # (B, out_dim)
