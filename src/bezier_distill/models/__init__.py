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
from dataclasses import dataclass
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


# The fields of each model type's config.json (besides "type", the weights' hash and the
# provenance), and those it must hold: a config is checked against them before anything is built.
CONFIG_FIELDS: dict[str, dict[str, type]] = {
    "mlp": {"dim": int, "hidden": int, "layers": int, "time_dim": int, "time_freq": float, "interval": bool},
    "unet": {
        "shape": list,
        "channels": list,
        "blocks": int,
        "time_dim": int,
        "time_freq": float,
        "interval": bool,
    },
}
REQUIRED_FIELDS = {"mlp": ("dim",), "unet": ("shape",)}


@dataclass(frozen=True)
class ModelDir:
    """A model folder that passed every check of :func:`load_model_dir`, with its model."""

    path: Path  # the model folder (a run folder's model/)
    config: dict  # its config.json
    sha256: str  # the SHA-256 of its weights file (the teacher hash in manifests)
    model: nn.Module

    @property
    def provenance(self) -> dict:
        """Where the model comes from (``provenance`` in its config; empty when there is none)."""
        return dict(self.config.get(PROVENANCE_KEY) or {})


def resolve_model_dir(folder: str | Path) -> Path:
    """Accept a model folder or a run folder holding ``model/``; return the model folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInput(f"model folder {folder} does not exist")
    if (folder / "model").is_dir() and not (folder / WEIGHTS_NAME).is_file():
        return folder / "model"
    return folder


def load_model_dir(folder: str | Path, *, device: str = "cpu") -> ModelDir:
    """Read a model folder (or a run folder holding ``model/``) after checking all of it.

    The one reader of model folders: every command and API call that reads one comes here. The
    folder must exist; its ``config.json`` must be a JSON object whose fields have the types of
    :data:`CONFIG_FIELDS`; ``model.safetensors`` must exist, match the SHA-256 the config records,
    parse, fit the architecture and hold finite numbers. Any failure is one :class:`BadInput`
    naming the folder (or the file in it).
    """
    folder = resolve_model_dir(folder)
    path = folder / CONFIG_NAME
    if not path.is_file():
        raise BadInput(f"model folder {folder} has no {CONFIG_NAME}")
    where = f"model config {path}"
    config = check_fields(
        read_json(path, what="model config"),
        {"type": str, HASH_KEY: str, PROVENANCE_KEY: dict},
        where,
        optional=(HASH_KEY, PROVENANCE_KEY),
    )
    kind = config["type"]
    if kind not in MODELS:
        raise BadInput(f"{where}: unknown model type {kind!r}: choose one of {sorted(MODELS)}")
    fields = CONFIG_FIELDS[kind]
    extra = sorted(set(config) - set(fields) - {"type", HASH_KEY, PROVENANCE_KEY})
    if extra:
        raise BadInput(f"{where}: unknown field {extra[0]!r} for a {kind} model")
    check_fields(config, fields, where, optional=tuple(set(fields) - set(REQUIRED_FIELDS[kind])))
    for name in (n for n, types in fields.items() if types is list and n in config):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in config[name]):
            raise BadInput(f"{where}: field {name!r} must be a list of integers, got {config[name]}")
    weights = folder / WEIGHTS_NAME
    if not weights.is_file():
        raise BadInput(f"model folder {folder} has no {WEIGHTS_NAME}")
    sha256 = sha256_file(weights)
    recorded = config.get(HASH_KEY)
    if recorded is not None and sha256 != recorded:
        raise BadInput(
            f"model weights {weights} are corrupt or were changed: their SHA-256 differs from "
            f"the one recorded in {CONFIG_NAME}"
        )
    arch = {k: v for k, v in config.items() if k in fields}
    model = build_model(kind, **arch)
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
    return ModelDir(folder, dict(config), sha256, model.to(device).eval())


def from_pretrained(folder: str | Path, *, device: str = "cpu") -> nn.Module:
    """Rebuild a model from its folder (safetensors weights + JSON config only), checked by
    :func:`load_model_dir`."""
    return load_model_dir(folder, device=device).model


def model_provenance(folder: str | Path) -> dict:
    """The ``provenance`` recorded in a model folder's ``config.json`` (empty when there is none),
    read through :func:`load_model_dir`."""
    return load_model_dir(folder).provenance


def model_fingerprint(folder: str | Path) -> str:
    """SHA-256 of a model folder's weights file (the teacher hash in manifests), read through
    :func:`load_model_dir`."""
    return load_model_dir(folder).sha256


__all__ = [
    "MODELS",
    "MLPVelocity",
    "ModelDir",
    "UNetVelocity",
    "build_model",
    "from_pretrained",
    "load_model_dir",
    "model_fingerprint",
    "resolve_model_dir",
    "save_pretrained",
]
