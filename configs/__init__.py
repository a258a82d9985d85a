"""Packaged YAML configs, the error hierarchy and the one typed config loader.

Every package of ours may import this module: it needs only the standard library and PyYAML, so it
sits below `recorder`, `policies`, `trainer` and `mvla_tui` in the dependency order. Definitions of
config classes live next to their owner (`recorder.catalogue`, `policies.<name>.config`, ...); this
module only knows how to turn a YAML mapping into one of those dataclasses, strictly: an unknown key
is an error that names the key and the file.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from configs.errors import ConfigError as ConfigError  # re-exported: every package imports them from here
from configs.errors import MvlaError as MvlaError

CONFIG_DIR = Path(__file__).resolve().parent

T = TypeVar("T")


def config_path(name: str) -> Path:
    """Path of a packaged config, e.g. `config_path("scenarios.yaml")`."""
    path = CONFIG_DIR / name
    if not path.is_file():
        raise ConfigError(f"{path}: no such packaged config")
    return path


def load_yaml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}:{where} is not valid YAML; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
    return data


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply `key.sub=value` overrides (values parsed as YAML scalars) to a nested mapping."""
    data = dict(data)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{source} {item!r}: expected key=value")
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            child = dict(child) if isinstance(child, dict) else {}
            node[part] = child
            node = child
        try:
            node[parts[-1]] = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            node[parts[-1]] = raw
    return data


def from_dict(cls: type[T], data: dict[str, Any], source: str = "<config>", prefix: str = "") -> T:
    """Build dataclass `cls` from a mapping; unknown keys and wrong types are `ConfigError`s."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: {prefix or 'config'} must be a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]  # T: a dataclass
    unknown = sorted(set(data) - set(fields))
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"{source}: unknown key {key!r}; known keys: {', '.join(sorted(fields))}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, source, f"{prefix}{name}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: {exc}") from None


def load(cls: type[T], path: str | Path, overrides: list[str] | None = None) -> T:
    """Load dataclass `cls` from a YAML file, with optional `key=value` overrides."""
    data = apply_overrides(load_yaml(path), overrides or [])
    source = f"{path} with --set {' '.join(overrides)}" if overrides else str(path)
    return from_dict(cls, data, source=source)


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as plain YAML-safe data (tuples become lists)."""
    return _plain(dataclasses.asdict(obj))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _coerce(hint: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigError(f"{source}: {key}: unexpected null")
    if origin is typing.Literal:
        if value not in args:
            choices = ", ".join(repr(a) for a in args)
            raise ConfigError(f"{source}: {key} must be one of {choices}, got {value!r}")
        return value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return from_dict(hint, value, source, prefix=f"{key}.")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: {key} must be a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{source}: {key} must have {len(args)} items, got {len(value)}")
            return tuple(
                _coerce(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True))
            )
        inner = args[0] if args else Any
        items = [_coerce(inner, v, source, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: {key} must be a mapping, got {value!r}")
        kt, vt = args if args else (Any, Any)
        return {_coerce(kt, k, source, key): _coerce(vt, v, source, f"{key}.{k}") for k, v in value.items()}
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: {key} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: {key} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}")
        return value
    if hint is Path:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a path string, got {value!r}")
        return Path(value)
    return value
