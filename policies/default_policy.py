"""What `--policy` (and the app's `load`) accepts: `default`, the checkpoint shipped inside this package
(`policies/default/`, package data), or a checkpoint directory. `resolve` is the one resolver: every
command that takes `--policy`, the app, its `load` command and `mvla doctor` go through it, so "default"
means the same everywhere and a wrong value reads the same everywhere. It checks only that the place
exists; loading verifies the checkpoint itself.

The shipped policy is the compact policy trained on simulator expert episodes; README "The default
policy" has the commands that reproduce it and its closed-loop table. This module must not import
torch: the TUI and `mvla --help` import it.
"""

from __future__ import annotations

from pathlib import Path

from configs import ConfigError

DEFAULT = "default"
DEFAULT_DIR = Path(__file__).resolve().parent / "default"


def resolve(source: str | Path, what: str = "--policy") -> Path:
    """The checkpoint directory `source` names; a one-line `ConfigError` when there is none, starting
    with `what` (where the value came from: `--policy`, or `load` in the app) and `source`."""
    if str(source) == DEFAULT:
        if not (DEFAULT_DIR / "manifest.json").is_file():
            raise ConfigError(
                f"{what} default: this install has no default policy ({DEFAULT_DIR} is missing); "
                "reinstall mobile-vla, or pass a checkpoint directory"
            )
        return DEFAULT_DIR
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"{what} {source}: no such checkpoint directory (a folder with config.yaml and "
            "model.safetensors, or `default`)"
        )
    return path
