"""Episodes to training batches: a resumable epoch schedule, a dataset that reads one episode per item
in loader worker processes, and the normalisation and discrete classes taken from the training split.

Memory stays bounded whatever the dataset's size: the index holds metadata only, a worker reads one
episode file when its batch is due (its step frames only are kept), and the loader keeps at most
`workers x prefetch` batches in flight. `benchmarks/bench_loader_memory.py` measures the peak RSS on a
2,000-episode folder.

`EpochSchedule` decides which episodes form each batch: epoch e is a permutation of the training
episodes seeded by (seed, e), cut into batches of `episodes_per_batch`. A position is (epoch, batch),
so a resumed run continues inside an epoch at exactly the batch it stopped before (where restarting
the loader's own shuffling would repeat or skip data). With several processes, process r takes
batches r, r + n, ... of each epoch (the tail that does not divide evenly is dropped), so every
process takes the same number of steps. Items are seeded by (seed, epoch, episode): the same
augmentation in any worker, after any resume.

Intervention episodes (`recorder.intervention`) are weighted per step (`step_weights`), the scheme of
Sirius (Liu et al. 2022, "Robot Learning on the Job"): the operator's corrections count more
(`data.intervention_weight`), the last policy steps before each takeover -- the state a person had to
step in at, labelled with the policy's own wrong action -- count less (`data.pre_takeover_frames`,
`data.pre_takeover_weight`; by default not at all, though they stay in the windows as context), and
the policy's other steps of an episode that reached its goal count as demonstrations or not
(`data.policy_frames`). Episodes without intervention data carry no weights: the loss is unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from torch.utils.data import Dataset

from policies.batch import EpisodeSteps
from policies.normalisation import ActionNormalisation
from policies.windows import step_targets
from recorder.catalogue import KEY_SPEED, load_side_instructions
from recorder.reader import read_episode
from trainer.augment import Augmented, augment_episode
from trainer.config import AugmentConfig, DataConfig
from trainer.index import EpisodeRecord

if TYPE_CHECKING:
    from trainer.features import FeatureCache


@dataclass(frozen=True)
class Position:
    epoch: int
    batch: int  # batches of this epoch already consumed (by this process)


class EpochSchedule:
    def __init__(self, episodes: int, per_batch: int, seed: int, rank: int = 0, world: int = 1) -> None:
        if episodes < 1:
            raise ValueError("no training episodes")
        self.episodes = episodes
        self.per_batch = per_batch
        self.seed = seed
        self.rank = rank
        self.world = world

    def batches(self, epoch: int) -> list[list[int]]:
        """This process's batches of `epoch`: lists of episode indices."""
        order = np.random.default_rng([self.seed, epoch, 0x5EED]).permutation(self.episodes)
        batches = [order[i : i + self.per_batch].tolist() for i in range(0, self.episodes, self.per_batch)]
        usable = (
            max(1, len(batches) // self.world) * self.world if len(batches) >= self.world else len(batches)
        )
        batches = batches[:usable]
        mine = batches[self.rank :: self.world]
        return mine or batches[:1]

    def batches_per_epoch(self) -> int:
        return len(self.batches(0))

    def iterate(self, start: Position) -> Iterator[tuple[Position, list[tuple[int, int]]]]:
        """(position after this batch, [(epoch, episode), ...]) from `start` on, forever."""
        epoch, index = start.epoch, start.batch
        while True:
            batches = self.batches(epoch)
            for i in range(index, len(batches)):
                yield Position(epoch, i + 1), [(epoch, e) for e in batches[i]]
            epoch, index = epoch + 1, 0


def normalisation_from(records: Sequence[EpisodeRecord], kind: str, action_dim: int) -> ActionNormalisation:
    if kind == "keys":
        return ActionNormalisation((KEY_SPEED,) * action_dim)  # a full key press
    actions = np.concatenate([r.step_actions()[:, :action_dim] for r in records])
    return ActionNormalisation.from_actions(actions)


def discrete_classes(
    records: Sequence[EpisodeRecord], norm: ActionNormalisation, horizon: int, stop_targets: bool
) -> tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]:
    """(classes, class weights): one class per distinct normalised step action of the training split
    (the zero action always among them: it is the stop), sorted; each weighted by
    sqrt(mean count / its count) of the unmasked chunk targets, clipped to [0.1, 10], so a rare key
    (a turn, a backward diagonal) is not drowned by the common ones."""
    counts: dict[tuple[float, ...], int] = {}
    for r in records:
        actions = np.round(norm.normalise(r.step_actions()[:, : norm.action_dim]), 4)
        targets = step_targets(actions, horizon, stop_targets and r.stop_after)
        rows = targets.actions[targets.mask]
        for row in map(tuple, rows.tolist()):
            counts[row] = counts.get(row, 0) + 1
    zero = (0.0,) * norm.action_dim
    counts.setdefault(zero, 1)
    classes = sorted(counts)
    mean = sum(counts.values()) / len(classes)
    weights = tuple(float(np.clip(np.sqrt(mean / counts[c]), 0.1, 10.0)) for c in classes)
    return tuple(tuple(float(v) for v in c) for c in classes), weights


def step_weights(
    sources: Sequence[str], takeover_steps: Sequence[int], successful: bool, config: DataConfig
) -> np.ndarray | None:
    """(S,) float32 loss weight of each step of an episode (see the module docstring), or None for one
    without intervention data (`sources` empty: every step weighs 1).

    `sources` (S,) says who drove each step, `takeover_steps` where each takeover falls (the number of
    steps before it, `EpisodeRecord.takeover_steps`), `successful` whether the episode ended at its goal.
    An operator's step weighs `intervention_weight`; of the `pre_takeover_frames` steps before a
    takeover, the policy's weigh `pre_takeover_weight`; the policy's other steps weigh 1 with
    `policy_frames: keep` in an episode that reached its goal, else 0 (an episode that did not end well
    shows no good driving of the policy's)."""
    if not sources:
        return None
    policy = np.asarray(sources) == "policy"
    kept = 1.0 if config.policy_frames == "keep" and successful else 0.0
    weights = np.where(policy, kept, config.intervention_weight).astype(np.float32)
    for t in takeover_steps:
        before = slice(max(0, t - config.pre_takeover_frames), t)
        weights[before] = np.where(policy[before], config.pre_takeover_weight, weights[before])
    return weights


def record_weights(record: EpisodeRecord, config: DataConfig) -> np.ndarray | None:
    """`step_weights` of an indexed episode."""
    return step_weights(record.sources, record.takeover_steps, record.stop_after, config)


class EpisodeDataset(Dataset[EpisodeSteps]):
    """Item (epoch, i) -> `EpisodeSteps` of training episode i, read and augmented (epoch-seeded).

    With a feature cache (`trainer.features.FeatureCache`, only used when no augmentation touches the
    images), an episode whose features are cached for its (possibly paraphrased) instruction comes
    with those features and no image is read. With `weighting` (the run's `DataConfig`), intervention
    episodes come with their `step_weights`."""

    def __init__(
        self,
        records: Sequence[EpisodeRecord],
        normalisation: ActionNormalisation,
        augment: AugmentConfig | None,
        seed: int,
        cache: FeatureCache | None = None,
        weighting: DataConfig | None = None,
    ) -> None:
        if cache is not None and augment is not None and augment.touches_images:
            raise ValueError("a feature cache cannot serve image augmentation")
        self.records = list(records)
        self.normalisation = normalisation
        self.augment = augment
        self.seed = seed
        self.cache = cache
        self.weighting = weighting
        self.paraphrases = (
            load_side_instructions(augment.paraphrases) if augment and augment.paraphrases else None
        )

    def __len__(self) -> int:
        return len(self.records)

    def _augment(
        self, frames: np.ndarray | None, record: EpisodeRecord, rng: np.random.Generator
    ) -> Augmented:
        if self.augment is None:
            return Augmented(frames, record.step_actions(), record.instruction, record.side)
        return augment_episode(
            frames,
            record.step_actions(),
            record.instruction,
            record.side,
            self.augment,
            self.paraphrases,
            rng,
        )

    def __getitem__(self, item: tuple[int, int]) -> EpisodeSteps:
        epoch, index = item
        record = self.records[index]
        rng = np.random.default_rng([self.seed, epoch, index, 0xA46])
        features = None
        if self.cache is not None:
            # Draws are in a fixed order with or without frames: the same instruction as below.
            text = self._augment(None, record, _copy(rng)).instruction
            features = self.cache.load(record.name, text)
        out = self._augment(None if features is not None else read_steps(record), record, rng)
        normalised = self.normalisation.normalise(out.actions[:, : self.normalisation.action_dim])
        weights = record_weights(record, self.weighting) if self.weighting is not None else None
        return EpisodeSteps(
            out.frames, normalised, out.instruction, record.stop_after, record.name, features, weights
        )


def _copy(rng: np.random.Generator) -> np.random.Generator:
    clone = np.random.default_rng()
    clone.bit_generator.state = rng.bit_generator.state
    return clone


def read_steps(record: EpisodeRecord) -> np.ndarray:
    """(S, H, W, 3) RGB uint8: the step frames of an episode (the file was checked by the index)."""
    episode = read_episode(record.path)
    return np.ascontiguousarray(episode.images[list(record.frame_index)])


def episode_steps(
    record: EpisodeRecord, normalisation: ActionNormalisation, frames: np.ndarray | None = None
) -> EpisodeSteps:
    """The plain (not augmented) steps of an episode: validation, offline evaluation."""
    frames = read_steps(record) if frames is None else frames
    actions = normalisation.normalise(record.step_actions()[:, : normalisation.action_dim])
    return EpisodeSteps(frames, actions, record.instruction, record.stop_after, record.name)


def list_collate(items: list[EpisodeSteps]) -> list[EpisodeSteps]:
    """The loader's collate: the episodes as they are; the training process preprocesses them with
    the policy's own `preprocess` (`policies.batch.collate`)."""
    return items
