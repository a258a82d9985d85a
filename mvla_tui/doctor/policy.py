"""The policy checks: does the checkpoint `--policy` names verify, and do exported engines beside it match
the installed TensorRT?

Verifying is `policies.checkpoint.inspect_checkpoint`: every check loading makes before it reads the
weights (every file against the sha256 manifest, `config.yaml` through the registry, the normalisation,
the provenance, the weights file's header and its record of the backbone weights); the weights are not
loaded (`mvla bench --policy` does that, and times it). torch is imported here, only when a
checkpoint is given. Engines are `*.engine` / `*.plan` files anywhere in the checkpoint folder (such as
`export/`); the TensorRT version they were built with is read from an `export.json` (`tensorrt` key)
beside them or in the checkpoint. A TensorRT engine runs only on the version that built it. Without
engines, the line names the ONNX exports (`export.json` of format onnx) and whether they were made from
these weights (the sha256 of the manifest they record), since `--runtime onnx` refuses any other.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

from configs import ConfigError, MvlaError
from mvla_tui.doctor.checks import Check, fail, ok, warn

ENGINE_PATTERNS = ("*.engine", "*.plan")
EXPORT_RECORD = "export.json"


def resolve_policy(source: str | None) -> tuple[Path | None, Check | None]:
    """(checkpoint folder, None), or (None, the failing `policy` line) when `source` names none: the one
    resolver's answer (`policies.default_policy.resolve`) as a doctor line."""
    if source is None:
        return None, None
    from policies.default_policy import resolve

    try:
        return resolve(source), None
    except ConfigError as exc:
        return None, fail(
            "policy", str(exc), "pass --policy a checkpoint folder (config.yaml, manifest.json)"
        )


def policy_check(source: str | None, path: Path | None) -> Check:
    if source is None:
        return warn(
            "policy",
            "none given, so no checkpoint was verified",
            "pass --policy CKPT (or default) to verify the checkpoint you will run",
        )
    assert path is not None
    try:
        from policies.checkpoint import inspect_checkpoint
    except ImportError as exc:
        return fail(
            "policy",
            f"{path}: cannot be checked, {exc.name} is not installed",
            "install the policy extra: pip install 'mobile-vla[policy]' (on a Jetson, the image's torch)",
        )

    try:
        header = inspect_checkpoint(path)
    except MvlaError as exc:
        return fail(
            "policy",
            str(exc).splitlines()[0],
            "copy the checkpoint again from where it was trained (all files, unchanged), or retrain",
        )
    name, steps = header.name, header.provenance.steps
    return ok(
        "policy", f"{path}: a {name} checkpoint, every file matches its manifest (trained {steps} steps)"
    )


def engines_check(path: Path | None, tensorrt_version: Callable[[], str | None]) -> Check:
    """The `engines` line; `tensorrt_version()` is the installed TensorRT's version, None without one."""
    if path is None:
        return ok("engines", "no checkpoint to look in, so no exported engines to check")
    engines = sorted({e for pattern in ENGINE_PATTERNS for e in path.rglob(pattern)})
    if not engines:
        return _onnx_exports_check(path)
    listed = ", ".join(str(e.relative_to(path)) for e in engines[:3]) + (" ..." if len(engines) > 3 else "")
    installed = tensorrt_version()
    built = _recorded_version(path, engines)
    if installed is None:
        return warn(
            "engines",
            f"{len(engines)} engine(s) ({listed}), but tensorrt does not import here",
            "use the L4T image (JetPack ships TensorRT), or run the policy in PyTorch",
        )
    if built is None:
        return warn(
            "engines",
            f"{listed}: no {EXPORT_RECORD} says which TensorRT built them (installed {installed})",
            "export them again with `mvla export` on this machine",
        )
    if built != installed:
        return fail(
            "engines",
            f"{listed}: built with TensorRT {built}, installed {installed}; an engine runs only on its version",
            "export them again with `mvla export` on this machine",
        )
    return ok("engines", f"{listed}: built with TensorRT {built}, as installed")


def installed_tensorrt() -> str | None:
    try:
        import tensorrt
    except ImportError:
        return None
    return str(tensorrt.__version__)


def _recorded_version(path: Path, engines: list[Path]) -> str | None:
    for folder in dict.fromkeys([*(e.parent for e in engines), path]):
        record = folder / EXPORT_RECORD
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and data.get("tensorrt") is not None:
            return str(data["tensorrt"])
    return None


def _onnx_exports_check(path: Path) -> Check:
    """The `engines` line without TensorRT engines: the ONNX exports (`export.json` folders) beside the
    checkpoint, and whether they were made from its weights (`--runtime onnx` refuses any other)."""
    from configs import ConfigError
    from policies.export.exported import altered_file, manifest_hash
    from policies.export.meta import ExportMeta

    exports = []
    for record in sorted(path.rglob(EXPORT_RECORD)):
        try:
            meta = ExportMeta.read(record.parent)
        except ConfigError:
            continue
        if meta.format == "onnx":
            exports.append((record.parent.relative_to(path), meta))
    if not exports:
        return ok("engines", f"no exports in {path}: the policy runs in PyTorch (`mvla export` makes them)")
    actual = manifest_hash(path)
    stale = [f"{folder}/" for folder, meta in exports if meta.checkpoint_manifest_sha256 != actual]
    if stale:
        return warn(
            "engines",
            f"no TensorRT engines; ONNX export in {', '.join(stale)} is of other weights "
            "(--runtime onnx refuses it)",
            f"export again: mvla export --policy {path} --format onnx",
        )
    altered = next((a for folder, meta in exports if (a := altered_file(path / folder, meta))), None)
    if altered is not None:
        return warn(
            "engines", f"no TensorRT engines; {altered.split(';')[0]}", f"mvla export --policy {path}"
        )
    found = ", ".join(f"{folder}/" for folder, _ in exports)
    if importlib.util.find_spec("onnxruntime") is None:
        return warn(
            "engines",
            f"no TensorRT engines; ONNX export in {found}, but onnxruntime is not installed (--runtime onnx)",
            'pip install "mobile-vla[export]", or run the policy in PyTorch',
        )
    return ok(
        "engines", f"no TensorRT engines; ONNX export in {found} made from these weights (--runtime onnx)"
    )
