"""The compact policy's image encoder: stride-2 conv blocks with GroupNorm, pooled to one vector that
knows where things are.

GroupNorm (not BatchNorm) so a frame's feature does not depend on what else is in the batch: the
runtime encodes one frame at a time and must match training, which encodes whole episodes.

Position (`CompactConfig.position`). Convolutions followed by a global mean are translation-invariant:
a box on the left and the same box on the right of the frame give (almost) the same vector, and the
policy cannot tell which way to go round it. So the encoder is given position:
- `keypoints` (the default): two coordinate channels (x, y in [-1, 1]) are appended to the input
  (CoordConv) and the last feature map is also summarised by a spatial softmax: for every channel the
  expected (x, y) of its activation (Levine et al. 2016's keypoints), next to the global mean;
- `coords`: the coordinate channels only, with the global mean;
- `none`: the plain global mean (translation-invariant; kept to measure the difference).
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


def coordinate_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """(2, h, w): x then y of every pixel centre, in [-1, 1] (x grows to the right, y downwards)."""
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([grid_x, grid_y])


class SpatialSoftmax(nn.Module):
    """(B, C, h, w) -> (B, 2C): per channel, the softmax-weighted mean x and y of its activation."""

    def __init__(self) -> None:
        super().__init__()
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        weights = torch.softmax(x.flatten(2) / self.log_temperature.exp(), dim=-1)  # (B, C, h*w)
        grid = coordinate_grid(h, w, x.device, x.dtype).flatten(1)  # (2, h*w)
        return torch.einsum("bcn,kn->bck", weights, grid).flatten(1)  # (B, 2C): x0, y0, x1, y1, ...


class ConvEncoder(nn.Module):
    def __init__(self, channels: tuple[int, ...], out_dim: int, position: str = "keypoints") -> None:
        super().__init__()
        if position not in ("none", "coords", "keypoints"):
            raise ValueError(f"position {position!r}: use none, coords or keypoints")
        self.position = position
        coords = 2 if position != "none" else 0
        widths = (3 + coords, *channels)
        self.blocks = nn.Sequential(*(_block(a, b) for a, b in zip(widths[:-1], widths[1:], strict=True)))
        self.keypoints = SpatialSoftmax() if position == "keypoints" else None
        pooled = channels[-1] * (3 if self.keypoints is not None else 1)
        self.proj = nn.Linear(pooled, out_dim)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) normalised pixels -> (B, out_dim)."""
        if self.position != "none":
            b, _, h, w = pixels.shape
            grid = coordinate_grid(h, w, pixels.device, pixels.dtype).expand(b, -1, -1, -1)
            pixels = torch.cat([pixels, grid], dim=1)  # (B, 5, h, w)
        x = self.blocks(pixels)  # (B, C, h / 2^k, w / 2^k)
        pooled = x.mean(dim=(-2, -1))  # (B, C)
        if self.keypoints is not None:
            pooled = torch.cat([pooled, self.keypoints(x)], dim=-1)  # (B, 3C)
        return self.proj(pooled)  # (B, out_dim)
