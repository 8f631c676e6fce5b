"""Provenance: where a model comes from (its source, data and reference, or its coupling and
teachers), recorded in its folder and traced back through coupling folders to the 1-RF run."""

from __future__ import annotations

from pathlib import Path

from .config import (
    read_run_config,
)
from .couplings import (
    CouplingDataset,
    end_teacher_entry,
    read_manifest,
)
from .data.tasks import is_task_spec
from .errors import BadInput
from .models import load_model_dir
from .storage import (
    sha256_file,
)

# What a 1-RF's provenance records of its data, and every model trained from it passes on.
ORIGIN_KEYS = ("source", "source_noise", "data", "reference")


def _resolved(spec: str | None) -> str | None:
    """A dataset spec or folder with its path made absolute (options after ``:`` kept; a paired
    task's dataset resolved after its name)."""
    if spec is None:
        return None
    if is_task_spec(spec):
        task, _, dataset = spec.partition(":")
        return f"{task}:{_resolved(dataset)}"
    name, sep, options = str(spec).partition(":")
    return str(Path(name).resolve()) + sep + options if name and Path(name).exists() else spec


def data_origin(cfg) -> dict:
    """The provenance of a 1-RF: its source, data and reference, resolved, with file hashes. The
    source of a paired task is the task itself (its inputs), with its ``source_noise`` when > 0."""
    found = {
        "source": _resolved(cfg.data if is_task_spec(cfg.data) else cfg.source),
        "data": _resolved(cfg.data),
        "reference": _resolved(cfg.reference),
    }
    found = {k: v for k, v in found.items() if v is not None}
    files = {k: v.partition(":")[0] for k, v in found.items()}
    hashes = {k: sha256_file(f) for k, f in files.items() if Path(f).is_file()}
    noise = {"source_noise": float(cfg.source_noise)} if cfg.source_noise else {}
    return found | noise | ({"sha256": hashes} if hashes else {})


def coupling_origin(coupling: CouplingDataset) -> dict:
    """The provenance of a model trained on ``coupling``: the coupling and its teachers by
    resolved path and hash, and the source and data of the end teacher's own chain."""
    teachers = [
        {"path": str(Path(t["path"]).resolve()), "sha256": t["sha256"]} for t in coupling.manifest["teachers"]
    ]
    end = str(Path(coupling.end_teacher).resolve())
    upstream = provenance(end)
    return {
        **{k: upstream[k] for k in ORIGIN_KEYS if upstream.get(k) is not None},
        "coupling": str(coupling.folder.resolve()),
        "coupling_digest": coupling.digest,
        "teachers": teachers,
        "teacher": end,
    }


def provenance(model_dir: str | Path, _seen: frozenset = frozenset()) -> dict:
    """Where a model comes from, traced through coupling folders to the 1-RF run.

    Returns the ``source``, ``data`` (and ``reference``, when one was given, and the
    ``source_noise`` of a paired task, when not 0) of the 1-RF run, and for a model trained on
    a coupling the ``teacher`` folder whose ODE solution it learned (the coupling's end teacher).
    A model folder that records its provenance (every model this version trains) answers from
    it, wherever it was copied; an older one from the run config beside it; empty when there is
    neither.
    """
    loaded = load_model_dir(model_dir)  # the folder is checked whole, though only its config is read
    recorded = loaded.provenance
    if recorded:
        return {k: recorded[k] for k in (*ORIGIN_KEYS, "teacher") if recorded.get(k) is not None}
    run_dir = loaded.path.parent
    config_path = run_dir / "config.json"
    if not config_path.is_file():
        return {}
    cfg = read_run_config(config_path)
    coupling = cfg.get("pairs") or cfg.get("coupling")
    if coupling:
        if run_dir.resolve() in _seen:
            raise BadInput(f"the provenance of {model_dir} loops: {config_path} leads back to itself")
        manifest = read_manifest(coupling)
        teacher = end_teacher_entry(manifest)["path"]
        return {**provenance(teacher, _seen | {run_dir.resolve()}), "teacher": teacher}
    return {k: cfg[k] for k in ("source", "data", "reference") if cfg.get(k) is not None}
