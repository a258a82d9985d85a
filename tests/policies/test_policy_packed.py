"""Linear layers packed into oneDNN's layout for fp32 CPU inference (`policies.packed`, done by the runtime
when it holds a policy on the CPU in fp32): the runtime's chunks equal the plain layers' within fp32
rounding on tiny Kosmos-2 policies (packed at a threshold lowered to 0; at full size every layer passes the
real one); training, folding and unfolding adapters get plain layers back with the same values; and the
compact default policy's small layers are left as they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from policies import packed, registry
from policies.adapters import unmerge_adapters
from policies.bench import synthetic_frames
from policies.normalisation import ActionNormalisation
from policies.packed import PackedLinear, pack_linears, parameter_count, unpack_linears
from policies.runtime import PolicyRuntime, RuntimeConfig, windowed_chunk
from tests.policies.conftest import make_tiny_config
from tests.policies.test_policy_adapters import INSTRUCTION, TOLERANCE, _trained_like

pytestmark = pytest.mark.skipif(not packed.packing_available(), reason="this torch has no oneDNN")


def _packed(module: nn.Module) -> int:
    return sum(isinstance(m, PackedLinear) for m in module.modules())


def test_a_packed_layer_computes_the_linear_and_unpacks_to_the_same_values() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 32, bias=False))
    x = torch.randn(2, 7, 64)
    with torch.inference_mode():
        want = model(x)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    count = parameter_count(model)
    assert pack_linears(model, min_weights=0) == 2 and _packed(model) == 2
    assert dict(model.named_parameters()) == {}  # the dense weights were released
    assert parameter_count(model) == count == 64 * 256 + 256 + 256 * 32  # what `mvla bench` prints
    with torch.inference_mode():
        torch.testing.assert_close(model(x), want, atol=1e-5, rtol=0)
    assert unpack_linears(model) == 2 and _packed(model) == 0
    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], before[k]) for k in before)  # the reorder is exact


def test_only_fp32_cpu_layers_of_at_least_min_weights_are_packed() -> None:
    model = nn.Sequential(nn.Linear(32, 32), nn.Linear(32, 64), nn.Linear(64, 64).to(torch.bfloat16))
    assert pack_linears(model, min_weights=32 * 64) == 1
    assert [type(m).__name__ for m in model] == ["Linear", "PackedLinear", "Linear"]


@pytest.mark.parametrize("name", ["kosmos2", "kosmos2_clip"])
def test_the_cpu_runtime_packs_and_matches_the_plain_layers(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy = _trained_like(name, tmp_path)
    policy.eval()
    frames = synthetic_frames((48, 64), count=policy.window)
    with torch.inference_mode():
        want = windowed_chunk(policy, frames, INSTRUCTION, torch.device("cpu"), torch.float32)
    trainable = {k: v.clone() for k, v in policy.trainable_state_dict().items()}
    backbone_weights = {k: v.clone() for k, v in policy.backbone.state_dict().items()}

    monkeypatch.setattr(packed, "MIN_WEIGHTS", 0)
    runtime = PolicyRuntime(
        policy, ActionNormalisation.identity(3), RuntimeConfig(device="cpu", precision="fp32")
    )
    assert _packed(policy) > 0
    runtime.reset(INSTRUCTION)
    for frame in frames:
        chunk = runtime.step(frame)
    np.testing.assert_allclose(chunk.actions, policy.output_actions(want).numpy(), atol=TOLERANCE)
    runtime.close()

    policy.train()  # back to training: plain layers, unfolded adapters, the same values
    assert _packed(policy) == 0
    assert all(torch.equal(v, trainable[k]) for k, v in policy.trainable_state_dict().items())
    restored = policy.backbone.state_dict()
    assert restored.keys() == backbone_weights.keys()
    for key, value in backbone_weights.items():
        torch.testing.assert_close(restored[key], value, atol=1e-6, rtol=0)  # fold and unfold round


def test_unfolding_adapters_unpacks_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = _trained_like("kosmos2", tmp_path)
    monkeypatch.setattr(packed, "MIN_WEIGHTS", 0)
    PolicyRuntime(policy, ActionNormalisation.identity(3), RuntimeConfig(device="cpu", precision="fp32"))
    assert _packed(policy) > 0
    assert unmerge_adapters(policy) > 0 and _packed(policy) == 0


def test_the_default_policys_layers_are_too_small_to_pack(tmp_path: Path) -> None:
    compact = registry.build_policy("compact", make_tiny_config("compact", tmp_path))
    assert pack_linears(compact) == 0
    from policies.checkpoint import load_checkpoint

    default = load_checkpoint(Path(packed.__file__).parent / "default")[0]
    assert pack_linears(default) == 0
