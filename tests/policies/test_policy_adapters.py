"""LoRA folded for inference (`policies.adapters`, done by the runtime when it holds a policy) gives the
outputs of the unmerged path that training runs, within fp32 rounding, on tiny Kosmos-2 policies whose
adapters are not zero; a policy put back in training mode is unfolded again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from policies import registry
from policies.adapters import merge_adapters, unmerge_adapters
from policies.bench import synthetic_frames
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig, windowed_chunk
from tests.policies.conftest import make_tiny_config

TOLERANCE = 1e-5  # normalised actions and features, fp32; measured differences are about 1e-7
INSTRUCTION = "go around the box on the left"


def _trained_like(name: str, tmp_path: Path) -> torch.nn.Module:
    policy = registry.build_policy(name, make_tiny_config(name, tmp_path))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, param in policy.named_parameters():
            if "lora_B" in key:  # PEFT starts B at zero, which would make any merge look exact
                param.copy_(torch.randn(param.shape, generator=gen) * 0.05)
    return policy


def _merged(policy: torch.nn.Module) -> list[bool]:
    return [m.merged for m in policy.modules() if hasattr(m, "merged") and hasattr(m, "lora_A")]


@pytest.mark.parametrize("name", ["kosmos2", "kosmos2_clip"])
def test_the_runtime_folds_lora_and_matches_the_unmerged_path(name: str, tmp_path: Path) -> None:
    policy = _trained_like(name, tmp_path)
    policy.eval()
    frames = synthetic_frames((48, 64), count=policy.window)
    with torch.inference_mode():
        want = windowed_chunk(policy, frames, INSTRUCTION, torch.device("cpu"), torch.float32)
    assert not any(_merged(policy))

    runtime = PolicyRuntime(
        policy, ActionNormalisation.identity(3), RuntimeConfig(device="cpu", precision="fp32")
    )
    assert _merged(policy) and all(_merged(policy))
    runtime.reset(INSTRUCTION)
    for frame in frames:
        chunk = runtime.step(frame)
    got = np.asarray(chunk.actions, np.float32)
    np.testing.assert_allclose(got, policy.output_actions(want).numpy(), atol=TOLERANCE)
    runtime.close()

    policy.train()  # back to training: the adapters are unfolded
    assert not any(_merged(policy))
    policy.eval()
    with torch.inference_mode():
        again = windowed_chunk(policy, frames, INSTRUCTION, torch.device("cpu"), torch.float32)
    torch.testing.assert_close(again, want, atol=TOLERANCE, rtol=0)


def test_merge_and_unmerge_count_layers_and_are_idempotent(tmp_path: Path) -> None:
    policy = _trained_like("kosmos2", tmp_path)
    layers = len(_merged(policy))
    assert layers > 0
    assert merge_adapters(policy) == layers and merge_adapters(policy) == 0
    assert unmerge_adapters(policy) == layers and unmerge_adapters(policy) == 0
    compact = registry.build_policy("compact", make_tiny_config("compact", tmp_path))
    assert merge_adapters(compact) == 0  # no adapters: nothing to do
