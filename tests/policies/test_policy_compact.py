"""The compact policy: it learns instruction-dependent driving on a CPU in seconds, and its text
hashing is fixed (checkpoints depend on which bucket a word lands in)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from configs import ConfigError, config_path
from policies import registry
from policies.batch import Batch
from policies.compact.model import CompactPolicy
from policies.compact.text import hash_tokens
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig
from tests.policies.conftest import tiny_compact_config

LEFT = "Navigate around the obstacle on the left side and reach the cup"
RIGHT = "Navigate around the obstacle on the right side and reach the cup"


def test_word_hashing_is_stable_across_processes_and_versions() -> None:
    # Pinned values: a change here silently scrambles every trained compact checkpoint.
    assert hash_tokens("Go LEFT, then stop", 4096, 32) == [2710, 3681, 2046, 3281, 3179, 1308, 1656]


def test_compact_policy_learns_to_follow_the_instruction() -> None:
    torch.manual_seed(0)
    config = tiny_compact_config(None)
    policy = CompactPolicy(config)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    rng = np.random.default_rng(0)
    b, t, n = 8, config.window, config.fwd_pred_next_n
    instructions = [LEFT, RIGHT] * (b // 2)
    targets = torch.zeros(b, t, n, 3)
    targets[0::2, ..., 1] = 0.8  # left: strafe left (+linear_y)
    targets[1::2, ..., 1] = -0.8
    mask = torch.ones(b, t, n, dtype=torch.bool)
    for _ in range(150):
        frames = rng.integers(0, 256, (b, t, 24, 32, 3), dtype=np.uint8)
        batch = Batch.of_windows(policy.preprocess(frames), instructions, targets, mask)
        loss = policy(batch).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    runtime = PolicyRuntime(policy, ActionNormalisation((1.15, 1.15, 1.15)), RuntimeConfig(device="cpu"))
    frame = rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)  # an unseen frame
    commands = {}
    for instruction in (LEFT, RIGHT):
        runtime.reset(instruction)
        commands[instruction] = runtime.step(frame).command
    assert commands[LEFT][1] > 0.4 and commands[RIGHT][1] < -0.4


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("text_buckets=1", "text_buckets must be >= 2"),
        ("channels=[36]", "36 is not divisible by its GroupNorm group count 8"),
        ("channels=[32, 9]", "9 is not divisible by its GroupNorm group count 2"),
    ],
)
def test_compact_config_refuses_sizes_the_model_cannot_build(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        registry.load_config(config_path("policy/compact.yaml"), [override])
    assert "\n" not in str(err.value) and "compact.yaml" in str(err.value)


def test_compact_channel_widths_that_pass_validation_build() -> None:
    for channels in ((4,), (12, 20), (40, 64)):
        policy = CompactPolicy(dataclasses.replace(tiny_compact_config(None), channels=channels))
        assert policy.encode_frame(
            policy.preprocess(np.zeros((1, 24, 32, 3), np.uint8)), torch.zeros(1, 8)
        ).shape == (1, 16)


def _box_frames(x: int, n: int = 1) -> np.ndarray:
    """Grey 24x32 frames with one white 6x6 box whose left edge is at column x (rows 9-14)."""
    frames = np.full((n, 24, 32, 3), 90, np.uint8)
    frames[:, 9:15, x : x + 6] = 255
    return frames


def test_without_position_a_box_on_the_left_and_on_the_right_look_the_same() -> None:
    """Convolutions plus a global mean are translation-invariant: the reason the encoder needs position."""
    torch.manual_seed(0)
    plain = CompactPolicy(dataclasses.replace(tiny_compact_config(None), position="none")).eval()
    with torch.no_grad():
        left, right = (plain.vision(plain.preprocess(_box_frames(x))) for x in (4, 20))  # 16 px apart
    assert torch.allclose(left, right, atol=1e-5)


@pytest.mark.parametrize("position", ["keypoints", "coords"])
def test_a_box_on_the_left_vs_the_right_gives_different_actions(position: str) -> None:
    """Same instruction, the obstacle on the left or on the right of the frame: the policy must learn
    to strafe the other way (as an operator passes on the free side), and does with position."""
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_compact_config(None), position=position)
    policy = CompactPolicy(config)
    optimiser = torch.optim.AdamW(policy.parameters(), lr=3e-3)
    t, n = config.window, config.fwd_pred_next_n
    frames = np.concatenate([_box_frames(4, t), _box_frames(20, t)])  # (2T, H, W, 3)
    targets = torch.zeros(2, t, n, 3)
    targets[0, ..., 1] = -0.8  # box on the left: go right (-y)
    targets[1, ..., 1] = 0.8  # box on the right: go left (+y)
    mask = torch.ones(2, t, n, dtype=torch.bool)
    pixels = policy.preprocess(frames).view(2, t, 3, 24, 32)
    for _ in range(120):
        loss = policy(Batch.of_windows(pixels, [LEFT, LEFT], targets, mask)).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    runtime = PolicyRuntime(policy, ActionNormalisation((1.15, 1.15, 1.15)), RuntimeConfig(device="cpu"))
    commands = []
    for x in (6, 18):  # boxes at positions never trained on, still left and right of the centre
        runtime.reset(LEFT)
        commands.append(runtime.step(_box_frames(x)[0]).command)
    assert commands[0][1] < -0.3 and commands[1][1] > 0.3, commands


def test_unseen_words_only_dilute_the_instruction_once_forgotten(tmp_path) -> None:
    """An operator's phrasing has words training never showed; their hashed buckets hold random initial
    vectors that would push the instruction's feature anywhere. After `forget_unseen_instructions` (the
    trainer calls it before writing a checkpoint) an unseen word only dilutes the mean: the feature of
    "go left, please kindly" equals that of "go left" with the mean taken over more tokens."""
    torch.manual_seed(0)
    config = dataclasses.replace(tiny_compact_config(tmp_path), text_buckets=4096)
    policy = CompactPolicy(config).eval()
    taught = ["go left", "go right"]
    before = policy.text.embed.weight.detach().clone()
    reset = policy.forget_unseen_instructions(taught)
    seen = {b for t in taught for b in hash_tokens(t, 4096, config.max_words)}
    assert reset == 4096 - 1 - len(seen)  # every other bucket (not padding) was random, now zero
    weight = policy.text.embed.weight.detach()
    assert torch.equal(weight[sorted(seen)], before[sorted(seen)])  # what training taught is kept
    with torch.no_grad():
        plain = policy.text.embed.weight[hash_tokens("go left", 4096, config.max_words)].sum(0)
        extra = len(hash_tokens("go left please kindly", 4096, config.max_words))
        expected = policy.text.proj(plain / extra)
        got = policy.encode_instruction(["go left please kindly"])[0]
    torch.testing.assert_close(got, expected)
    assert policy.forget_unseen_instructions(taught) == 0  # idempotent
