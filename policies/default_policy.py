"""Where `--policy` points: `resolve("default")` is the checkpoint shipped inside this package
(`policies/default/`, package data); anything else is a checkpoint directory. Every command that takes
`--policy` (and the app) resolves through here, so "default" means the same everywhere.

The shipped policy is the compact policy trained on simulator expert episodes; README "The default
policy" has the commands that reproduce it and its closed-loop table. This module must not import
torch: the TUI and `mvla --help` import it.
"""

from __future__ import annotations

from pathlib import Path

from configs import ConfigError

DEFAULT = "default"
DEFAULT_DIR = Path(__file__).resolve().parent / "default"


def resolve(source: str | Path) -> Path:
    """The checkpoint directory `source` names; `ConfigError` (one line) when there is none."""
    if str(source) == DEFAULT:
        if not (DEFAULT_DIR / "manifest.json").is_file():
            raise ConfigError(
                f"--policy default: this install has no default policy ({DEFAULT_DIR} is missing); "
                "reinstall mobile-vla, or pass a checkpoint directory"
            )
        return DEFAULT_DIR
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ConfigError(f"--policy {source}: no such checkpoint directory (or `default`)")
    return path
