"""The per-step runtime as the robot sees it: which action is sent in each chunk-execution mode, limits,
a stop on non-finite output, and which device and precision it reports."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from configs import ConfigError, from_dict
from configs.limits import LimitsConfig
from policies.compact.model import CompactPolicy
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig
from tests.policies.conftest import tiny_compact_config

SCALE = ActionNormalisation((1.15, 1.15, 1.15))


def _policy(**changes) -> CompactPolicy:
    torch.manual_seed(0)
    return CompactPolicy(dataclasses.replace(tiny_compact_config(None), **changes))


def _frames(count: int) -> list[np.ndarray]:
    rng = np.random.default_rng(1)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(count)]


def _runtime(policy, norm=SCALE, **config) -> PolicyRuntime:
    runtime = PolicyRuntime(policy, norm, RuntimeConfig(device="cpu", precision="fp32", **config))
    runtime.reset("go left")
    return runtime


def _set_output(policy: CompactPolicy, value: float) -> None:
    """Make the head's output constant: tanh(value) on every action value."""
    last = policy.head.mlp[2]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.fill_(value)


def test_first_mode_sends_the_first_action_of_each_new_chunk() -> None:
    runtime = _runtime(_policy())
    for frame in _frames(6):
        chunk = runtime.step(frame)
        assert chunk.fresh
        np.testing.assert_array_equal(chunk.command, chunk.actions[0])


def test_chunk_mode_plays_a_whole_chunk_before_taking_the_next() -> None:
    policy = _policy()
    runtime = _runtime(policy, execution="chunk")
    n = policy.horizon
    steps = [runtime.step(f) for f in _frames(2 * n + 1)]
    assert [s.fresh for s in steps] == ([True] + [False] * (n - 1)) * 2 + [True]
    for i in range(n):
        np.testing.assert_array_equal(steps[i].command, steps[0].actions[i])
        np.testing.assert_array_equal(steps[n + i].command, steps[n].actions[i])
    assert not np.array_equal(steps[0].actions, steps[n].actions)


def _feed_chunks(policy: CompactPolicy, values: list[float]) -> None:
    """Make step k's chunk hold `values[k]` in every action value (in normalised units)."""
    chunks = iter(values)
    shape = (1, policy.horizon, policy.action_dim)
    policy.decode = lambda window: torch.full(shape, next(chunks), dtype=window.dtype)


# Chunks predicted at steps 0, 1, 2 hold 0.0, 0.5 and 1.0 everywhere, and decay is ln 2, so weights
# halve per step of k. Worked by hand, with a horizon of 5 (every chunk still covers step 2):
#   newest (k = age):  step 1: (1 * 0.5 + 1/2 * 0.0) / 1.5 = 1/3
#                      step 2: (1 * 1.0 + 1/2 * 0.5 + 1/4 * 0.0) / 1.75 = 5/7
#   oldest (ACT, k = 0 for the oldest):
#                      step 1: (1 * 0.0 + 1/2 * 0.5) / 1.5 = 1/6
#                      step 2: (1 * 0.0 + 1/2 * 0.5 + 1/4 * 1.0) / 1.75 = 2/7
# With a horizon of 2 the chunk of step 0 no longer covers step 2:
#   newest: step 2: (1 * 1.0 + 1/2 * 0.5) / 1.5 = 5/6;  oldest: (1 * 0.5 + 1/2 * 1.0) / 1.5 = 2/3
@pytest.mark.parametrize(
    ("weighting", "horizon", "expected"),
    [
        ("newest", 5, [0.0, 0.3333333, 0.7142857]),
        ("oldest", 5, [0.0, 0.1666667, 0.2857143]),
        ("newest", 2, [0.0, 0.3333333, 0.8333333]),
        ("oldest", 2, [0.0, 0.1666667, 0.6666667]),
    ],
)
def test_ensemble_weights_worked_by_hand(weighting: str, horizon: int, expected: list[float]) -> None:
    policy = _policy(fwd_pred_next_n=horizon)
    _feed_chunks(policy, [0.0, 0.5, 1.0])
    runtime = _runtime(
        policy,
        ActionNormalisation.identity(3),
        execution="ensemble",
        ensemble_decay=math.log(2),
        ensemble_weighting=weighting,
    )
    commands = [runtime.step(frame).command for frame in _frames(3)]
    np.testing.assert_allclose(
        np.asarray(commands), np.repeat(np.asarray(expected)[:, None], 3, 1), atol=1e-6
    )


def test_ensemble_default_weighting_favours_the_newest_chunk() -> None:
    config = RuntimeConfig()
    assert config.ensemble_weighting == "newest" and config.ensemble_decay == 0.1


def test_ensemble_without_decay_is_a_plain_average_in_both_weightings() -> None:
    for weighting in ("newest", "oldest"):
        policy = _policy()
        _feed_chunks(policy, [0.0, 0.5, 1.0])
        runtime = _runtime(
            policy,
            ActionNormalisation.identity(3),
            execution="ensemble",
            ensemble_decay=0.0,
            ensemble_weighting=weighting,
        )
        commands = [runtime.step(frame).command[0] for frame in _frames(3)]
        np.testing.assert_allclose(commands, [0.0, 0.25, 0.5], atol=1e-6)


def test_actions_are_denormalised_then_clamped_to_the_limits() -> None:
    policy = _policy()
    _set_output(policy, 3.0)  # tanh(3) = 0.995 -> 9.95 in robot units with scale 10
    runtime = _runtime(policy, ActionNormalisation((10.0, 10.0, 10.0)), limits=LimitsConfig(0.5, 0.3, 0.2))
    chunk = runtime.step(_frames(1)[0])
    assert chunk.clamped
    np.testing.assert_allclose(chunk.command, [0.5, 0.3, 0.2])
    assert np.all(np.abs(chunk.actions) <= np.array([0.5, 0.3, 0.2], np.float32))


def test_chunk_mode_clamped_describes_the_command_being_sent() -> None:
    policy = _policy()
    n = policy.horizon  # 5
    # One chunk, replayed over n steps: only actions 1 and 3 are over the limits (|0.9|, |-0.95| > 0.5).
    # Every step predicts this same chunk, so the fresh prediction is clamped at every step.
    values = torch.tensor([0.1, 0.9, 0.2, -0.95, 0.0]).view(1, n, 1).expand(1, n, 3)
    policy.decode = lambda window: values.to(window.dtype)
    runtime = _runtime(
        policy, ActionNormalisation((1.0, 1.0, 2.0)), execution="chunk", limits=LimitsConfig(0.5, 0.5, 0.5)
    )
    steps = [runtime.step(frame) for frame in _frames(n)]
    assert [s.fresh for s in steps] == [True] + [False] * (n - 1)
    assert [s.clamped for s in steps] == [False, True, False, True, False]  # z 0.2 -> 0.4 is within
    np.testing.assert_allclose(steps[1].command, [0.5, 0.5, 0.5])
    np.testing.assert_allclose(steps[2].command, [0.2, 0.2, 0.4], rtol=1e-6)
    np.testing.assert_allclose(steps[3].command, [-0.5, -0.5, -0.5])


def test_first_mode_clamped_describes_the_first_action() -> None:
    policy = _policy()
    values = torch.tensor([0.1, 0.9, 0.0, 0.0, 0.0]).view(1, 5, 1).expand(1, 5, 3)
    policy.decode = lambda window: values.to(window.dtype)
    chunk = _runtime(policy, ActionNormalisation.identity(3), limits=LimitsConfig(0.5, 0.5, 0.5)).step(
        _frames(1)[0]
    )
    assert not chunk.clamped  # the command sent (0.1) was not limited; the chunk's second action was
    assert chunk.actions[1, 0] == np.float32(0.5)


def test_scale_maps_normalised_output_to_robot_units() -> None:
    policy = _policy()
    _set_output(policy, -0.5)
    chunk = _runtime(policy, ActionNormalisation((1.0, 0.5, 0.25))).step(_frames(1)[0])
    np.testing.assert_allclose(chunk.command, np.tanh(-0.5) * np.array([1.0, 0.5, 0.25]), rtol=1e-6)
    assert not chunk.clamped


@pytest.mark.parametrize("execution", ["first", "chunk", "ensemble"])
def test_the_command_sent_is_rounded_to_the_command_resolution(execution: str) -> None:
    """Two runtimes whose outputs differ in their last bits (torch and ONNX Runtime) send the same
    command; the chunk shown keeps the unrounded actions."""
    policy = _policy()
    values = torch.tensor([0.123456, -0.5049, 0.00499, 0.2, 0.3]).view(1, 5, 1).expand(1, 5, 3)
    policy.decode = lambda window: values.to(window.dtype)
    rounded = _runtime(policy, ActionNormalisation.identity(3), execution=execution, command_resolution=0.01)
    exact = _runtime(policy, ActionNormalisation.identity(3), execution=execution)
    frame = _frames(1)[0]
    chunk, plain = rounded.step(frame), exact.step(frame)
    np.testing.assert_allclose(plain.command, [0.123456] * 3, rtol=1e-6)
    np.testing.assert_allclose(chunk.command, [0.12] * 3, rtol=1e-6)
    np.testing.assert_array_equal(chunk.actions, plain.actions)
    nudged = values + 1e-7  # the size of a torch / ONNX Runtime difference
    policy.decode = lambda window: nudged.to(window.dtype)
    again = _runtime(policy, ActionNormalisation.identity(3), execution=execution, command_resolution=0.01)
    np.testing.assert_array_equal(again.step(frame).command, chunk.command)


def test_a_rounded_command_stays_within_the_limits() -> None:
    policy = _policy()
    _set_output(policy, 3.0)
    limits = LimitsConfig(0.337, 0.337, 0.337)
    chunk = _runtime(policy, ActionNormalisation((10.0,) * 3), limits=limits, command_resolution=0.01).step(
        _frames(1)[0]
    )
    np.testing.assert_allclose(chunk.command, [0.337] * 3, rtol=1e-6)  # rounded, 0.34 would be over


def test_non_finite_output_stops_and_drops_the_pending_chunk() -> None:
    policy = _policy()
    runtime = _runtime(policy, execution="chunk")
    frames = _frames(4)
    assert runtime.step(frames[0]).fresh
    _set_output(policy, float("nan"))
    bad = runtime.step(frames[1])
    assert bad.stop and "not finite" in bad.error
    np.testing.assert_array_equal(bad.command, np.zeros(3))
    np.testing.assert_array_equal(bad.actions, np.zeros((policy.horizon, 3)))
    _set_output(policy, 0.1)
    good = runtime.step(frames[2])
    assert not good.stop and good.fresh  # a new chunk, not the rest of the one before the fault


def test_two_dimensional_policy_never_turns() -> None:
    policy = _policy(action_dim=2)
    chunk = _runtime(policy, ActionNormalisation((1.15, 1.15))).step(_frames(1)[0])
    assert chunk.actions.shape == (policy.horizon, 3)
    assert np.all(chunk.actions[:, 2] == 0)


@pytest.mark.parametrize(
    ("asked", "used", "note"),
    [
        ("auto", "fp32", "CPU default"),
        ("fp32", "fp32", ""),
        ("fp16", "fp32", "fp16 is not used"),
        ("bf16", "bf16", ""),
    ],
)
def test_cpu_precision_is_reported(asked: str, used: str, note: str) -> None:
    runtime = PolicyRuntime(_policy(), SCALE, RuntimeConfig(device="cpu", precision=asked))
    assert runtime.precision == used and runtime.device.type == "cpu"
    assert note in runtime.precision_note and (note or not runtime.precision_note)
    assert runtime.describe().startswith(f"cpu {used}")
    runtime.reset("go left")
    assert np.isfinite(runtime.step(_frames(1)[0]).command).all()


def test_step_before_reset_is_refused() -> None:
    runtime = PolicyRuntime(_policy(), SCALE, RuntimeConfig(device="cpu"))
    with pytest.raises(RuntimeError, match="reset"):
        runtime.step(_frames(1)[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    with pytest.raises(ConfigError, match="CUDA is not available"):
        PolicyRuntime(_policy(), SCALE, RuntimeConfig(device="cuda"))


def test_one_bad_frame_stops_one_step_not_a_window() -> None:
    policy = _policy()
    runtime = _runtime(policy)
    encode = policy.encode_frame
    calls = []

    def nan_on_third(pixels, text):
        calls.append(pixels.shape[0])
        out = encode(pixels, text)
        return out * float("nan") if len(calls) == 3 else out

    policy.encode_frame = nan_on_third
    results = [runtime.step(frame) for frame in _frames(policy.window + 2)]
    assert [r.stop for r in results] == [False, False, True] + [False] * (policy.window - 1)
    assert "window cleared" in results[2].error


def test_each_step_encodes_exactly_the_new_frame() -> None:
    policy = _policy()
    runtime = _runtime(policy)
    batches = []
    encode = policy.encode_frame
    policy.encode_frame = lambda pixels, text: batches.append(pixels.shape[0]) or encode(pixels, text)
    steps = policy.window + 3
    for frame in _frames(steps):
        runtime.step(frame)
    assert batches == [1] * steps


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"execution": "ensmble"}, "execution 'ensmble'"),
        ({"precision": "fp8"}, "precision 'fp8'"),
        ({"ensemble_decay": -1.0}, "ensemble_decay must be"),
        ({"ensemble_weighting": "act"}, "ensemble_weighting 'act'"),
        ({"auto_frames": 0}, "auto_frames must be"),
        ({"auto_tolerance": 0.0}, "auto_tolerance must be"),
        ({"command_resolution": -0.01}, "command_resolution must be"),
    ],
)
def test_runtime_config_is_validated_when_made(change: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RuntimeConfig(**change)
    key = next(iter(change))
    with pytest.raises(ConfigError, match=f"runtime.yaml: {key}") as err:  # as read from a YAML file
        from_dict(RuntimeConfig, change, source="runtime.yaml")
    assert "\n" not in str(err.value)


def test_runtime_limits_are_the_shared_limits_config() -> None:
    with pytest.raises(ConfigError, match="runtime.yaml: limits.max_linear_y must be a positive number"):
        from_dict(RuntimeConfig, {"limits": {"max_linear_y": 0.0}}, source="runtime.yaml")
    config = from_dict(RuntimeConfig, {"limits": {"max_angular_z": 0.5}}, source="runtime.yaml")
    assert config.limits == LimitsConfig(1.15, 1.15, 0.5)


def test_runtimes_that_run_a_policy_the_same_way_share_it() -> None:
    policy = _policy()
    first = _runtime(policy)
    second = _runtime(policy, naive=True)  # as `mvla bench --compare naive` builds them
    assert first.policy is second.policy is policy
    frames = _frames(policy.window + 1)
    for frame in frames:
        np.testing.assert_allclose(first.step(frame).actions, second.step(frame).actions, atol=1e-5)


def test_a_runtime_that_would_change_a_held_policy_is_refused() -> None:
    policy = _policy()
    first = _runtime(policy)
    with pytest.raises(
        ConfigError, match="held by another runtime on cpu fp32.*load the policy again"
    ) as err:
        PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="bf16"))
    assert "\n" not in str(err.value)
    assert all(p.dtype == torch.float32 for p in policy.parameters())  # the first one's model is intact
    assert first.dtype == torch.float32 and np.isfinite(first.step(_frames(1)[0]).command).all()


def test_a_closed_or_dropped_runtime_lets_go_of_its_policy() -> None:
    policy = _policy()
    first = _runtime(policy)
    first.close()
    with pytest.raises(RuntimeError, match="after close"):
        first.step(_frames(1)[0])
    second = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="bf16"))
    assert second.dtype == torch.bfloat16 and next(policy.parameters()).dtype == torch.bfloat16
    del second  # no reference left: the policy is free again
    third = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="fp32"))
    assert third.precision == "fp32" and next(policy.parameters()).dtype == torch.float32


def test_sharing_runtimes_keep_their_own_precision_note() -> None:
    policy = _policy()
    asked_fp16 = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="fp16"))  # runs fp32
    asked_fp32 = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="fp32"))
    assert "fp16 is not used" in asked_fp16.precision_note and asked_fp32.precision_note == ""


# ---- discrete heads and the predicted stop --------------------------------------------------------------

CLASSES = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0))  # stop, w, a, d


def _discrete(**head) -> CompactPolicy:
    from policies.config import HeadConfig

    return _policy(head=HeadConfig(hidden=16, kind="discrete", classes=CLASSES, **head))


def _feed_logits(policy: CompactPolicy, chunks: list[list[list[float]]]) -> None:
    """Step k's chunk: the logits `chunks[k]` (one row of 4 per action of the chunk, the last row
    repeated to the horizon)."""
    it = iter(chunks)

    def decode(window):
        rows = next(it)
        rows = rows + [rows[-1]] * (policy.horizon - len(rows))
        return torch.tensor([rows], dtype=window.dtype)

    policy.decode = decode


def _logits(*probabilities: float) -> list[float]:
    return [math.log(p) for p in probabilities]


def test_discrete_action_is_the_most_probable_key_at_full_press() -> None:
    policy = _discrete()
    _feed_logits(policy, [[_logits(0.1, 0.2, 0.6, 0.1)]])
    chunk = _runtime(policy).step(_frames(1)[0])
    np.testing.assert_allclose(chunk.command, [0.0, 1.15, 0.0], atol=1e-6)  # "a" at 1.15, no diagonal


def test_discrete_hold_below_the_threshold() -> None:
    policy = _discrete(hold_threshold=0.5)
    _feed_logits(policy, [[_logits(0.1, 0.4, 0.35, 0.15)], [_logits(0.05, 0.8, 0.1, 0.05)]])
    runtime = _runtime(policy)
    frames = _frames(2)
    np.testing.assert_array_equal(runtime.step(frames[0]).command, [0.0, 0.0, 0.0])  # top 0.4 < 0.5
    np.testing.assert_allclose(runtime.step(frames[1]).command, [1.15, 0.0, 0.0], atol=1e-6)


def test_discrete_ensemble_averages_probabilities_not_actions() -> None:
    """Two chunks, one sure of "a", one a little surer of "d": averaged probabilities pick "d" (or "a"),
    never the half press an average of actions would give."""
    policy = _discrete()
    _feed_logits(
        policy,
        [
            [_logits(0.05, 0.05, 0.85, 0.05), _logits(0.05, 0.05, 0.50, 0.40)],  # step 0: a, then a (0.5)
            [_logits(0.05, 0.05, 0.30, 0.60)],  # step 1: d (0.6)
        ],
    )
    runtime = _runtime(policy, execution="ensemble", ensemble_decay=0.0)
    frames = _frames(2)
    runtime.step(frames[0])
    # step 1: mean of (0.05, 0.05, 0.50, 0.40) and (0.05, 0.05, 0.30, 0.60): a 0.40, d 0.50 -> "d"
    np.testing.assert_allclose(runtime.step(frames[1]).command, [0.0, -1.15, 0.0], atol=1e-6)


def test_a_stop_predicted_by_the_previous_chunk_is_honoured() -> None:
    """Trained with stop targets, the policy says at its last press that a stop comes next: the next
    step stops, whatever the newest chunk (from a view of the goal no training frame showed) says."""
    stop, w = _logits(0.7, 0.1, 0.1, 0.1), _logits(0.1, 0.7, 0.1, 0.1)
    for predicts_stop, expected in ((True, [0.0, 0.0, 0.0]), (False, [1.15, 0.0, 0.0])):
        policy = _discrete()
        policy.config = dataclasses.replace(policy.config, predicts_stop=predicts_stop)
        _feed_logits(policy, [[w, w], [w, stop], [w, w]])
        runtime = _runtime(policy)
        frames = _frames(3)
        assert not runtime.step(frames[0]).stop_predicted
        second = runtime.step(frames[1])  # chunk of step 0 said "w" next: go on
        np.testing.assert_allclose(second.command, [1.15, 0.0, 0.0], atol=1e-6)
        third = runtime.step(frames[2])  # chunk of step 1 said "stop" next
        np.testing.assert_allclose(third.command, expected, atol=1e-6)
        assert third.stop_predicted == predicts_stop and third.error is None


def test_warm_up_leaves_no_trace_in_the_next_episode() -> None:
    """The worker warms a runtime up after loading it (the first step in the app otherwise missed its
    deadline); the episode after it acts exactly as on a runtime never warmed up."""
    policy = _policy()
    warmed, fresh = _runtime(policy), _runtime(policy)
    warmed.warm_up()
    with pytest.raises(RuntimeError, match="before reset"):
        warmed.step(_frames(1)[0])
    for runtime in (warmed, fresh):
        runtime.reset("go left")
    for frame in _frames(4):
        a, b = warmed.step(frame), fresh.step(frame)
        assert np.array_equal(a.actions, b.actions) and a.step == b.step
