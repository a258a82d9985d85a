"""The Kosmos-2 prompt of one frame, as token ids: `<s> <image> [image x Q] </image> instruction [action]`.

This is the layout `Kosmos2Processor` produces for an image and a text (the Q image positions hold
placeholder ids that the model replaces by the resampled image features), followed by one slot for
the policy's learnable action token, whose output hidden state is the frame feature. Rows of a batch
are right-padded after the action slot: the language model is causal, so padding after the slot
never changes what the slot sees, and position ids stay those of the unpadded prompt.

Owns tokenisation and its per-instruction cache; knows nothing of model weights. The image span
always sits at `IMAGE_START`, so the model splices image features in with a slice, not a mask.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from policies import PolicyLoadError
from policies.kosmos2.timing_tokenizer import BOI, EOI

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

IMAGE_START = 2  # after `<s> <image>`
_CACHE_LIMIT = 4096  # instructions kept tokenised; a dataset has a few dozen, a session one


@dataclass(frozen=True)
class PromptIds:
    ids: torch.Tensor  # (B, L) long; image span and action slot hold placeholder ids
    action_index: torch.Tensor  # (B,) long: position of the action slot in each row
    padded: bool  # some row is shorter than L (its tail is padding)

    def attention_mask(self) -> torch.Tensor:
        """(B, L) long: 1 up to and including the action slot."""
        positions = torch.arange(self.ids.shape[1], device=self.ids.device)
        return (positions[None, :] <= self.action_index[:, None]).long()


class PromptLayout:
    def __init__(self, tokenizer: PreTrainedTokenizerBase, latent_queries: int, source: str) -> None:
        missing = [t for t in (BOI, EOI) if t not in tokenizer.get_vocab()]
        if missing:
            raise PolicyLoadError(
                f"{source}: the tokenizer lacks the Kosmos-2 token(s) {', '.join(missing)}; "
                "save the backbone with its Kosmos2Processor (save_pretrained) so the tokenizer carries them"
            )
        self.tokenizer = tokenizer
        # Kosmos2Processor fills the image span with the ids that follow <unk>; their embeddings are
        # replaced by image features, so only their count matters.
        first = tokenizer.unk_token_id + 1
        self.head = [tokenizer.bos_token_id, tokenizer.convert_tokens_to_ids(BOI)]
        self.image = list(range(first, first + latent_queries))
        self.eoi = tokenizer.convert_tokens_to_ids(EOI)
        self.pad = tokenizer.pad_token_id
        self._text_ids: dict[str, list[int]] = {}

    @property
    def latent_queries(self) -> int:
        return len(self.image)

    def text_ids(self, instruction: str) -> list[int]:
        """Token ids of an instruction without special tokens, cached per instruction."""
        ids = self._text_ids.get(instruction)
        if ids is None:
            if len(self._text_ids) >= _CACHE_LIMIT:
                self._text_ids.clear()
            ids = self.tokenizer(instruction.strip(), add_special_tokens=False)["input_ids"]
            self._text_ids[instruction] = ids
        return ids

    def build(self, instructions: list[str], device: torch.device) -> PromptIds:
        rows = [self.head + self.image + [self.eoi] + self.text_ids(s) + [self.pad] for s in instructions]
        length = max(len(r) for r in rows)
        ids = torch.full((len(rows), length), self.pad, dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
        action_index = torch.tensor([len(r) - 1 for r in rows])
        padded = any(len(r) < length for r in rows)
        return PromptIds(ids.to(device), action_index.to(device), padded)
