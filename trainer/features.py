"""Cached frame features for a frozen frame encoder: an epoch then costs only the head.

When no trainable weight shapes a frame's features (`Policy.frame_encoder_frozen`: e.g. Kosmos-2 with
`backbone.mode: frozen` and `train_action_token: false`) and no augmentation touches the images, the
features of an episode's steps for one instruction never change during training. They are computed
the first time the episode comes up (without gradients) and kept as one `.npy` file per (episode,
instruction) under `<run>/features/<policy.feature_identity()>/`; later epochs, and a resumed run, read
them instead of the images. A different model or preprocessing gets another identity, so a stale
cache is never read. This module must not import textual.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from configs.files import write_atomic
from policies.base import Policy
from policies.batch import EpisodeSteps


class FeatureCache:
    def __init__(self, root: Path, identity: str) -> None:
        self.directory = Path(root) / identity
        self.directory.mkdir(parents=True, exist_ok=True)
        self.hits = 0
        self.misses = 0

    def path(self, name: str, instruction: str) -> Path:
        text = hashlib.sha1(instruction.encode("utf-8")).hexdigest()[:12]
        return self.directory / f"{name}-{text}.npy"

    def load(self, name: str, instruction: str) -> np.ndarray | None:
        path = self.path(name, instruction)
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None  # not cached yet (or a half-written file from a crash: recomputed)

    def save(self, name: str, instruction: str, features: np.ndarray) -> None:
        path = self.path(name, instruction)
        buffer = io.BytesIO()
        np.save(buffer, features, allow_pickle=False)
        write_atomic(path, buffer.getvalue())

    @torch.no_grad()
    def fill(self, policy: Policy, episodes: list[EpisodeSteps], device: torch.device) -> list[EpisodeSteps]:
        """The episodes with features: cached ones as they are, the others encoded now (in eval mode:
        a cached feature is the one the runtime computes) and saved."""
        was_training = policy.training
        policy.eval()
        try:
            return self._fill(policy, episodes, device)
        finally:
            policy.train(was_training)

    def _fill(self, policy: Policy, episodes: list[EpisodeSteps], device: torch.device) -> list[EpisodeSteps]:
        out = []
        for e in episodes:
            if e.features is not None:
                self.hits += 1
                out.append(e)
                continue
            self.misses += 1
            assert e.frames is not None  # `EpisodeSteps` holds frames when it has no features
            pixels = policy.preprocess(e.frames).to(device)
            text = policy.encode_instruction([e.instruction] * len(e.frames))
            features = policy.encode_frame(pixels, text).float().cpu().numpy()  # (S, D)
            self.save(e.key, e.instruction, features)
            out.append(dataclasses.replace(e, frames=None, features=features))  # weights kept
        return out
