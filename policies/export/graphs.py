"""The graphs of an exported policy, as the per-step runtime uses them, and writing them as ONNX.

`graph_specs(policy)` gives, per graph (`instruction`, `frame`, `head`), a module calling the policy's
own code (`embed_prompt`, `encode_frame`, `decode_steps`: nothing is re-implemented here) with named
inputs and outputs and their dynamic axes. `merge_lora(policy)` folds PEFT LoRA adapters into their
base weights in place, so the frame graph holds plain linear layers. `write_onnx` traces one graph
with the TorchScript exporter (opset 17; the dynamo exporter needs onnxscript, not a dependency) and
keeps weights over 2 GB in one external data file (gathered a tensor at a time). In fp16 the graph's weights and arithmetic are
fp16 and its inputs and outputs stay fp32 (casts at the boundary), so callers never change. The head
is always exported in fp32: it is a small LSTM, and fp16 LSTMs are poorly supported on CPUs.
This module must not import textual or h5py.
"""

from __future__ import annotations

import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from policies.adapters import drop_adapters
from policies.base import Policy

T = torch.Tensor
EXTERNAL_LIMIT = 2 * 1024**3  # protobuf's limit: larger graphs keep their weights outside


@dataclass
class GraphSpec:
    name: str  # instruction | frame | head
    fn: Callable[..., tuple[torch.Tensor, ...]]  # named inputs (in order) -> outputs (in order)
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]  # input / output name -> {axis: symbolic name}
    fp16_capable: bool = True  # False: exported fp32 whatever the precision (the head)


class _Graph(nn.Module):
    """A graph function as a module, with fp32 inputs and outputs around an fp16 body when `half`."""

    def __init__(self, policy: Policy, spec: GraphSpec, half: bool) -> None:
        super().__init__()
        self.policy = policy
        self.spec = spec
        self.half_body = half

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.half_body:
            args = tuple(a.half() if a.is_floating_point() else a for a in args)
        out = self.spec.fn(*args)
        return tuple(o.float() for o in out)


def graph_specs(policy: Policy) -> list[GraphSpec]:
    """The three graphs of `policy` (compact, kosmos2 or kosmos2_clip)."""
    head = GraphSpec(
        "head",
        lambda features: (policy.decode_steps(features),),
        ("features",),
        ("output",),
        {"features": {0: "batch", 1: "steps"}, "output": {0: "batch", 1: "steps"}},
        fp16_capable=False,
    )
    from policies.compact.model import CompactPolicy

    if isinstance(policy, CompactPolicy):
        compact = policy
        instruction = GraphSpec(
            "instruction",
            lambda tokens: (compact.text(tokens),),
            ("tokens",),
            ("text",),
            {"tokens": {0: "batch", 1: "tokens"}, "text": {0: "batch"}},
        )
        frame = GraphSpec(
            "frame",
            lambda pixels, text: (compact.encode_frame(pixels, text),),
            ("pixels", "text"),
            ("features",),
            {"pixels": {0: "batch"}, "text": {0: "batch"}, "features": {0: "batch"}},
        )
        return [instruction, frame, head]
    from policies.kosmos2.model import Kosmos2Base, Kosmos2Policy, KosmosInstruction
    from policies.kosmos2_clip.model import HybridInstruction, Kosmos2ClipPolicy

    if not isinstance(policy, Kosmos2Base):
        raise ValueError(f"no ONNX export for policy {policy.name!r}")

    text_axes = {
        "ids": {0: "batch", 1: "tokens"},
        "action_index": {0: "batch"},
        "before_image": {0: "batch"},
        "after_image": {0: "batch", 1: "text"},
    }
    frame_axes = {"pixels": {0: "batch"}, "features": {0: "batch"}}
    frame_axes.update({k: v for k, v in text_axes.items() if k not in ("ids",)})

    def kosmos(before_image: T, after_image: T, action_index: T) -> KosmosInstruction:
        return KosmosInstruction(before_image, after_image, None, action_index)

    if isinstance(policy, Kosmos2Policy):
        kosmos2 = policy

        def embed(ids: T, action_index: T) -> tuple[T, T]:
            k = kosmos2.embed_prompt(ids, action_index)
            return k.before_image, k.after_image

        def frame_fn(pixels: T, before_image: T, after_image: T, action_index: T) -> tuple[T]:
            return (kosmos2.encode_frame(pixels, kosmos(before_image, after_image, action_index)),)

        instruction = GraphSpec(
            "instruction",
            embed,
            ("ids", "action_index"),
            ("before_image", "after_image"),
            {k: text_axes[k] for k in ("ids", "action_index", "before_image", "after_image")},
        )
        frame = GraphSpec(
            "frame",
            frame_fn,
            ("pixels", "before_image", "after_image", "action_index"),
            ("features",),
            frame_axes,
        )
        return [instruction, frame, head]

    if not isinstance(policy, Kosmos2ClipPolicy):
        raise ValueError(f"no ONNX export for policy {policy.name!r}")
    hybrid = policy

    def embed_hybrid(ids: T, action_index: T, clip_ids: T, clip_mask: T) -> tuple[T, T, T]:
        k = hybrid.embed_prompt(ids, action_index)
        text = hybrid.clip.get_text_features(
            input_ids=clip_ids, attention_mask=clip_mask, return_dict=True
        ).pooler_output  # (B, P)
        return k.before_image, k.after_image, text

    def frame_hybrid(pixels: T, before_image: T, after_image: T, action_index: T, clip_text: T) -> tuple[T]:
        text = HybridInstruction(kosmos(before_image, after_image, action_index), clip_text)
        return (hybrid.encode_frame(pixels, text),)

    clip_axes = {"clip_ids": {0: "batch", 1: "clip_tokens"}, "clip_mask": {0: "batch", 1: "clip_tokens"}}
    instruction = GraphSpec(
        "instruction",
        embed_hybrid,
        ("ids", "action_index", "clip_ids", "clip_mask"),
        ("before_image", "after_image", "clip_text"),
        {**{k: text_axes[k] for k in text_axes}, **clip_axes, "clip_text": {0: "batch"}},
    )
    frame = GraphSpec(
        "frame",
        frame_hybrid,
        ("pixels", "before_image", "after_image", "action_index", "clip_text"),
        ("features",),
        {**frame_axes, "clip_text": {0: "batch"}},
    )
    return [instruction, frame, head]


def merge_lora(policy: nn.Module) -> int:
    """Fold every PEFT LoRA adapter of `policy` into its base layer and put the base layer in its
    place (in place; `policies.adapters.drop_adapters`); returns how many were merged."""
    return drop_adapters(policy)


def write_onnx(
    policy: Policy,
    spec: GraphSpec,
    example: dict[str, torch.Tensor],
    folder: Path,
    opset: int,
    half: bool,
) -> list[str]:
    """Trace `spec` on `example` inputs into `folder/<name>.onnx` (+ `<name>.onnx.data` when its weights
    are over 2 GB); returns the file names written. The policy must already be in the dtype wanted."""
    module = _Graph(policy, spec, half and spec.fp16_capable).eval()
    args = tuple(example[n] for n in spec.inputs)
    stage = folder / f".{spec.name}-trace"
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    traced = stage / f"{spec.name}.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of dynamo (which needs onnxscript) and
        # warns about every shape comparison it turns into a constant: shapes that are fixed here.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(traced),
            dynamo=False,
            opset_version=opset,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=spec.dynamic,
            do_constant_folding=True,
        )
    target = folder / f"{spec.name}.onnx"
    written = list(stage.iterdir())
    size = sum(f.stat().st_size for f in written)
    if len(written) == 1 and size <= EXTERNAL_LIMIT:
        traced.replace(target)
        shutil.rmtree(stage)
        return [target.name]
    # Over 2 GB the exporter writes one file per tensor: gather them into one data file.
    data = f"{spec.name}.onnx.data"
    gather_external_data(traced, target, data)
    shutil.rmtree(stage)
    return [target.name, data]


def gather_external_data(source: Path, target: Path, data: str) -> None:
    """The ONNX model `source`, whose weights lie in files beside it, saved as `target` with every
    external tensor in the one file `data` next to it; a tensor at a time, so the weights are never all
    in memory (a full-size Kosmos-2 frame graph holds 6.9 GB, beside the policy's own)."""
    import onnx
    from onnx import external_data_helper

    model = onnx.load(str(source), load_external_data=False)
    with (target.parent / data).open("wb") as out:
        for tensor in external_data_helper._get_all_tensors(model):
            if not external_data_helper.uses_external_data(tensor):
                continue
            info = {entry.key: entry.value for entry in tensor.external_data}
            with (source.parent / info["location"]).open("rb") as src:
                src.seek(int(info.get("offset", 0)))
                blob = src.read(int(info["length"])) if "length" in info else src.read()
            # Not `set_external_data`, which wants the bytes in the tensor first.
            del tensor.external_data[:]
            for key, value in (("location", data), ("offset", str(out.tell())), ("length", str(len(blob)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
            out.write(blob)
    onnx.save_model(model, str(target))
