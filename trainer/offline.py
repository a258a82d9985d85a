"""Offline predictions: what the runtime would command at every step of recorded episodes, and the loss.

Each episode's frames are encoded once, unfolded into the training windows (`policies.batch.collate`),
and for every step the head output at the position `policies.windows.causal_outputs` names is taken:
the chunk the runtime computes at that step from the frames since its reset. Its first action,
de-normalised, is the prediction scored against the recorded action of the step (`chunk[0]` is the
action commanded at the frame it is predicted from). `tests/policies/test_policy_windows.py` checks
that this equals stepping a `PolicyRuntime` through the same frames. This module must not import
textual.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from policies.base import Policy
from policies.batch import EpisodeSteps, collate
from policies.normalisation import ActionNormalisation
from policies.windows import causal_outputs


@dataclass
class StepPredictions:
    key: str  # episode name
    predicted: np.ndarray  # (S, 3) robot units: chunk[0] at each step (angular_z 0 for a 2-D policy)
    recorded: np.ndarray  # (S, 3) robot units


def _pad3(actions: np.ndarray) -> np.ndarray:
    if actions.shape[-1] == 3:
        return actions
    return np.concatenate(
        [actions, np.zeros((*actions.shape[:-1], 3 - actions.shape[-1]), actions.dtype)], -1
    )


@torch.no_grad()
def predict_batch(
    policy: Policy, episodes: Sequence[EpisodeSteps], normalisation: ActionNormalisation, device: torch.device
) -> tuple[list[StepPredictions], dict[str, float], int]:
    """(per-episode predictions, summed loss terms x windows, windows) for one group of episodes."""
    batch = collate(episodes, policy.preprocess, policy.window, policy.horizon).to(device)
    feats = policy.frame_features(batch)
    index = batch.windows.clamp_min(0)
    live = (batch.windows >= 0).unsqueeze(-1).to(feats.dtype)
    output = policy.decode_steps(feats[index] * live)  # (K, T, n, W)
    losses = policy.head_loss(output, batch.actions, batch.mask)
    values = policy.output_values(output[:, :, 0]).float()  # (K, T, W): chunk[0] of every position
    actions = policy.values_to_actions(values).cpu().numpy()  # (K, T, A) normalised
    results = []
    first_window = 0
    for e, episode in enumerate(episodes):
        steps = len(episode.actions)
        where = causal_outputs(steps, policy.window)  # (S, 2)
        mine = actions[first_window + where[:, 0], where[:, 1]]  # (S, A)
        first_window += int((batch.window_episode == e).sum())
        results.append(
            StepPredictions(
                episode.key,
                _pad3(normalisation.denormalise(mine)),
                _pad3(normalisation.denormalise(episode.actions)),
            )
        )
    k = batch.num_windows
    return results, {name: float(v) * k for name, v in losses.items()}, k


def predict(
    policy: Policy,
    episodes: Iterable[EpisodeSteps],
    normalisation: ActionNormalisation,
    device: torch.device,
    group: int = 8,
) -> tuple[list[StepPredictions], dict[str, float]]:
    """Predictions of every step of every episode and the window-weighted mean loss terms, `group`
    episodes per forward pass."""
    was_training = policy.training
    policy.eval()
    results: list[StepPredictions] = []
    totals: dict[str, float] = {}
    windows = 0
    pending: list[EpisodeSteps] = []
    try:
        for episode in episodes:
            pending.append(episode)
            if len(pending) == group:
                r, t, k = predict_batch(policy, pending, normalisation, device)
                results += r
                windows += k
                for name, v in t.items():
                    totals[name] = totals.get(name, 0.0) + v
                pending = []
        if pending:
            r, t, k = predict_batch(policy, pending, normalisation, device)
            results += r
            windows += k
            for name, v in t.items():
                totals[name] = totals.get(name, 0.0) + v
    finally:
        policy.train(was_training)
    return results, {name: v / max(windows, 1) for name, v in totals.items()}
