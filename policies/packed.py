"""Linear layers whose weights oneDNN holds in its own blocked layout, for fp32 inference on a CPU.

A full-size Kosmos-2 step on a CPU is matrix products (89 % `addmm`, README "Kosmos-2 at full size"). Its
layers are 1024 to 8192 wide and see 80 (text) or 257 (vision) rows per frame; for those shapes oneDNN's
linear on a weight reordered once into its blocked layout measured 1.06x to 1.26x the dense `F.linear`
on two cores, and the whole step 1.40x (3.09 s to 2.20 s, `benchmarks/bench_kosmos_levers.py`, way
`merged+packed`), with outputs equal within fp32 rounding (the same products, summed in another order).
The op is `torch._C._nn.mkldnn_linear`, the one `torch.utils.mkldnn` builds its (TorchScript) layers on;
`packing_available` checks once that it answers as `F.linear` does on this build.

`pack_linears` puts a `PackedLinear` in the place of every plain `nn.Linear` of at least `MIN_WEIGHTS`
values (smaller ones, the compact default policy's, gain nothing and stay as they are); the dense weight
is released, so the model does not grow. `unpack_linears` gives back plain `nn.Linear` layers with the
same values (the reorder is exact). Packing is an inference-only state, below LoRA folding: the runtime
packs a policy it holds on the CPU in fp32 (`policies.precision.hold`), and folding or unfolding adapters,
`train()`, and any new holding (another device or dtype) unpack first. A packed layer has no parameters:
`state_dict` and `.to()` do not see it, which is why nothing but a holding runtime packs.
This module must not import textual or h5py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

M = TypeVar("M", bound=nn.Module)
MIN_WEIGHTS = 1 << 20  # the Kosmos-2 vision model's 1024x1024 projections and everything larger


@functools.lru_cache(maxsize=1)
def packing_available() -> bool:
    """oneDNN is built in and its linear gives `F.linear`'s answer here (checked once, on a tiny layer): a
    torch build where it does not runs the plain layers instead of failing in the first step."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        with torch.inference_mode():
            layer = nn.Linear(4, 3)
            x = torch.arange(8, dtype=torch.float32).reshape(2, 4)
            return bool(torch.allclose(PackedLinear(layer)(x), layer(x), atol=1e-5))
    except RuntimeError:
        return False


class PackedLinear(nn.Module):
    """`nn.Linear`'s forward (fp32, CPU) on a weight in oneDNN's layout; no parameters, no autograd."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        with torch.no_grad():
            self.packed_weight = linear.weight.detach().to_mkldnn()
            bias = linear.bias if linear.bias is not None else torch.zeros(linear.out_features)
            self.packed_bias = bias.detach().to_mkldnn()
        self.has_bias = linear.bias is not None
        self.trainable = linear.weight.requires_grad  # given back by `unpacked`

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-1]
        rows = x.reshape(-1, self.in_features).contiguous().to_mkldnn()  # (N, in)
        out = torch._C._nn.mkldnn_linear(rows, self.packed_weight, self.packed_bias)  # (N, out)
        return out.to_dense().reshape(*lead, self.out_features)

    def unpacked(self) -> nn.Linear:
        linear = nn.Linear(self.in_features, self.out_features, bias=self.has_bias, device="meta")
        linear.weight = nn.Parameter(self.packed_weight.to_dense(), requires_grad=self.trainable)
        if self.has_bias:
            linear.bias = nn.Parameter(self.packed_bias.to_dense(), requires_grad=self.trainable)
        return linear

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.has_bias}, oneDNN"
        )


def _replace(module: nn.Module, swap: type[M], make: Callable[[M], nn.Module | None]) -> int:
    """Put `make(layer)` in the place of every layer of exactly type `swap` (not a subclass) where it is
    not None; returns how many."""
    count = 0
    for name, child in list(module.named_children()):
        if type(child) is swap:
            replacement = make(child)
            if replacement is not None:
                setattr(module, name, replacement)
                count += 1
        else:
            count += _replace(child, swap, make)
    return count


def pack_linears(module: nn.Module, min_weights: int | None = None) -> int:
    """Pack every plain fp32 CPU `nn.Linear` of `module` with at least `min_weights` (default
    `MIN_WEIGHTS`) weights, in place; returns how many. Nothing where oneDNN is not available."""
    if not packing_available():
        return 0
    least = MIN_WEIGHTS if min_weights is None else min_weights

    def make(linear: nn.Linear) -> PackedLinear | None:
        weight = linear.weight
        if weight.numel() < least or weight.dtype != torch.float32 or weight.device.type != "cpu":
            return None
        return PackedLinear(linear)

    return _replace(module, nn.Linear, make)


def unpack_linears(module: nn.Module) -> int:
    """Undo `pack_linears` (plain `nn.Linear` layers with the same values); returns how many."""
    return _replace(module, PackedLinear, PackedLinear.unpacked)


def parameter_count(module: nn.Module) -> int:
    """The values of `module`'s parameters, counting those its packed layers hold outside them."""
    packed = sum(
        m.in_features * m.out_features + (m.out_features if m.has_bias else 0)
        for m in module.modules()
        if isinstance(m, PackedLinear)
    )
    return packed + sum(p.numel() for p in module.parameters())
