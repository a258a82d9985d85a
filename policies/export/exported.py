"""`ExportedPolicy`: an export folder (`policies.export.pipeline`) run as a `Policy`, so `PolicyRuntime`
drives it unchanged: its window, ensembling, clamping and stop handling stay the runtime's, only
`encode_instruction` / `encode_frame` / `decode_steps` run the graphs (ONNX Runtime or TensorRT)
instead of torch modules. Preprocessing and tokenisation are the policy's own (`frontend`); what the
head's output means (`output_values`, `values_to_actions`) is `Policy`'s, from the checkpoint's config.
It holds no weights of its own, so the runtime's `.to(device, dtype)` changes nothing; it computes on
the CPU side in fp32 whatever the graph's precision, which `execution_note` states.

`load_exported(checkpoint, export, runtime)` checks that the folder was exported from this checkpoint
(the sha256 of its manifest, recorded in `export.json`) and of the format the runtime needs.
`default_export_dir(checkpoint, runtime)` is where `mvla export` writes and the runtimes look by
default: `CKPT/onnx` (ONNX) and `CKPT/tensorrt` (TensorRT engines).
This module must not import textual or h5py.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from configs import ConfigError, MvlaError
from policies.base import Policy
from policies.config import PolicyConfig
from policies.export import EXPORT_JSON, GRAPHS
from policies.export.backends import DEFAULT_ORT, Graph, OrtGraph, OrtSettings, TrtGraph, require_tensorrt
from policies.export.frontend import Frontend
from policies.export.meta import ExportMeta

if TYPE_CHECKING:
    from policies.checkpoint import CheckpointInfo
    from policies.normalisation import ActionNormalisation

RUNTIMES = ("torch", "onnx", "trt")
FORMAT_OF = {"onnx": "onnx", "trt": "tensorrt"}


def default_export_dir(checkpoint: Path, runtime: str) -> Path:
    """Where `mvla export` writes for `runtime` and where the runtime looks when no --export is given."""
    return Path(checkpoint) / ("tensorrt" if runtime in ("trt", "tensorrt") else "onnx")


def check_runtime_request(runtime: str, device: str, precision: str, export: str | Path | None) -> None:
    """Refuse, in one line, what a runtime would otherwise quietly ignore: an export folder for torch, a
    device the runtime does not run on, a precision other than the export's (it is fixed when exporting)."""
    if runtime == "torch":
        if export is not None:
            raise ConfigError(
                f"--export {export}: that is for --runtime onnx or trt; add one, or drop --export"
            )
        return
    if runtime == "onnx" and device not in ("auto", "cpu"):
        raise ConfigError(
            f"--device {device}: --runtime onnx runs on the CPU (ONNX Runtime's CPU provider); use --runtime "
            "trt or torch on CUDA"
        )
    if runtime == "trt" and device == "cpu":
        raise ConfigError(
            "--device cpu: TensorRT engines run on CUDA; use --runtime onnx or torch on the CPU"
        )
    if precision != "auto":
        raise ConfigError(
            f"--precision {precision}: with --runtime {runtime} the precision is the export's (`mvla export "
            "--fp16` makes fp16 graphs; TensorRT engines are FP16); leave --precision out"
        )


def manifest_hash(checkpoint: Path) -> str:
    """sha256 of the checkpoint's manifest.json: names the exact weights an export was made from."""
    return hashlib.sha256((Path(checkpoint) / "manifest.json").read_bytes()).hexdigest()


def altered_file(folder: Path, meta: ExportMeta) -> str | None:
    """The first file of the export that is missing or not the one `export.json` recorded (its sha256),
    as one line; None when all are as written. An export made before files were hashed checks nothing."""
    from policies.fingerprint import file_sha256

    if meta.sha256 is None:
        return None
    for name, digest in sorted(meta.sha256.items()):
        path = Path(folder) / name
        if not path.is_file():
            return f"{path}: missing from the export; export again"
        if file_sha256(path) != digest:
            return f"{path}: not the file this export wrote (sha256 differs); export again"
    return None


class ExportedPolicy(Policy[dict[str, np.ndarray]]):
    name = "exported"

    def __init__(
        self,
        policy_name: str,
        config: PolicyConfig,
        folder: Path,
        runtime: str = "onnx",
        settings: OrtSettings = DEFAULT_ORT,
    ) -> None:
        super().__init__(config)
        self.name = policy_name  # the exported policy's registered name, for labels
        self.folder = Path(folder)
        meta = ExportMeta.read(self.folder)
        self.meta = meta
        want = FORMAT_OF.get(runtime)
        if want is None:
            raise ConfigError(f"runtime {runtime!r}: an export runs with onnx or trt")
        if meta.format != want:
            raise ConfigError(
                f"{self.folder}: holds an export of format {meta.format}; --runtime {runtime} needs {want} "
                f"(`mvla export --format {want}`)"
            )
        self.runtime_name = runtime
        self.frontend = Frontend(meta.frontend, self.folder)
        missing = [g for g in GRAPHS if g not in meta.graphs]
        if missing:
            raise ConfigError(f"{self.folder / EXPORT_JSON}: graphs lacks {missing[0]!r}; export again")
        self.graphs: dict[str, Graph]
        if runtime == "onnx":
            self.graphs = {g: OrtGraph(self.folder / meta.graphs[g], settings) for g in GRAPHS}
            where = f"{self.graphs['frame'].provider}, {settings.describe()}"
        else:
            self.graphs = {g: TrtGraph(self.folder / meta.graphs[g]) for g in GRAPHS}
            where = "TensorRT engines"
        self._note = f"{runtime} runtime: {meta.precision} graphs ({where})"
        self._checkpoint_keys = frozenset()

    def execution_note(self) -> str:
        return self._note

    @property
    def graph_parameters(self) -> int:
        """Weights in the ONNX graphs (initialisers; LoRA merged), read from the graphs' headers."""
        import onnx

        total = 0
        for file in self.meta.graphs.values():
            path = self.folder / file
            if path.suffix != ".onnx":  # TensorRT engines: their ONNX graphs are not kept beside them
                return 0
            graph = onnx.load(str(path), load_external_data=False).graph
            total += sum(int(np.prod(t.dims)) for t in graph.initializer)
        return total

    def preprocess(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        return self.frontend.preprocess(frames)

    def encode_instruction(self, instructions: list[str]) -> dict[str, np.ndarray]:
        """The instruction graph's outputs and the token arrays, (B, ...) with B = len(instructions);
        one instruction is encoded once and repeated (the runtime only ever repeats one)."""
        unique = set(instructions)
        if len(unique) != 1:
            raise ValueError("an exported policy encodes one instruction at a time (repeated if need be)")
        feeds = self.frontend.tokenize(instructions[0])
        state = {**feeds, **self.graphs["instruction"].run(feeds)}
        return _repeat(state, len(instructions))

    def encode_frame(self, pixels: torch.Tensor, text: dict[str, np.ndarray]) -> torch.Tensor:
        n = pixels.shape[0]
        graph = self.graphs["frame"]
        feeds = {"pixels": np.ascontiguousarray(pixels.detach().float().cpu().numpy())}
        for name in graph.inputs:
            if name != "pixels":
                feeds[name] = _rows(text[name], n)
        return torch.from_numpy(graph.run(feeds)["features"])  # (B, D) fp32

    def decode_steps(self, features: torch.Tensor) -> torch.Tensor:
        x = np.ascontiguousarray(features.detach().float().cpu().numpy())
        return torch.from_numpy(self.graphs["head"].run({"features": x})["output"])


def _rows(a: np.ndarray, n: int) -> np.ndarray:
    if a.shape[0] == n:
        return a
    if a.shape[0] != 1:
        raise ValueError(f"{a.shape[0]} instruction rows for {n} frames; give 1 or {n}")
    return np.ascontiguousarray(np.broadcast_to(a, (n, *a.shape[1:])))


def _repeat(state: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {k: _rows(v, n) for k, v in state.items()}


def load_exported(
    checkpoint: Path,
    export: Path | None = None,
    runtime: str = "onnx",
    settings: OrtSettings = DEFAULT_ORT,
) -> tuple[ExportedPolicy, ActionNormalisation, CheckpointInfo]:
    """(ExportedPolicy, normalisation, info) for a verified checkpoint and its export folder (default
    `default_export_dir`). Refuses an export made from other weights or in another format."""
    import yaml

    from policies import registry
    from policies.checkpoint import (
        CONFIG,
        NORMALISATION,
        PROVENANCE,
        CheckpointInfo,
        Provenance,
        verify_checkpoint,
    )
    from policies.normalisation import ActionNormalisation

    checkpoint = Path(checkpoint)
    if runtime == "trt":
        require_tensorrt()  # before pointing at an export this machine could not build
    verify_checkpoint(checkpoint)
    folder = Path(export) if export is not None else default_export_dir(checkpoint, runtime)
    if not (folder / EXPORT_JSON).is_file():
        fmt = FORMAT_OF.get(runtime, runtime)
        make = f"mvla export --policy {checkpoint} --format {fmt}"
        if export is not None:
            raise ConfigError(
                f"--export {folder}: no {EXPORT_JSON} there; `{make} --out {folder}` writes one"
            )
        raise ConfigError(
            f"--runtime {runtime}: no export at {folder}; run `{make}` first, or give the folder with --export DIR"
        )
    meta = ExportMeta.read(folder)
    recorded, actual = meta.checkpoint_manifest_sha256, manifest_hash(checkpoint)
    if recorded != actual:
        raise MvlaError(
            f"{folder}: exported from other weights (manifest sha256 {str(recorded)[:12]}, this checkpoint's "
            f"{actual[:12]}); export this checkpoint again"
        )
    altered = altered_file(folder, meta)
    if altered is not None:
        raise MvlaError(altered)
    if meta.parity is None or not meta.parity.passed:
        missed = "; ".join(meta.parity.failures() if meta.parity else []) or "no parity report"
        raise MvlaError(f"{folder}: this export missed its parity gates ({missed}); export again")
    name, config = registry.config_from_dict(
        yaml.safe_load((checkpoint / CONFIG).read_text(encoding="utf-8")), source=str(checkpoint / CONFIG)
    )
    normalisation = ActionNormalisation.read(checkpoint / NORMALISATION)
    policy = ExportedPolicy(name, config, folder, runtime, settings)
    from configs import from_dict

    provenance = from_dict(
        Provenance,
        json.loads((checkpoint / PROVENANCE).read_text(encoding="utf-8")),
        source=str(checkpoint / PROVENANCE),
    )
    info = CheckpointInfo(checkpoint, name, provenance, 0, 0)
    return policy, normalisation, info
