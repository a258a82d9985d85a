"""The contract every registered policy keeps: trains, predicts chunks of the right shape, survives a
checkpoint round trip bit-exactly, streams exactly like the windowed forward, and refuses a damaged
checkpoint with a one-line reason. Parametrised over the registry, so a new policy is tested by
registering it and adding its tiny config to conftest.py."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from policies import PolicyLoadError, registry
from policies.base import chunk_loss, discrete_loss
from policies.batch import Batch
from policies.checkpoint import Provenance, load_checkpoint, save_checkpoint, write_manifest
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig, windowed_chunk

INSTRUCTION = "Navigate around the obstacle on the left side and reach the cup"
CPU32 = RuntimeConfig(device="cpu", precision="fp32")


def _frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (30, 40, 3), dtype=np.uint8) for _ in range(count)]


@pytest.fixture(scope="module", params=registry.names())
def built(request, tmp_path_factory, tiny_config):
    """(policy, checkpoint dir, normalisation) of one registered policy, built and saved once."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    torch.manual_seed(0)
    policy = registry.build_policy(name, tiny_config(name, root))
    with torch.no_grad():
        # As if trained: LoRA's B starts at zero and the action token too, which would leave the
        # adapter out of every comparison below.
        for tensor in policy.trainable_state_dict().values():
            tensor.add_(torch.randn_like(tensor) * 0.05)
    norm = ActionNormalisation((1.15, 0.8, 0.5)[: policy.action_dim])
    ckpt = save_checkpoint(policy, root / "ckpt", norm, Provenance(data=["episodes/"], steps=7, commit="abc"))
    return policy.eval(), ckpt, norm


def test_forward_gives_a_finite_loss_and_gradients(built) -> None:
    policy, _, _ = built
    b, t, n, a = 2, policy.window, policy.horizon, policy.action_dim
    frames = np.stack([np.stack(_frames(t, seed)) for seed in range(b)])  # (B, T, H, W, 3)
    mask = torch.ones(b, t, n, dtype=torch.bool)
    mask[1, -1, 2:] = False  # the second episode ends inside the last chunk
    batch = Batch.of_windows(
        policy.preprocess(frames),
        [INSTRUCTION, "Navigate around the obstacle on the right side and reach the cup"],
        torch.rand(b, t, n, a) * 2 - 1,
        mask,
    )
    policy.train()
    try:
        out = policy(batch)
        out.loss.backward()
    finally:
        policy.zero_grad(set_to_none=True)
        policy.eval()
    assert torch.isfinite(out.loss) and out.loss > 0
    assert torch.isfinite(out.mse)


def test_chunk_has_horizon_actions_in_robot_units(built) -> None:
    policy, _, norm = built
    runtime = PolicyRuntime(policy, norm, CPU32)
    runtime.reset(INSTRUCTION)
    chunk = runtime.step(_frames(1)[0])
    assert chunk.actions.shape == (policy.horizon, 3) and chunk.actions.dtype == np.float32
    assert chunk.command.shape == (3,)
    assert not chunk.stop and chunk.latency_ms > 0
    assert np.all(np.abs(chunk.actions[:, : policy.action_dim]) <= np.asarray(norm.scale) + 1e-6)


def test_save_then_load_is_bit_exact(built) -> None:
    policy, ckpt, norm = built
    loaded, loaded_norm, info = load_checkpoint(ckpt)
    assert info.name == policy.name and loaded_norm == norm
    # Both as a runtime holds them (LoRA folded into the base weights; `policies.adapters`): the shared
    # `policy` may already be held by an earlier test, and a fold is not undone bit for bit.
    held = [PolicyRuntime(p, norm, CPU32) for p in (policy, loaded)]
    assert info.provenance.steps == 7 and info.provenance.data == ["episodes/"]
    want, got = policy.state_dict(), loaded.state_dict()
    assert want.keys() == got.keys()
    for key in want:
        assert torch.equal(want[key], got[key]), key
    frames = _frames(policy.window)
    with torch.inference_mode():
        a = windowed_chunk(policy, frames, INSTRUCTION, torch.device("cpu"), torch.float32)
        b = windowed_chunk(loaded, frames, INSTRUCTION, torch.device("cpu"), torch.float32)
    assert torch.equal(a, b)
    for runtime in held:
        runtime.close()


def test_streaming_step_equals_windowed_recompute(built) -> None:
    policy, _, norm = built
    frames = _frames(policy.window + 3, seed=3)
    runtime = PolicyRuntime(policy, norm, CPU32)
    runtime.reset(INSTRUCTION)
    worst = 0.0
    for i, frame in enumerate(frames):
        streamed = runtime.step(frame).actions[:, : policy.action_dim]
        window = frames[max(0, i + 1 - policy.window) : i + 1]
        with torch.inference_mode():
            ref = windowed_chunk(policy, window, INSTRUCTION, torch.device("cpu"), torch.float32)
        worst = max(worst, float(np.abs(norm.denormalise(ref.numpy()) - streamed).max()))
    assert worst < 1e-5


def _rewrite_weights(ckpt: Path, edit) -> None:
    tensors = load_file(str(ckpt / "model.safetensors"))
    with safe_open(str(ckpt / "model.safetensors"), framework="pt") as f:
        metadata = f.metadata()
    edit(tensors)
    save_file(tensors, str(ckpt / "model.safetensors"), metadata=metadata)
    write_manifest(ckpt)  # a consistent manifest: only the key check can catch it


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) * 3 // 4] ^= 0xFF
    path.write_bytes(bytes(data))


def _truncate_and_remanifest(ckpt: Path) -> None:
    _truncate(ckpt / "model.safetensors")
    write_manifest(ckpt)


def _drop_first(tensors: dict) -> None:
    del tensors[sorted(tensors)[0]]


def _reshape_first(tensors: dict) -> None:
    key = sorted(tensors)[0]
    tensors[key] = torch.zeros(tensors[key].numel() + 1)


CORRUPTIONS = {
    "truncated weights": (lambda c: _truncate(c / "model.safetensors"), "model.safetensors", "truncated"),
    "edited byte": (lambda c: _flip_byte(c / "model.safetensors"), "model.safetensors", "sha256 differs"),
    "missing normalisation": (lambda c: (c / "normalisation.json").unlink(), "normalisation.json", "missing"),
    "missing manifest": (lambda c: (c / "manifest.json").unlink(), "manifest.json", "missing"),
    "edited config": (lambda c: _flip_byte(c / "config.yaml"), "config.yaml", "sha256 differs"),
    "truncated, manifest rewritten": (_truncate_and_remanifest, "model.safetensors", "not a readable"),
    "extra key": (
        lambda c: _rewrite_weights(c, lambda t: t.update({"head.extra": torch.zeros(2)})),
        "model.safetensors",
        "unexpected key 'head.extra'",
    ),
    "missing key": (lambda c: _rewrite_weights(c, _drop_first), "model.safetensors", "missing key"),
    "wrong shape": (lambda c: _rewrite_weights(c, _reshape_first), "model.safetensors", "has shape"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_damaged_checkpoint_is_refused_with_one_line(built, tmp_path: Path, case: str) -> None:
    _, ckpt, _ = built
    copy = Path(shutil.copytree(ckpt, tmp_path / "ckpt"))
    damage, file_name, reason = CORRUPTIONS[case]
    damage(copy)
    with pytest.raises(PolicyLoadError) as err:
        load_checkpoint(copy)
    message = str(err.value)
    assert file_name in message and reason in message
    assert "\n" not in message


@pytest.mark.gpu
def test_step_on_cuda_chooses_a_half_precision_by_default(built) -> None:
    """`auto` on CUDA runs fp32 on the first frames, then the half precision that matches it."""
    policy, _, norm = built
    runtime = PolicyRuntime(copy.deepcopy(policy), norm, RuntimeConfig(device="cuda"))
    assert runtime.device.type == "cuda" and runtime.precision == "fp32" and runtime.precision_pending
    runtime.reset(INSTRUCTION)
    for frame in _frames(max(policy.window, runtime.config.auto_frames) + 1):
        chunk = runtime.step(frame)
        assert not chunk.stop and chunk.actions.shape == (policy.horizon, 3)
    assert not runtime.precision_pending and runtime.precision in ("fp16", "bf16"), runtime.describe()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_chunk_loss_counts_targets_exactly_in_half_precision(dtype: torch.dtype) -> None:
    pred = torch.zeros(1, 70000, 1, 1, dtype=dtype)  # fp16 tops out at 65504
    mask = torch.zeros(1, 70000, 1, dtype=torch.bool)
    for count in (1001, 70000):  # bf16 rounds 1001 to 1000
        mask[0, :count] = True
        out = chunk_loss(pred, torch.ones_like(pred), mask, "mse")
        assert out.loss.item() == 1.0 and out.mse.item() == 1.0


@pytest.mark.parametrize("kind", ["huber", "mse"])
def test_chunk_loss_ignores_masked_steps(kind: str) -> None:
    torch.manual_seed(0)
    pred, target = torch.rand(2, 3, 4, 3), torch.rand(2, 3, 4, 3)
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[1, 2, 1:] = False
    before = chunk_loss(pred, target, mask, kind).loss
    changed = target.clone()
    changed[1, 2, 1:] += 100.0
    assert torch.equal(chunk_loss(pred, changed, mask, kind).loss, before)
    changed[1, 2, 0] += 1.0  # an unmasked target does count
    assert not torch.equal(chunk_loss(pred, changed, mask, kind).loss, before)


def test_loss_weights_reach_the_loss(built) -> None:
    """`Batch.weights` weigh each target: all ones is the unweighted loss bit for bit, a step weighted 0
    counts as a masked one, a step weighted 2 counts twice (the weighted mean over the targets)."""
    policy, _, _ = built
    b, t, n, a = 2, policy.window, policy.horizon, policy.action_dim
    frames = np.stack([np.stack(_frames(t, seed)) for seed in range(b)])
    torch.manual_seed(1)
    mask = torch.ones(b, t, n, dtype=torch.bool)
    mask[1, -1, 2:] = False

    def loss(mask: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        batch = Batch.of_windows(policy.preprocess(frames), [INSTRUCTION] * b, targets, mask)
        batch.weights = weights
        with torch.no_grad():
            return policy(batch).loss

    targets = torch.rand(b, t, n, a) * 2 - 1
    plain = loss(mask)
    assert torch.equal(loss(mask, torch.ones(b, t, n)), plain)
    step = torch.zeros(b, t, n, dtype=torch.bool)
    step[0, 1] = True  # every target of one step of one window
    zero = torch.where(step, 0.0, 1.0)
    without = mask & ~step
    torch.testing.assert_close(loss(mask, zero), loss(without), rtol=1e-6, atol=1e-7)
    assert not torch.allclose(loss(mask, zero), plain)
    only = loss(mask & step)
    rest, n_rest, n_step = loss(without), float(without.sum()), float((mask & step).sum())
    twice = (rest * n_rest + 2 * only * n_step) / (n_rest + 2 * n_step)
    torch.testing.assert_close(loss(mask, torch.where(step, 2.0, 1.0)), twice, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["huber", "mse", "discrete"])
def test_a_target_weighted_2_counts_as_that_target_twice(kind: str) -> None:
    """Loss and gradient of a chunk with one target weighted 2 equal those of the chunk with that target
    repeated; the reported mse stays the plain mean."""
    torch.manual_seed(0)
    classes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])

    def run(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, w: torch.Tensor | None):
        pred = pred.clone().requires_grad_(True)
        if kind == "discrete":
            index = (target.unsqueeze(-2) - classes).square().sum(-1).argmin(-1)
            out = discrete_loss(pred, index, mask, torch.tensor([1.0, 2.0, 0.5]), target, target, w)
        else:
            out = chunk_loss(pred, target, mask, kind, w)
        out.loss.backward()
        assert pred.grad is not None
        return out, pred.grad

    width = 3 if kind == "discrete" else 2
    pred = torch.randn(1, 4, width)
    target = classes[torch.tensor([[1, 2, 0, 1]])]
    mask = torch.tensor([[True, True, True, False]])
    weights = torch.tensor([[1.0, 2.0, 1.0, 1.0]])
    weighted, grad = run(pred, target, mask, weights)
    repeat = torch.tensor([0, 1, 1, 2, 3])
    twice, grad_twice = run(pred[:, repeat], target[:, repeat], mask[:, repeat], None)
    torch.testing.assert_close(weighted.loss, twice.loss)
    folded = grad_twice[:, [0, 1, 3, 4]].clone()
    folded[:, 1] += grad_twice[:, 2]  # both copies of the repeated target
    torch.testing.assert_close(grad, folded)
    assert torch.equal(weighted.mse, run(pred, target, mask, None)[0].mse)
