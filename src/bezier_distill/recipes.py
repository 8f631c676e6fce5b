"""Recipes: one function per command, each a library call behind a thin CLI.

Training recipes differ only in the coupling they draw from and the objective
they fit; all of them run :func:`bezier_distill.training.train`.

* ``run_train``: 1-RF on an independent coupling, or k-RF on stored pairs.
* ``run_reflow``: generate pairs from a teacher (the reflow coupling).
* ``run_guide``: generate a guided coupling (Bezier control points) from teachers.
* ``run_distill``: one-step / k-step distillation on stored pairs.
* ``run_bezier``: Bezier Distillation of a student on a guided coupling.
* ``run_sample`` and ``run_evaluate``: samples with counted NFE, and their scores.

Starting and resuming a run folder is :mod:`.runs`, a model's provenance :mod:`.provenance`, and
the ``classifier`` command :func:`.features.run_classifier`.
"""

from __future__ import annotations

import copy
import io
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from . import capabilities
from .config import (
    BezierConfig,
    DistillConfig,
    EvaluateConfig,
    GuideConfig,
    ReflowConfig,
    SampleConfig,
    TrainConfig,
    to_dict,
)
from .couplings import CouplingDataset, generate_coupling
from .data import Distribution, get_distribution, get_source
from .data.tasks import is_task_spec
from .errors import BadInput
from .evaluation import (
    DOPRI,
    eval_data,
    evaluate,
    feature_metrics,
    noise_floor,
    renoise_stream,
    solver_error,
    source_draw,
)
from .models import build_model, from_pretrained, load_model_dir
from .objectives import (
    BezierDistillation,
    ConsistencyDistillation,
    Distillation,
    FlowMatching,
    MeanFlow,
    Objective,
)
from .pairings import GivenCoupling, GivenRows, data_coupling
from .provenance import coupling_origin, data_origin, provenance
from .resources import check_fits
from .runs import chain_inputs, input_paths, model_paths, start_run
from .seeding import seeded
from .solvers import SolverSpec, solve
from .storage import (
    atomic_write_json,
    check_out_file,
    json_bytes,
    write_out_file,
)
from .teachers import DataAnchored, Teacher, TeacherEnsemble, parse_guides, parse_solvers
from .training import check_batch_fits, train


def _check_shape(model: nn.Module, shape: tuple[int, ...], what: str) -> None:
    if tuple(model.data_shape) != tuple(shape):
        raise BadInput(
            f"model expects data of shape {tuple(model.data_shape)} but {what} has shape {tuple(shape)}"
        )


def _start_model(coupling: CouplingDataset, init: str | None, allow_changed: bool) -> tuple[nn.Module, dict]:
    """The model to fine-tune on a coupling: ``init``, or the coupling's end teacher after
    checking it is unchanged; and the implicit input (the teacher, which its provenance reads)
    that --out may not be, hold or lie inside."""
    if init == "scratch":
        raise BadInput("--init scratch: this command fine-tunes a model; name a model folder")
    if init:
        return from_pretrained(init), {"(the coupling's teacher)": model_paths(coupling.end_teacher)}
    teacher = coupling.checked_teacher(allow_changed=allow_changed)
    return from_pretrained(teacher), {"--init (the coupling's teacher)": model_paths(teacher)}


def _student(folder: str, cfg) -> tuple[CouplingDataset, nn.Module, dict]:
    """A verified stored coupling and the student to train on it: its end teacher, ``cfg.init``, or
    (``--init scratch``) a fresh model of ``cfg``'s architecture (``--arch auto`` follows the end
    teacher's data: a UNet for images)."""
    coupling = CouplingDataset(folder)
    if cfg.init == "scratch":
        teacher = from_pretrained(coupling.end_teacher) if cfg.arch != "mlp" else None
        image_shape = capabilities.image_shape(teacher)
        model = _fresh_model(cfg, coupling.data_shape[0], image_shape, folder)
        inputs = {"--init scratch (the coupling's teacher)": model_paths(coupling.end_teacher)}
    else:
        model, inputs = _start_model(coupling, cfg.init, cfg.allow_changed_teacher)
    _check_shape(model, coupling.data_shape, f"coupling folder {folder}")
    return coupling, model, inputs


def _fit(
    cfg,
    model: nn.Module,
    objective: Objective,
    *,
    progress: bool,
    desc: str,
    purpose: str,
    origin: dict,
    inputs: dict | None = None,
) -> nn.Module:
    """Start (or resume) the run in ``cfg.out`` and train ``model`` there on ``objective``, its
    batches drawn from the stream ``purpose``; ``origin`` is the provenance the saved model records.

    A batch that cannot fit is refused before the run folder is touched.
    """
    settings = cfg.settings()
    rows = settings.batch_size * math.prod(model.data_shape)
    check_fits(8 * rows, f"a batch of {settings.batch_size}", "--batch-size", cfg.device)
    check_batch_fits(model, objective, settings, cfg.device, purpose)
    resume = start_run(cfg, model=model, inputs=inputs)
    return train(
        model,
        objective,
        settings,
        cfg.out,
        resume=resume,
        device=cfg.device,
        progress=progress,
        desc=desc,
        purpose=purpose,
        provenance=origin,
    )


def _fresh_model(cfg, dim: int, image_shape: tuple | None, name: str) -> nn.Module:
    """A new model of ``cfg``'s architecture (an :class:`~bezier_distill.config.Arch`), its weights
    from the ``init`` stream of ``cfg.seed``; with two time inputs for MeanFlow."""
    arch = cfg.arch if cfg.arch != "auto" else ("unet" if image_shape else "mlp")
    if arch == "unet" and image_shape is None:
        raise BadInput(f"--arch unet needs image data, but {name!r} is a point set")
    interval = getattr(cfg, "objective", None) == "meanflow"
    with seeded("init", cfg.seed):
        if arch == "unet":
            return build_model(
                "unet", shape=image_shape, channels=cfg.widths(), blocks=cfg.blocks, interval=interval
            )
        return build_model("mlp", dim=dim, hidden=cfg.hidden, layers=cfg.layers, interval=interval)


def run_train(cfg: TrainConfig, *, progress: bool = True) -> nn.Module:
    """1-RF on (source, data), or k-RF on a pair folder (``--objective meanflow``: a MeanFlow model
    of the average velocity instead); returns the EMA model.

    On pairs the model starts from ``--init``, the pairs' end teacher, or (``--init scratch``)
    a fresh model whose architecture follows the teacher's unless ``--arch`` says otherwise.
    """
    inputs: dict = {}
    if cfg.pairs:
        pairs = CouplingDataset(cfg.pairs)
        drawn, shape = pairs, pairs.data_shape
        purpose = f"train/k-RF@{pairs.digest}"
        if cfg.fresh_model():
            teacher = from_pretrained(pairs.end_teacher) if cfg.arch != "mlp" else None
            image_shape = capabilities.image_shape(teacher)
            model = _fresh_model(cfg, shape[0], image_shape, cfg.pairs)
            inputs = {"--init scratch (the coupling's teacher)": model_paths(pairs.end_teacher)}
        else:
            model, inputs = _start_model(pairs, cfg.init, cfg.allow_changed_teacher)
    else:
        target = get_distribution(cfg.data, data_dir=cfg.data_dir, reference=cfg.reference)
        source_spec = cfg.data if target.paired is not None else cfg.source
        source = get_source(source_spec, dim=target.dim, data_dir=cfg.data_dir, noise=cfg.source_noise)
        coupling = data_coupling(source, target, cfg.pairing)
        drawn, shape = coupling, (target.dim,)
        purpose = "train/1-RF"
        if cfg.fresh_model():
            model = _fresh_model(cfg, shape[0], target.image_shape, target.name)
        else:
            model = from_pretrained(cfg.init)
    _check_shape(model, shape, "the training data")

    if cfg.objective == "meanflow":
        if not capabilities.takes_interval(model):
            raise BadInput(
                "--objective meanflow trains a model with two time inputs, but the starting model has "
                "one: pass --init scratch, or --init a MeanFlow model"
            )
        objective: Objective = MeanFlow(
            drawn, ratio=cfg.meanflow_ratio, loss=cfg.loss, time_sampling=cfg.time_sampling
        )
        purpose, desc = purpose.replace("train/", "train/meanflow "), "MeanFlow"
    else:
        objective = FlowMatching(drawn, loss=cfg.loss, path=cfg.path, time_sampling=cfg.time_sampling)
        desc = "k-RF" if cfg.pairs else "1-RF"
    origin = coupling_origin(pairs) if cfg.pairs else data_origin(cfg)
    return _fit(
        cfg, model, objective, progress=progress, desc=desc, purpose=purpose, origin=origin, inputs=inputs
    )


def run_distill(cfg: DistillConfig, *, progress: bool = True) -> nn.Module:
    """Distill on a pair folder into a ``cfg.k``-step student (or, with ``--objective consistency``,
    a one-step consistency student of the pairs' teacher); returns the EMA model."""
    pairs, model, inputs = _student(cfg.pairs, cfg)
    origin = coupling_origin(pairs)
    if cfg.objective == "consistency":
        objective = ConsistencyDistillation(
            _teacher_of(pairs, model, cfg),
            _noise_and_data(origin, cfg),
            steps=cfg.consistency_steps,
            loss=cfg.loss,
        )
        purpose, desc = f"train/consistency@{pairs.digest}", "consistency distillation"
    else:
        objective = Distillation(pairs, k=cfg.k, loss=cfg.loss)
        purpose, desc = f"train/distill@{pairs.digest}", f"distill k={cfg.k}"
    return _fit(
        cfg, model, objective, progress=progress, desc=desc, purpose=purpose, origin=origin, inputs=inputs
    )


def _teacher_of(pairs: CouplingDataset, student: nn.Module, cfg: DistillConfig) -> nn.Module:
    """The pairs' end teacher on ``cfg.device``: a frozen copy of the student before training when
    it starts from that (already checked) teacher, else loaded and checked against the pairs' hash."""
    if not cfg.init:
        return copy.deepcopy(student).to(cfg.device).eval().requires_grad_(False)
    return from_pretrained(pairs.checked_teacher(allow_changed=cfg.allow_changed_teacher), device=cfg.device)


def _noise_and_data(origin: dict, cfg: DistillConfig):
    """Fresh source and training-data draws of the chain that ``origin`` describes (its 1-RF's
    coupling: independent draws, or the given pairs of a paired task)."""
    if origin.get("data") is None:
        raise BadInput(
            f"consistency distillation needs the teacher's training data, but the provenance of "
            f"{cfg.pairs} records none"
        )
    target = get_distribution(origin["data"], data_dir=cfg.data_dir, reference=origin.get("reference"))
    return data_coupling(_chain_source(None, origin, dim=target.dim, data_dir=cfg.data_dir), target)


def _chain_source(flag: str | None, found: dict, *, dim: int, data_dir: str | None) -> Distribution:
    """The source a command draws from: ``--source`` (``flag``), else the one the model's chain
    recorded (``found``, its :func:`provenance`) with its source noise. A chain on a paired task
    keeps the task's inputs: another ``--source`` is refused."""
    recorded = found.get("source", "gaussian")
    if flag is not None and flag != recorded:
        if is_task_spec(recorded):
            raise BadInput(
                f"--source {flag}: the model learned the paired task {recorded}, whose source is its "
                "inputs: leave --source out"
            )
        return get_source(flag, dim=dim, data_dir=data_dir)
    return get_source(recorded, dim=dim, data_dir=data_dir, noise=found.get("source_noise", 0.0))


def _make_coupling(cfg, ensemble: TeacherEnsemble, model_dir: str, progress: bool) -> dict:
    """Store the coupling of ``ensemble`` in ``cfg.out``: rows from source draws, or with
    ``--anchor data`` from draws of the end teacher's training data (``model_dir``'s provenance)."""
    dim = ensemble.data_shape[0]
    found = provenance(model_dir)
    source = _chain_source(cfg.source, found, dim=dim, data_dir=cfg.data_dir)
    _check_shape(ensemble.teachers[0].model, (source.dim,), f"source {source.name!r}")
    identity = {
        "source": source.name,
        "n_pairs": cfg.n_pairs,
        "shard_size": cfg.shard_size,
        "seed": cfg.seed,
        **ensemble.identity(),
    }
    maker, drawn = ensemble, source
    if cfg.anchor == "data":
        if found.get("data") is None:
            raise BadInput(
                f"--anchor data needs the end teacher's training data, but {model_dir} records none"
            )
        drawn = get_distribution(found["data"], data_dir=cfg.data_dir, reference=found.get("reference"))
        identity["anchor"] = {"data": drawn.name}
        given = drawn.paired is not None  # a paired task: its given pairs, the input as z0
        if given:
            drawn = GivenRows(GivenCoupling(source, drawn))
            identity["anchor"]["pairs"] = "given"
        maker = DataAnchored(ensemble, given=given)
    rows = min(cfg.shard_size, cfg.n_pairs)
    size = rows * (ensemble.degree + 1) * math.prod(ensemble.data_shape)
    check_fits(4 * size, f"a shard of {rows} rows", "--shard-size", cfg.device)
    start_run(cfg, inputs=chain_inputs(found, "--model" if hasattr(cfg, "model") else "--teachers"))
    return generate_coupling(maker, drawn, cfg.out, identity, device=cfg.device, progress=progress)


def run_reflow(cfg: ReflowConfig, *, progress: bool = True) -> dict:
    """Generate reflow pairs ``(z0, ODE(z0))`` from ``cfg.model``; returns the manifest."""
    teacher = Teacher.load(cfg.model, cfg.solver_spec(), device=cfg.device)
    ensemble = TeacherEnsemble([teacher], degree=1, guides=[])
    return _make_coupling(cfg, ensemble, cfg.model, progress)


def run_guide(cfg: GuideConfig, *, progress: bool = True) -> dict:
    """Generate a guided coupling (Bezier control points from teachers); returns the manifest."""
    folders = [f.strip() for f in cfg.teachers.split(",") if f.strip()]
    solvers = parse_solvers(cfg.teacher_solvers, len(folders))
    guides = parse_guides(cfg.guides, cfg.degree, len(folders))
    teachers = [Teacher.load(f, s, device=cfg.device) for f, s in zip(folders, solvers)]
    ensemble = TeacherEnsemble(
        teachers, cfg.degree, guides, guide_as=cfg.guide_as, end_teacher=cfg.end_teacher
    )
    return _make_coupling(cfg, ensemble, folders[cfg.end_teacher], progress)


def run_bezier(cfg: BezierConfig, *, progress: bool = True) -> nn.Module:
    """Bezier Distillation: train a student on a guided coupling; returns the EMA model."""
    coupling, model, inputs = _student(cfg.coupling, cfg)

    objective = BezierDistillation(
        coupling,
        cfg.objective,
        k=cfg.k,
        time_sampling=cfg.time_sampling,
        loss=cfg.loss,
        guide_noise=cfg.guide_noise,
    )
    desc = f"bezier n={coupling.degree} {cfg.objective}"
    purpose, origin = f"train/bezier@{coupling.digest}", coupling_origin(coupling)
    return _fit(
        cfg, model, objective, progress=progress, desc=desc, purpose=purpose, origin=origin, inputs=inputs
    )


def _sources(cfg, model_dir: str) -> dict:
    """Data and reference of a model's evaluation (the flags, else its provenance), its teacher,
    and its provenance (``found``, which :func:`_chain_source` reads the source from)."""
    found = provenance(model_dir)
    data = getattr(cfg, "data", None)
    reference = getattr(cfg, "reference", None)
    if data is None:
        data, reference = found.get("data"), reference or found.get("reference")
    return {"found": found, "data": data, "reference": reference, "teacher": found.get("teacher")}


def _check_renoise(spec: SolverSpec, source: str) -> None:
    """The consistency sampler re-noises with Gaussian draws: refuse it beyond one step elsewhere."""
    if spec.method == "consistency" and spec.steps > 1 and source != "gaussian":
        raise BadInput(
            f"--solver consistency with {spec.steps} steps re-noises with Gaussian noise, but the "
            f"source is {source!r}: use one step, or another solver"
        )


def run_sample(cfg: SampleConfig) -> dict:
    """Write ``cfg.n`` samples to ``cfg.out`` (.npy) with a .json of their provenance."""
    loaded = load_model_dir(cfg.model, device=cfg.device)
    model, found = loaded.model, provenance(cfg.model)
    source = _chain_source(cfg.source, found, dim=model.data_shape[0], data_dir=cfg.data_dir)
    _check_shape(model, (source.dim,), f"source {source.name!r}")
    inputs = input_paths(cfg) | chain_inputs(found | loaded.provenance)
    out = check_out_file(cfg.out, ".npy", overwrite=cfg.overwrite, sidecars=(".json", ".png"), inputs=inputs)
    _check_renoise(cfg.solver_spec(), source.name)
    x0 = source_draw(source, cfg.n, cfg.seed).to(cfg.device)
    start = time.perf_counter()
    result = solve(model, x0, cfg.solver_spec(), generator=renoise_stream(cfg.seed, cfg.device))
    info = {
        **to_dict(cfg),
        "source": source.name,
        "n": x0.shape[0],
        "nfe": result.nfe,
        "seconds": round(time.perf_counter() - start, 4),
    }
    bad = int((~torch.isfinite(result.x.flatten(1))).any(1).sum())
    if bad:
        raise BadInput(
            f"model {cfg.model} gave {bad} of {x0.shape[0]} samples with NaN or Inf; nothing was written"
        )
    buf = io.BytesIO()
    np.save(buf, result.x.cpu().numpy())
    write_out_file(out, buf.getvalue())
    atomic_write_json(out.with_suffix(".json"), info)
    title = f"{cfg.solver_spec().describe()} (NFE {result.nfe})"
    if source.dim == 2:
        from .plotting import scatter_panels

        scatter_panels({title: result.x.cpu()}, out.with_suffix(".png"))
    elif capabilities.image_shape(model) is not None:
        _image_figure(model.image_shape, source, x0, {title: result.x}, out.with_suffix(".png"))
    return info


def _image_figure(shape, source, x0, panels: dict, path: Path) -> None:
    """Sample grids (with the inputs first when the source is an image dataset: translation)."""
    from .plotting import image_panels

    inputs = {"input (source)": x0.cpu()} if source.image_shape is not None else {}
    image_panels(inputs | {k: v.cpu() for k, v in panels.items()}, shape, path)


def run_evaluate(cfg: EvaluateConfig) -> dict:
    """Score a model's samples beside the noise floor, on held-out source draws and reference.

    For a model trained on a coupling (k-RF, distilled and Bezier students) the report adds
    its distillation error: the mean squared distance to its teacher's dopri5 solution from
    the same source draws, beside the teacher's own solver error (its floor).
    """
    loaded = load_model_dir(cfg.model, device=cfg.device)
    model, names = loaded.model, _sources(cfg, cfg.model)
    if names["data"] is None:
        raise BadInput(f"--data is required: {cfg.model} records no training data")
    target = get_distribution(names["data"], data_dir=cfg.data_dir, reference=names["reference"])
    source = _chain_source(cfg.source, names["found"], dim=target.dim, data_dir=cfg.data_dir)
    features = feature_metrics(target, cfg.inception_weights)
    _check_shape(model, (target.dim,), f"dataset {target.name!r}")
    _check_renoise(cfg.solver_spec(), source.name)
    inputs = input_paths(cfg) | chain_inputs(names["found"] | loaded.provenance)
    out = None
    if cfg.out:
        out = check_out_file(cfg.out, ".json", overwrite=cfg.overwrite, sidecars=(".png",), inputs=inputs)
    data = eval_data(source, target, cfg.n, cfg.seed)
    teacher, floor = None, None
    if names["teacher"] is not None:
        teacher_model = from_pretrained(names["teacher"], device=cfg.device)
        _check_shape(teacher_model, (target.dim,), f"dataset {target.name!r}")
        x0 = data.x0.to(cfg.device)
        teacher = solve(teacher_model, x0, DOPRI).x.cpu()
        floor = solver_error(teacher_model, x0, teacher)
    scores, samples = evaluate(
        model,
        data,
        cfg.solver_spec(),
        features=features,
        image=target.image_shape is not None,
        translation=source.image_shape is not None,
        teacher=teacher,
        seed=cfg.seed,
        device=cfg.device,
    )
    report = {
        **to_dict(cfg),
        "source": source.name,
        "data": target.name,
        "teacher": names["teacher"],
        "scores": scores.as_dict(),
        "noise_floor": noise_floor(data, features, seed=cfg.seed) | {"distill_error": floor},
        "feature_metrics": {net: m.name for net, m in features.items()},
    }
    if out is not None:
        write_out_file(out, json_bytes(report))
        if target.image_shape is not None:
            panels = {f"{cfg.solver_spec().describe()} (NFE {scores.nfe})": samples}
            panels |= {"ground truth": data.truth} if data.truth is not None else {}
            _image_figure(target.image_shape, source, data.x0, panels, out.with_suffix(".png"))
    return report
