"""Augmentation: the mirror flips the image and swaps the sides (instruction words, linear_y and
angular_z), draws are seeded per (seed, epoch, episode) and independent of what else is enabled, and
the dataset serves an episode's step frames with their own actions."""

from __future__ import annotations

import numpy as np
import pytest

from recorder.catalogue import load_catalogue
from recorder.reader import read_episode
from tests.trainer.trainer_helpers import write_folder
from trainer.augment import augment_episode, color_jitter, mirror, random_crop, swap_sides
from trainer.config import AugmentConfig
from trainer.data import EpisodeDataset, EpochSchedule, Position, normalisation_from
from trainer.index import build_index


def test_swap_sides_keeps_case_and_whole_words() -> None:
    assert (
        swap_sides("Navigate around the obstacle on the Left side")
        == "Navigate around the obstacle on the Right side"
    )
    assert swap_sides("RIGHT then left, leftover") == "LEFT then right, leftover"


def test_mirror_flips_frames_and_negates_lateral_and_turn() -> None:
    frames = np.zeros((2, 4, 6, 3), np.uint8)
    frames[:, :, 0] = 255  # a bright column on the left edge
    actions = np.array([[1.15, 1.15, 0.0], [0.0, 0.0, -1.15]], np.float32)  # q, then t
    out = mirror(frames, actions, "pass it on the left", "left")
    assert (out.frames[:, :, -1] == 255).all() and (out.frames[:, :, 0] == 0).all()
    assert np.allclose(out.actions, [[1.15, -1.15, 0.0], [0.0, 0.0, 1.15]])  # e, then r
    assert out.instruction == "pass it on the right" and out.side == "right"


def test_jitter_and_crop_keep_shape_and_dtype() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
    rng = np.random.default_rng(1)
    for out in (color_jitter(frames, rng, 0.3), random_crop(frames, rng, 0.2)):
        assert out.shape == frames.shape and out.dtype == np.uint8 and not np.array_equal(out, frames)


def test_draws_are_seeded_and_do_not_depend_on_other_options() -> None:
    frames = np.random.default_rng(0).integers(0, 256, (3, 24, 32, 3), dtype=np.uint8)
    actions = np.zeros((3, 3), np.float32)
    para = {"left": ["a left one", "another left"], "right": ["a right one"]}
    full = AugmentConfig(color_jitter=0.2, crop=0.1, mirror=0.5, paraphrase_prob=0.5)
    text_only = AugmentConfig(mirror=0.5, paraphrase_prob=0.5)
    for seed in range(6):
        a = augment_episode(
            frames, actions, "go on the left", "left", full, para, np.random.default_rng(seed)
        )
        b = augment_episode(
            frames, actions, "go on the left", "left", full, para, np.random.default_rng(seed)
        )
        c = augment_episode(
            None, actions, "go on the left", "left", text_only, para, np.random.default_rng(seed)
        )
        assert np.array_equal(a.frames, b.frames) and a.instruction == b.instruction
        assert c.instruction == a.instruction and c.side == a.side  # the same draw without images


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    folder = tmp_path_factory.mktemp("episodes")
    write_folder(folder, 4, steps=5)
    return build_index([folder], load_catalogue(), timeout_s=20).episodes


def test_dataset_serves_each_step_frame_with_its_own_action(records) -> None:
    norm = normalisation_from(records, "keys", 3)
    item = EpisodeDataset(records, norm, None, seed=0)[(0, 1)]
    episode = read_episode(records[1].path)
    assert np.array_equal(item.frames, episode.images[1:])  # frame 0 (episode_start) is no step
    assert np.allclose(norm.denormalise(item.actions), episode.actions[1:])
    assert item.instruction == records[1].instruction and item.stop_after


def test_epoch_schedule_resumes_inside_an_epoch_and_shards() -> None:
    schedule = EpochSchedule(7, 2, seed=0)
    everything = [b for _, (_, b) in zip(range(8), schedule.iterate(Position(0, 0)), strict=False)]
    later = [b for _, (_, b) in zip(range(5), schedule.iterate(Position(0, 3)), strict=False)]
    assert later == everything[3:]
    assert sorted(e for _, e in sum(everything[:4], [])) == list(range(7))  # epoch 0 covers all
    two = [EpochSchedule(8, 2, seed=0, rank=r, world=2).batches(0) for r in (0, 1)]
    assert len(two[0]) == len(two[1]) == 2
    assert sorted(sum(two[0] + two[1], [])) == list(range(8))
