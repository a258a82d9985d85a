"""`ExportMeta`: `export.json`, the record of an export folder, written and read through one dataclass.

`pipeline.export_policy` writes it (`write`); `exported.load_exported`, `ExportedPolicy`, `--out`'s
check before replacing a folder and `mvla doctor` read it (`read`). A missing file, text that is not
JSON, a missing key or a value of the wrong type is one line naming the file and the key. The JSON is
what every version has written (`to_dict`): exports made before each file's sha256 was recorded have
no `sha256`. The parity report's `passed` and `failures` are written for readers of the file and
recomputed from its rows when read. This module must not import torch, textual or h5py.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from configs import ConfigError, from_dict
from policies.export import EXPORT_JSON
from policies.export.frontend import CompactFrontend, FrontendSpec, KosmosFrontend
from policies.export.parity import ParityReport

ExportFormat = Literal["onnx", "tensorrt"]
ExportPrecision = Literal["fp32", "fp16"]  # TensorRT engines are always fp16
FRONTENDS: dict[str, type[CompactFrontend] | type[KosmosFrontend]] = {
    "compact": CompactFrontend,
    "kosmos2": KosmosFrontend,
    "kosmos2_clip": KosmosFrontend,
}


@dataclass(kw_only=True)
class ExportMeta:
    """The fields in the order `export.json` lists them."""

    format: ExportFormat
    opset: int
    precision: ExportPrecision  # of the graphs but the head (`head_precision`)
    policy: str  # the registered name of the exported policy
    versions: dict[str, str]  # package -> version (torch, onnx, onnxruntime, tensorrt)
    # also at the top level: `mvla doctor` checks engines against the TensorRT that built them
    onnxruntime: str
    tensorrt: str | None
    checkpoint_manifest_sha256: str | None  # the weights exported (`exported.manifest_hash`)
    lora_merged: int  # LoRA adapters folded into their base layers
    head_precision: str
    graphs: dict[str, str]  # instruction | frame | head -> file
    files: list[str]  # every file of the export, export.json last
    sha256: dict[str, str] | None = None  # file -> its sha256; None in exports made before
    frontend: FrontendSpec
    parity: ParityReport | None = None  # None until parity was measured (never in a published export)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["frontend"] = self.frontend.to_dict()
        for name in ("sha256", "parity"):
            if out[name] is None:
                del out[name]
        if self.parity is not None:
            out["parity"] = self.parity.to_dict()
        return out

    def write(self, folder: Path) -> None:
        (folder / EXPORT_JSON).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> ExportMeta:
        """`folder/export.json`; a `ConfigError` of one line when it is missing or damaged."""
        path = Path(folder) / EXPORT_JSON
        if not path.is_file():
            raise ConfigError(f"{folder}: no {EXPORT_JSON}; not an export folder (run `mvla export` first)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigError(f"{path}: not valid JSON; export again") from None
        try:
            return cls.from_dict(data, str(path))
        except ConfigError as exc:
            raise ConfigError(f"{exc}; export again") from None

    @classmethod
    def from_dict(cls, data: object, source: str) -> ExportMeta:
        if not isinstance(data, dict):
            raise ConfigError(f"{source}: expected a JSON object, got {type(data).__name__}")
        _require(cls, data, source)
        fields = dict(data)
        fields["frontend"] = _frontend(data["frontend"], source)
        parity = data.get("parity")
        if isinstance(parity, dict):  # `passed` and `failures` are recomputed from the rows
            fields["parity"] = {k: v for k, v in parity.items() if k not in ("passed", "failures")}
        return from_dict(cls, fields, source)


def _frontend(data: object, source: str) -> FrontendSpec:
    kind = data.get("kind") if isinstance(data, dict) else None
    spec = FRONTENDS.get(kind) if isinstance(kind, str) else None
    if not isinstance(data, dict) or spec is None:
        kinds = ", ".join(FRONTENDS)
        raise ConfigError(f"{source}: frontend.kind must be one of {kinds}, got {kind!r}")
    _require(spec, data, source, "frontend.")
    return from_dict(spec, data, source, prefix="frontend.")


def _require(cls: type, data: dict[str, object], source: str, prefix: str = "") -> None:
    """A `ConfigError` naming the first field of dataclass `cls` without a default that `data` lacks."""
    for f in dataclasses.fields(cls):
        if (
            f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
            and f.name not in data
        ):
            raise ConfigError(f"{source}: missing key {prefix + f.name!r}")
