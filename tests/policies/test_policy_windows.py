"""The window builder's alignment, pinned: `chunk[0]` of a step is the action commanded at that step's
frame (an off-by-one would lag the robot one press); episode_start and stop_action frames are no steps;
stop targets follow a successful episode; the episode-batched encoding gives the same loss and
gradients as encoding every window on its own; offline predictions equal the runtime's commands."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from policies import registry
from policies.batch import Batch, EpisodeSteps, collate
from policies.config import HeadConfig
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig
from policies.windows import (
    causal_outputs,
    episode_windows,
    step_frames,
    step_targets,
    stream_window,
    window_starts,
)
from trainer.offline import predict

LEFT = "Navigate around the obstacle on the left side and reach the cup"
RIGHT = "Navigate around the obstacle on the right side and reach the cup"


def test_steps_are_the_start_action_frames() -> None:
    events = ["episode_start", "start_action", "start_action", "stop_action", "start_action"]
    assert step_frames(events).tolist() == [1, 2, 4]


def test_chunk_zero_is_the_action_commanded_at_the_step() -> None:
    actions = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # step k: action k
    t = step_targets(actions, horizon=3, stop_after=False)
    assert t.actions[:, 0, 0].tolist() == [0, 1, 2, 3, 4]  # chunk[0] of step k is step k's action
    assert t.actions[1, :, 0].tolist() == [1, 2, 3]  # chunk[j] is step k + j's
    assert t.mask[3].tolist() == [True, True, False] and t.mask[4].tolist() == [True, False, False]


def test_a_successful_episode_is_followed_by_stop_targets() -> None:
    actions = np.full((4, 3), 0.5, np.float32)
    t = step_targets(actions, horizon=3, stop_after=True)
    assert t.mask.all()  # nothing masked: past the end, the target is "stop"
    assert t.actions[3].tolist() == [[0.5] * 3, [0.0] * 3, [0.0] * 3]


def test_windows_cover_every_step_and_pad_a_short_episode() -> None:
    assert window_starts(10, 4).tolist() == list(range(7))
    assert episode_windows(3, 4).tolist() == [[0, 1, 2, -1]]
    # The runtime's window at step k, and which training window position gives that output.
    assert list(stream_window(5, 4)) == [2, 3, 4, 5]
    out = causal_outputs(10, 4)
    assert out[2].tolist() == [0, 2] and out[3].tolist() == [0, 3] and out[9].tolist() == [6, 3]


def _episode(
    steps: int, seed: int, instruction: str = LEFT, stop: bool = True, size=(30, 40)
) -> EpisodeSteps:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (steps, *size, 3), dtype=np.uint8)
    actions = rng.choice([-1.0, 0.0, 1.0], size=(steps, 3)).astype(np.float32)
    return EpisodeSteps(frames, actions, instruction, stop, key=f"ep{seed}")


def test_collate_aligns_frames_windows_and_targets() -> None:
    episodes = [_episode(6, 0), _episode(3, 1, RIGHT, stop=False)]
    b = collate(
        episodes, lambda f: torch.from_numpy(f.astype(np.float32)).permute(0, 3, 1, 2), window=4, horizon=2
    )
    assert b.num_frames == 9 and b.num_windows == 3 + 1
    assert b.windows.tolist() == [[0, 1, 2, 3], [1, 2, 3, 4], [2, 3, 4, 5], [6, 7, 8, -1]]
    assert b.frame_episode.tolist() == [0] * 6 + [1] * 3 and b.instructions == [LEFT, RIGHT]
    # Window 1, position 2 is step 3 of episode 0: its pixels and its targets are step 3's.
    assert torch.equal(
        b.pixels[b.windows[1, 2]], torch.from_numpy(episodes[0].frames[3].astype(np.float32)).permute(2, 0, 1)
    )
    assert b.actions[1, 2, 0].tolist() == episodes[0].actions[3].tolist()
    assert b.actions[1, 2, 1].tolist() == episodes[0].actions[4].tolist()
    assert b.actions[2, 3, 1].tolist() == [0.0, 0.0, 0.0] and b.mask[2, 3, 1]  # stop after success
    assert not b.mask[3, 2, 1] and not b.mask[3, 3].any()  # no stop after a failure; padding masked


def _tiny(name: str, root: Path, tiny_config, discrete: bool = False):
    config = tiny_config(name, root)
    if discrete:
        classes = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0))
        config.head = HeadConfig(
            hidden=16, kind="discrete", classes=classes, class_weights=(1.0, 0.5, 2.0, 2.0)
        )
    torch.manual_seed(0)
    policy = registry.build_policy(name, config)
    with torch.no_grad():
        for tensor in policy.trainable_state_dict().values():
            tensor.add_(torch.randn_like(tensor) * 0.05)
    return policy


@pytest.mark.parametrize(("name", "discrete"), [("compact", False), ("compact", True), ("kosmos2", False)])
def test_episode_batched_encoding_equals_the_per_window_reference(
    name, discrete, tmp_path, tiny_config
) -> None:
    # Eval mode: dropout (LoRA's, Kosmos-2's own) would draw differently for a different frame count;
    # gradients flow all the same.
    policy = _tiny(name, tmp_path, tiny_config, discrete).eval()
    if discrete:  # discrete targets are class vectors
        episodes = [_episode(7, 2), _episode(5, 3, RIGHT, stop=False)]
        episodes = [
            EpisodeSteps(
                e.frames,
                np.asarray(policy.head_classes)[np.arange(len(e.actions)) % 4],
                e.instruction,
                e.stop_after,
            )
            for e in episodes
        ]
    else:
        episodes = [_episode(7, 2), _episode(5, 3, RIGHT, stop=False)]
    batch = collate(episodes, policy.preprocess, policy.window, policy.horizon)
    reference = batch.per_window()
    assert reference.num_frames == batch.num_windows * policy.window > batch.num_frames
    torch.manual_seed(1)
    out = policy(batch)
    out.loss.backward()
    grads = {n: p.grad.clone() for n, p in policy.named_parameters() if p.grad is not None}
    policy.zero_grad()
    torch.manual_seed(1)
    ref = policy(reference)
    ref.loss.backward()
    assert torch.allclose(out.loss, ref.loss, rtol=1e-5, atol=1e-6), (out.loss, ref.loss)
    for n, p in policy.named_parameters():
        if n in grads:
            assert torch.allclose(grads[n], p.grad, rtol=1e-4, atol=1e-6), n


@pytest.mark.parametrize("discrete", [False, True])
def test_offline_predictions_are_what_the_runtime_commands(discrete, tmp_path, tiny_config) -> None:
    policy = _tiny("compact", tmp_path, tiny_config, discrete).eval()
    norm = ActionNormalisation((1.15, 1.15, 1.15))
    episodes = [_episode(9, 4), _episode(3, 5, RIGHT)]
    preds, _ = predict(policy, episodes, norm, torch.device("cpu"), group=2)
    runtime = PolicyRuntime(copy.deepcopy(policy), norm, RuntimeConfig(device="cpu", precision="fp32"))
    for episode, pred in zip(episodes, preds, strict=True):
        runtime.reset(episode.instruction)
        commands = np.stack([runtime.step(frame).command for frame in episode.frames])
        assert np.allclose(commands, pred.predicted, atol=1e-5), (commands, pred.predicted)
        assert np.allclose(pred.recorded, norm.denormalise(episode.actions))


def test_batch_of_windows_is_the_reference_layout() -> None:
    pixels = torch.zeros(2, 3, 3, 4, 4)
    b = Batch.of_windows(
        pixels, [LEFT, RIGHT], torch.zeros(2, 3, 5, 3), torch.ones(2, 3, 5, dtype=torch.bool)
    )
    assert b.windows.tolist() == [[0, 1, 2], [3, 4, 5]] and b.frame_instructions()[3] == RIGHT
