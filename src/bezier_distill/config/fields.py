"""Config fields and the checks the command configs share: a field with its help text, the flag
name of a field, and the one-line refusals of bad values."""

import dataclasses
import re
from dataclasses import field
from typing import Any

import torch

from ..errors import BadInput


def opt(default: Any, help: str) -> Any:
    """A config field with its default and its help text."""
    return field(default=default, metadata={"help": help})


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_positive_int(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"{flag_name(name)} must be a positive integer, got {value!r}")


def check_choice(cfg: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise BadInput(f"unknown {name.replace('_', ' ')} {value!r}: choose one of {', '.join(choices)}")


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N``, and a CUDA device only where one exists."""
    m = re.fullmatch(r"cpu|cuda(?::(\d+))?", device) if isinstance(device, str) else None
    if m is None:
        raise BadInput(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        raise BadInput(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    count = torch.cuda.device_count()
    if m[1] is not None and int(m[1]) >= count:
        raise BadInput(
            f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )


def check_common(cfg: Any) -> None:
    """The checks every command's flags share: --device, --seed and a non-empty --out."""
    check_device(cfg.device)
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise BadInput(f"--seed must be a non-negative integer, got {cfg.seed!r}")
    if cfg.out is not None and not str(cfg.out).strip():
        raise BadInput("--out is empty: name the output (an unset shell variable?)")


def refuse_ignored(cfg: Any, names: tuple[str, ...], why: str, fix: str = "leave it out") -> None:
    """Refuse flags that ``cfg``'s mode would ignore (any of ``names`` set away from its default)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    for name in names:
        if getattr(cfg, name) != defaults[name]:
            raise BadInput(f"{flag_name(name)} is ignored {why}: {fix}")


def left_at_default(cfg: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for the fields of ``cfg`` left at their defaults, ``cfg``'s own for the others
    (a named recipe or a mode's sizes that an explicit flag still overrides)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    return {k: v if getattr(cfg, k) == defaults[k] else getattr(cfg, k) for k, v in values.items()}


def parse_widths(text: str) -> list[int]:
    """``"32,64"`` -> ``[32, 64]`` (UNet widths per level); BadInput unless all are positive."""
    try:
        widths = [int(c) for c in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise BadInput(f"--channels must be comma-separated positive widths, got {text!r}")
    return widths

