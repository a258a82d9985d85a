"""The Python half of an exported policy: image preprocessing and tokenisation, with the policy's own
functions, described in `export.json` ("frontend") so that running an export needs no model weights.

`describe(policy, folder)` writes what a frontend needs into the export folder (tokenizers) and returns
its description; `Frontend(description, folder)` rebuilds it. `tokenize(instruction)` returns the
named int64 arrays (batch 1) the instruction graph (and, for Kosmos-2, the frame graph) reads.
This module must not import textual or h5py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

KOSMOS_TOKENIZER = "tokenizer"
CLIP_TOKENIZER = "clip_tokenizer"


def describe(policy: Any, folder: Path) -> dict[str, Any]:
    """What `Frontend` needs to preprocess and tokenise as `policy` does; tokenizers saved in `folder`."""
    if policy.name == "compact":
        c = policy.config
        return {
            "kind": "compact",
            "image_height": c.image_height,
            "image_width": c.image_width,
            "text_buckets": c.text_buckets,
            "max_words": c.max_words,
        }
    if policy.name not in ("kosmos2", "kosmos2_clip"):
        raise ValueError(f"no ONNX export for policy {policy.name!r}")
    policy.prompt.tokenizer.save_pretrained(folder / KOSMOS_TOKENIZER)
    out: dict[str, Any] = {
        "kind": policy.name,
        "image_size": policy._image_size,
        "mean": list(policy._mean),
        "std": list(policy._std),
        "latent_queries": policy.prompt.latent_queries,
        "tokenizer": KOSMOS_TOKENIZER,
    }
    if policy.name == "kosmos2_clip":
        policy.clip_tokenizer.save_pretrained(folder / CLIP_TOKENIZER)
        out["clip_tokenizer"] = CLIP_TOKENIZER
        out["clip_max_tokens"] = policy._clip_max_tokens
    return out


class Frontend:
    def __init__(self, description: dict[str, Any], folder: Path) -> None:
        self.description = description
        self.kind = description["kind"]
        if self.kind in ("kosmos2", "kosmos2_clip"):
            from transformers import AutoTokenizer

            from policies.kosmos2.prompt import PromptLayout

            tokenizer = AutoTokenizer.from_pretrained(folder / description["tokenizer"])
            self._prompt = PromptLayout(tokenizer, description["latent_queries"], str(folder))
            if self.kind == "kosmos2_clip":
                self._clip = AutoTokenizer.from_pretrained(folder / description["clip_tokenizer"])

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """RGB uint8 (..., H, W, 3) -> float32 (..., 3, h, w), as the policy's `preprocess`."""
        d = self.description
        if self.kind == "compact":
            from policies.compact.model import preprocess_frames

            return preprocess_frames(frames, d["image_height"], d["image_width"])
        from policies.kosmos2.model import preprocess_frames

        return preprocess_frames(frames, d["image_size"], tuple(d["mean"]), tuple(d["std"]))

    def tokenize(self, instruction: str) -> dict[str, np.ndarray]:
        """One instruction -> the named (1, ...) int64 arrays the graphs read."""
        d = self.description
        if self.kind == "compact":
            from policies.compact.text import tokenize

            return {"tokens": tokenize([instruction], d["text_buckets"], d["max_words"]).numpy()}
        prompt = self._prompt.build([instruction], torch.device("cpu"))
        out = {"ids": prompt.ids.numpy(), "action_index": prompt.action_index.numpy()}
        if self.kind == "kosmos2_clip":
            tokens = self._clip(
                [instruction.strip()],
                padding=True,
                truncation=True,
                max_length=d["clip_max_tokens"],
                return_tensors="np",
            )
            out["clip_ids"] = tokens["input_ids"].astype(np.int64)
            out["clip_mask"] = tokens["attention_mask"].astype(np.int64)
        return out
