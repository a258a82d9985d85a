"""`export_policy`: a policy -> an export folder with its graphs, `export.json` and the parity report.

Order matters: the PyTorch references are computed first, on the policy as loaded (LoRA adapters
unmerged: the semantics being exported), then LoRA is merged in place and the graphs are traced (the
policy is spent afterwards: merged, cast to fp16 for an fp16 export, and its weights released to the
meta device once the graphs are written, so that a full-size policy and its graphs are never both in
memory). The folder is assembled in a
hidden sibling, fsynced and renamed into place by `configs.files.staged_dir`, replacing an older
export (never a folder that is not one).
`export.json` (`meta.ExportMeta`) records the format, opset, precision, versions, the checkpoint's
manifest hash, the graphs and every file, the frontend description and the parity report; an export whose parity missed
a gate is written (to be inspected) but `load_exported` refuses to run it.

TensorRT (`fmt="tensorrt"`): the fp32 ONNX graphs are written, then one FP16 engine per graph is
built from them with the TensorRT Python API (`backends.build_engine`), and parity is measured on the
engines against the fp16 gates. This module must not import textual or h5py.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from configs import ConfigError, MvlaError
from configs.files import staged_dir
from policies.base import Policy
from policies.export import EXPORT_JSON, GRAPHS, OPSET
from policies.export.backends import DEFAULT_ORT, OrtSettings, build_engine, require_tensorrt
from policies.export.frontend import Frontend, describe
from policies.export.graphs import graph_specs, merge_lora, write_onnx
from policies.export.meta import ExportFormat, ExportMeta, ExportPrecision
from policies.export.parity import ParityReport, compare
from policies.fingerprint import file_sha256
from policies.normalisation import ActionNormalisation


@dataclass
class ExportResult:
    folder: Path
    meta: ExportMeta
    parity: ParityReport


def _versions(fmt: str) -> dict[str, str]:
    import onnx
    import onnxruntime

    out = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__}
    if fmt == "tensorrt":
        out["tensorrt"] = require_tensorrt().__version__
    return out


def _expand(t: torch.Tensor, n: int) -> torch.Tensor:
    return t if t.shape[0] == n else t.expand(n, *t.shape[1:]).contiguous()


@torch.no_grad()
def export_policy(
    policy: Policy,
    normalisation: ActionNormalisation,
    out: Path,
    frames: list[np.ndarray],
    instruction: str,
    *,
    fmt: str = "onnx",
    fp16: bool = False,
    frames_source: str = "synthetic frames",
    checkpoint_hash: str | None = None,
    opset: int = OPSET,
    settings: OrtSettings = DEFAULT_ORT,
) -> ExportResult:
    if fmt not in get_args(ExportFormat):
        raise MvlaError(f"--format {fmt!r}: use onnx or tensorrt")
    if opset < 17:
        raise MvlaError(f"--opset {opset}: 17 or newer")
    export_format: ExportFormat = "tensorrt" if fmt == "tensorrt" else "onnx"
    if export_format == "tensorrt":
        require_tensorrt()  # before any work: one line when it is missing
    precision: ExportPrecision = "fp16" if fp16 or export_format == "tensorrt" else "fp32"
    out = Path(out).resolve()
    _check_replaceable(out)
    with staged_dir(out) as stage:
        result = _export(
            policy,
            normalisation,
            stage,
            frames,
            instruction,
            export_format,
            precision,
            frames_source,
            checkpoint_hash,
            opset,
            settings,
        )
    result.folder = out
    return result


def _check_replaceable(out: Path) -> None:
    """An export replaces `out` whole, so `out` must be absent, empty, or an export folder holding only
    the files its `export.json` lists; and not the current folder or one above it."""
    if not out.exists():
        return
    if not out.is_dir():
        raise MvlaError(f"{out}: exists and is not a folder; choose another --out")
    here = Path.cwd().resolve()
    if out == here or out in here.parents:
        raise MvlaError(
            f"--out {out}: the current folder or one above it; give a folder inside it, e.g. --out onnx"
        )
    present = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() or p.is_symlink()}
    if not present:
        return
    try:
        listed = ExportMeta.read(out).files
    except ConfigError:
        raise MvlaError(f"{out}: exists and is not an export folder; choose another --out") from None
    others = sorted(present - set(listed))
    if others:
        named = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
        raise MvlaError(
            f"{out}: also holds {named}, which no export wrote; choose another --out (nothing changed)"
        )


def _export(
    policy: Policy,
    normalisation: ActionNormalisation,
    stage: Path,
    frames: list[np.ndarray],
    instruction: str,
    fmt: ExportFormat,
    precision: ExportPrecision,
    frames_source: str,
    checkpoint_hash: str | None,
    opset: int,
    settings: OrtSettings,
) -> ExportResult:
    policy.to(device="cpu", dtype=torch.float32).eval()
    frames = list(frames)[: policy.window]
    if not frames:
        raise MvlaError("parity needs at least one frame")
    n = len(frames)
    frontend_spec = describe(policy, stage)
    frontend = Frontend(frontend_spec, stage)
    specs = {s.name: s for s in graph_specs(policy)}

    # PyTorch references, before anything is merged or cast.
    pixels = frontend.preprocess(np.stack(frames))  # (N, 3, h, w)
    feeds = {k: torch.from_numpy(v) for k, v in frontend.tokenize(instruction).items()}
    inputs: dict[str, dict[str, torch.Tensor]] = {}
    refs: dict[str, dict[str, torch.Tensor]] = {}
    spec = specs["instruction"]
    inputs["instruction"] = {k: feeds[k] for k in spec.inputs}
    refs["instruction"] = dict(zip(spec.outputs, spec.fn(*inputs["instruction"].values()), strict=True))
    state = {**feeds, **refs["instruction"], "pixels": pixels}
    spec = specs["frame"]
    inputs["frame"] = {k: _expand(state[k], n) for k in spec.inputs}
    refs["frame"] = dict(zip(spec.outputs, spec.fn(*inputs["frame"].values()), strict=True))
    inputs["head"] = {"features": refs["frame"]["features"].unsqueeze(0)}  # (1, N, D)
    refs["head"] = {"output": specs["head"].fn(inputs["head"]["features"])[0]}
    text = policy.encode_instruction([instruction] * n)
    output = policy.decode_steps(policy.encode_frame(pixels, text).unsqueeze(0))  # (1, N, horizon, W)
    want_actions = normalisation.denormalise(policy.output_actions(output).float().numpy())

    merged = merge_lora(policy)
    files: list[str] = [str(p.relative_to(stage)) for p in sorted(stage.rglob("*")) if p.is_file()]
    onnx_files: dict[str, str] = {}
    # Trace with a batch of 2 (and the head with 2 windows) so that no size 1 is baked in.
    examples = {g: {k: torch.cat([v, v]) for k, v in inputs[g].items()} for g in GRAPHS}
    for name in ("head", "instruction", "frame"):  # the head first: it stays fp32
        if name == "instruction" and precision == "fp16" and fmt == "onnx":
            policy.half()
            _keep_clip_text_fp32(policy)
        written = write_onnx(
            policy, specs[name], examples[name], stage, opset, precision == "fp16" and fmt == "onnx"
        )
        onnx_files[name] = written[0]
        files += written
    # The graphs hold the weights now; the policy's own are released before the graphs are loaded to
    # run (a full-size Kosmos-2 is 6.9 GB in fp32, which would otherwise be in memory twice).
    name, config = policy.name, policy.config
    policy.to(device="meta")
    graphs = dict(onnx_files)
    if fmt == "tensorrt":
        for name, file in onnx_files.items():
            engine = f"{name}.engine"
            build_engine(stage / file, stage / engine, fp16=True, window=policy.window)
            graphs[name] = engine
            files.append(engine)
    versions = _versions(fmt)
    meta = ExportMeta(
        format=fmt,
        opset=opset,
        precision=precision,
        policy=name,
        versions=versions,
        onnxruntime=versions["onnxruntime"],
        tensorrt=versions.get("tensorrt"),
        checkpoint_manifest_sha256=checkpoint_hash,
        lora_merged=merged,
        head_precision="fp32",
        graphs=graphs,
        files=sorted(files) + [EXPORT_JSON],
        # what `load_exported` checks before it runs the graphs: no file replaced by another export's
        sha256={f: file_sha256(stage / f) for f in sorted(files)},
        frontend=frontend_spec,
    )
    meta.write(stage)

    from policies.export.exported import ExportedPolicy

    runtime = "onnx" if fmt == "onnx" else "trt"
    exported = ExportedPolicy(name, config, stage, runtime, settings)
    backend = (
        f"onnxruntime {exported.graphs['frame'].provider} ({settings.describe()})"
        if runtime == "onnx"
        else "TensorRT"
    )
    report = ParityReport(precision, backend, frames_source, n, instruction)
    for name in GRAPHS:
        got = exported.graphs[name].run(
            {k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in inputs[name].items()}
        )
        for out_name, want in refs[name].items():
            report.rows.append(compare(f"{name}/{out_name}", got[out_name], want.float().numpy(), precision))
    text = exported.encode_instruction([instruction] * n)
    output = exported.decode_steps(exported.encode_frame(pixels, text).unsqueeze(0))
    got_actions = normalisation.denormalise(exported.output_actions(output).float().numpy())
    report.rows.append(compare("actions", got_actions, want_actions, precision, action=True))
    meta.parity = report
    meta.write(stage)
    return ExportResult(stage, meta, report)


def _keep_clip_text_fp32(policy: Policy) -> None:
    """CLIP's text tower adds an fp32 causal mask, which promotes its activations to fp32 against fp16
    LayerNorm weights (an invalid ONNX graph); it runs once per reset, so it stays fp32."""
    if policy.name != "kosmos2_clip":
        return  # not imported for the others: it needs transformers
    from policies.kosmos2_clip.model import Kosmos2ClipPolicy

    if isinstance(policy, Kosmos2ClipPolicy):
        policy.clip.text_model.float()
        policy.clip.text_projection.float()
