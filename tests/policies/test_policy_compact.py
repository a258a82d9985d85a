"""The compact policy: it learns instruction-dependent driving on a CPU in seconds, and its text
hashing is fixed (checkpoints depend on which bucket a word lands in)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from configs import ConfigError, config_path
from policies import registry
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
        batch = {
            "pixels": policy.preprocess(frames),
            "instructions": instructions,
            "actions": targets,
            "mask": mask,
        }
        loss = policy(batch)["loss"]
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
