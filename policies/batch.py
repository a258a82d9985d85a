"""`Batch`: the typed training batch every policy's `forward` takes, and `collate` that builds it.

A batch holds whole episodes: each frame once (`pixels`, or cached `features`), and the windows of
steps the head sees as indices into those frames (`policies.windows`). `Policy.forward` encodes every
frame once, gathers the features into windows and decodes them, instead of re-encoding a frame in
each of the up-to-`window` overlapping windows that hold it (what RoboVLMs' loader does).
`Batch.per_window()` is that reference layout (each window's frames copied out), for the benchmark and
for the test that both give the same loss.

Loss weights: an episode may carry one weight per step (`EpisodeSteps.weights`, the trainer's
intervention weighting); a target `chunk[j]` predicted at step k is the action of step k + j, so it
carries the weight of step k + j, and stop targets past the end weigh 1. A batch none of whose episodes
carries weights has `weights` None, and the loss is computed exactly as an unweighted one.

The collate is shared by training and offline evaluation; it calls `Policy.preprocess`, the function
the runtime uses, so train/serve skew cannot creep in. This module must not import h5py or textual.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from policies.windows import episode_windows, step_targets


@dataclass(frozen=True)
class EpisodeSteps:
    """One episode reduced to its policy steps (`policies.windows.step_frames`), ready to collate."""

    frames: np.ndarray | None  # (S, H, W, 3) uint8 RGB; None when the features are cached
    actions: np.ndarray  # (S, A) float32, normalised to [-1, 1]
    instruction: str
    stop_after: bool  # the episode ended at its goal: stop targets follow its last step
    key: str = ""  # which episode (file name), for caches and reports
    features: np.ndarray | None = None  # (S, D) cached frame features instead of frames
    weights: np.ndarray | None = None  # (S,) float32 loss weight of each step (None: all 1)

    def __post_init__(self) -> None:
        steps = len(self.actions)
        if self.frames is None and self.features is None:
            raise ValueError(f"episode {self.key!r}: give frames or features")
        for name in ("frames", "features", "weights"):
            value = getattr(self, name)
            if value is not None and len(value) != steps:
                raise ValueError(f"episode {self.key!r}: {len(value)} {name} for {steps} actions")
        if steps < 1:
            raise ValueError(f"episode {self.key!r}: no steps")


@dataclass
class Batch:
    instructions: list[str]  # (E,) one per episode
    frame_episode: torch.Tensor  # (F,) long: the episode of each frame
    windows: torch.Tensor  # (K, T) long: frame index of each window step, -1 = padding
    actions: torch.Tensor  # (K, T, horizon, A) normalised targets of every step of every window
    mask: torch.Tensor  # (K, T, horizon) bool: False where a target does not count
    pixels: torch.Tensor | None = None  # (F, 3, h, w) from `Policy.preprocess`
    features: torch.Tensor | None = None  # (F, D) frame features (cached, frozen frame encoder)
    window_episode: torch.Tensor | None = None  # (K,) long: the episode of each window
    keys: tuple[str, ...] = ()  # (E,) episode names
    weights: torch.Tensor | None = None  # (K, T, horizon) float loss weight of each target; None: all 1

    def __post_init__(self) -> None:
        if (self.pixels is None) == (self.features is None):
            raise ValueError("a batch holds either pixels or features")

    @classmethod
    def of_windows(
        cls, pixels: torch.Tensor, instructions: list[str], actions: torch.Tensor, mask: torch.Tensor
    ) -> Batch:
        """A batch of B independent windows, RoboVLMs' layout: pixels (B, T, 3, h, w), one instruction
        per window, targets (B, T, horizon, A) and mask (B, T, horizon)."""
        b, t = pixels.shape[:2]
        return cls(
            instructions=list(instructions),
            frame_episode=torch.arange(b).repeat_interleave(t),
            windows=torch.arange(b * t).view(b, t),
            actions=actions,
            mask=mask,
            pixels=pixels.flatten(0, 1),
            window_episode=torch.arange(b),
        )

    @property
    def num_windows(self) -> int:
        return int(self.windows.shape[0])

    @property
    def num_frames(self) -> int:
        return int(self.frame_episode.shape[0])

    def frame_instructions(self) -> list[str]:
        """(F,) the instruction of each frame's episode."""
        return [self.instructions[i] for i in self.frame_episode.tolist()]

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> Batch:
        """On `device`; floating tensors of the model input (pixels, features) in `dtype` if given."""

        def move(t: torch.Tensor, cast: bool = False) -> torch.Tensor:
            return t.to(device=device, dtype=dtype if cast and dtype is not None else t.dtype)

        def maybe(t: torch.Tensor | None, cast: bool = False) -> torch.Tensor | None:
            return None if t is None else move(t, cast)

        return dataclasses.replace(
            self,
            frame_episode=move(self.frame_episode),
            windows=move(self.windows),
            actions=move(self.actions),
            mask=move(self.mask),
            pixels=maybe(self.pixels, cast=True),
            features=maybe(self.features, cast=True),
            window_episode=maybe(self.window_episode),
            weights=maybe(self.weights),
        )

    def per_window(self) -> Batch:
        """The same windows with every window's frames copied out (F = K x T): RoboVLMs' layout, in
        which a frame is encoded once per window that holds it."""
        safe = self.windows.clamp_min(0)  # (K, T); padding reads frame 0 and stays masked
        k, t = safe.shape
        windows = torch.arange(k * t, device=safe.device).view(k, t)
        windows = torch.where(self.windows >= 0, windows, torch.full_like(windows, -1))
        flat = safe.reshape(-1)
        return dataclasses.replace(
            self,
            frame_episode=self.frame_episode[flat],
            windows=windows,
            pixels=None if self.pixels is None else self.pixels[flat],
            features=None if self.features is None else self.features[flat],
        )


def collate(
    episodes: Sequence[EpisodeSteps],
    preprocess: Callable[[np.ndarray], torch.Tensor] | None,
    window: int,
    horizon: int,
) -> Batch:
    """One batch of whole episodes: every window of each (`policies.windows.episode_windows`)."""
    if not episodes:
        raise ValueError("collate needs at least one episode")
    cached = episodes[0].features is not None
    if any((e.features is not None) != cached for e in episodes):
        raise ValueError("a batch mixes episodes with cached features and with frames")
    offsets = np.cumsum([0] + [len(e.actions) for e in episodes])
    weighted = any(e.weights is not None for e in episodes)
    windows, actions, masks, window_episode, weights = [], [], [], [], []
    for e, (episode, offset) in enumerate(zip(episodes, offsets[:-1], strict=True)):
        steps = len(episode.actions)
        targets = step_targets(episode.actions, horizon, episode.stop_after)
        index = episode_windows(steps, window)  # (Ke, T)
        safe = np.where(index >= 0, index, 0)
        live = (index >= 0)[..., None]  # (Ke, T, 1)
        windows.append(np.where(index >= 0, index + offset, -1))
        actions.append(targets.actions[safe] * live[..., None])
        masks.append(targets.mask[safe] & live)
        if weighted:
            weights.append(_target_weights(episode, horizon)[safe] * live)
        window_episode.append(np.full(len(index), e, np.int64))
    frame_episode = np.concatenate([np.full(len(ep.actions), e, np.int64) for e, ep in enumerate(episodes)])
    pixels = features = None
    if cached:
        features = torch.from_numpy(np.concatenate([e.features for e in episodes]))
    else:
        if preprocess is None:
            raise ValueError("collate needs `preprocess` for episodes with frames")
        # One call per episode: episodes of one batch may come from cameras of different sizes.
        parts = []
        for one in episodes:
            assert one.frames is not None  # an `EpisodeSteps` without features holds frames
            parts.append(preprocess(one.frames))
        pixels = torch.cat(parts)
    return Batch(
        instructions=[e.instruction for e in episodes],
        frame_episode=torch.from_numpy(frame_episode),
        windows=torch.from_numpy(np.concatenate(windows)),
        actions=torch.from_numpy(np.concatenate(actions)),
        mask=torch.from_numpy(np.concatenate(masks)),
        pixels=pixels,
        features=features,
        window_episode=torch.from_numpy(np.concatenate(window_episode)),
        keys=tuple(e.key for e in episodes),
        weights=torch.from_numpy(np.concatenate(weights)) if weighted else None,
    )


def _target_weights(episode: EpisodeSteps, horizon: int) -> np.ndarray:
    """(S, horizon) float32: the weight of each step's chunk targets, chunk[j] of step k weighing as
    step k + j; past the last step 1 (stop targets; masked ones do not count anyway)."""
    steps = len(episode.actions)
    step_weights = np.ones(steps, np.float32) if episode.weights is None else episode.weights
    padded = np.ones(steps + horizon, np.float32)
    padded[:steps] = step_weights
    return padded[np.arange(steps)[:, None] + np.arange(horizon)[None, :]]
