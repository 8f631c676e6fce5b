"""``bezier-distill compare``: every method on the same data, budgets and seeds.

For each dataset and seed it builds one chain of ordinary recipe runs under
``out/runs/<dataset>/seed<k>/``:

* teachers: two 1-RF (seeds ``s`` and ``s + 100``), 2-RF and 3-RF by reflow;
* k-RF + distill for k = 1, 2, 3: a one-step (k = 1 grid) and a two-step
  (k = 2 grid) student on the k-RF's own pairs;
* Bezier Distillation for degree n = 2 and 3, with guides from one 1-RF,
  from two 1-RFs (averaged states), and from 1-RF + 2-RF (2-RF end point),
  each trained with the ``end``, ``tangent`` and ``chord`` (k = 2) objectives.

The grid can be narrowed (``--rectifications``, ``--degrees``, ``--teacher-sets``,
``--objectives``) for image data, where each run costs more. Image datasets train UNets and
are scored by the feature FID of :mod:`bezier_distill.features` (the W2 in pixel space is
kept beside it); an image ``--source`` makes it a translation task, scored also by the
faithfulness of each output to its input.

Each model is evaluated at NFE 1 and 2 (Euler) on the same source draws and
reference set; the teachers also at dopri5. Compute is read from the
artefacts (training seconds + pair/guide generation seconds of everything
upstream) together with the teacher NFE per sample spent on couplings.
Results go to ``results.csv``, ``report.md`` and PNG plots; the report states
for each claim whether it holds, a difference counting only when it exceeds
the spread over seeds.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import shlex
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import (
    BezierConfig,
    CompareConfig,
    DistillConfig,
    GuideConfig,
    ReflowConfig,
    TrainConfig,
    flag_name,
)
from .data import get_distribution
from .errors import BadInput
from .evaluation import evaluate, feature_metric, noise_floor, reference, source_draw
from .models import from_pretrained
from .plotting import dot_plot, image_panels, line_panels, scatter_panels, xy_panels
from .recipes import run_bezier, run_distill, run_guide, run_reflow, run_train, start_run
from .solvers import SolverSpec
from .storage import atomic_write_bytes, atomic_write_json
from .training import run_seconds

QUICK = {
    "datasets": "8gaussians,moons",
    "seeds": "0,1",
    "steps": 150,
    "batch_size": 128,
    "hidden": 64,
    "layers": 2,
    "n_pairs": 1000,
    "n_eval": 300,
}
EULER = {1: SolverSpec("euler", 1), 2: SolverSpec("euler", 2)}
DOPRI = SolverSpec("dopri5", rtol=1e-5, atol=1e-5)


@dataclass
class Model:
    """One trained model of a chain and what it cost."""

    method: str
    family: str  # "k-RF", "k-RF + distill", "Bezier"
    folder: Path
    rectifications: int  # reflows behind its coupling (1-RF teachers only -> 1)
    teacher: str | None  # the method whose ODE solution it distils (its gap is measured to it)
    seconds: float  # training + coupling generation seconds, everything upstream included
    teacher_nfe: float  # teacher NFE per sample spent on couplings upstream
    stages: int  # training runs upstream, its own included (each: --steps x --batch-size samples)
    nfes: tuple[int, ...] = (1, 2)
    extra: dict = field(default_factory=dict)


def _stage(cfg: CompareConfig, sizes: dict, seed: int, resume: bool) -> dict:
    return {"seed": seed, "device": cfg.device, "resume": resume, "overwrite": False} | {
        k: sizes[k] for k in ("steps", "batch_size")
    }


def build_chain(
    cfg: CompareConfig, sizes: dict, dataset: str, seed: int, root: Path, resume: bool
) -> list[Model]:
    """Train every model of one (dataset, seed) chain under ``root``; return them with their costs."""
    train_opts = _stage(cfg, sizes, seed, resume)
    arch = {
        "hidden": sizes["hidden"],
        "layers": sizes["layers"],
        "channels": cfg.channels,
        "blocks": cfg.blocks,
    }
    arch |= {"source": cfg.source, "data_dir": cfg.data_dir}
    coupling_opts = {
        "seed": seed,
        "device": cfg.device,
        "data_dir": cfg.data_dir,
        "resume": resume,
        "n_pairs": sizes["n_pairs"],
        "shard_size": max(1, sizes["n_pairs"] // 2),
    }
    method, _, steps = cfg.teacher_solver.partition(":")
    solver = {"solver": method, "solver_steps": int(steps or 50)}

    def folder(name: str) -> str:
        return str(root / name)

    models: list[Model] = []
    run_train(TrainConfig(out=folder("rf1"), data=dataset, **arch, **train_opts), progress=False)
    cost = {"1-RF": run_seconds(folder("rf1"))}
    if "1-RF x2" in cfg.teacher_set_list():
        run_train(
            TrainConfig(out=folder("rf1b"), data=dataset, **arch, **(train_opts | {"seed": seed + 100})),
            progress=False,
        )
        cost["1-RF b"] = run_seconds(folder("rf1b"))
    tnfe = {"1-RF": 0.0, "1-RF b": 0.0}
    models.append(Model("1-RF", "k-RF", root / "rf1", 1, None, cost["1-RF"], 0.0, 1, (1, 2, 0)))
    stages = {"1-RF": 1, "1-RF b": 1, "2-RF": 2, "3-RF": 3}
    last = cfg.rectifications
    for k in range(1, last + 1):
        pairs = run_reflow(
            ReflowConfig(out=folder(f"pairs{k}"), model=folder(f"rf{k}"), **solver, **coupling_opts),
            progress=False,
        )
        up, up_nfe = cost[f"{k}-RF"] + pairs["seconds"], tnfe[f"{k}-RF"] + pairs["mean_nfe"]
        if k < last:
            run_train(
                TrainConfig(out=folder(f"rf{k + 1}"), pairs=folder(f"pairs{k}"), **train_opts), progress=False
            )
            cost[f"{k + 1}-RF"] = up + run_seconds(folder(f"rf{k + 1}"))
            tnfe[f"{k + 1}-RF"] = up_nfe
            models.append(
                Model(
                    f"{k + 1}-RF",
                    "k-RF",
                    root / f"rf{k + 1}",
                    k + 1,
                    None,
                    cost[f"{k + 1}-RF"],
                    up_nfe,
                    k + 1,
                    (1, 2, 0),
                )
            )
        for grid in (1, 2):
            name = f"d{k}-k{grid}"
            run_distill(
                DistillConfig(out=folder(name), pairs=folder(f"pairs{k}"), k=grid, **train_opts),
                progress=False,
            )
            models.append(
                Model(
                    f"{k}-RF + distill",
                    "k-RF + distill",
                    root / name,
                    k,
                    f"{k}-RF",
                    up + run_seconds(folder(name)),
                    up_nfe,
                    k + 1,
                    (grid,),
                )
            )

    teacher_sets = {
        "1-RF": ([folder("rf1")], "state:0", ("1-RF",), 1, "1-RF"),
        "1-RF x2": ([folder("rf1"), folder("rf1b")], "state:0+1", ("1-RF", "1-RF b"), 1, "1-RF"),
        "1-RF+2-RF": ([folder("rf2"), folder("rf1")], "state:0+1", ("2-RF",), 2, "2-RF"),
    }
    for degree in cfg.degree_list():
        for label in cfg.teacher_set_list():
            teachers, guides, upstream, rect, end = teacher_sets[label]
            gname = f"guided-n{degree}-{label.replace(' ', '').replace('+', '_')}"
            coupling = run_guide(
                GuideConfig(
                    out=folder(gname),
                    teachers=",".join(teachers),
                    teacher_solvers=cfg.teacher_solver,
                    degree=degree,
                    guides=guides,
                    guide_as="through",
                    **coupling_opts,
                ),
                progress=False,
            )
            up = sum(cost[u] for u in upstream) + coupling["seconds"]
            up_nfe = sum(tnfe[u] for u in upstream) + coupling["mean_nfe"]
            for objective in cfg.objective_list():
                name = f"{gname}-{objective}"
                run_bezier(
                    BezierConfig(
                        out=folder(name), coupling=folder(gname), objective=objective, k=2, **train_opts
                    ),
                    progress=False,
                )
                models.append(
                    Model(
                        f"Bezier n={degree} [{label}] {objective}",
                        "Bezier",
                        root / name,
                        rect,
                        end,
                        up + run_seconds(folder(name)),
                        up_nfe,
                        sum(stages[u] for u in upstream) + 1,
                        (1, 2),
                        {"degree": degree, "teachers": label, "objective": objective},
                    )
                )
    return models


def evaluate_chain(
    models: list[Model], dataset: str, seed: int, n_eval: int, cfg: CompareConfig
) -> tuple[list[dict], dict]:
    """Rows of scores for every model at its NFEs (0 = dopri5), plus the samples of seed 0 for plots.

    ``quality`` is the headline metric: the feature FID for image data, else W2.
    """
    target = get_distribution(dataset, data_dir=cfg.data_dir)
    source = get_distribution(cfg.source, dim=target.dim, data_dir=cfg.data_dir)
    features = feature_metric(target)
    x0, ref = source_draw(source, n_eval, seed), reference(target, n_eval, seed)
    translation = source.image_shape is not None
    rows, samples = [], {"reference": ref, "input": x0 if translation else None}
    for m in models:
        model = from_pretrained(m.folder, device=cfg.device)
        for nfe in m.nfes:
            spec = DOPRI if nfe == 0 else EULER[nfe]
            scores, xs = evaluate(
                model,
                x0.to(cfg.device),
                ref,
                spec,
                with_straightness=nfe == 0,
                features=features,
                test=target.test,
                translation=translation,
                seed=seed,
            )
            rows.append(
                {
                    "dataset": dataset,
                    "seed": seed,
                    "method": m.method,
                    "family": m.family,
                    "solver": "dopri5" if nfe == 0 else f"euler x {nfe}",
                    "nfe": scores.nfe,
                    "nfe_budget": "ODE" if nfe == 0 else nfe,
                    "rectifications": m.rectifications,
                    "teacher": m.teacher or "",
                    "quality": scores.fid if features is not None else scores.w2,
                    "w2": scores.w2,
                    "energy": scores.energy,
                    "fid": scores.fid,
                    "kid": scores.kid,
                    "faithfulness": scores.faithfulness,
                    "straightness": scores.straightness,
                    "compute_seconds": round(m.seconds, 2),
                    "teacher_nfe_per_sample": m.teacher_nfe,
                    "training_stages": m.stages,
                    **m.extra,
                }
            )
            samples[(m.method, "ODE" if nfe == 0 else nfe)] = xs[:32] if target.image_shape else xs
    return rows, samples


@dataclass(frozen=True)
class Stat:
    mean: float
    sd: float
    n: int

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.sd:.3f}" if self.n > 1 else f"{self.mean:.3f}"


def _stat(values: list[float]) -> Stat:
    a = np.asarray(values, dtype=float)
    return Stat(float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0, len(a))


def aggregate(rows: list[dict], metric: str = "quality") -> dict[tuple[str, str, object], Stat]:
    """``(dataset, method, nfe budget) -> Stat`` of ``metric`` over seeds."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r.get(metric) is not None:
            groups[(r["dataset"], r["method"], r["nfe_budget"])].append(r[metric])
    return {k: _stat(v) for k, v in groups.items()}


def differs(a: Stat, b: Stat) -> bool:
    """Unpaired: a difference counts only when it exceeds the sum of the two SDs over seeds."""
    return abs(a.mean - b.mean) > a.sd + b.sd


def paired(rows: list[dict], dataset: str, a: str, b: str, nfe) -> Stat:
    """Per-seed quality difference ``a - b`` (both methods share each seed's source draws and reference)."""
    by = {
        (r["method"], r["seed"]): r["quality"]
        for r in rows
        if r["dataset"] == dataset and r["nfe_budget"] == nfe
    }
    seeds = sorted({s for m, s in by if m == a} & {s for m, s in by if m == b})
    return _stat([by[(a, s)] - by[(b, s)] for s in seeds])


def significant(d: Stat) -> bool:
    """A paired difference counts when its mean exceeds two standard errors."""
    return d.n > 1 and abs(d.mean) > 2 * d.sd / np.sqrt(d.n)


def _has(stats: dict, dataset: str, nfe, prefix: str, *, rect: int, rows) -> bool:
    allowed = {r["method"] for r in rows if r["rectifications"] == rect}
    return any(d == dataset and b == nfe and m.startswith(prefix) and m in allowed for d, m, b in stats)


def _best(
    stats: dict, dataset: str, nfe, prefix: str, *, rect: int | None = None, rows=None
) -> tuple[str, Stat]:
    allowed = None
    if rect is not None:
        allowed = {r["method"] for r in rows if r["rectifications"] == rect}
    cands = [
        (m, s)
        for (d, m, b), s in stats.items()
        if d == dataset and b == nfe and m.startswith(prefix) and (allowed is None or m in allowed)
    ]
    return min(cands, key=lambda kv: kv[1].mean)


def ranking(
    rows: list[dict], datasets: list[str], nfe: int, family: str = "Bezier"
) -> list[tuple[str, float]]:
    """Methods of ``family`` by mean rank of their mean quality across datasets at ``nfe`` (best first)."""
    q = aggregate(rows)
    ranks: dict[str, list[int]] = defaultdict(list)
    for d in datasets:
        found = sorted(
            (s.mean, m) for (dd, m, b), s in q.items() if dd == d and b == nfe and m.startswith(family)
        )
        for r, (_, m) in enumerate(found, start=1):
            ranks[m].append(r)
    return sorted(((m, float(np.mean(r))) for m, r in ranks.items()), key=lambda kv: kv[1])


def claims(rows: list[dict], datasets: list[str], label: str = "W2") -> list[str]:
    """One paragraph per claim of the paper, decided by the numbers.

    "Best Bezier" is the best of the Bezier variants on each dataset, so it
    profits from choosing among many variants; the fixed-recipe lines compare
    the one variant with the best mean rank over all datasets instead.
    """
    q, out = aggregate(rows), []
    secs = {(d, m): s.mean for (d, m, _), s in aggregate(rows, "compute_seconds").items()}

    def verdict(diff: Stat) -> str:
        if not significant(diff):
            return "tie"
        return "Bezier better" if diff.mean < 0 else "Bezier worse"

    def paragraph(title: str, pairs: list[tuple], nfe) -> str:
        lines, tally = [title, ""], defaultdict(int)
        for d, bm, bs, rm, rs in pairs:
            diff = paired(rows, d, bm, rm, nfe)
            v = verdict(diff)
            tally[v] += 1
            spread = "beyond" if differs(bs, rs) else "within"
            lines.append(
                f"- {d}: {bm} {bs} ({secs[(d, bm)]:.0f} s) vs {rm} {rs} ({secs[(d, rm)]:.0f} s); "
                f"paired difference {diff.mean:+.4f} ± {diff.sd:.4f}: **{v}** ({spread} the unpaired spread)"
            )
        lines.append(f"\nOutcome: {dict(tally)}.")
        return "\n".join(lines)

    pairs = []
    for d in datasets:
        if (d, "2-RF + distill", 1) in q and _has(q, d, 1, "Bezier", rect=1, rows=rows):
            bm, bs = _best(q, d, 1, "Bezier", rect=1, rows=rows)
            pairs.append((d, bm, bs, "2-RF + distill", q[(d, "2-RF + distill", 1)]))
    if pairs:
        out.append(
            paragraph(
                "**Claim 1: Bezier Distillation beats rectified-flow distillation with fewer RF "
                "iterations.** Best Bezier student built from 1-RF teachers only (one rectification) vs "
                f"2-RF + distill (two), both at 1 NFE ({label}, and compute to obtain each model):",
                pairs,
                1,
            )
        )
    for nfe in (1, 2):
        best = [(d, *_best(q, d, nfe, "Bezier"), *_best_rf(q, d, nfe)) for d in datasets]
        out.append(
            paragraph(
                f"**Claim 2 at {nfe} NFE: Bezier Distillation gives better {nfe}-step samples than "
                f"k-RF distillation.** Best Bezier variant vs best k-RF + distill on each dataset ({label}):",
                best,
                nfe,
            )
        )
        fixed, rank = ranking(rows, datasets, nfe)[0]
        same = [(d, fixed, q[(d, fixed, nfe)], *_best_rf(q, d, nfe)) for d in datasets]
        out.append(
            paragraph(
                f"**Claim 2 at {nfe} NFE, one fixed recipe:** {fixed} (best mean rank among the Bezier "
                f"variants over the datasets, {rank:.1f}) vs the best k-RF + distill ({label}):",
                same,
                nfe,
            )
        )
    return out


def _best_rf(stats: dict, dataset: str, nfe) -> tuple[str, Stat]:
    cands = [
        (m, s) for (d, m, b), s in stats.items() if d == dataset and b == nfe and m.endswith("+ distill")
    ]
    return min(cands, key=lambda kv: kv[1].mean)


def _fmt(stat: Stat) -> str:
    if abs(stat.mean) >= 0.1:
        return str(stat)
    return f"{stat.mean:.4f} ± {stat.sd:.4f}" if stat.n > 1 else f"{stat.mean:.4f}"


def _columns(rows: list[dict]) -> list[tuple[str, str]]:
    """(header, row key) of the score columns: FID first for images, W2 first for points."""
    if rows[0].get("fid") is None:
        return [("W2", "quality"), ("energy", "energy")]
    cols = [("feature FID", "quality"), ("KID", "kid"), ("W2 (pixels)", "w2")]
    if rows[0].get("faithfulness") is not None:
        cols.append(("faithfulness", "faithfulness"))
    return cols


def _table(rows: list[dict], dataset: str, floor: Stat, label: str) -> str:
    quality, seconds = aggregate(rows), aggregate(rows, "compute_seconds")
    cols = [(h, aggregate(rows, key)) for h, key in _columns(rows)]
    tnfe = aggregate(rows, "teacher_nfe_per_sample")
    stages = aggregate(rows, "training_stages")
    straight = aggregate(rows, "straightness")
    teacher_q = {m: s for (d, m, b), s in quality.items() if d == dataset and b == "ODE"}
    teacher_of = {r["method"]: r["teacher"] for r in rows}
    nfe_of = defaultdict(list)
    for r in rows:
        if r["dataset"] == dataset and r["seed"] == rows[0]["seed"]:
            nfe_of[(r["method"], r["nfe_budget"])].append(r["nfe"])
    head = " | ".join(h for h, _ in cols)
    lines = [
        f"| method | NFE | {head} | gap to teacher ({label}) | straightness | compute s | training stages "
        "| teacher NFE / sample |",
        "|---|---|" + "---|" * len(cols) + "---|---|---|---|---|",
    ]
    keys = [k for k in quality if k[0] == dataset]
    order = {"ODE": 0, 1: 1, 2: 2}
    keys.sort(key=lambda k: (order[k[2]], quality[k].mean))
    for key in keys:
        d, m, b = key
        t = teacher_of.get(m) or (m if b != "ODE" else "")
        gap = f"{quality[key].mean - teacher_q[t].mean:+.3f}" if t in teacher_q and b != "ODE" else "-"
        nfe = nfe_of[(m, b)][0] if nfe_of[(m, b)] else b
        scores = " | ".join(_fmt(stat[key]) for _, stat in cols)
        st = f"{straight[key].mean:.3f}" if key in straight else "-"
        lines.append(
            f"| {m} | {nfe} | {scores} | {gap} | {st} "
            f"| {seconds[key].mean:.1f} | {stages[key].mean:.0f} | {tnfe[key].mean:.0f} |"
        )
    blanks = " | ".join("-" for _ in cols[1:])
    lines.append(f"| noise floor (data vs data) | - | {floor} | {blanks} | - | - | - | - | - |")
    return "\n".join(lines)


def _plots(
    rows: list[dict], datasets: list[str], floors: dict, out: Path, samples: dict, label: str, shapes: dict
) -> list[str]:
    q = aggregate(rows)
    files = []
    # Quality per method at NFE 1 and 2 (dot plot with spread), one panel per dataset.
    panels = {}
    for d in datasets:
        methods = sorted(
            {m for (dd, m, b) in q if dd == d and b in (1, 2)},
            key=lambda m: q.get((d, m, 1), q.get((d, m, 2))).mean,
        )
        panels[d] = {
            "labels": methods,
            "series": {
                f"NFE {n}": [
                    (q[(d, m, n)].mean, q[(d, m, n)].sd) if (d, m, n) in q else None for m in methods
                ]
                for n in (1, 2)
            },
            "floor": floors[d].mean,
        }
    dot_plot(panels, out / "quality_vs_nfe.png", xlabel=f"{label} (lower is better; dashed: noise floor)")
    files.append("quality_vs_nfe.png")
    # Quality against the number of rectifications behind the coupling.
    lines = {}
    for d in datasets:
        ks = (1, 2, 3)
        series = {
            "k-RF, 1 Euler step": [(k, q[(d, f"{k}-RF", 1)]) for k in ks if (d, f"{k}-RF", 1) in q],
            "k-RF + distill, NFE 1": [
                (k, q[(d, f"{k}-RF + distill", 1)]) for k in ks if (d, f"{k}-RF + distill", 1) in q
            ],
            "k-RF + distill, NFE 2": [
                (k, q[(d, f"{k}-RF + distill", 2)]) for k in ks if (d, f"{k}-RF + distill", 2) in q
            ],
        }
        for n in (1, 2):
            pts = []
            for rect in (1, 2):
                if _has(q, d, n, "Bezier", rect=rect, rows=rows):
                    pts.append((rect, _best(q, d, n, "Bezier", rect=rect, rows=rows)[1]))
            series[f"best Bezier, NFE {n}"] = pts
        lines[d] = {
            "series": {k: [(x, s.mean, s.sd) for x, s in v] for k, v in series.items()},
            "floor": floors[d].mean,
        }
    line_panels(
        lines,
        out / "quality_vs_rectifications.png",
        xlabel="rectifications behind the coupling",
        ylabel=label,
    )
    files.append("quality_vs_rectifications.png")
    # Quality against compute (the frontier): NFE 1 models.
    compute = aggregate(rows, "compute_seconds")
    xy = {}
    for d in datasets:
        groups = defaultdict(list)
        for (dd, m, b), s in q.items():
            if dd == d and b == 1:
                fam = "Bezier" if m.startswith("Bezier") else ("k-RF + distill" if "distill" in m else "k-RF")
                groups[fam].append((compute[(dd, m, b)].mean, s.mean, m))
        xy[d] = {"groups": dict(groups), "floor": floors[d].mean}
    xy_panels(
        xy,
        out / "quality_vs_compute.png",
        xlabel="compute to obtain the model (s)",
        ylabel=f"{label} at NFE 1",
    )
    files.append("quality_vs_compute.png")
    for d, s in samples.items():
        name = f"samples_{_slug(d)}.png"
        ref, inputs = s.pop("reference"), s.pop("input")
        panels = {f"{m}\nNFE {'ODE' if n == 'ODE' else n}": x for (m, n), x in s.items()}
        if shapes[d] is None:
            scatter_panels(panels, out / name, reference=ref, cols=6)
        else:
            first = {"input (source)": inputs} if inputs is not None else {"data": ref}
            image_panels(first | panels, shapes[d], out / name, n=16, cols=6)
        files.append(name)
    return files


def _command(cfg: CompareConfig) -> str:
    """The command line that reproduces ``cfg`` (every flag that differs from its default)."""
    parts = ["bezier-distill compare"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("resume", "overwrite") or value == f.default:
            continue
        if value is True:
            parts.append(flag_name(f.name))
        else:
            parts.append(f"{flag_name(f.name)} {shlex.quote(str(value))}")
    return " ".join(parts)


def _slug(dataset: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset)


def run_compare(cfg: CompareConfig, *, progress: bool = True, log=print) -> dict:
    """Run the whole comparison into ``cfg.out``; return the rows and the claims."""
    sizes = QUICK if cfg.quick else {k: getattr(cfg, k) for k in QUICK}
    datasets = [d.strip() for d in sizes["datasets"].split(",") if d.strip()]
    seeds = [int(s) for s in sizes["seeds"].split(",")]
    targets = {d: get_distribution(d, data_dir=cfg.data_dir) for d in datasets}
    shapes = {d: t.image_shape for d, t in targets.items()}
    if len({s is None for s in shapes.values()}) > 1:
        raise BadInput("--datasets mixes image and point datasets: compare them in separate runs")
    source = get_distribution(cfg.source, dim=next(iter(targets.values())).dim, data_dir=cfg.data_dir)
    images = shapes[datasets[0]] is not None
    features = {d: feature_metric(t) for d, t in targets.items()}
    if images and any(f is None for f in features.values()):
        raise BadInput("compare on images needs a built-in image dataset (its classifier gives the FID)")
    label = "feature FID" if images else "W2"
    resume = start_run(cfg)
    out = Path(cfg.out)
    rows, floors, samples = [], {}, {}
    total = len(datasets) * len(seeds)
    for i, (d, seed) in enumerate(((d, s) for d in datasets for s in seeds), start=1):
        log(f"[compare {i}/{total}] {d}, seed {seed}")
        models = build_chain(cfg, sizes, d, seed, out / "runs" / d / f"seed{seed}", resume)
        chain_rows, chain_samples = evaluate_chain(models, d, seed, sizes["n_eval"], cfg)
        rows += chain_rows
        if seed == seeds[0]:
            samples[d] = chain_samples
    for d in datasets:
        key = "fid" if images else "w2"
        floors[d] = _stat([noise_floor(targets[d], sizes["n_eval"], s, features[d])[key] for s in seeds])
    buf = io.StringIO()
    fields = list(dict.fromkeys(k for r in rows for k in r))
    writer = csv.DictWriter(buf, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_bytes(out / "results.csv", buf.getvalue().encode())
    figures = _plots(rows, datasets, floors, out, samples, label, shapes)
    verdicts = claims(rows, datasets, label)
    command = _command(cfg)
    if images:
        arch = f"UNet widths {cfg.channels}, {cfg.blocks} block(s) per level"
        scoring = (
            f"Scores are mean ± standard deviation over seeds. {label} is the FID in the feature space of "
            "the dataset's shipped classifier, against its test split (KID beside it); W2 is the exact "
            "W2 in pixel space against a training draw of the same size. "
        )
        if source.image_shape is not None:
            scoring += (
                f"The source is the image dataset {cfg.source} (translation); faithfulness is the RMS "
                "per-pixel distance between each input and its output (lower = closer to the input). "
            )
    else:
        arch = f"MLP {sizes['layers']} x {sizes['hidden']}"
        scoring = (
            "Scores are mean ± standard deviation over seeds of the exact W2 and the energy distance "
            "against a reference draw of the data. "
        )
    report = [
        "# Comparison: k-RF, k-RF + distill and Bezier Distillation",
        "",
        f"Command: `{command}` (datasets {', '.join(datasets)}; seeds {', '.join(map(str, seeds))}; "
        f"{sizes['steps']} training steps per stage at batch {sizes['batch_size']}; {arch}; "
        f"{sizes['n_pairs']} pairs or guided rows per coupling from "
        f"teachers at {cfg.teacher_solver}; {sizes['n_eval']} evaluation samples; device {cfg.device}).",
        "",
        scoring + f"The gap is {label} minus the {label} of the model's own teacher "
        "solved with dopri5; straightness is S(Z) of the teachers' flows (0 = straight). "
        "Compute has three columns: wall seconds of the training and "
        "coupling-generation runs upstream of the model (noisy on a shared machine), the number of "
        "training runs upstream (each of the same steps and batch size) and the teacher evaluations per "
        "sample spent making couplings (both exact). A difference between two methods counts only when "
        "it is significant in the paired comparison: every method of a seed is scored on the same "
        "source draws against the same reference, so the per-seed difference removes the noise of "
        "the reference draw, and it counts when its mean exceeds two standard errors. Whether it also "
        "exceeds the unpaired spread (the sum of the two standard deviations) is stated beside it.",
        "",
        "## Claims",
        "",
        *[v + "\n" for v in verdicts],
    ]
    report += ["## Bezier variants by mean rank over the datasets", ""]
    for nfe in (1, 2):
        top = ", ".join(f"{m} ({r:.1f})" for m, r in ranking(rows, datasets, nfe)[:6])
        report += [f"- NFE {nfe}: {top}"]
    report += [""]
    for d in datasets:
        table = _table(rows, d, floors[d], label)
        report += [f"## {d}", "", table, "", f"![samples](samples_{_slug(d)}.png)", ""]
    report += ["## Plots", ""] + [f"![{f}]({f})" for f in figures if not f.startswith("samples_")]
    atomic_write_bytes(out / "report.md", ("\n".join(report) + "\n").encode())
    atomic_write_json(out / "claims.json", {"claims": verdicts})
    for v in verdicts:
        log(f"{v.splitlines()[0]} -> {v.rsplit('Outcome: ', 1)[-1]}")
    log(f"[compare] report: {out / 'report.md'}")
    return {"rows": rows, "claims": verdicts}
