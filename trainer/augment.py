"""Training-time augmentation of one episode's steps: colour jitter, a small crop, the left/right mirror,
and paraphrased instructions. Every draw comes from a generator seeded by (seed, epoch, episode), so
an augmented epoch is the same after a resume and in any loader worker.

An episode is augmented as a whole (one jitter, one crop, one mirror decision for all its frames): a
camera that sits a little differently, or a room lit differently, stays so for the whole episode,
and the window the policy sees stays temporally consistent.

Mirror: flip every frame left/right, negate `linear_y` and `angular_z` (REP 103: +y is left, +z turns
left), swap the words "left" and "right" in the instruction and the side to pass on. A mirrored
"pass on the left" episode is a "pass on the right" one, exactly as an operator would have driven it.
Operates on RGB uint8 numpy arrays; must not import torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from trainer.config import AugmentConfig

_SIDE_WORD = re.compile(r"\b(left|right)\b", re.IGNORECASE)


def swap_sides(text: str) -> str:
    """ "on the Left side" -> "on the Right side": whole words, case kept."""

    def other(match: re.Match) -> str:
        word = match.group(0)
        swapped = "right" if word.lower() == "left" else "left"
        if word.isupper():
            return swapped.upper()
        return swapped.capitalize() if word[0].isupper() else swapped

    return _SIDE_WORD.sub(other, text)


@dataclass(frozen=True)
class Augmented:
    frames: np.ndarray | None  # (S, H, W, 3) uint8
    actions: np.ndarray  # (S, 3) robot units
    instruction: str
    side: str | None


def color_jitter(frames: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Brightness, contrast (about mid-grey) and saturation each scaled by a factor in
    [1 - strength, 1 + strength]: a lookup table and one blend per frame (OpenCV), cheap in a worker."""
    import cv2

    brightness, contrast, saturation = rng.uniform(1 - strength, 1 + strength, size=3)
    levels = np.arange(256, dtype=np.float32)
    table = np.clip((levels * brightness - 128.0) * contrast + 128.0 + 0.5, 0, 255).astype(np.uint8)
    out = np.empty_like(frames)
    for i, frame in enumerate(frames):
        x = cv2.LUT(frame, table)
        gray = cv2.cvtColor(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        out[i] = cv2.addWeighted(x, float(saturation), gray, float(1.0 - saturation), 0.0)
    return out


def random_crop(frames: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Cut up to `fraction` of the height and width from each side, then resize back to (H, W)."""
    import cv2

    n, h, w, _ = frames.shape
    top, bottom = (rng.uniform(0, fraction, size=2) * h).astype(int)
    left, right = (rng.uniform(0, fraction, size=2) * w).astype(int)
    if not (top or bottom or left or right):
        return frames
    out = np.empty_like(frames)
    for i in range(n):
        crop = frames[i, top : h - bottom, left : w - right]
        out[i] = cv2.resize(crop, (w, h), interpolation=cv2.INTER_LINEAR)
    return out


def mirror(frames: np.ndarray | None, actions: np.ndarray, instruction: str, side: str | None) -> Augmented:
    actions = actions.copy()
    actions[:, 1:3] *= -1.0  # linear_y, angular_z
    flipped = None if frames is None else np.ascontiguousarray(frames[:, :, ::-1])
    other = None if side is None else ("right" if side == "left" else "left")
    return Augmented(flipped, actions, swap_sides(instruction), other)


def augment_episode(
    frames: np.ndarray | None,
    actions: np.ndarray,
    instruction: str,
    side: str | None,
    config: AugmentConfig,
    paraphrases: dict[str, list[str]] | None,
    rng: np.random.Generator,
) -> Augmented:
    """One episode's steps augmented as `config` says (frames None: features are cached, text only)."""
    # The draws happen in a fixed order whatever is enabled, so turning one on never changes another.
    do_mirror = rng.uniform() < config.mirror
    do_paraphrase = rng.uniform() < config.paraphrase_prob
    choice = rng.uniform()
    jitter_rng, crop_rng = (
        np.random.default_rng(rng.integers(2**63)),
        np.random.default_rng(rng.integers(2**63)),
    )
    out = Augmented(frames, actions, instruction, side)
    if do_mirror:
        out = mirror(out.frames, out.actions, out.instruction, out.side)
    if paraphrases is not None and do_paraphrase and out.side in paraphrases:
        options = paraphrases[out.side]
        out = Augmented(out.frames, out.actions, options[int(choice * len(options))], out.side)
    if out.frames is not None and config.crop:
        out = Augmented(
            random_crop(out.frames, crop_rng, config.crop), out.actions, out.instruction, out.side
        )
    if out.frames is not None and config.color_jitter:
        out = Augmented(
            color_jitter(out.frames, jitter_rng, config.color_jitter), out.actions, out.instruction, out.side
        )
    return out
