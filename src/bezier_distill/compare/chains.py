"""Running the chains of a comparison: train every method of one (dataset, seed), then score it.

For each dataset and seed one chain of ordinary recipe runs lives under
``out/runs/<dataset>/seed<k>/``:

* teachers: a 1-RF, a second 1-RF (its own seed, derived from the chain's), and the 2-RF to
  the k-RF (``--rectifications``, up to 4) by reflow;
* k-RF + distill for k = 1 .. rectifications: a one-step (grid {0}) and a two-step (grid
  {0, 1/2}) student on the k-RF's own pairs;
* Bezier Distillation for every degree, teacher set and objective of the configuration, and
  with ``--equal-compute K,...`` the primary recipes' twins trained for more steps, each to the
  compute of the k-RF + distill student of a listed k above its teachers' rank (the frontier;
  compute counts forward passes: three per training sample plus every teacher evaluation), and
  beside them the control: the 1-RF + distill students trained longer to the same compute (do the
  extra steps help any student from the 1-RF, or the Bezier one?);
* the field's few-step baselines of the configuration (``--baselines``), each spending the
  training samples of a 1-RF + distill chain (two runs of ``steps x batch_size``): 2-RF++
  (the 1-RF reflowed once with the 2-rf++ recipe), OT-CFM (a 1-RF on minibatch-OT pairs) and
  its one- and two-step distillation, consistency distillation (CD) of the 1-RF, and MeanFlow
  from scratch (one run of twice the steps).

Every model is then sampled by each of its :class:`Sampler` s from the same held-out source
draws and scored against the same reference (:func:`bezier_distill.evaluation.eval_data`);
each student also gets its distillation error against its teacher's dopri5 solution from the
same draws, and each teacher its solver error (the floor of that error); each k-RF its coupling
drift, the mean distance ``E||Z1^k(z0) - Z1^1(z0)||`` between its dopri5 solution and the 1-RF's
from the same held-out draws (how far the rectifications have moved the coupling).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..config import BezierConfig, DistillConfig, GuideConfig, ReflowConfig, TrainConfig
from ..data import get_distribution, get_source
from ..evaluation import (
    DOPRI,
    eval_data,
    evaluate,
    feature_metrics,
    noise_floor,
    solver_error,
    truth_scores,
)
from ..models import CONFIG_NAME, from_pretrained
from ..recipes import run_bezier, run_distill, run_guide, run_reflow, run_train
from ..seeding import stream_seed
from ..solvers import SolverSpec
from ..storage import atomic_write_bytes, sha256_file
from ..training import run_seconds
from .config import CompareConfig


@dataclass(frozen=True)
class Sampler:
    """How a model is sampled for a row: its budget label (``"1"``, ``"2"``, ``"ODE"``) and solver."""

    budget: str
    spec: SolverSpec


ONE_STEP = Sampler(budget="1", spec=SolverSpec("euler", 1))
TWO_STEPS = Sampler(budget="2", spec=SolverSpec("euler", 2))
ODE = Sampler(budget="ODE", spec=DOPRI)
CONSISTENCY_TWO = Sampler(budget="2", spec=SolverSpec("consistency", 2))


@dataclass(frozen=True)
class Model:
    """One trained model of a chain, how it is sampled, and what it cost."""

    method: str
    family: str  # "k-RF", "k-RF + distill", "Bezier", "baseline"
    folder: Path
    rectifications: int  # reflows behind its coupling (1-RF teachers only -> 1)
    teacher: str | None  # the method whose ODE solution it distils (its gap is measured to it)
    seconds: float  # training + coupling generation seconds, everything upstream included
    teacher_nfe: float  # teacher NFE per sample spent on couplings upstream
    stages: int  # training runs upstream, its own included
    teacher_evals: float = 0.0  # teacher evaluations upstream in all (couplings and training targets)
    train_samples: float = 0.0  # training samples upstream, its own included (steps x batch per run)
    samplers: tuple[Sampler, ...] = (ONE_STEP, TWO_STEPS)
    extra: dict = field(default_factory=dict)

    @property
    def compute(self) -> float:
        """Network evaluations spent to obtain the model, in forward passes: three per training
        sample (a forward and a backward pass) plus every teacher evaluation upstream."""
        return TRAIN_COST * self.train_samples + self.teacher_evals

    def steps_to(self, compute: float, batch_size: int) -> int:
        """Extra training steps of ``batch_size`` that bring this model to ``compute`` (rounded up)."""
        return math.ceil((compute - self.compute) / (TRAIN_COST * batch_size))

    def trained_longer(self, k: int, extra_steps: int, batch_size: int, **changes) -> Model:
        """Its twin trained ``extra_steps`` more, to the compute of ``k``-RF + distill (named so)."""
        return dataclasses.replace(
            self,
            method=equal_compute_method(self.method, k),
            train_samples=self.train_samples + extra_steps * batch_size,
            extra=self.extra | {"equal_compute": f"{k}-RF + distill"},
            **changes,
        )


TRAIN_COST = 3  # forward-pass equivalents of one training sample (forward + backward)


@dataclass(frozen=True)
class TeacherSet:
    """The teachers of a Bezier coupling: folders (by stage name), guides and what they cost."""

    label: str
    folders: tuple[str, ...]
    guides: str
    upstream: tuple[str, ...]  # the teacher stages whose cost the coupling inherits
    rectifications: int
    end: str  # the method whose ODE end is P_n (the first of ``folders``)
    guide_as: str = "through"
    anchor: str = "noise"  # "data": rows start from training data, the end teacher's ODE solved backward

    @property
    def slug(self) -> str:
        """The label in folder names."""
        return self.label.replace(" ", "").replace("+", "_")


TEACHER_SETS = {
    "1-RF": TeacherSet("1-RF", ("rf1",), "state:0", ("1-RF",), 1, "1-RF"),
    "1-RF x2": TeacherSet("1-RF x2", ("rf1", "rf1b"), "state:0+1", ("1-RF", "1-RF b"), 1, "1-RF"),
    "1-RF+2-RF": TeacherSet("1-RF+2-RF", ("rf2", "rf1"), "state:0+1", ("2-RF",), 2, "2-RF"),
    # the same 1-RF guided otherwise: its one-step endpoints, or its states as raw control points
    "1-RF endpoint": TeacherSet("1-RF endpoint", ("rf1",), "endpoint:0", ("1-RF",), 1, "1-RF", "control"),
    "1-RF control": TeacherSet("1-RF control", ("rf1",), "state:0", ("1-RF",), 1, "1-RF", "control"),
    # rows anchored on real data: the 1-RF solved backward from training data, P_n the data itself
    "1-RF data-anchored": TeacherSet(
        "1-RF data-anchored", ("rf1",), "state:0", ("1-RF",), 1, "1-RF", anchor="data"
    ),
    # teachers of two ranks, one per control point: the 1-RF's states inside, the 2-RF's end
    "1-RF guides+2-RF end": TeacherSet(
        "1-RF guides+2-RF end", ("rf2", "rf1"), "state:1", ("2-RF",), 2, "2-RF"
    ),
}


def bezier_method(degree: int, teachers: str, objective: str) -> str:
    """The method name of a Bezier student in rows, reports and configurations."""
    return f"Bezier n={degree} [{teachers}] {objective}"


def second_teacher_seed(seed: int) -> int:
    """The seed of the second 1-RF teacher of chain ``seed``: from its own stream, so it is not
    the seed of another chain's first teacher."""
    return stream_seed("teacher b", seed) % (1 << 31)


def build_chain(
    cfg: CompareConfig,
    sizes: dict,
    dataset: str,
    seed: int,
    root: Path,
    resume: bool,
    *,
    images: bool,
    translation: bool,
) -> list[Model]:
    """Train every model of one (dataset, seed) chain under ``root``; return them with their costs
    (``images``, ``translation``: what the datasets are, as :func:`run_compare` checked them)."""
    train_opts = {"seed": seed, "device": cfg.device, "resume": resume, "overwrite": False}
    train_opts |= {"steps": sizes["steps"], "batch_size": sizes["batch_size"]}
    arch = {
        "hidden": sizes["hidden"],
        "layers": sizes["layers"],
        "channels": cfg.channels,
        "blocks": cfg.blocks,
    }
    arch |= {"source": cfg.source, "data_dir": cfg.data_dir}
    # every student's training options: its architecture when fresh (else it fine-tunes its
    # teacher) and its steps (--student-steps, else --steps)
    student = train_opts | cfg.student_arch(images, sizes["hidden"], sizes["layers"])
    student["steps"] = cfg.student_steps or sizes["steps"]
    coupling_opts = {
        "seed": seed,
        "device": cfg.device,
        "data_dir": cfg.data_dir,
        "resume": resume,
        "n_pairs": sizes["n_pairs"],
        "shard_size": max(1, sizes["n_pairs"] // 2),
    }
    solver = cfg.teacher_solver_spec()
    pair_solver = {
        "solver": solver.method,
        "solver_steps": solver.steps,
        "rtol": solver.rtol,
        "atol": solver.atol,
    }

    def folder(name: str) -> str:
        return str(root / name)

    def model(method: str, family: str, name: str, *, learner: bool = False, **costs) -> Model:
        """A model and its costs; ``learner``: a student (its own run at the students' steps)."""
        costs.setdefault("teacher_evals", costs["teacher_nfe"] * sizes["n_pairs"])
        teachers = costs["stages"] - 1 if learner else costs["stages"]
        runs = teachers * sizes["steps"] + (student["steps"] if learner else 0)
        costs.setdefault("train_samples", runs * sizes["batch_size"])
        return Model(method=method, family=family, folder=root / name, **costs)

    models: list[Model] = []
    teacher = {"data": dataset, "pairing": cfg.pairing, **arch}  # the 1-RF teachers
    run_train(TrainConfig(out=folder("rf1"), **teacher, **train_opts), progress=False)
    cost = {"1-RF": run_seconds(folder("rf1"))}
    tnfe = {"1-RF": 0.0, "1-RF b": 0.0}
    stages = {"1-RF": 1, "1-RF b": 1} | {f"{k}-RF": k for k in range(2, cfg.rectifications + 1)}
    if "1-RF x2" in cfg.teacher_set_list():
        opts = train_opts | {"seed": second_teacher_seed(seed)}
        run_train(TrainConfig(out=folder("rf1b"), **teacher, **opts), progress=False)
        cost["1-RF b"] = run_seconds(folder("rf1b"))
    teacher_samplers = (ONE_STEP, TWO_STEPS, ODE)
    models.append(
        model(
            "1-RF",
            "k-RF",
            "rf1",
            rectifications=1,
            teacher=None,
            seconds=cost["1-RF"],
            teacher_nfe=0.0,
            stages=1,
            samplers=teacher_samplers,
        )
    )
    last = cfg.rectifications
    coupled = {}  # k -> (seconds, teacher NFE per sample) up to and including the k-RF's pairs
    for k in range(1, last + 1):
        pairs = run_reflow(
            ReflowConfig(out=folder(f"pairs{k}"), model=folder(f"rf{k}"), **pair_solver, **coupling_opts),
            progress=False,
        )
        up, up_nfe = cost[f"{k}-RF"] + pairs["seconds"], tnfe[f"{k}-RF"] + pairs["mean_nfe"]
        coupled[k] = (up, up_nfe)
        if k < last:
            run_train(
                TrainConfig(out=folder(f"rf{k + 1}"), pairs=folder(f"pairs{k}"), **train_opts), progress=False
            )
            cost[f"{k + 1}-RF"] = up + run_seconds(folder(f"rf{k + 1}"))
            tnfe[f"{k + 1}-RF"] = up_nfe
            models.append(
                model(
                    f"{k + 1}-RF",
                    "k-RF",
                    f"rf{k + 1}",
                    rectifications=k + 1,
                    teacher=None,
                    seconds=cost[f"{k + 1}-RF"],
                    teacher_nfe=up_nfe,
                    stages=k + 1,
                    samplers=teacher_samplers,
                )
            )
        for grid, sampler in ((1, ONE_STEP), (2, TWO_STEPS)):
            name = f"d{k}-k{grid}"
            run_distill(
                DistillConfig(out=folder(name), pairs=folder(f"pairs{k}"), k=grid, **student),
                progress=False,
            )
            models.append(
                model(
                    f"{k}-RF + distill",
                    "k-RF + distill",
                    name,
                    learner=True,
                    rectifications=k,
                    teacher=f"{k}-RF",
                    seconds=up + run_seconds(folder(name)),
                    teacher_nfe=up_nfe,
                    stages=k + 1,
                    samplers=(sampler,),
                )
            )

    for k in cfg.equal_compute_list():
        # the control of the equal-compute Bezier twins: 1-RF + distill trained as much longer
        for grid in (1, 2):
            base = next(m for m in models if m.folder == root / f"d1-k{grid}")
            target = next(m for m in models if m.folder == root / f"d{k}-k{grid}").compute
            extra_steps = base.steps_to(target, sizes["batch_size"])
            if extra_steps <= 0:
                continue
            twin = f"d1-k{grid}-eq{k}"
            longer = student | {"steps": student["steps"] + extra_steps}
            run_distill(
                DistillConfig(out=folder(twin), pairs=folder("pairs1"), k=grid, **longer), progress=False
            )
            models.append(
                base.trained_longer(
                    k,
                    extra_steps,
                    sizes["batch_size"],
                    family="k-RF + distill, equal compute",
                    folder=root / twin,
                    seconds=coupled[1][0] + run_seconds(folder(twin)),
                )
            )

    baseline = {"arch": arch, "train_opts": train_opts, "pair_solver": pair_solver, "student": student}
    baseline |= {"translation": translation}
    models += baselines(
        cfg, dataset, root, model, cost["1-RF"], coupled[1], **baseline, coupling=coupling_opts
    )

    for degree in cfg.degree_list():
        for label in cfg.teacher_set_list():
            ts = TEACHER_SETS[label]
            gname = f"guided-n{degree}-{ts.slug}"
            coupling = run_guide(
                GuideConfig(
                    out=folder(gname),
                    teachers=",".join(folder(f) for f in ts.folders),
                    teacher_solvers=cfg.teacher_solver,
                    degree=degree,
                    guides=ts.guides,
                    guide_as=ts.guide_as,
                    anchor=ts.anchor,
                    **coupling_opts,
                ),
                progress=False,
            )
            up = sum(cost[u] for u in ts.upstream) + coupling["seconds"]
            up_nfe = sum(tnfe[u] for u in ts.upstream) + coupling["mean_nfe"]
            for objective in cfg.objective_list():
                name = f"{gname}-{objective.replace('/', '_').replace('@', '_noise')}"
                variant, _, noise = objective.partition("@")
                kind, _, sampling = variant.partition("/")
                trained = BezierConfig(
                    out=folder(name),
                    coupling=folder(gname),
                    objective=kind,
                    time_sampling=sampling or "uniform",
                    guide_noise=float(noise or 0),
                    k=2,
                    **student,
                )
                run_bezier(trained, progress=False)
                method = bezier_method(degree, label, objective)
                base = model(
                    method,
                    "Bezier",
                    name,
                    learner=True,
                    rectifications=ts.rectifications,
                    teacher=ts.end,
                    seconds=up + run_seconds(folder(name)),
                    teacher_nfe=up_nfe,
                    stages=sum(stages[u] for u in ts.upstream) + 1,
                    extra={"degree": degree, "teachers": label, "objective": objective},
                )
                models.append(base)
                budgets = equal_compute_samplers(cfg, method)
                matched = [k for k in cfg.equal_compute_list() if k > ts.rectifications and budgets]
                for k in matched:
                    # the compute of the k-RF + distill student, made up by more training steps
                    target = next(m for m in models if m.method == f"{k}-RF + distill").compute
                    extra_steps = base.steps_to(target, sizes["batch_size"])
                    if extra_steps <= 0:
                        continue
                    twin = f"{name}-eq{k}"
                    longer = dataclasses.replace(trained, out=folder(twin), steps=trained.steps + extra_steps)
                    run_bezier(longer, progress=False)
                    models.append(
                        base.trained_longer(
                            k,
                            extra_steps,
                            sizes["batch_size"],
                            family="Bezier, equal compute",
                            folder=root / twin,
                            seconds=up + run_seconds(folder(twin)),
                            samplers=budgets,
                        )
                    )
    return models


def equal_compute_samplers(cfg: CompareConfig, method: str) -> tuple[Sampler, ...]:
    """How the equal-compute twins of a Bezier student are sampled: one step for the primary
    one-step recipe, two for the primary two-step one; none without ``--equal-compute``."""
    if not cfg.equal_compute_list():
        return ()
    chosen = ((cfg.primary_one_step, ONE_STEP), (cfg.primary_two_step, TWO_STEPS))
    return tuple(sampler for recipe, sampler in chosen if recipe == method)


def equal_compute_method(method: str, k: int) -> str:
    """The name of ``method`` trained longer, to the compute of ``k``-RF + distill."""
    return f"{method} @ {k}-RF compute"


def baselines(
    cfg: CompareConfig,
    dataset: str,
    root: Path,
    model,
    rf1_seconds: float,
    pairs1: tuple[float, float],
    *,
    arch: dict,
    train_opts: dict,
    pair_solver: dict,
    coupling: dict,
    student: dict,
    translation: bool,
) -> list[Model]:
    """Train the baselines of ``cfg.baseline_list()`` in a chain whose 1-RF (``rf1``, trained in
    ``rf1_seconds``) and its pairs (``pairs1``: seconds and teacher NFE per sample up to them)
    exist; every baseline spends two training runs' samples (see the module docstring). ``student``
    holds every student's training options (with ``init="scratch"`` and an architecture when they
    are fresh, and the students' steps)."""
    folder = lambda name: str(root / name)  # noqa: E731
    up, up_nfe = pairs1
    found: list[Model] = []
    chosen = cfg.baseline_list()
    if "2-RF++" in chosen:
        run_train(
            TrainConfig(out=folder("rf2pp"), pairs=folder("pairs1"), recipe="2-rf++", **train_opts),
            progress=False,
        )
        found.append(
            model(
                "2-RF++",
                "baseline",
                "rf2pp",
                rectifications=2,
                teacher=None,
                seconds=up + run_seconds(folder("rf2pp")),
                teacher_nfe=up_nfe,
                stages=2,
                samplers=(ONE_STEP, TWO_STEPS, ODE),
            )
        )
    if "OT-CFM" in chosen:
        run_train(
            TrainConfig(out=folder("rf1-ot"), data=dataset, pairing="ot", **arch, **train_opts),
            progress=False,
        )
        ot_seconds = run_seconds(folder("rf1-ot"))
        found.append(
            model(
                "OT-CFM",
                "baseline",
                "rf1-ot",
                rectifications=1,
                teacher=None,
                seconds=ot_seconds,
                teacher_nfe=0.0,
                stages=1,
                samplers=(ONE_STEP, TWO_STEPS, ODE),
            )
        )
        pairs = run_reflow(
            ReflowConfig(out=folder("pairs-ot"), model=folder("rf1-ot"), **pair_solver, **coupling),
            progress=False,
        )
        for grid, sampler in ((1, ONE_STEP), (2, TWO_STEPS)):
            name = f"d-ot-k{grid}"
            run_distill(
                DistillConfig(out=folder(name), pairs=folder("pairs-ot"), k=grid, **student),
                progress=False,
            )
            found.append(
                model(
                    "OT-CFM + distill",
                    "baseline",
                    name,
                    learner=True,
                    rectifications=1,
                    teacher="OT-CFM",
                    seconds=ot_seconds + pairs["seconds"] + run_seconds(folder(name)),
                    teacher_nfe=pairs["mean_nfe"],
                    stages=2,
                    samplers=(sampler,),
                )
            )
    if "CD" in chosen:
        cd = DistillConfig(out=folder("cd"), pairs=folder("pairs1"), objective="consistency", **student)
        run_distill(cd, progress=False)
        found.append(
            model(
                "CD",
                "baseline",
                "cd",
                learner=True,
                rectifications=1,
                teacher="1-RF",
                seconds=rf1_seconds + run_seconds(folder("cd")),
                teacher_nfe=0.0,
                teacher_evals=2.0 * cd.steps * cd.batch_size,  # one Heun step per training draw
                stages=2,
                samplers=(ONE_STEP,) if translation else (ONE_STEP, CONSISTENCY_TWO),
            )
        )
    if "MeanFlow" in chosen:
        opts = train_opts | {"steps": 2 * train_opts["steps"]}
        run_train(
            TrainConfig(
                out=folder("meanflow"), data=dataset, objective="meanflow", loss="adaptive", **arch, **opts
            ),
            progress=False,
        )
        found.append(
            model(
                "MeanFlow",
                "baseline",
                "meanflow",
                rectifications=0,
                teacher=None,
                seconds=run_seconds(folder("meanflow")),
                teacher_nfe=0.0,
                stages=2,
            )
        )
    return found


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
    order = sorted(models, key=lambda m: ODE not in m.samplers)
    for m in order:
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
                if m.family == "k-RF":  # how far reflow has moved the coupling from the 1-RF's
                    drift = float((xs - teacher_ode["1-RF"]).flatten(1).norm(dim=1).mean())
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "method": m.method,
                    "family": m.family,
                    "solver": sampler.spec.describe(),
                    "nfe_budget": sampler.budget,
                    "rectifications": m.rectifications,
                    "teacher": m.teacher or "",
                    "quality": scores.fid if image else scores.w2,
                    # every score but the wall seconds, so a rescored chain gives identical rows
                    **{k: v for k, v in scores.as_dict().items() if k != "sample_seconds"},
                    "solver_error": solver_errors.get(m.method) if sampler is ODE else None,
                    "coupling_drift": drift,
                    "distill_floor": solver_errors.get(m.teacher) if ode is not None else None,
                    "compute_seconds": round(m.seconds, 2),
                    "teacher_nfe_per_sample": m.teacher_nfe,
                    "teacher_evals": m.teacher_evals,
                    "training_stages": m.stages,
                    "compute_evals": m.compute,
                    **m.extra,
                }
            )
            samples[(m.method, sampler.budget)] = xs[:32] if image else xs
    return {
        "rows": rows,
        "floor": floor,
        "samples": samples,
        "reference": data.reference,
        "x0": data.x0,
        "truth": data.truth,
    }


EVALUATION = "evaluation.pt"  # a chain's scores, kept in its folder so a resumed compare skips them
_PACKAGE = Path(__file__).resolve().parents[1]
# Settings that choose which chains run, not what a chain's scores are.
_NOT_SCORED = ("datasets", "seeds", "baselines", "out", "resume", "overwrite")


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
