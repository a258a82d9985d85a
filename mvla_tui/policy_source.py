"""What `--policy` and `load` accept: a checkpoint directory, or `default` for the policy shipped with the
package. One resolver for the app and every command; it checks only that the place exists (loading
verifies the checkpoint itself). No torch here.
"""

from __future__ import annotations

from pathlib import Path

from configs import ConfigError

DEFAULT = "default"


def resolve_policy(source: str) -> Path:
    """The checkpoint directory `source` names; a one-line `ConfigError` when there is none."""
    if source == DEFAULT:
        from policies.default_policy import resolve

        return resolve(source)
    path = Path(source).expanduser()
    if not path.is_dir():
        raise ConfigError(
            f"{source}: no such checkpoint directory (a folder with config.yaml and model.safetensors)"
        )
    return path
