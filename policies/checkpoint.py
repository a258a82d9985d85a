"""Policy checkpoints: a verified directory, written atomically, loaded only when every byte checks out.

Layout of a checkpoint directory:
- `config.yaml`: `policy: <name>` + the policy config (which names the frozen backbone by hub id or
  local path and revision; the model loads it itself with `from_pretrained`);
- `model.safetensors`: `policy.trainable_state_dict()` (head + LoRA adapter, or every weight for
  full fine-tuning and for models without a backbone); its metadata records
  `policy.backbone_identity()`, and loading refuses a backbone whose weights differ from it;
- `normalisation.json`: the per-dimension action scale (`policies.normalisation`);
- `provenance.json`: data, git commit (if any, with "-dirty" when the tree had uncommitted
  changes), steps, creation time;
- `manifest.json`: sha256 and size of each file above.

Saving fills a hidden sibling directory that `configs.files.staged_dir` fsyncs and renames into
place, so a crash never leaves a half checkpoint under the real name. Loading checks the manifest
first, then the keys and shapes against a freshly built policy, and raises `PolicyLoadError` (one
line) otherwise: it never continues with random weights. No pickles anywhere. This module must not
import textual or h5py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import torch
import yaml

from configs import ConfigError, MvlaError, from_dict
from configs.files import staged_dir
from policies import PolicyLoadError, registry
from policies.base import Policy
from policies.config import PolicyConfig
from policies.normalisation import ActionNormalisation

CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
NORMALISATION = "normalisation.json"
PROVENANCE = "provenance.json"
MANIFEST = "manifest.json"
CONTENT = (CONFIG, WEIGHTS, NORMALISATION, PROVENANCE)
FORMAT_VERSION = 1
BACKBONES = "backbones"  # model.safetensors metadata key: json of `Policy.backbone_identity()`


@dataclass
class Provenance:
    """Where the weights came from."""

    data: list[str] = field(default_factory=list)  # dataset directories or files trained on
    steps: int = 0  # optimiser steps taken
    commit: str | None = None  # git commit of the code that trained, "<sha>-dirty" if it had edits
    created: str = ""  # ISO 8601, UTC; filled on save when empty
    notes: str = ""
    held_out: list[str] = field(default_factory=list)  # episode names of the validation split (`mvla train`)

    @classmethod
    def here(cls, data: list[str] | None = None, steps: int = 0, notes: str = "") -> Provenance:
        """Provenance with the commit of the checkout this package runs from (None outside git)."""
        return cls(data=list(data or []), steps=steps, commit=git_commit(), notes=notes)


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    name: str  # registered policy name
    provenance: Provenance
    num_tensors: int
    num_values: int


def git_commit(path: Path | None = None) -> str | None:
    """HEAD commit of the git checkout holding `path` (default: this package), with "-dirty" appended
    when tracked files have uncommitted changes; None outside git."""
    where = path or Path(__file__).resolve().parent
    head = _git(where, "rev-parse", "HEAD")
    if not head:
        return None
    changes = _git(where, "status", "--porcelain", "--untracked-files=no")
    return f"{head}-dirty" if changes is None or changes else head


def _git(where: Path, *args: str) -> str | None:
    """Stripped stdout of a read-only git command, or None when it fails."""
    try:
        out = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def save_checkpoint(
    policy: Policy,
    directory: str | Path,
    normalisation: ActionNormalisation,
    provenance: Provenance | None = None,
) -> Path:
    """Write `policy` to `directory` atomically (replacing an older checkpoint there); returns the path."""
    from safetensors.torch import save_file

    directory = Path(directory)
    if normalisation.action_dim != policy.action_dim:
        raise ValueError(f"normalisation has {normalisation.action_dim} dims, policy {policy.action_dim}")
    provenance = dataclasses.replace(provenance or Provenance())
    if not provenance.created:
        provenance.created = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

    if directory.exists() and any(directory.iterdir()) and not (directory / MANIFEST).is_file():
        # Replacing means deleting: only ever delete what is recognisably an older checkpoint.
        raise MvlaError(f"{directory}: exists and is not a checkpoint; choose another directory")
    # clone(): safetensors refuses tensors that share storage (tied weights) and non-contiguous ones.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in policy.trainable_state_dict().items()}
    metadata = {
        "policy": policy.name,
        "format": str(FORMAT_VERSION),
        BACKBONES: json.dumps(policy.backbone_identity(), sort_keys=True),
    }
    config = registry.config_to_dict(policy.name, policy.config)
    with staged_dir(directory) as tmp:
        save_file(tensors, str(tmp / WEIGHTS), metadata=metadata)
        (tmp / CONFIG).write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (tmp / NORMALISATION).write_text(normalisation.to_json() + "\n", encoding="utf-8")
        (tmp / PROVENANCE).write_text(
            json.dumps(dataclasses.asdict(provenance), indent=2) + "\n", encoding="utf-8"
        )
        write_manifest(tmp)
    return directory


def write_manifest(directory: Path) -> None:
    """(Re)write `manifest.json` for the content files of `directory`."""
    files = {
        name: {"sha256": _sha256(directory / name), "size": (directory / name).stat().st_size}
        for name in CONTENT
    }
    text = json.dumps({"format": FORMAT_VERSION, "files": files}, indent=2) + "\n"
    (directory / MANIFEST).write_text(text, encoding="utf-8")


def verify_checkpoint(directory: str | Path) -> None:
    """Raise `PolicyLoadError` unless every file is present with the size and sha256 of the manifest."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyLoadError(f"{directory}: no such checkpoint directory")
    manifest_path = directory / MANIFEST
    if not manifest_path.is_file():
        raise PolicyLoadError(f"{manifest_path}: missing; not a complete checkpoint (save it again)")
    damaged = f"{manifest_path}: not a valid manifest; the checkpoint is damaged"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except ValueError:  # also UnicodeDecodeError
        raise PolicyLoadError(damaged) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise PolicyLoadError(damaged)
    if manifest.get("format") != FORMAT_VERSION:
        raise PolicyLoadError(
            f"{manifest_path}: format {manifest.get('format')!r}, this version reads {FORMAT_VERSION}"
        )
    files = manifest["files"]
    for name in CONTENT:
        path = directory / name
        entry = files.get(name)
        if entry is None:
            raise PolicyLoadError(f"{manifest_path}: does not list {name}; the checkpoint is damaged")
        if not (
            isinstance(entry, dict)
            and isinstance(entry.get("size"), int)
            and isinstance(entry.get("sha256"), str)
        ):
            raise PolicyLoadError(
                f"{manifest_path}: entry {name!r} lacks size and sha256; the checkpoint is damaged"
            )
        if not path.is_file():
            raise PolicyLoadError(f"{path}: missing from the checkpoint")
        size = path.stat().st_size
        if size != entry["size"]:
            raise PolicyLoadError(
                f"{path}: {size} bytes, manifest says {entry['size']} (truncated or replaced)"
            )
        if _sha256(path) != entry["sha256"]:
            raise PolicyLoadError(
                f"{path}: sha256 differs from the manifest (the file was altered or corrupted)"
            )


@dataclass(frozen=True)
class CheckpointHeader:
    """What a checkpoint says of itself, read without loading its weights (`inspect_checkpoint`)."""

    name: str
    config: PolicyConfig
    normalisation: ActionNormalisation
    provenance: Provenance
    metadata: dict[str, str]  # the safetensors header's


def inspect_checkpoint(directory: str | Path) -> CheckpointHeader:
    """Every check loading makes before it reads the weights: the manifest, config.yaml through the
    registry, the normalisation against the config, provenance.json, and the weights file's header with
    its record of the backbone weights. Raises one-line `PolicyLoadError`s (`MvlaError`s)."""
    from safetensors import SafetensorError, safe_open

    directory = Path(directory)
    verify_checkpoint(directory)
    try:
        config_data = yaml.safe_load((directory / CONFIG).read_text(encoding="utf-8"))
        if not isinstance(config_data, dict):
            raise ConfigError(f"{directory / CONFIG}: expected a mapping")
        name, config = registry.config_from_dict(config_data, source=str(directory / CONFIG))
    except UnicodeDecodeError:
        raise PolicyLoadError(f"{directory / CONFIG}: not UTF-8 text; the checkpoint is damaged") from None
    except (ConfigError, yaml.YAMLError) as exc:
        raise PolicyLoadError(str(exc).splitlines()[0]) from None
    normalisation = ActionNormalisation.read(directory / NORMALISATION)
    if normalisation.action_dim != config.action_dim:
        raise PolicyLoadError(
            f"{directory / NORMALISATION}: {normalisation.action_dim} dims, config action_dim {config.action_dim}"
        )
    try:
        provenance = from_dict(
            Provenance,
            json.loads((directory / PROVENANCE).read_text(encoding="utf-8")),
            source=str(directory / PROVENANCE),
        )
    except (ConfigError, ValueError) as exc:
        raise PolicyLoadError(str(exc).splitlines()[0]) from None
    try:
        with safe_open(str(directory / WEIGHTS), framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise PolicyLoadError(f"{directory / WEIGHTS}: not a readable safetensors file ({exc})") from None
    _recorded_backbones(directory / WEIGHTS, metadata)
    return CheckpointHeader(name, config, normalisation, provenance, metadata)


def load_checkpoint(
    directory: str | Path,
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> tuple[Policy, ActionNormalisation, CheckpointInfo]:
    """(policy in eval mode on `device`/`dtype`, normalisation, info) from a verified checkpoint."""
    directory = Path(directory)
    header = inspect_checkpoint(directory)
    name, config, normalisation, provenance = (
        header.name,
        header.config,
        header.normalisation,
        header.provenance,
    )
    policy = registry.build_policy(name, config)
    tensors = load_weights(policy, directory, header)
    policy.to(device=device)
    if dtype is not None:
        policy.to(dtype=dtype)
    policy.eval()
    info = CheckpointInfo(
        path=directory,
        name=name,
        provenance=provenance,
        num_tensors=len(tensors),
        num_values=sum(t.numel() for t in tensors.values()),
    )
    return policy, normalisation, info


def load_weights(policy: Policy, directory: str | Path, header: CheckpointHeader) -> dict[str, torch.Tensor]:
    """Load the checkpoint's stored weights into `policy` (built from `header.config`, or from a config
    that differs only in how it trains, e.g. gradient checkpointing) after checking its backbone record,
    keys and shapes; returns the tensors read. `load_checkpoint` and a fine-tune (`mvla train` with
    `init_from`) both load through it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise PolicyLoadError(f"{path}: not a readable safetensors file ({exc})") from None
    _check_backbones(path, header.metadata, policy.backbone_identity())
    _check_keys(path, policy.trainable_state_dict(), tensors)
    missing, unexpected = policy.load_state_dict(tensors, strict=False)
    # Anything still missing is a frozen backbone weight, loaded by the model from its own source.
    if unexpected:
        raise PolicyLoadError(f"{path}: unexpected key {unexpected[0]!r}")
    return tensors


def _recorded_backbones(path: Path, metadata: dict[str, str]) -> dict[str, str]:
    try:
        recorded = json.loads(metadata[BACKBONES])
    except (KeyError, ValueError):
        recorded = None
    if not isinstance(recorded, dict):
        raise PolicyLoadError(
            f"{path}: does not record which backbone weights it was trained on; save it again"
        )
    return recorded


def _check_backbones(path: Path, metadata: dict[str, str], current: dict[str, str]) -> None:
    recorded = _recorded_backbones(path, metadata)
    for role in sorted(set(recorded) | set(current)):
        want, got = recorded.get(role), current.get(role)
        if want != got:
            raise PolicyLoadError(
                f"{path}: trained on {role} weights [{want}] but config.yaml's {role} now has [{got}]; "
                f"restore those {role} weights (or pin the revision it was trained on), or retrain"
            )


def _check_keys(path: Path, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    missing = sorted(set(expected) - set(found))
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise PolicyLoadError(
            f"{path}: missing key {missing[0]!r}{more}; the checkpoint does not match its config"
        )
    unexpected = sorted(set(found) - set(expected))
    if unexpected:
        more = f" (and {len(unexpected) - 1} more)" if len(unexpected) > 1 else ""
        raise PolicyLoadError(
            f"{path}: unexpected key {unexpected[0]!r}{more}; the checkpoint does not match its config"
        )
    for key, want in expected.items():
        got = found[key]
        if tuple(got.shape) != tuple(want.shape):
            raise PolicyLoadError(
                f"{path}: {key!r} has shape {tuple(got.shape)}, the config needs {tuple(want.shape)}"
            )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
