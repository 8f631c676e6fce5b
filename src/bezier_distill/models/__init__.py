"""Velocity models and their folder format (``config.json`` + ``model.safetensors``).

A model folder rebuilds the model alone::

    save_pretrained(model, "runs/rf1/model")
    model = from_pretrained("runs/rf1/model")

``config.json`` records the SHA-256 of ``model.safetensors`` (``weights_sha256``) and loading
checks it, so a changed or damaged weights file is refused; folders written before the hash
was recorded still load.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn

from ..capabilities import kind_of
from ..errors import BadInput
from ..resources import check_fits, is_out_of_memory
from ..storage import atomic_write_bytes, atomic_write_json, check_fields, read_json, sha256_file
from .mlp import MLPVelocity
from .unet import UNetVelocity

MODELS: dict[str, type[nn.Module]] = {m.kind: m for m in (MLPVelocity, UNetVelocity)}
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
HASH_KEY = "weights_sha256"
PROVENANCE_KEY = "provenance"


def build_model(kind: str, **config) -> nn.Module:
    """Build a fresh model of ``kind`` (one of :data:`MODELS`) from its config."""
    if not isinstance(kind, str) or kind not in MODELS:
        raise BadInput(f"unknown model type {kind!r}: choose one of {sorted(MODELS)}")
    size = _min_parameters(kind, config)
    check_fits(4 * size, f"the {kind} model (over {size:,} parameters)", "--hidden, --layers or --channels")
    try:
        return MODELS[kind](**config)
    except (TypeError, ValueError, RuntimeError, OverflowError) as e:
        if is_out_of_memory(e):
            raise
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise BadInput(f"invalid {kind} model config: {first}") from None


def _min_parameters(kind: str, config: dict) -> int:
    """A lower bound of the parameters of a model (0 when the config is not plain integers)."""
    try:
        if kind == "mlp":
            hidden, layers = int(config.get("hidden", 256)), int(config.get("layers", 3))
            return hidden * hidden * max(0, layers - 1) + 2 * hidden * max(0, int(config.get("dim", 1)))
        channels, blocks = [int(c) for c in config.get("channels", (32, 64))], int(config.get("blocks", 1))
        return sum(2 * 9 * c * c for c in channels) * max(0, blocks)  # the encoder's 3x3 convolutions
    except (TypeError, ValueError):
        return 0


def save_pretrained(model: nn.Module, folder: str | Path, *, provenance: dict | None = None) -> None:
    """Write ``config.json`` (with the weights' SHA-256) and ``model.safetensors`` into ``folder``.

    A model of :data:`MODELS` records its type and config, so :func:`from_pretrained` rebuilds
    it; any other module records ``"type": "external"``, its class and its ``config`` attribute
    (if any): rebuild it with your own class and ``safetensors.torch.load_file``
    (:func:`from_pretrained` refuses it). ``provenance`` (where the model comes from: resolved
    paths and hashes of its data, coupling and teachers) is stored under ``provenance``, so a
    copied model folder still says where it comes from.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = save({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()})
    atomic_write_bytes(folder / WEIGHTS_NAME, data)
    if kind_of(model) in MODELS:
        config = {"type": model.kind, **model.config}
    else:
        kind = type(model)
        config = {
            "type": "external",
            "class": f"{kind.__module__}.{kind.__qualname__}",
            "config": getattr(model, "config", None),
        }
    config[HASH_KEY] = hashlib.sha256(data).hexdigest()
    if provenance:
        config[PROVENANCE_KEY] = provenance
    atomic_write_json(folder / CONFIG_NAME, config)


def parameters_sha256(model: nn.Module) -> str:
    """SHA-256 of a module's parameters (identifies an in-memory model, e.g. a teacher)."""
    h = hashlib.sha256()
    for p in model.parameters():
        h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def model_provenance(folder: str | Path) -> dict:
    """The ``provenance`` recorded in a model folder's ``config.json`` (empty when there is none)."""
    path = resolve_model_dir(folder) / CONFIG_NAME
    if not path.is_file():
        return {}
    config = check_fields(
        read_json(path, what="model config"),
        {PROVENANCE_KEY: dict},
        f"model config {path}",
        optional=(PROVENANCE_KEY,),
    )
    return dict(config.get(PROVENANCE_KEY) or {})


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
    where = f"model config {folder / CONFIG_NAME}"
    config = read_json(folder / CONFIG_NAME, what="model config")
    config = dict(
        check_fields(
            config,
            {"type": str, HASH_KEY: str, PROVENANCE_KEY: dict},
            where,
            optional=(HASH_KEY, PROVENANCE_KEY),
        )
    )
    recorded = config.pop(HASH_KEY, None)
    config.pop(PROVENANCE_KEY, None)
    model = build_model(config.pop("type"), **config)
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise BadInput(f"model folder {folder} has no {WEIGHTS_NAME}")
    if recorded is not None and sha256_file(weights) != recorded:
        raise BadInput(
            f"model weights {weights} are corrupt or were changed: their SHA-256 differs from "
            f"the one recorded in {CONFIG_NAME}"
        )
    try:
        state = load_file(weights, device="cpu")
    except (SafetensorError, OSError, json.JSONDecodeError, ValueError) as e:
        raise BadInput(f"model weights {weights} are corrupt ({e})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise BadInput(f"model weights {weights} do not match its config: {first}") from None
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise BadInput(
            f"model weights {weights} hold NaN or Inf (in {bad[0]}): the model diverged or is damaged"
        )
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
