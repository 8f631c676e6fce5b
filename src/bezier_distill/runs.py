"""Run folders: what a command reads (its inputs, which ``--out`` may not be, hold or lie inside),
starting a run (the folder rules, then ``config.json``) and the rules a resumed run must keep."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from torch import nn

from . import distributed
from .config import (
    flag_name,
    read_run_config,
    to_dict,
)
from .data.tasks import is_task_spec
from .errors import BadInput
from .storage import (
    atomic_write_json,
    check_out_dir,
    claim_out_dir,
    made_by_us,
)
from .training import check_checkpoint

# Keys that may change when a run is resumed (more steps, another device; a compare may add
# seeds, datasets, baselines or equal-compute twins: every (dataset, seed) chain has its own
# folder and every model of it its own, reused as it is).
RESUMABLE_CHANGES = {
    "steps",
    "device",
    "out",
    "data_dir",
    "seeds",
    "datasets",
    "baselines",
    "equal_compute",
    "allow_changed_teacher",
}


# Flags naming what a command reads: its --out may not be, hold or lie inside any of them.
INPUT_FLAGS = ("model", "pairs", "coupling", "teachers", "init", "data", "source", "reference")


MODEL_FLAGS = ("model", "teachers", "init")


def model_paths(folder: str) -> list[str]:
    """The paths a model flag reads: the folder, the ``model/`` of a run folder, and the run folder
    that holds a model folder."""
    folder = folder.strip()
    paths = [folder, str(Path(folder) / "model")]
    if Path(folder).name == "model" and made_by_us(Path(folder).parent):
        paths.append(str(Path(folder).parent))
    return paths


def _spec_paths(spec: str) -> list[str]:
    """The paths a dataset spec may name: itself, what comes before its options (``folder:size=8``
    names ``folder``) and a paired task's dataset (``superres:folder``)."""
    if is_task_spec(spec):
        return [spec, *_spec_paths(spec.partition(":")[2])]
    return [spec, spec.split(":")[0]]


def input_paths(cfg) -> dict[str, list[str]]:
    """The paths a config reads, by flag (a dataset spec ``folder:size=8`` counts as ``folder``)."""
    found = {}
    for name in INPUT_FLAGS:
        value = getattr(cfg, name, None)
        if isinstance(value, str) and value:
            if name in MODEL_FLAGS:  # a run folder is read through its model/
                parts = [p for part in value.split(",") for p in model_paths(part)]
            else:
                parts = _spec_paths(value)
            found[flag_name(name)] = [p.strip() for p in parts]
    return found


def chain_inputs(found: dict, flag: str = "--model") -> dict[str, list[str]]:
    """What the provenance (``found``) of the model ``flag`` names, which tracing it reads: the data,
    source and reference of its chain, its coupling and its teacher (an output may not lie in them)."""
    paths = {}
    for key in ("data", "source", "reference", "coupling", "teacher"):
        value = found.get(key)
        if isinstance(value, str) and value:
            paths[f"{flag}'s {key}"] = model_paths(value) if key == "teacher" else _spec_paths(value)
    return paths


def start_run(cfg, *, model: nn.Module | None = None, inputs: dict[str, list[str]] | None = None) -> bool:
    """Prepare ``cfg.out`` and write its ``config.json``; return whether the run resumes.

    Everything is checked before anything is written: the folder rules of
    :func:`~bezier_distill.storage.check_out_dir` (``inputs`` adds paths read besides the
    config's own, such as the teacher a coupling names) and, when resuming, that the
    settings and the checkpoint (against ``model``) can continue the run.
    Under torchrun only rank 0 touches the folder; the other ranks learn the outcome.
    """
    resume = False
    if distributed.is_main():
        resume = check_out_dir(
            cfg.out, resume=cfg.resume, overwrite=cfg.overwrite, inputs=input_paths(cfg) | (inputs or {})
        )
        path = Path(cfg.out) / "config.json"
        current = to_dict(cfg)
        if resume:
            _check_resumable(cfg, read_run_config(path), current, model)
        claim_out_dir(cfg.out, overwrite=cfg.overwrite)
        atomic_write_json(path, current)
    return distributed.gather(resume)[0]


def _same_setting(old, new) -> bool:
    """Whether a recorded setting and the current one agree: equal, or (comma-separated) paths that
    name the same files, however spelled (``./rf1`` and ``rf1``, a link and its target)."""
    if old == new:
        return True
    if not (isinstance(old, str) and isinstance(new, str)) or old.count(",") != new.count(","):
        return False
    try:
        return all(os.path.samefile(a.strip(), b.strip()) for a, b in zip(old.split(","), new.split(",")))
    except OSError:  # not paths, or not there
        return False


def _check_resumable(cfg, old: dict, current: dict, model: nn.Module | None) -> None:
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}  # keys older runs did not record
    differs = sorted(
        k
        for k in current
        if k not in RESUMABLE_CHANGES and not _same_setting(old.get(k, defaults.get(k)), current[k])
    )
    if differs:
        raise BadInput(f"cannot resume {cfg.out}: its run used other settings for {', '.join(differs)}")
    step = check_checkpoint(cfg.out, model) if model is not None else None
    if step is not None and step > cfg.steps:
        raise BadInput(
            f"cannot resume {cfg.out} with --steps {cfg.steps}: its checkpoint is at step {step} "
            f"already; pass --steps {step} or more"
        )
