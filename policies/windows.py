"""The one window builder: which frames of an episode are policy steps, which frames a step's window
holds, and which actions it must predict. Training (the collate), offline evaluation and the runtime all
take their windows from here, so an off-by-one cannot creep in between them.

Alignment (pinned by tests/policies/test_policy_windows.py). A recorded frame `i > 0` is a `start_action`
whose image was taken right after its command was sent, before the robot moved: it shows the state the
command was decided from. So a *step* is one such frame, and `chunk[0]` predicted from step `k` is the
action commanded at that frame, `chunk[j]` the action of step `k + j`. Frame 0 (`episode_start`) shows
the same state as frame 1 with a zero action that was never commanded: it is not a step (the runtime's
first frame is that state once, not twice). `stop_action` frames (space pressed while a motion was
running) show the robot mid-press, a state a policy in step mode never sees: not steps either. At run
time, step `k` is the frame at rest after `k` commands, which is what frame `k + 1` of the episode shows.

Windows (RoboVLMs' convention): `window` consecutive steps, and for every step of the window the next
`horizon` actions (`fwd_pred_next_n`). Past the end of an episode the targets are masked out, except
for an episode that ended where it should (success): its last steps are followed by explicit stop
targets (zero actions, unmasked), so the policy learns that the episode ends there. An episode shorter
than a window gives one window padded at the end (index -1, masked): the head is causal, so padding
after a step never changes its output.

The runtime keeps the last `window` steps since its reset (`stream_window`): at step `k` it decodes
steps `max(0, k - window + 1) .. k` and executes the last output. `causal_outputs` says, for the
training windows of an episode, which window position gives each step's output exactly as the runtime
computes it, so offline evaluation scores what the robot would do. This module must not import torch
or h5py: it is index arithmetic over numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from recorder.catalogue import STEP_EVENT


def step_frames(event_types: Sequence[str]) -> np.ndarray:
    """Indices of the frames that are policy steps: every `start_action` frame, in order."""
    return np.asarray([i for i, e in enumerate(event_types) if e == STEP_EVENT], dtype=np.int64)


@dataclass(frozen=True)
class StepTargets:
    actions: np.ndarray  # (S, horizon, A) float32: step k's chunk, normalised, zeros where masked / stop
    mask: np.ndarray  # (S, horizon) bool: True where the target counts in the loss


def step_targets(actions: np.ndarray, horizon: int, stop_after: bool) -> StepTargets:
    """Chunk targets of every step: step `k` gets the actions of steps `k .. k + horizon - 1`.

    `actions`: (S, A) of the steps (already normalised); past the last step the targets are zeros,
    unmasked when `stop_after` (the episode ended at its goal: stop there) and masked otherwise."""
    actions = np.asarray(actions, np.float32)
    s, a = actions.shape
    padded = np.zeros((s + horizon, a), np.float32)
    padded[:s] = actions
    valid = np.zeros(s + horizon, bool)
    valid[:s] = True
    if stop_after:
        valid[s:] = True
    index = np.arange(s)[:, None] + np.arange(horizon)[None, :]  # (S, horizon)
    return StepTargets(padded[index], valid[index])


def window_starts(steps: int, window: int) -> np.ndarray:
    """First step of every training window of an episode with `steps` steps (stride 1, full windows;
    one padded window when the episode is shorter than `window`)."""
    return np.arange(max(1, steps - window + 1), dtype=np.int64)


def window_steps(steps: int, window: int, start: int) -> np.ndarray:
    """(window,) step indices of the window starting at `start`; -1 past the episode's last step."""
    index = start + np.arange(window, dtype=np.int64)
    index[index >= steps] = -1
    return index


def episode_windows(steps: int, window: int) -> np.ndarray:
    """(K, window) step indices of every training window of an episode (-1: padding)."""
    return np.stack([window_steps(steps, window, s) for s in window_starts(steps, window)])


def stream_window(step: int, window: int) -> range:
    """The steps the runtime decodes at `step` (0 = the first frame after a reset)."""
    return range(max(0, step - window + 1), step + 1)


def causal_outputs(steps: int, window: int) -> np.ndarray:
    """(steps, 2) (window number, position) of `episode_windows(steps, window)` whose head output is
    step k's chunk as the runtime computes it: the first window for the first `window` steps (the
    runtime's window then starts at step 0 too), the window ending at step k after that."""
    out = np.zeros((steps, 2), np.int64)
    for k in range(steps):
        first = stream_window(k, window)[0]
        out[k] = (first, k - first)
    return out
