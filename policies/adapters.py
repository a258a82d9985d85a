"""LoRA adapters folded into their base weights for inference, and unfolded again for training.

An unmerged PEFT LoRA layer computes `base(x) + B(A(dropout(x))) * scale` on every call: two skinny matrix
products and two elementwise passes over the layer's output. On a CPU that was half of a full-size
Kosmos-2 step (README "Kosmos-2 on a CPU"). `merge_adapters` adds `B @ A * scale` into each base weight
in place (PEFT's own `merge`, with its check that the result is finite), after which a layer computes
`base(x)` alone; the module tree and the state dict keep their adapter tensors, so a checkpoint written
from a merged policy is the same as from an unmerged one. `unmerge_adapters` subtracts the delta again
(equal to the unmerged weights within fp32 rounding). No PEFT layers: both do nothing. Both unpack the
layers a runtime packed for the CPU (`policies.packed`) before they touch a weight.
This module must not import textual or h5py.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from policies.packed import unpack_linears


def _lora_layers(module: nn.Module) -> list[tuple[str, Any]]:  # PEFT's LoraLayer
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # no PEFT installed: no adapter can have been injected
        return []
    return [(name, m) for name, m in module.named_modules() if isinstance(m, LoraLayer)]


def merge_adapters(module: nn.Module) -> int:
    """Fold every unmerged LoRA adapter of `module` into its base layer; returns how many were folded.
    Packed layers (`policies.packed`) are unpacked first: folding writes into the dense weights."""
    unpack_linears(module)
    merged = 0
    for _, layer in _lora_layers(module):
        if not layer.merged:
            layer.merge(safe_merge=True)
            merged += 1
    return merged


def unmerge_adapters(module: nn.Module) -> int:
    """Undo `merge_adapters`; returns how many layers were unfolded."""
    unpack_linears(module)
    unmerged = 0
    for _, layer in _lora_layers(module):
        if layer.merged:
            layer.unmerge()
            unmerged += 1
    return unmerged


def drop_adapters(module: nn.Module) -> int:
    """Merge every adapter and put each base layer in its adapter's place (for export: plain layers
    only); returns how many were replaced. The adapter tensors are gone afterwards."""
    layers = _lora_layers(module)
    merge_adapters(module)
    for name, layer in layers:
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name) if parent_name else module
        setattr(parent, child, layer.get_base_layer())
    return len(layers)
