"""`auto` precision: fp16 is taken only when it matches fp32 on the first frames, else bf16, else fp32.

The comparison (`choose_precision`) runs on a CPU with tiny compact policies whose weights are scaled
so that fp16 overflows (-> bf16) or both half precisions lose the signal (-> fp32). The runtime's
switch is driven on a CPU by letting `auto_candidates` offer CUDA's candidates there; the `gpu` tests
run the real CUDA path."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest
import torch

from configs import ConfigError
from policies import registry
from policies import runtime as runtime_module
from policies.bench import run_benchmark
from policies.compact.model import CompactPolicy
from policies.normalisation import ActionNormalisation
from policies.precision import PrecisionChoice, auto_candidates, choose_precision, stream_chunks
from policies.runtime import PolicyRuntime, RuntimeConfig, windowed_chunk
from tests.policies.conftest import tiny_compact_config

CPU = torch.device("cpu")
SCALE = ActionNormalisation((1.15, 1.15, 1.15))
LEFT = "go left"


def _frames(count: int, seed: int = 1) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(count)]


def _policy(**changes) -> CompactPolicy:
    torch.manual_seed(0)
    return CompactPolicy(dataclasses.replace(tiny_compact_config(None), **changes)).eval()


def _fp16_overflows(policy: CompactPolicy) -> CompactPolicy:
    """First conv x 1e6: its outputs exceed fp16's 65504 (inf, then NaN), bf16 and fp32 hold them, and
    the GroupNorm after it takes the scale out again, so fp32's actions hardly change."""
    with torch.no_grad():
        policy.vision.blocks[0][0].weight.mul_(1e6)
    return policy


def _half_precisions_lose_the_signal(policy: CompactPolicy, offset: float = 1e5) -> CompactPolicy:
    """Every frame feature + `offset`, taken off again in the LSTM's input bias: fp32 keeps the
    features, fp16 overflows (offset 1e5) or rounds them to steps of 8 (offset 2e3), bf16 rounds them
    to steps of 512 (1e5) or 16 (2e3): the image is lost."""
    with torch.no_grad():
        policy.fuse[2].bias.add_(offset)
        lstm = policy.head.lstm
        lstm.bias_ih_l0.sub_(offset * lstm.weight_ih_l0.sum(dim=1))
    return policy


@pytest.fixture
def cuda_candidates_on_cpu(monkeypatch):
    """`auto` on a CPU behaves as on a CUDA GPU with bf16: fp32 first, then fp16, bf16 compared (the
    runtime's own name for `auto_candidates` is replaced: that is the one it calls)."""
    monkeypatch.setattr(runtime_module, "auto_candidates", lambda device: ("fp16", "bf16"))


def _auto_runtime(policy, **config) -> PolicyRuntime:
    runtime = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="auto", **config))
    runtime.reset(LEFT)
    return runtime


# -- choose_precision ---------------------------------------------------------------------------


def test_a_policy_that_matches_in_fp16_takes_the_first_candidate() -> None:
    choice = choose_precision(_policy(), _frames(4), LEFT, CPU, ("fp16", "bf16"), 0.02)
    assert choice.precision == "fp16" and list(choice.differences) == ["fp16"]  # bf16 not tried
    assert 0 < choice.differences["fp16"] <= 0.02
    assert choice.note.startswith("matches fp32 within ") and choice.note.endswith("on the first 4 frames")


def test_fp16_overflow_falls_back_to_bf16() -> None:
    choice = choose_precision(_fp16_overflows(_policy()), _frames(4), LEFT, CPU, ("fp16", "bf16"), 0.02)
    assert choice.precision == "bf16" and choice.dtype == torch.bfloat16
    assert choice.differences["fp16"] == float("inf") and choice.differences["bf16"] <= 0.02
    assert choice.note.startswith("fp16 was not finite; bf16 matches fp32 within ")


def test_both_half_precisions_disagreeing_stays_fp32() -> None:
    policy = _half_precisions_lose_the_signal(_policy())
    choice = choose_precision(policy, _frames(4), LEFT, CPU, ("fp16", "bf16"), 0.02)
    assert choice.precision == "fp32" and choice.differences["bf16"] > 0.02
    assert choice.note.startswith("fp16 was not finite, bf16 differed from fp32 by ")
    assert choice.note.endswith("> 0.02 on the first 4 frames")


def test_the_fp32_note_gives_every_measured_difference() -> None:
    note = PrecisionChoice("fp32", {"fp16": 0.41, "bf16": 0.05}, 4, 0.02).note
    assert note == "fp16 differed from fp32 by 0.41 > 0.02, bf16 by 0.05 > 0.02 on the first 4 frames"
    finite_but_off = _half_precisions_lose_the_signal(_policy(), offset=2e3)
    choice = choose_precision(finite_but_off, _frames(4), LEFT, CPU, ("fp16", "bf16"), 0.02)
    assert choice.precision == "fp32" and all(0.02 < d < float("inf") for d in choice.differences.values())
    assert choice.note.startswith("fp16 differed from fp32 by ") and ", bf16 by " in choice.note


def test_choosing_leaves_the_fp32_module_as_it_was() -> None:
    policy = _fp16_overflows(_policy())
    before = {name: (t.dtype, t.data_ptr(), t.clone()) for name, t in policy.state_dict().items()}
    choose_precision(policy, _frames(4), LEFT, CPU, ("fp16", "bf16"), 0.02)
    for name, t in policy.state_dict().items():
        dtype, pointer, value = before[name]
        assert (t.dtype, t.data_ptr()) == (dtype, pointer) and torch.equal(t, value), name


def test_the_reference_passed_in_is_what_candidates_are_compared_with() -> None:
    policy, frames = _policy(), _frames(4)
    with torch.inference_mode():
        reference = stream_chunks(policy, frames, LEFT, CPU, torch.float32).numpy()
    assert choose_precision(policy, frames, LEFT, CPU, ("fp16",), 0.02, reference).precision == "fp16"
    assert choose_precision(policy, frames, LEFT, CPU, ("fp16",), 0.02, reference + 0.5).precision == "fp32"
    nan = choose_precision(policy, frames, LEFT, CPU, ("fp16",), 0.02, reference * np.nan)
    assert nan.precision == "fp32" and "fp32 output was not finite" in nan.note


@pytest.mark.parametrize("name", registry.names())
def test_cast_weights_give_the_same_chunks_as_a_converted_module(name, tiny_config, tmp_path) -> None:
    torch.manual_seed(0)
    policy = registry.build_policy(name, tiny_config(name, tmp_path)).eval()
    frames = _frames(5)  # one more than the window: the last chunk sees frames 1..4
    for dtype in (torch.bfloat16, torch.float16):
        cast = stream_chunks(policy, frames, LEFT, CPU, dtype)  # fp32 module, weights cast on the fly
        converted = stream_chunks(copy.deepcopy(policy).to(dtype), frames, LEFT, CPU, dtype)
        assert cast.dtype == dtype and torch.equal(cast, converted), dtype
    assert all(p.dtype == torch.float32 for p in policy.parameters())


def test_stream_chunks_are_the_windowed_chunks_of_each_step() -> None:
    policy, frames = _policy(), _frames(6)
    chunks = stream_chunks(policy, frames, LEFT, CPU, torch.float32)
    with torch.inference_mode():
        for i in range(len(frames)):
            window = frames[max(0, i + 1 - policy.window) : i + 1]
            ref = windowed_chunk(policy, window, LEFT, CPU, torch.float32)
            torch.testing.assert_close(chunks[i], ref, atol=1e-5, rtol=0)


# -- the runtime's switch -------------------------------------------------------------------------


def test_auto_on_a_cpu_is_fp32_without_comparing() -> None:
    runtime = _auto_runtime(_policy())
    assert not runtime.precision_pending and runtime.precision == "fp32"
    assert runtime.precision_note == "the CPU default"


def test_auto_runs_fp32_on_the_first_frames_then_switches(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    runtime = _auto_runtime(policy)
    k = runtime.config.auto_frames
    assert k == 4 and runtime.precision_pending and runtime.precision == "fp32"
    assert "auto: fp32 for the first 4 frames, then fp16 or bf16" in runtime.describe()
    frames = _frames(k + 3)
    for frame in frames[: k - 1]:
        runtime.step(frame)
        assert runtime.precision == "fp32" and next(policy.parameters()).dtype == torch.float32
    runtime.step(frames[k - 1])  # the K-th frame: compared, converted
    assert not runtime.precision_pending and runtime.precision == "fp16"
    assert next(policy.parameters()).dtype == torch.float16 and runtime.dtype == torch.float16
    assert runtime.precision_note.startswith("matches fp32 within ")
    assert runtime.describe().startswith("cpu fp16 (matches fp32 within ")
    # The window was re-encoded in fp16, not restarted: the next chunks are those of the full window.
    with torch.inference_mode():
        for i in range(k, len(frames)):
            got = runtime.step(frames[i]).actions
            window = frames[max(0, i + 1 - policy.window) : i + 1]
            ref = SCALE.denormalise(windowed_chunk(policy, window, LEFT, CPU, torch.float16).float().numpy())
            np.testing.assert_allclose(got, ref, atol=2e-3)
            short = SCALE.denormalise(
                windowed_chunk(policy, frames[i : i + 1], LEFT, CPU, torch.float16).float().numpy()
            )
            assert not np.allclose(got, short, atol=2e-3)  # what a restarted window would have sent


def test_the_first_frames_run_fp32_exactly(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    fixed = copy.deepcopy(policy)
    runtime = _auto_runtime(policy)
    reference = PolicyRuntime(fixed, SCALE, RuntimeConfig(device="cpu", precision="fp32"))
    reference.reset(LEFT)
    for frame in _frames(runtime.config.auto_frames):
        np.testing.assert_array_equal(runtime.step(frame).actions, reference.step(frame).actions)


def test_auto_picks_bf16_when_fp16_overflows(cuda_candidates_on_cpu) -> None:
    runtime = _auto_runtime(_fp16_overflows(_policy()))
    for frame in _frames(6):
        chunk = runtime.step(frame)
        assert not chunk.stop  # fp16 was never run on the robot
    assert runtime.precision == "bf16" and runtime.precision_note.startswith("fp16 was not finite; bf16 ")


def test_auto_stays_fp32_when_both_disagree(cuda_candidates_on_cpu) -> None:
    policy = _half_precisions_lose_the_signal(_policy())
    runtime = _auto_runtime(policy)
    for frame in _frames(6):
        assert not runtime.step(frame).stop
    assert runtime.precision == "fp32" and next(policy.parameters()).dtype == torch.float32
    assert runtime.describe().startswith("cpu fp32 (fp16 was not finite, bf16 differed from fp32 by ")


def test_a_bad_frame_while_comparing_restarts_the_count(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    runtime = _auto_runtime(policy)
    encode, calls = policy.encode_frame, []

    def nan_on_second(pixels, text):
        calls.append(pixels.shape[0])
        out = encode(pixels, text)
        return out * float("nan") if len(calls) == 2 else out

    policy.encode_frame = nan_on_second
    frames = _frames(6)
    assert runtime.step(frames[0]).error is None and runtime.step(frames[1]).stop
    for frame in frames[2:5]:  # three good frames after the bad one: not yet K
        runtime.step(frame)
        assert runtime.precision_pending
    runtime.step(frames[5])
    assert not runtime.precision_pending and runtime.precision == "fp16"


def test_a_reset_while_comparing_restarts_the_count(cuda_candidates_on_cpu) -> None:
    runtime = _auto_runtime(_policy())
    frames = _frames(7)
    for frame in frames[:3]:
        runtime.step(frame)
    runtime.reset("go right")
    for frame in frames[3:6]:
        runtime.step(frame)
        assert runtime.precision_pending
    runtime.step(frames[6])
    assert runtime.precision == "fp16"


def test_runtimes_sharing_an_auto_policy_follow_one_choice(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    streaming, naive = _auto_runtime(policy), _auto_runtime(policy, naive=True)
    frames = _frames(7)
    k = streaming.config.auto_frames
    for i, frame in enumerate(frames):
        a, b = streaming.step(frame), naive.step(frame)  # the first to see K frames chooses
        assert streaming.precision == naive.precision == ("fp32" if i < k - 1 else "fp16")
        np.testing.assert_allclose(a.actions, b.actions, atol=2e-3)
    assert naive.precision_note == streaming.precision_note


def test_the_second_of_two_sharing_runtimes_reencodes_its_window(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    first, second = _auto_runtime(policy), _auto_runtime(policy)
    frames = _frames(6)
    k = first.config.auto_frames
    for frame in frames[: k - 1]:
        first.step(frame)
        second.step(frame)
    first.step(frames[k - 1])  # first chooses fp16; second still holds fp32 features of 3 frames
    got = second.step(frames[k - 1]).actions
    with torch.inference_mode():
        ref = windowed_chunk(policy, frames[:k], LEFT, CPU, torch.float16).float().numpy()
    np.testing.assert_allclose(got, SCALE.denormalise(ref), atol=2e-3)


def test_auto_and_an_explicit_precision_do_not_share(cuda_candidates_on_cpu) -> None:
    policy = _policy()
    _held = _auto_runtime(policy)
    with pytest.raises(ConfigError, match=r"cpu auto precision \(not chosen yet\).*load the policy again"):
        PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="fp32"))


def test_bench_warms_up_past_the_auto_choice(cuda_candidates_on_cpu) -> None:
    policy = _policy(window=2)
    report = run_benchmark(policy, SCALE, RuntimeConfig(device="cpu"), steps=2, warmup=0, compare_naive=True)
    fast, naive = report.runs
    assert fast.warmup == 4  # auto_frames, more than the window
    assert fast.precision == naive.precision == "fp16" and fast.precision_note == naive.precision_note
    # The benchmark let go of the policy: it can be run another way now.
    assert PolicyRuntime(policy, SCALE, RuntimeConfig(device="cpu", precision="bf16")).precision == "bf16"


# -- the CUDA path ------------------------------------------------------------------------------------


def _cuda_frames(count: int) -> list[np.ndarray]:
    return _frames(count, seed=3)


@pytest.mark.gpu
def test_auto_on_cuda_chooses_fp16_for_a_well_behaved_policy() -> None:
    policy = _policy()
    runtime = PolicyRuntime(policy, SCALE, RuntimeConfig(device="cuda"))
    assert runtime.precision_pending and runtime.precision == "fp32"
    runtime.reset(LEFT)
    frames = _cuda_frames(7)
    k = runtime.config.auto_frames
    for frame in frames[:k]:
        assert not runtime.step(frame).stop
    assert runtime.precision == "fp16" and runtime.precision_note.startswith("matches fp32 within ")
    assert next(policy.parameters()).dtype == torch.float16
    device = runtime.device
    with torch.inference_mode():
        for i in range(k, len(frames)):
            got = runtime.step(frames[i]).actions
            window = frames[max(0, i + 1 - policy.window) : i + 1]
            ref = windowed_chunk(policy, window, LEFT, device, torch.float16).float().cpu().numpy()
            np.testing.assert_allclose(got, SCALE.denormalise(ref), atol=2e-3)


@pytest.mark.gpu
def test_auto_on_cuda_falls_back_when_fp16_overflows() -> None:
    runtime = PolicyRuntime(_fp16_overflows(_policy()), SCALE, RuntimeConfig(device="cuda"))
    runtime.reset(LEFT)
    for frame in _cuda_frames(6):
        assert not runtime.step(frame).stop
    expected = "bf16" if "bf16" in auto_candidates(runtime.device) else "fp32"
    assert runtime.precision == expected and runtime.precision_note.startswith("fp16 was not finite")


@pytest.mark.gpu
def test_cuda_cast_weights_give_the_same_chunks_as_a_converted_module() -> None:
    policy = _policy().to("cuda")
    device = next(policy.parameters()).device
    frames = _cuda_frames(5)
    for dtype in (torch.float16, torch.bfloat16):
        cast = stream_chunks(policy, frames, LEFT, device, dtype)
        converted = stream_chunks(copy.deepcopy(policy).to(dtype), frames, LEFT, device, dtype)
        torch.testing.assert_close(cast, converted, atol=1e-3, rtol=0)  # cuDNN may pick other kernels
