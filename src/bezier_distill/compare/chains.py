"""Training one chain of a comparison: every method of one (dataset, seed), with what it cost.

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
* the field's few-step baselines of the configuration (:mod:`.baselines`).

:mod:`.scoring` then scores every model.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..config import BezierConfig, DistillConfig, GuideConfig, ReflowConfig, TrainConfig
from ..recipes import run_bezier, run_distill, run_guide, run_reflow, run_train
from ..seeding import stream_seed
from ..training import run_seconds
from .baselines import train_baselines
from .config import CompareConfig
from .naming import TEACHER_SETS, Method, TeacherSet, objective_settings, objective_slug
from .records import FLOW_SAMPLERS, GRIDS, ONE_STEP, TWO_STEPS, Chain, Costs, Model, Sampler


def build_chain(chain: Chain) -> list[Model]:
    """Train every model of one (dataset, seed) chain (:meth:`Chain.of`) under its root; return
    them with their costs."""
    cfg, seed = chain.cfg, chain.train["seed"]
    costs = Costs()
    models = [_first_teachers(chain, costs, seed)]
    models += _rectified(chain, costs)
    models += _equal_compute_controls(chain, costs, models)
    models += train_baselines(chain, costs)
    for degree in cfg.degree_list():
        for label in cfg.teacher_set_list():
            guided = _guided(chain, costs, degree, TEACHER_SETS[label])
            models += _bezier_students(chain, guided, models)
    return models


def second_teacher_seed(seed: int) -> int:
    """The seed of the second 1-RF teacher of chain ``seed``: from its own stream, so it is not
    the seed of another chain's first teacher."""
    return stream_seed("teacher b", seed) % (1 << 31)


def _first_teachers(chain: Chain, costs: Costs, seed: int) -> Model:
    """Train the 1-RF (and the second 1-RF where a teacher set takes it); return the 1-RF."""
    teacher = {"data": chain.dataset, "pairing": chain.cfg.pairing, **chain.arch}
    run_train(TrainConfig(out=chain.folder("rf1"), **teacher, **chain.train), progress=False)
    costs.seconds["rf1"] = run_seconds(chain.folder("rf1"))
    costs.nfe |= {"rf1": 0.0, "rf1b": 0.0}
    costs.stages |= {"rf1": 1, "rf1b": 1} | {f"rf{k}": k for k in range(2, chain.cfg.rectifications + 1)}
    if "1-RF x2" in chain.cfg.teacher_set_list():
        opts = chain.train | {"seed": second_teacher_seed(seed)}
        run_train(TrainConfig(out=chain.folder("rf1b"), **teacher, **opts), progress=False)
        costs.seconds["rf1b"] = run_seconds(chain.folder("rf1b"))
    return chain.model(
        Method.rf(1),
        "rf1",
        rectifications=1,
        teacher=None,
        seconds=costs.seconds["rf1"],
        teacher_nfe=0.0,
        stages=1,
        samplers=FLOW_SAMPLERS,
    )


def _rectified(chain: Chain, costs: Costs) -> list[Model]:
    """For k = 1 .. rectifications: the k-RF's pairs, the (k+1)-RF trained on them (but after the
    last) and the k-RF's one- and two-step distilled students."""
    models = []
    for k in range(1, chain.cfg.rectifications + 1):
        _pairs(chain, costs, k)
        if k < chain.cfg.rectifications:
            models.append(_reflowed(chain, costs, k))
        models += _distilled(chain, costs, k)
    return models


def _pairs(chain: Chain, costs: Costs, k: int) -> None:
    """Make the k-RF's pairs; record what they cost, everything upstream included."""
    pairs = run_reflow(
        ReflowConfig(
            out=chain.folder(f"pairs{k}"), model=chain.folder(f"rf{k}"), **chain.pair_solver, **chain.coupling
        ),
        progress=False,
    )
    costs.pairs[k] = (costs.seconds[f"rf{k}"] + pairs["seconds"], costs.nfe[f"rf{k}"] + pairs["mean_nfe"])


def _reflowed(chain: Chain, costs: Costs, k: int) -> Model:
    """Train the (k+1)-RF on the k-RF's pairs."""
    name = f"rf{k + 1}"
    run_train(
        TrainConfig(out=chain.folder(name), pairs=chain.folder(f"pairs{k}"), **chain.train), progress=False
    )
    up, up_nfe = costs.pairs[k]
    costs.seconds[name] = up + run_seconds(chain.folder(name))
    costs.nfe[name] = up_nfe
    return chain.model(
        Method.rf(k + 1),
        name,
        rectifications=k + 1,
        teacher=None,
        seconds=costs.seconds[name],
        teacher_nfe=up_nfe,
        stages=k + 1,
        samplers=FLOW_SAMPLERS,
    )


def _distilled(chain: Chain, costs: Costs, k: int) -> list[Model]:
    """Distil the k-RF on its own pairs into a one-step and a two-step student."""
    up, up_nfe = costs.pairs[k]
    models = []
    for grid, sampler in GRIDS:
        name = f"d{k}-k{grid}"
        run_distill(
            DistillConfig(out=chain.folder(name), pairs=chain.folder(f"pairs{k}"), k=grid, **chain.student),
            progress=False,
        )
        models.append(
            chain.model(
                Method.rf(k).distill(),
                name,
                learner=True,
                rectifications=k,
                teacher=Method.rf(k),
                seconds=up + run_seconds(chain.folder(name)),
                teacher_nfe=up_nfe,
                stages=k + 1,
                samplers=(sampler,),
            )
        )
    return models


def _equal_compute_controls(chain: Chain, costs: Costs, models: list[Model]) -> list[Model]:
    """The control of the equal-compute Bezier twins: the 1-RF + distill students trained as much
    longer, to the compute of each k-RF + distill of ``--equal-compute``."""
    batch, found = chain.sizes["batch_size"], []
    for k in chain.cfg.equal_compute_list():
        for grid, _ in GRIDS:
            base = next(m for m in models if m.folder == chain.root / f"d1-k{grid}")
            target = next(m for m in models if m.folder == chain.root / f"d{k}-k{grid}").compute
            extra_steps = base.steps_to(target, batch)
            if extra_steps <= 0:
                continue
            twin = f"d1-k{grid}-eq{k}"
            longer = chain.student | {"steps": chain.student["steps"] + extra_steps}
            run_distill(
                DistillConfig(out=chain.folder(twin), pairs=chain.folder("pairs1"), k=grid, **longer),
                progress=False,
            )
            seconds = costs.pairs[1][0] + run_seconds(chain.folder(twin))
            found.append(
                base.trained_longer(k, extra_steps, batch, folder=chain.root / twin, seconds=seconds)
            )
    return found


@dataclass(frozen=True)
class Guided:
    """A chain's Bezier coupling: its run, degree and teachers, and what it cost with its teachers."""

    name: str
    degree: int
    teachers: TeacherSet
    seconds: float
    nfe: float
    stages: int  # the training runs upstream


def _guided(chain: Chain, costs: Costs, degree: int, ts: TeacherSet) -> Guided:
    """Make the guided rows of a Bezier coupling of ``degree`` from the teacher set ``ts``."""
    name = f"guided-n{degree}-{ts.slug}"
    coupling = run_guide(
        GuideConfig(
            out=chain.folder(name),
            teachers=",".join(chain.folder(f) for f in ts.folders),
            teacher_solvers=chain.cfg.teacher_solver,
            degree=degree,
            guides=ts.guides,
            guide_as=ts.guide_as,
            anchor=ts.anchor,
            **chain.coupling,
        ),
        progress=False,
    )
    seconds = sum(costs.seconds[u] for u in ts.upstream) + coupling["seconds"]
    nfe = sum(costs.nfe[u] for u in ts.upstream) + coupling["mean_nfe"]
    return Guided(name, degree, ts, seconds, nfe, sum(costs.stages[u] for u in ts.upstream))


def _bezier_students(chain: Chain, guided: Guided, models: list[Model]) -> list[Model]:
    """Train a Bezier student of ``guided`` for every objective, and its equal-compute twins."""
    found = []
    for objective in chain.cfg.objective_list():
        name = f"{guided.name}-{objective_slug(objective)}"
        trained = BezierConfig(
            out=chain.folder(name),
            coupling=chain.folder(guided.name),
            k=2,
            **objective_settings(objective),
            **chain.student,
        )
        run_bezier(trained, progress=False)
        ts = guided.teachers
        base = chain.model(
            Method.bezier(guided.degree, ts.label, objective),
            name,
            learner=True,
            rectifications=ts.rectifications,
            teacher=ts.end,
            seconds=guided.seconds + run_seconds(chain.folder(name)),
            teacher_nfe=guided.nfe,
            stages=guided.stages + 1,
            extra={"degree": guided.degree, "teachers": ts.label, "objective": objective},
        )
        found += [base, *_equal_compute_twins(chain, base, trained, guided, models)]
    return found


def _equal_compute_twins(
    chain: Chain, base: Model, trained: BezierConfig, guided: Guided, models: list[Model]
) -> list[Model]:
    """The twins of a primary Bezier recipe trained longer, each to the compute of a k-RF + distill
    of ``--equal-compute`` above its teachers' rank."""
    budgets = equal_compute_samplers(chain.cfg, base.method)
    matched = [k for k in chain.cfg.equal_compute_list() if k > guided.teachers.rectifications and budgets]
    found = []
    for k in matched:
        # the compute of the k-RF + distill student, made up by more training steps
        target = next(m for m in models if m.method == Method.rf(k).distill()).compute
        extra_steps = base.steps_to(target, chain.sizes["batch_size"])
        if extra_steps <= 0:
            continue
        twin = f"{base.folder.name}-eq{k}"
        longer = dataclasses.replace(trained, out=chain.folder(twin), steps=trained.steps + extra_steps)
        run_bezier(longer, progress=False)
        seconds = guided.seconds + run_seconds(chain.folder(twin))
        found.append(
            base.trained_longer(
                k,
                extra_steps,
                chain.sizes["batch_size"],
                folder=chain.root / twin,
                seconds=seconds,
                samplers=budgets,
            )
        )
    return found


def equal_compute_samplers(cfg: CompareConfig, method: Method) -> tuple[Sampler, ...]:
    """How the equal-compute twins of a Bezier student are sampled: one step for the primary
    one-step recipe, two for the primary two-step one; none without ``--equal-compute``."""
    if not cfg.equal_compute_list():
        return ()
    chosen = ((cfg.primary_one_step, ONE_STEP), (cfg.primary_two_step, TWO_STEPS))
    return tuple(sampler for recipe, sampler in chosen if Method.parse(recipe) == method)
