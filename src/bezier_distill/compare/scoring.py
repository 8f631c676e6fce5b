"""Scoring a chain's models, and keeping the scores while nothing they depend on changed.

Every model is sampled by each of its samplers from the same held-out source draws and scored
against the same reference (:func:`bezier_distill.evaluation.eval_data`); each student also gets
its distillation error against its teacher's dopri5 solution from the same draws, and each teacher
its solver error (the floor of that error); each k-RF its coupling drift, the mean distance
``E||Z1^k(z0) - Z1^1(z0)||`` between its dopri5 solution and the 1-RF's from the same held-out
draws (how far the rectifications have moved the coupling).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
from pathlib import Path

import torch

from ..data import get_distribution, get_source
from ..evaluation import eval_data, evaluate, feature_metrics, noise_floor, solver_error, truth_scores
from ..models import CONFIG_NAME, from_pretrained
from ..storage import atomic_write_bytes, sha256_file
from .config import CompareConfig
from .naming import RF, Method
from .records import ODE, Model, Sampler

EVALUATION = "evaluation.pt"  # a chain's scores, kept in its folder so a resumed compare skips them
_PACKAGE = Path(__file__).resolve().parents[1]
# Settings that choose which chains run, not what a chain's scores are.
_NOT_SCORED = ("datasets", "seeds", "baselines", "out", "resume", "overwrite")


def evaluate_chain(models: list[Model], dataset: str, seed: int, n_eval: int, cfg: CompareConfig) -> dict:
    """Score every model of a chain at each of its samplers.

    Returns ``{"rows": [...], "floor": {...}, "samples": {(method, budget): samples}, "reference",
    "x0", "truth"}``: one row per model and sampler (the headline ``quality`` is the feature FID of
    network a for image data, else the W2), the noise floor of this seed, samples for the figures,
    the evaluation's reference and inputs, and the inputs' clean images on a paired task (else None).
    """
    target = get_distribution(dataset, data_dir=cfg.data_dir)
    # a paired task's source is its inputs; the rest start from --source
    source = get_source(dataset if target.paired else cfg.source, dim=target.dim, data_dir=cfg.data_dir)
    features = feature_metrics(target)
    data = eval_data(source, target, n_eval, seed)
    image, translation = target.image_shape is not None, source.image_shape is not None
    floor = noise_floor(data, features, seed=seed)
    if data.truth is not None:  # the inputs themselves against the truth: what doing nothing scores
        floor |= truth_scores(data.x0, data.truth, data.image_shape)
    rows, samples, teacher_ode, solver_errors = [], {}, {}, {}
    # Teachers first (their ODE samples are what the students' distillation error is measured to).
    for m in sorted(models, key=lambda m: ODE not in m.samplers):
        net = from_pretrained(m.folder, device=cfg.device)
        for sampler in sorted(m.samplers, key=lambda s: s.budget != "ODE"):
            ode = teacher_ode.get(m.teacher) if sampler is not ODE else None
            scores, xs = evaluate(
                net,
                data,
                sampler.spec,
                with_straightness=sampler is ODE,
                features=features,
                image=image,
                translation=translation,
                teacher=ode,
                seed=seed,
                device=cfg.device,
            )
            drift = None
            if sampler is ODE:
                teacher_ode[m.method] = xs
                solver_errors[m.method] = solver_error(net, data.x0.to(cfg.device), xs)
                if m.family == RF:  # how far reflow has moved the coupling from the 1-RF's
                    drift = float((xs - teacher_ode[Method.rf(1)]).flatten(1).norm(dim=1).mean())
            row = _row(m, sampler, dataset, seed, scores.fid if image else scores.w2, scores.as_dict())
            row |= {
                "solver_error": solver_errors.get(m.method) if sampler is ODE else None,
                "coupling_drift": drift,
                "distill_floor": solver_errors.get(m.teacher) if ode is not None else None,
            }
            rows.append(row | _costs(m))
            samples[(str(m.method), sampler.budget)] = xs[:32] if image else xs
    return {
        "rows": rows,
        "floor": floor,
        "samples": samples,
        "reference": data.reference,
        "x0": data.x0,
        "truth": data.truth,
    }


def _row(m: Model, sampler: Sampler, dataset: str, seed: int, quality: float, scores: dict) -> dict:
    """A row's identity and scores (every score but the wall seconds, so a rescored chain gives
    identical rows)."""
    return {
        "dataset": dataset,
        "seed": seed,
        "method": str(m.method),
        "family": m.family,
        "solver": sampler.spec.describe(),
        "nfe_budget": sampler.budget,
        "rectifications": m.rectifications,
        "teacher": str(m.teacher) if m.teacher else "",
        "quality": quality,
        **{k: v for k, v in scores.items() if k != "sample_seconds"},
    }


def _costs(m: Model) -> dict:
    """A row's costs: what it took to obtain the model, and what it is (``m.extra``)."""
    return {
        "compute_seconds": round(m.seconds, 2),
        "teacher_nfe_per_sample": m.teacher_nfe,
        "teacher_evals": m.teacher_evals,
        "training_stages": m.stages,
        "compute_evals": m.compute,
        **m.extra,
    }


@functools.cache
def _source_digest() -> str:
    """The SHA-256 of each of the package's source files (the code that scores), once per process."""
    return "".join(sha256_file(f) for f in sorted(_PACKAGE.rglob("*.py")))


def _evaluation_key(models: list[Model], dataset: str, seed: int, n_eval: int, cfg: CompareConfig) -> str:
    """A digest of everything a chain's scores depend on: the settings, the models (what they are,
    and each one's saved ``config.json``: its architecture and the SHA-256 of its weights, which
    loading checks) and the package's own source, so an edited metric or a retrained model is
    scored again. (A resume rewrites a finished model's files with the same bytes, so their
    times say nothing.)"""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items() if k not in _NOT_SCORED}
    saved = [sha256_file(Path(m.folder) / "model" / CONFIG_NAME) for m in models]
    parts = [settings, dataset, seed, n_eval, [repr(m) for m in models], saved, _source_digest()]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def scored_chain(
    models: list[Model], dataset: str, seed: int, n_eval: int, cfg: CompareConfig, root: Path
) -> dict:
    """:func:`evaluate_chain`, kept in ``root`` and reused while nothing it depends on changed
    (scoring an image chain takes as long as training one of its models)."""
    path = Path(root) / EVALUATION
    key = _evaluation_key(models, dataset, seed, n_eval, cfg)
    if path.is_file():
        try:
            kept = torch.load(path, map_location="cpu", weights_only=True)
        except Exception:  # noqa: BLE001 - an unreadable copy is scored again
            kept = None
        if isinstance(kept, dict) and kept.get("key") == key:
            return kept["chain"]
    chain = evaluate_chain(models, dataset, seed, n_eval, cfg)
    buf = io.BytesIO()
    torch.save({"key": key, "chain": chain}, buf)
    atomic_write_bytes(path, buf.getvalue())
    return chain
