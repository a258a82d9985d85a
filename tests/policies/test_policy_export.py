"""ONNX export of tiny configurations of every registered policy (built through the real
`from_pretrained` path, `tests/policies/conftest.py`), run by ONNX Runtime: within the fp32 gate per
graph output, a dynamic batch, the same runtime commands as torch through `PolicyRuntime`, the export
record, and an export that refuses to run on other weights."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from policies import registry
from policies.checkpoint import load_checkpoint, save_checkpoint
from policies.export import EXPORT_JSON
from policies.export.exported import load_exported, manifest_hash
from policies.export.parity import FP32_MAX_ABS
from policies.export.pipeline import export_policy
from policies.normalisation import ActionNormalisation
from policies.runtime import PolicyRuntime, RuntimeConfig

INSTRUCTION = "navigate around the obstacle on the left side and reach the cup"


def frames(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(count)]


def tiny_checkpoint(name: str, tiny_config, root: Path, seed: int = 0) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(seed)
        policy = registry.build_policy(name, tiny_config(name, root / "backbones"))
    with torch.no_grad():  # a head that is not all zeros, so the actions differ between frames
        for p in policy.head.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    normalisation = ActionNormalisation((1.15,) * policy.action_dim)
    return save_checkpoint(policy, root / f"ckpt-{name}", normalisation)


def export_checkpoint(checkpoint: Path, fp16: bool = False, out: Path | None = None):
    policy, normalisation, _ = load_checkpoint(checkpoint)
    return export_policy(
        policy,
        normalisation,
        out or checkpoint / ("onnx-fp16" if fp16 else "onnx"),
        frames(policy.window),
        INSTRUCTION,
        fp16=fp16,
        checkpoint_hash=manifest_hash(checkpoint),
    )


@pytest.mark.parametrize("name", registry.names())
def test_every_policy_exports_within_the_fp32_gate_and_drives_like_torch(
    name: str, tiny_config, tmp_path: Path
) -> None:
    checkpoint = tiny_checkpoint(name, tiny_config, tmp_path)
    result = export_checkpoint(checkpoint)
    assert result.parity.passed, result.parity.format_table()
    graph_rows = [r for r in result.parity.rows if r.name != "actions"]
    assert {r.name.split("/")[0] for r in graph_rows} == {"instruction", "frame", "head"}
    assert all(r.max_abs <= FP32_MAX_ABS and r.gate for r in graph_rows)

    meta = json.loads((checkpoint / "onnx" / EXPORT_JSON).read_text())
    assert meta["format"] == "onnx" and meta["opset"] >= 17 and meta["precision"] == "fp32"
    assert meta["onnxruntime"] and meta["checkpoint_manifest_sha256"] == manifest_hash(checkpoint)
    assert all((checkpoint / "onnx" / f).is_file() for f in meta["files"])
    if name != "compact":
        assert meta["lora_merged"] > 0  # the tiny Kosmos configs train LoRA adapters

    torch_policy, normalisation, _ = load_checkpoint(checkpoint)
    exported, _, _ = load_exported(checkpoint, runtime="onnx")
    # A dynamic batch: three frames at once, as the runtime re-encodes a window.
    batch = frames(3, seed=5)
    with torch.no_grad():
        want = torch_policy.encode_frame(
            torch_policy.preprocess(np.stack(batch)), torch_policy.encode_instruction([INSTRUCTION] * 3)
        )
    got = exported.encode_frame(
        exported.preprocess(np.stack(batch)), exported.encode_instruction([INSTRUCTION] * 3)
    )
    assert got.shape == want.shape and float((got - want).abs().max()) <= FP32_MAX_ABS

    # The runtime's own logic around both: the same commands step by step (past a full window).
    config = RuntimeConfig(device="cpu", precision="fp32", execution="ensemble")
    runtimes = [PolicyRuntime(p, normalisation, config) for p in (torch_policy, exported)]
    for r in runtimes:
        r.reset(INSTRUCTION)
    for frame in frames(torch_policy.window + 2, seed=9):
        a, b = (r.step(frame) for r in runtimes)
        assert not a.stop and not b.stop
        np.testing.assert_allclose(b.command, a.command, atol=1e-4)
        np.testing.assert_allclose(b.actions, a.actions, atol=1e-4)
    assert runtimes[1].describe().startswith("onnx runtime: fp32 graphs (CPUExecutionProvider")


def test_fp16_export_passes_its_gates(tiny_config, tmp_path: Path) -> None:
    checkpoint = tiny_checkpoint("compact", tiny_config, tmp_path)
    result = export_checkpoint(checkpoint, fp16=True)
    assert result.parity.passed, result.parity.format_table()
    assert result.meta.precision == "fp16"
    gates = {r.name: r.gate for r in result.parity.rows}
    assert gates["frame/features"] == "cosine >= 0.999" and gates["actions"] == "max abs <= 0.02"
    assert "instruction/text" in result.parity.format_table()


def test_an_export_of_other_weights_or_format_is_refused(tiny_config, tmp_path: Path) -> None:
    from configs import ConfigError, MvlaError

    checkpoint = tiny_checkpoint("compact", tiny_config, tmp_path)
    export_checkpoint(checkpoint)
    other = tiny_checkpoint("compact", tiny_config, tmp_path / "other", seed=1)
    with pytest.raises(MvlaError, match="exported from other weights"):
        load_exported(other, export=checkpoint / "onnx", runtime="onnx")
    with pytest.raises(ConfigError, match="holds an export of format onnx; --runtime trt needs tensorrt"):
        from policies.export.exported import ExportedPolicy

        ExportedPolicy("compact", load_checkpoint(checkpoint)[0].config, checkpoint / "onnx", "trt")
    with pytest.raises(ConfigError, match="no export at"):
        load_exported(other, runtime="onnx")
    with pytest.raises(ConfigError, match=r"--export .*missing: no export.json there; `mvla export .* --out"):
        load_exported(other, export=tmp_path / "missing", runtime="onnx")


def test_a_graph_from_another_export_is_refused(tiny_config, tmp_path: Path) -> None:
    """export.json records each file's sha256: a frame.onnx copied in from another export is caught."""
    import shutil

    from configs import MvlaError
    from mvla_tui.doctor.policy import engines_check

    checkpoint = tiny_checkpoint("compact", tiny_config, tmp_path)
    other = tiny_checkpoint("compact", tiny_config, tmp_path / "other", seed=1)
    export_checkpoint(checkpoint)
    export_checkpoint(other)
    load_exported(checkpoint, runtime="onnx")  # as written: accepted
    mine = (checkpoint / "onnx" / "frame.onnx").read_bytes()
    shutil.copy(other / "onnx" / "frame.onnx", checkpoint / "onnx" / "frame.onnx")
    with pytest.raises(MvlaError, match=r"frame.onnx: not the file this export wrote \(sha256 differs\)"):
        load_exported(checkpoint, runtime="onnx")
    check = engines_check(checkpoint, lambda: None)
    assert check.status == "warn" and "frame.onnx: not the file this export wrote" in check.detail
    (checkpoint / "onnx" / "frame.onnx").write_bytes(mine)
    (checkpoint / "onnx" / "head.onnx").unlink()
    with pytest.raises(MvlaError, match="head.onnx: missing from the export"):
        load_exported(checkpoint, runtime="onnx")


def test_graphs_over_the_protobuf_limit_keep_their_weights_in_one_data_file(
    tiny_config, tmp_path: Path, monkeypatch
) -> None:
    from policies.export import graphs

    monkeypatch.setattr(graphs, "EXTERNAL_LIMIT", 0)  # every graph counts as over 2 GB
    checkpoint = tiny_checkpoint("compact", tiny_config, tmp_path)
    result = export_checkpoint(checkpoint)
    assert result.parity.passed, result.parity.format_table()
    folder = checkpoint / "onnx"
    for name in ("instruction", "frame", "head"):
        assert f"{name}.onnx.data" in result.meta.files and (folder / f"{name}.onnx.data").is_file()
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no trace folders left


def test_a_discrete_head_with_a_predicted_stop_drives_like_torch(tiny_config, tmp_path: Path) -> None:
    """The head's logits come from the graph; the class choice, hold threshold, ensembling of
    probabilities and the predicted stop stay the runtime's, from the checkpoint's config."""
    import dataclasses

    from policies.config import HeadConfig

    classes = ((0.0, 0.0, 0.0), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, -1.0, 0.0))
    config = dataclasses.replace(
        tiny_config("compact", tmp_path),
        head=HeadConfig(hidden=16, kind="discrete", classes=classes, hold_threshold=0.3),
        predicts_stop=True,
    )
    torch.manual_seed(3)
    policy = registry.build_policy("compact", config)
    with torch.no_grad():
        for p in policy.head.parameters():
            p.add_(torch.randn_like(p))
    checkpoint = save_checkpoint(policy, tmp_path / "discrete", ActionNormalisation((1.15,) * 3))
    assert export_checkpoint(checkpoint).parity.passed
    torch_policy, normalisation, _ = load_checkpoint(checkpoint)
    exported, _, _ = load_exported(checkpoint, runtime="onnx")
    for execution in ("first", "ensemble"):
        cfg = RuntimeConfig(device="cpu", precision="fp32", execution=execution)
        runtimes = [PolicyRuntime(p, normalisation, cfg) for p in (torch_policy, exported)]
        for r in runtimes:
            r.reset(INSTRUCTION)
        for frame in frames(8, seed=11):
            a, b = (r.step(frame) for r in runtimes)
            np.testing.assert_array_equal(b.command, a.command)
            assert b.stop_predicted == a.stop_predicted
        for r in runtimes:
            r.close()
