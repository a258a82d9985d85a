"""Exporting a policy to ONNX (and TensorRT engines), checking the export against PyTorch, and running
it behind the `Policy` interface.

A policy is exported in the pieces the per-step runtime (`policies.runtime.PolicyRuntime`) calls, one
graph each (`graphs`):
- `instruction.onnx`: token ids -> the instruction encoding (run once per reset);
- `frame.onnx`: preprocessed pixels + the instruction encoding -> the frame feature (B, D) (run once
  per step: for `kosmos2` the vision model, the image-to-text projection and the text model up to the
  action token, LoRA merged first; for `compact` its CNN fused with the text feature; for
  `kosmos2_clip` both encoders and the fusion);
- `head.onnx`: a window of features (B, T, D) -> the head's output (B, T, horizon, W).
Tokenisation and image preprocessing stay in Python, with the policy's own functions (`frontend`).
Every graph has a dynamic batch (and sequence) dimension; graphs over 2 GB keep their weights in one
external data file next to them.

`pipeline.export_policy` writes a folder with the graphs and `export.json` (format, opset, precision,
onnxruntime / tensorrt versions, the checkpoint's manifest hash, the file list, the parity report);
`parity` measures ONNX Runtime (or TensorRT) against PyTorch on frames and applies the gates;
`exported.ExportedPolicy` runs an export folder as a `Policy` (`--runtime onnx|trt`), so the
runtime's window, ensembling, clamping and stop handling stay the runtime's. This package must not
import textual or h5py.
"""

from __future__ import annotations

EXPORT_JSON = "export.json"
OPSET = 17
GRAPHS = ("instruction", "frame", "head")
