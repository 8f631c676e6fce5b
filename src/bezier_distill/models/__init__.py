"""Velocity models and their folder format (``config.json`` + ``model.safetensors``).

A model folder rebuilds the model alone::

    save_pretrained(model, "runs/rf1/model")
    model = from_pretrained("runs/rf1/model")
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from ..errors import BadInput
from ..storage import atomic_write_bytes, atomic_write_json, read_json, sha256_file
from .mlp import MLPVelocity
from .unet import UNetVelocity

MODELS: dict[str, type[nn.Module]] = {m.kind: m for m in (MLPVelocity, UNetVelocity)}
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def build_model(kind: str, **config) -> nn.Module:
    """Build a fresh model of ``kind`` (one of :data:`MODELS`) from its config."""
    if kind not in MODELS:
        raise BadInput(f"unknown model type {kind!r}: choose one of {sorted(MODELS)}")
    try:
        return MODELS[kind](**config)
    except (TypeError, ValueError) as e:
        raise BadInput(f"invalid {kind} model config: {e}") from None


def save_pretrained(model: nn.Module, folder: str | Path) -> None:
    """Write ``config.json`` and ``model.safetensors`` of ``model`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(folder / WEIGHTS_NAME, save(state))
    atomic_write_json(folder / CONFIG_NAME, {"type": model.kind, **model.config})


def resolve_model_dir(folder: str | Path) -> Path:
    """Accept a model folder or a run folder holding ``model/``; return the model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"model folder {folder} does not exist")
    if (folder / "model" / CONFIG_NAME).is_file():
        return folder / "model"
    return folder


def from_pretrained(folder: str | Path, *, device: str = "cpu") -> nn.Module:
    """Rebuild a model from its folder (safetensors weights + JSON config only)."""
    folder = resolve_model_dir(folder)
    config = read_json(folder / CONFIG_NAME, what="model config")
    if not isinstance(config, dict) or "type" not in config:
        raise BadInput(f"model config {folder / CONFIG_NAME} has no 'type' field")
    config = dict(config)
    model = build_model(config.pop("type"), **config)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise BadInput(f"model folder {folder} has no {WEIGHTS_NAME}")
    try:
        state = load_file(weights, device="cpu")
    except (SafetensorError, OSError, json.JSONDecodeError, ValueError) as e:
        raise BadInput(f"model weights {weights} are corrupt ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise BadInput(f"model weights {weights} do not match its config: {first}") from None
    return model.to(device).eval()


def model_fingerprint(folder: str | Path) -> str:
    """SHA-256 of a model folder's weights file (the teacher hash in manifests)."""
    return sha256_file(resolve_model_dir(folder) / WEIGHTS_NAME)


__all__ = [
    "MODELS",
    "MLPVelocity",
    "UNetVelocity",
    "build_model",
    "from_pretrained",
    "model_fingerprint",
    "resolve_model_dir",
    "save_pretrained",
]
