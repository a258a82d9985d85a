"""A small XLM-R style tokenizer made on the spot, for randomly initialised Kosmos-2 backbones.

A randomly initialised backbone (`backbone.init: random`, for latency measurements) has no tokenizer
to load, and there is no network to fetch the real one. This one has Kosmos-2's layout (a SentencePiece
Unigram model with `<s> <pad> </s> <unk> <mask>` first, and the `<image>` / `</image>` tags the prompt
needs) and a vocabulary of whole English words for the robot's instructions, so an instruction comes
out about as many tokens long as with the real tokenizer. Its ids mean nothing to a pretrained model:
it must never be paired with pretrained weights. Tests save it with `save_pretrained` to build tiny
backbones that load through the real `from_pretrained` path.
"""

from __future__ import annotations

import string

from tokenizers import AddedToken
from transformers import XLMRobertaTokenizer

BOI, EOI = "<image>", "</image>"

# Words of the scenario instructions and of ordinary driving commands: each is one token, as most of
# them are in the real Kosmos-2 vocabulary.
WORDS = (
    "navigate around the obstacle obstacles on left right side and reach cup bottle beverage box boxes "
    "of front to a an go move turn stop forward backward back rotate avoid drive towards toward in at "
    "then past between two one it get near close far"
)


def timing_tokenizer() -> XLMRobertaTokenizer:
    """A fresh tokenizer with the Kosmos-2 special tokens; same vocabulary every call."""
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("<mask>", 0.0)]
    # Whole words score higher than their spelling, so Unigram picks the word when there is one.
    words = WORDS.split()
    pieces += [(f"\u2581{w}", -2.0) for w in words]
    pieces += [(f"\u2581{w.capitalize()}", -3.0) for w in words]
    chars = string.ascii_letters + string.digits + string.punctuation
    pieces += [(c, -8.0) for c in chars] + [(f"\u2581{c}", -8.0) for c in chars] + [("\u2581", -9.0)]
    vocab: dict[str, float] = {}
    for piece, score in pieces:
        vocab.setdefault(piece, score)  # "a" is a word and a letter: one id, with the word's score
    tokenizer = XLMRobertaTokenizer(vocab=list(vocab.items()))
    tokenizer.add_tokens([AddedToken(t, lstrip=True, rstrip=False, normalized=False) for t in (BOI, EOI)])
    return tokenizer
