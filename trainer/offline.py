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

from policies.base import Policy, StepOutput
from policies.batch import EpisodeSteps, collate
from policies.normalisation import ActionNormalisation
from policies.windows import causal_outputs


@dataclass
class StepPredictions:
    key: str  # episode name
    predicted: np.ndarray  # (S, 3) robot units: chunk[0] at each step (angular_z 0 for a 2-D policy)
    recorded: np.ndarray  # (S, 3) robot units


@dataclass(frozen=True)
class LossTerms:
    """`StepOutput`'s terms as floats: summed and weighted by windows while `predict` goes through the
    batches, their mean over the windows when it returns."""

    loss: float
    mse: float
    accuracy: float | None = None  # discrete head only

    @classmethod
    def of(cls, out: StepOutput, windows: int) -> LossTerms:
        """The terms of one batch of `windows` windows, weighted by that count."""
        accuracy = None if out.accuracy is None else float(out.accuracy) * windows
        return cls(float(out.loss) * windows, float(out.mse) * windows, accuracy)

    def plus(self, other: LossTerms) -> LossTerms:
        accuracy = None
        if self.accuracy is not None and other.accuracy is not None:
            accuracy = self.accuracy + other.accuracy
        return LossTerms(self.loss + other.loss, self.mse + other.mse, accuracy)

    def mean(self, windows: int) -> LossTerms:
        n = max(windows, 1)
        return LossTerms(self.loss / n, self.mse / n, None if self.accuracy is None else self.accuracy / n)

    def as_dict(self) -> dict[str, float]:
        """{"loss", "mse"} (+ "accuracy"): how `mvla eval` prints and writes them."""
        out = {"loss": self.loss, "mse": self.mse}
        if self.accuracy is not None:
            out["accuracy"] = self.accuracy
        return out


def _pad3(actions: np.ndarray) -> np.ndarray:
    if actions.shape[-1] == 3:
        return actions
    return np.concatenate(
        [actions, np.zeros((*actions.shape[:-1], 3 - actions.shape[-1]), actions.dtype)], -1
    )


@torch.no_grad()
def predict_batch(
    policy: Policy, episodes: Sequence[EpisodeSteps], normalisation: ActionNormalisation, device: torch.device
) -> tuple[list[StepPredictions], LossTerms, int]:
    """(per-episode predictions, loss terms x windows, windows) for one group of episodes."""
    batch = collate(episodes, policy.preprocess, policy.window, policy.horizon).to(device)
    feats = policy.frame_features(batch)
    index = batch.windows.clamp_min(0)
    live = (batch.windows >= 0).unsqueeze(-1).to(feats.dtype)
    output = policy.decode_steps(feats[index] * live)  # (K, T, n, W)
    out = policy.head_loss(output, batch.actions, batch.mask)
    values = policy.output_values(output[:, :, 0]).float()  # (K, T, W): chunk[0] of every position
    actions = policy.values_to_actions(values).cpu().numpy()  # (K, T, A) normalised
    results = []
    first_window = 0
    assert batch.window_episode is not None  # `collate` fills it
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
    return results, LossTerms.of(out, k), k


def predict(
    policy: Policy,
    episodes: Iterable[EpisodeSteps],
    normalisation: ActionNormalisation,
    device: torch.device,
    group: int = 8,
) -> tuple[list[StepPredictions], LossTerms]:
    """Predictions of every step of every episode and the window-weighted mean loss terms, `group`
    episodes per forward pass."""
    was_training = policy.training
    policy.eval()
    results: list[StepPredictions] = []
    total: LossTerms | None = None
    windows = 0
    pending: list[EpisodeSteps] = []

    def run(group_: list[EpisodeSteps]) -> None:
        nonlocal total, windows
        r, t, k = predict_batch(policy, group_, normalisation, device)
        results.extend(r)
        windows += k
        total = t if total is None else total.plus(t)

    try:
        for episode in episodes:
            pending.append(episode)
            if len(pending) == group:
                run(pending)
                pending = []
        if pending:
            run(pending)
    finally:
        policy.train(was_training)
    if total is None:
        raise ValueError("predict needs at least one episode")
    return results, total.mean(windows)
