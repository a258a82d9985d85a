"""Policies by name, imported lazily, and the policy config files that name them.

A name maps to a model class and a config class given as "module:attribute" strings, so that
importing this module (the TUI does, to list policies) imports neither torch nor a model. A policy
config YAML is `policy: <name>` followed by the fields of that policy's config dataclass; a
checkpoint's `config.yaml` has the same shape. This module must not import torch or a model at
module level.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configs import ConfigError, apply_overrides, from_dict, load_yaml, to_dict
from policies.config import PolicyConfig

if TYPE_CHECKING:
    from policies.base import Policy


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    model: str  # "module:Class", a `policies.base.Policy` subclass built with `Class(config)`
    config: str  # "module:Class", a dataclass subclassing `policies.config.PolicyConfig`


_ENTRIES = (
    PolicyEntry("compact", "policies.compact.model:CompactPolicy", "policies.compact.config:CompactConfig"),
    PolicyEntry("kosmos2", "policies.kosmos2.model:Kosmos2Policy", "policies.kosmos2.config:Kosmos2Config"),
    PolicyEntry(
        "kosmos2_clip",
        "policies.kosmos2_clip.model:Kosmos2ClipPolicy",
        "policies.kosmos2_clip.config:Kosmos2ClipConfig",
    ),
)
REGISTRY: dict[str, PolicyEntry] = {e.name: e for e in _ENTRIES}


def names() -> list[str]:
    """Registered policy names, in registration order."""
    return list(REGISTRY)


def entry(name: str) -> PolicyEntry:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown policy {name!r}; registered policies: {', '.join(REGISTRY)}") from None


def config_class(name: str) -> type[PolicyConfig]:
    cls = _resolve(entry(name).config)
    if not (isinstance(cls, type) and issubclass(cls, PolicyConfig)):
        raise TypeError(f"{entry(name).config} is not a PolicyConfig subclass")
    return cls


def policy_class(name: str) -> type[Policy]:
    from policies.base import Policy

    cls = _resolve(entry(name).model)
    if not (isinstance(cls, type) and issubclass(cls, Policy)):
        raise TypeError(f"{entry(name).model} is not a Policy subclass")
    return cls


def config_from_dict(
    data: dict[str, Any], source: str = "<config>", overrides: list[str] | None = None
) -> tuple[str, PolicyConfig]:
    """(name, config) from a mapping with a `policy:` key; unknown keys are errors naming `source`."""
    data = apply_overrides(dict(data), overrides or [])
    name = data.pop("policy", None)
    if not isinstance(name, str):
        raise ConfigError(f"{source}: missing 'policy: <name>'; registered policies: {', '.join(REGISTRY)}")
    if name not in REGISTRY:
        raise ConfigError(f"{source}: unknown policy {name!r}; registered policies: {', '.join(REGISTRY)}")
    return name, from_dict(config_class(name), data, source=source)


def load_config(path: str | Path, overrides: list[str] | None = None) -> tuple[str, PolicyConfig]:
    """(name, config) from a policy YAML file such as `configs/policy/compact.yaml`."""
    return config_from_dict(load_yaml(path), source=str(path), overrides=overrides)


def config_to_dict(name: str, config: PolicyConfig) -> dict[str, Any]:
    """The YAML-safe mapping `config_from_dict` reads back: `policy: name` first, paths as strings."""
    return {"policy": name, **_stringify_paths(to_dict(config))}


def build_policy(name: str, config: PolicyConfig) -> Policy:
    """A fresh policy: `PolicyClass(config)` (the model loads its backbone itself, if it has one)."""
    return policy_class(name)(config)


def _stringify_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _stringify_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stringify_paths(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _resolve(target: str) -> object:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and not exc.name.startswith("policies"):
            raise ConfigError(
                f"{module_name} needs the Python package {exc.name!r}; install the 'policy' extra of mobile-vla"
            ) from None
        raise
    return getattr(module, attr)
