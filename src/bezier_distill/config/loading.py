"""Configs from TOML files plus overrides, the resolved config as JSON, and the schema check of a
run folder's ``config.json``."""

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from ..errors import BadInput
from ..storage import check_fields, read_json
from .groups import COMMAND_CONFIGS


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


# Keys whose value is a list, written as text on the command line (``--seeds 0,1,2``); a TOML
# file may give them as arrays instead (``seeds = [0, 1, 2]``). Guides are separated by ';'.
LIST_KEYS = {
    "channels": ",",
    "teachers": ",",
    "teacher_solvers": ",",
    "guides": ";",
    "datasets": ",",
    "seeds": ",",
    "degrees": ",",
    "teacher_sets": ",",
    "objectives": ",",
    "baselines": ",",
    "student_channels": ",",
}


def _from_array(key: str, value: Any) -> Any:
    """A TOML array of a list key as the text its flag takes; other values unchanged."""
    if key not in LIST_KEYS or not isinstance(value, list):
        return value
    if not value or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise BadInput(f"config key {key!r} must be a non-empty array of strings or integers, got {value!r}")
    return LIST_KEYS[key].join(str(v) for v in value)


def load(cls: type, toml_path: str | None = None, overrides: dict[str, Any] | None = None):
    """Build ``cls`` from an optional TOML file, then ``overrides`` (None values ignored).

    In the file, list keys (:data:`LIST_KEYS`) may be arrays or the flag's text.
    """
    values: dict[str, Any] = {}
    if toml_path is not None:
        path = Path(toml_path)
        try:
            values = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise BadInput(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"config file {path} cannot be read ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise BadInput(f"config file {path} is not valid TOML ({e})") from None
        values = {k: _from_array(k, v) for k, v in values.items()}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            raise BadInput(
                f"unknown config key {key!r} for {cls.__name__}; known keys: {', '.join(sorted(hints))}"
            )
        if not _type_ok(value, hints[key]):
            kind = getattr(hints[key], "__name__", str(hints[key]))
            raise BadInput(f"config key {key!r} must be of type {kind}, got {value!r}")
    return cls(**values)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as a JSON-ready dict (without the run flags)."""
    d = dataclasses.asdict(cfg)
    d.pop("resume", None)
    d.pop("overwrite", None)
    return d



def _annotations() -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for cls in COMMAND_CONFIGS:
        for key, hint in typing.get_type_hints(cls).items():
            found.setdefault(key, []).append(hint)
    return found


def read_run_config(path: str | Path) -> dict[str, Any]:
    """A run folder's ``config.json``, schema-checked.

    It must be a JSON object with ``out`` and ``seed``, and every key that some command
    knows must have that command's type (``pairs: 5`` is refused, naming the file and the
    key). Keys no command knows are kept as they are.
    """
    where = f"run config {path}"
    cfg = check_fields(read_json(path, what="run config"), {"out": str, "seed": int}, where)
    for key, value in cfg.items():
        hints = _annotations().get(key)
        if hints and not any(_type_ok(value, h) for h in hints):
            kind = getattr(hints[0], "__name__", str(hints[0]))
            raise BadInput(f"{where}: field {key!r} must be of type {kind}, got {value!r}")
    return cfg
