"""The compact policy's text encoder: hashed words and word pairs -> embedding bag -> projection.

Words are hashed with CRC-32 (stable across processes, unlike `hash`) into a fixed number of
buckets, so there is no vocabulary file or tokenizer to download; word pairs keep some order
("left side" vs "side left"). Index 0 is padding.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable

import torch
from torch import nn

_WORD = re.compile(r"[a-z0-9]+")


def hash_tokens(text: str, buckets: int, max_words: int) -> list[int]:
    """Bucket ids (1..buckets-1) of the lower-cased words and adjacent word pairs of `text`."""
    words = _WORD.findall(text.lower())[:max_words]
    grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    return [1 + zlib.crc32(g.encode("utf-8")) % (buckets - 1) for g in grams]


def tokenize(instructions: list[str], buckets: int, max_words: int) -> torch.Tensor:
    """(B,) strings -> (B, L) bucket ids (`hash_tokens`), 0-padded, on the CPU."""
    ids = [hash_tokens(s, buckets, max_words) or [0] for s in instructions]
    width = max(len(i) for i in ids)
    out = torch.zeros(len(ids), width, dtype=torch.long)
    for row, seq in enumerate(ids):
        out[row, : len(seq)] = torch.tensor(seq)
    return out


class HashedTextEncoder(nn.Module):
    def __init__(self, buckets: int, dim: int, max_words: int) -> None:
        super().__init__()
        self.buckets = buckets
        self.max_words = max_words
        self.embed = nn.Embedding(buckets, dim, padding_idx=0)
        self.proj = nn.Sequential(nn.Linear(dim, dim), nn.SiLU())

    def tokenize(self, instructions: list[str]) -> torch.Tensor:
        """(B,) strings -> (B, L) bucket ids, 0-padded, on this module's device."""
        return tokenize(instructions, self.buckets, self.max_words).to(self.embed.weight.device)

    def forget_unseen(self, instructions: Iterable[str]) -> int:
        """Zero the buckets no word or word pair of `instructions` hashes to; returns how many rows were
        not zero before (see `Policy.forget_unseen_instructions`)."""
        seen = torch.zeros(self.buckets, dtype=torch.bool)
        seen[0] = True  # padding
        for text in instructions:
            seen[hash_tokens(text, self.buckets, self.max_words)] = True
        with torch.no_grad():
            unseen = ~seen.to(self.embed.weight.device)
            reset = int(self.embed.weight[unseen].ne(0).any(dim=1).sum())
            self.embed.weight[unseen] = 0.0
        return reset

    def forward(self, token_ids: torch.Tensor) -> torch.Tensor:
        """(B, L) bucket ids -> (B, dim): mean of the non-padding embeddings."""
        mask = (token_ids != 0).unsqueeze(-1).to(self.embed.weight.dtype)  # (B, L, 1)
        summed = (self.embed(token_ids) * mask).sum(dim=1)  # (B, dim)
        return self.proj(summed / mask.sum(dim=1).clamp_min(1.0))
