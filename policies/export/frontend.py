"""The Python half of an exported policy: image preprocessing and tokenisation, with the policy's own
functions, described in `export.json` ("frontend") so that running an export needs no model weights.

`describe(policy, folder)` writes what a frontend needs into the export folder (tokenizers) and returns
its description; `Frontend(description, folder)` rebuilds it. `tokenize(instruction)` returns the
named int64 arrays (batch 1) the instruction graph (and, for Kosmos-2, the frame graph) reads.
This module must not import textual or h5py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from configs import to_dict
from policies.base import Policy

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from policies.kosmos2.prompt import PromptLayout

KOSMOS_TOKENIZER = "tokenizer"
CLIP_TOKENIZER = "clip_tokenizer"
RGB = tuple[float, float, float]


class FrontendSpec:
    """What a frontend does, as `export.json` records it ("frontend"): a `CompactFrontend` or a
    `KosmosFrontend`, told apart by `kind` (`policies.export.meta` reads it)."""

    kind: str

    def to_dict(self) -> dict[str, object]:
        """As written in `export.json`: `kind` first, fields a kind does not use left out."""
        return {k: v for k, v in to_dict(self).items() if v is not None}


@dataclass(frozen=True)
class CompactFrontend(FrontendSpec):
    kind: Literal["compact"]
    image_height: int
    image_width: int
    text_buckets: int
    max_words: int


@dataclass(frozen=True)
class KosmosFrontend(FrontendSpec):
    kind: Literal["kosmos2", "kosmos2_clip"]
    image_size: int
    mean: RGB
    std: RGB
    latent_queries: int
    tokenizer: str  # folder of the Kosmos-2 tokenizer, in the export folder
    clip_tokenizer: str | None = None  # kosmos2_clip: folder of CLIP's tokenizer
    clip_max_tokens: int | None = None  # kosmos2_clip

    def __post_init__(self) -> None:
        if self.kind == "kosmos2_clip" and (self.clip_tokenizer is None or self.clip_max_tokens is None):
            raise ValueError("frontend of kind kosmos2_clip lacks clip_tokenizer or clip_max_tokens")


def describe(policy: Policy, folder: Path) -> FrontendSpec:
    """What `Frontend` needs to preprocess and tokenise as `policy` does; tokenizers saved in `folder`."""
    from policies.compact.model import CompactPolicy

    if isinstance(policy, CompactPolicy):
        c = policy.config
        return CompactFrontend("compact", c.image_height, c.image_width, c.text_buckets, c.max_words)
    from policies.kosmos2.model import Kosmos2Base
    from policies.kosmos2_clip.model import Kosmos2ClipPolicy

    if not isinstance(policy, Kosmos2Base):
        raise ValueError(f"no ONNX export for policy {policy.name!r}")
    policy.prompt.tokenizer.save_pretrained(folder / KOSMOS_TOKENIZER)
    clip_tokenizer, clip_max_tokens = None, None
    if isinstance(policy, Kosmos2ClipPolicy):
        policy.clip_tokenizer.save_pretrained(folder / CLIP_TOKENIZER)
        clip_tokenizer, clip_max_tokens = CLIP_TOKENIZER, policy.clip_max_tokens
    return KosmosFrontend(
        "kosmos2_clip" if clip_tokenizer else "kosmos2",
        policy.image_size,
        policy.image_mean,
        policy.image_std,
        policy.prompt.latent_queries,
        KOSMOS_TOKENIZER,
        clip_tokenizer,
        clip_max_tokens,
    )


class Frontend:
    def __init__(self, spec: FrontendSpec, folder: Path) -> None:
        self.spec = spec
        self._prompt: PromptLayout | None = None
        self._clip: PreTrainedTokenizerBase | None = None
        if isinstance(spec, KosmosFrontend):
            from transformers import AutoTokenizer

            from policies.kosmos2.prompt import PromptLayout

            tokenizer = AutoTokenizer.from_pretrained(folder / spec.tokenizer)
            self._prompt = PromptLayout(tokenizer, spec.latent_queries, str(folder))
            if spec.clip_tokenizer is not None:
                self._clip = AutoTokenizer.from_pretrained(folder / spec.clip_tokenizer)

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> float32 (..., 3, h, w), as the policy's `preprocess`."""
        spec = self.spec
        if isinstance(spec, CompactFrontend):
            from policies.compact.model import preprocess_frames as compact_frames

            return compact_frames(frames, spec.image_height, spec.image_width)
        if not isinstance(spec, KosmosFrontend):
            raise TypeError(f"unknown frontend {spec.kind!r}")
        from policies.kosmos2.model import preprocess_frames as kosmos_frames

        return kosmos_frames(frames, spec.image_size, spec.mean, spec.std)

    def tokenize(self, instruction: str) -> dict[str, np.ndarray]:
        """One instruction -> the named (1, ...) int64 arrays the graphs read."""
        spec = self.spec
        if isinstance(spec, CompactFrontend):
            from policies.compact.text import tokenize

            return {"tokens": tokenize([instruction], spec.text_buckets, spec.max_words).numpy()}
        if self._prompt is None or not isinstance(spec, KosmosFrontend):
            raise TypeError(f"unknown frontend {spec.kind!r}")
        prompt = self._prompt.build([instruction], torch.device("cpu"))
        out = {"ids": prompt.ids.numpy(), "action_index": prompt.action_index.numpy()}
        if self._clip is not None:
            tokens = self._clip(
                [instruction.strip()],
                padding=True,
                truncation=True,
                max_length=spec.clip_max_tokens,
                return_tensors="np",
            )
            out["clip_ids"] = tokens["input_ids"].astype(np.int64)
            out["clip_mask"] = tokens["attention_mask"].astype(np.int64)
        return out
