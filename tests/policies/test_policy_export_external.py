"""Graphs over 2 GB: the exporter writes one file per tensor, and `gather_external_data` puts them in one
data file a tensor at a time (a full-size Kosmos-2 frame graph holds 6.9 GB). Checked on a small linear
model saved the way the exporter saves a large one: ONNX Runtime gives the same output from the gathered
model, and the per-tensor files are no longer needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch

from policies.export.graphs import gather_external_data


def test_gathered_weights_run_the_same(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).eval()
    x = torch.randn(3, 16)
    traced = tmp_path / "trace" / "frame.onnx"
    traced.parent.mkdir()
    torch.onnx.export(model, (x,), str(traced), dynamo=False, input_names=["x"], output_names=["y"])
    proto = onnx.load(str(traced))
    per_tensor = tmp_path / "trace" / "split.onnx"
    onnx.save_model(
        proto, str(per_tensor), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0
    )
    assert len(list(per_tensor.parent.iterdir())) > 3  # the graph, its first file, one file per tensor

    target = tmp_path / "out" / "frame.onnx"
    target.parent.mkdir()
    gather_external_data(per_tensor, target, "frame.onnx.data")
    shutil.rmtree(tmp_path / "trace")
    assert sorted(p.name for p in target.parent.iterdir()) == ["frame.onnx", "frame.onnx.data"]
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(got, model(x).detach().numpy(), rtol=1e-5, atol=1e-6)
