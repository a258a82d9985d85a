"""Parity of an export against PyTorch, and its gates.

Per graph output: each graph is run (ONNX Runtime or TensorRT) on the very inputs PyTorch gave that
graph, so a row measures that graph alone: max and mean absolute difference and cosine similarity
against PyTorch fp32. Then the actions end to end: the exported policy's own chain (tokenise,
instruction, frame and head graphs, `output_actions`, de-normalisation) against the PyTorch policy's
`encode_instruction` / `encode_frame` / `decode_steps`, the largest difference in robot units (key
units: a press is 1.15) over every action of every step's chunk.

Gates: fp32: every output's max abs difference <= 5e-5; fp16: every output's cosine >= 0.999 and
the action difference <= 0.02. This module must not import textual or h5py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

FP32_MAX_ABS = 5e-5
FP16_COSINE = 0.999
FP16_ACTION = 0.02


@dataclass
class OutputParity:
    name: str  # "<graph>/<output>", or "actions" (de-normalised, robot units)
    max_abs: float
    mean_abs: float
    cosine: float
    gate: str  # the gate applied, e.g. "max abs <= 5e-05"; "" when none applies
    passed: bool

    def failure(self) -> str | None:
        if self.passed:
            return None
        measure, value = (
            ("cosine", self.cosine) if self.gate.startswith("cosine") else ("max abs", self.max_abs)
        )
        return f"{self.name}: {measure} {value:.3g} misses the gate {self.gate}"


@dataclass
class ParityReport:
    precision: str  # fp32 | fp16
    backend: str  # e.g. "onnxruntime CPUExecutionProvider"
    frames_source: str  # what the frames were: recorded episode, simulator, synthetic
    frames: int
    instruction: str
    rows: list[OutputParity] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)

    def failures(self) -> list[str]:
        return [f for f in (r.failure() for r in self.rows) if f]

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "passed": self.passed, "failures": self.failures()}

    def format_table(self) -> str:
        lines = [
            f"parity: {self.backend} {self.precision} against PyTorch fp32 on {self.frames} frames "
            f"({self.frames_source}), instruction {self.instruction!r}",
            f"  {'output':28} {'max abs':>10} {'mean abs':>10} {'cosine':>10}  gate",
        ]
        for r in self.rows:
            verdict = ("ok" if r.passed else "MISSED") if r.gate else "-"
            lines.append(
                f"  {r.name:28} {r.max_abs:10.3g} {r.mean_abs:10.3g} {r.cosine:10.6f}  "
                f"{r.gate or 'no gate'} {verdict}"
            )
        lines.append("  all gates passed" if self.passed else "  GATE MISSED: " + "; ".join(self.failures()))
        return "\n".join(lines)


def compare(
    name: str, got: np.ndarray, want: np.ndarray, precision: str, action: bool = False
) -> OutputParity:
    """One row: `got` (the export) against `want` (PyTorch fp32) under the gate of `precision`."""
    g = np.asarray(got, np.float64).ravel()
    w = np.asarray(want, np.float64).ravel()
    if g.shape != w.shape:
        raise ValueError(f"{name}: export gives {np.shape(got)}, PyTorch {np.shape(want)}")
    finite = bool(np.isfinite(g).all())
    diff = np.abs(g - w) if finite else np.full_like(w, np.inf)
    norm = float(np.linalg.norm(g) * np.linalg.norm(w))
    if not finite:
        cosine = float("nan")
    elif norm > 0:
        cosine = float(g @ w / norm)
    else:
        cosine = 1.0 if np.array_equal(g, w) else 0.0
    max_abs, mean_abs = float(diff.max(initial=0.0)), float(diff.mean()) if diff.size else 0.0
    if precision == "fp32":
        gate, passed = ("", True) if action else (f"max abs <= {FP32_MAX_ABS:g}", max_abs <= FP32_MAX_ABS)
    elif action:
        gate, passed = f"max abs <= {FP16_ACTION:g}", max_abs <= FP16_ACTION
    else:
        gate, passed = f"cosine >= {FP16_COSINE:g}", finite and cosine >= FP16_COSINE
    return OutputParity(name, max_abs, mean_abs, cosine, gate, bool(passed and finite))
