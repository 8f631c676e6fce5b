"""Writing a comparison's report: tables, claims decided by the statistics, plots.

The claims are decided on *paired* differences over seeds (every method of a seed is scored on
the same held-out source draws against the same reference), with t-based 95 % intervals, Holm's
correction across the datasets of a claim and four verdicts (:mod:`.stats`). The recipes that
decide each claim are named in the configuration before the run; the best of all variants is
reported separately and labelled exploratory. For images a verdict stands only where the two
feature spaces agree; otherwise it reads "metric-dependent".
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..config import flag_name
from ..plotting import (
    dot_plot,
    frontier_panels,
    image_panels,
    interval_panels,
    line_panels,
    scatter_panels,
    xy_panels,
)
from .chains import equal_compute_method
from .config import CompareConfig
from .stats import PairedDifference, Summary, holm, paired_difference, summary, verdicts

BUDGETS = ("ODE", "1", "2")
RECTIFICATIONS = (1, 2, 3, 4)
_DISTILLED = re.compile(r"^\d+-RF \+ distill$")


@dataclass(frozen=True)
class Metric:
    """A score that decides claims: its label in the report and its key in the rows."""

    label: str
    key: str


W2 = Metric("W2", "w2")
FID_A, FID_B = Metric("feature FID (a)", "fid"), Metric("feature FID (b)", "fid_b")


TRUTH = Metric("distance to truth", "truth_distance")


def decision_metrics(images: bool, paired: bool = False) -> tuple[Metric, ...]:
    """The metrics a claim must agree on: both feature FIDs for images (and on a paired task the
    distance to the ground truth: a translation must look right and keep its input), else the W2."""
    if paired:
        return (FID_A, FID_B, TRUTH)
    return (FID_A, FID_B) if images else (W2,)


@dataclass(frozen=True)
class Claim:
    """One claim: a candidate against a baseline at one NFE budget over every dataset.

    ``candidate``/``baseline`` are method names; an exploratory claim picks, per dataset, the
    best Bezier variant and the best k-RF + distill student instead (``None``).
    """

    title: str
    budget: str
    candidate: str | None
    baseline: str | None
    exploratory: bool = False


def claims_of(cfg: CompareConfig) -> list[Claim]:
    """The claims of METHOD.md, with the recipes the configuration names before the run."""
    return [
        Claim(
            "Claim 1: Bezier Distillation beats rectified-flow distillation with fewer RF iterations "
            "(a Bezier student from 1-RF teachers against 2-RF + distill, one step)",
            "1",
            cfg.primary_one_step,
            "2-RF + distill",
        ),
        Claim(
            "Claim 2 at 1 NFE: Bezier Distillation gives better one-step samples than k-RF distillation",
            "1",
            cfg.primary_one_step,
            cfg.baseline_one_step,
        ),
        Claim(
            "Claim 2 at 2 NFE: Bezier Distillation gives better two-step samples than k-RF distillation",
            "2",
            cfg.primary_two_step,
            cfg.baseline_two_step,
        ),
        *[
            Claim(
                f"Premise, {budget} NFE: reflow pays, 2-RF + distill beats 1-RF + distill",
                budget,
                "2-RF + distill",
                "1-RF + distill",
            )
            for budget in ("1", "2")
        ],
        *[
            Claim(
                f"Against {name}, {budget} NFE: the primary Bezier recipe against the field's baseline "
                f"{name} at the same budget",
                budget,
                cfg.primary_one_step if budget == "1" else cfg.primary_two_step,
                name,
            )
            for budget in ("1", "2")
            for name in baseline_methods(cfg)
        ],
        *[
            Claim(
                f"Equal compute, {k}-RF, {budget} NFE: the primary Bezier recipe trained longer, to the "
                f"compute of {k}-RF + distill, against it",
                budget,
                equal_compute_method(recipe, k),
                f"{k}-RF + distill",
            )
            for k in cfg.equal_compute_list()
            for budget, recipe in (("1", cfg.primary_one_step), ("2", cfg.primary_two_step))
        ],
        *[
            Claim(
                f"Equal compute control, {k}-RF, {budget} NFE: the primary Bezier recipe against "
                f"1-RF + distill, both trained longer to the compute of {k}-RF + distill (is it the curve "
                "or the extra steps?)",
                budget,
                equal_compute_method(recipe, k),
                equal_compute_method("1-RF + distill", k),
            )
            for k in cfg.equal_compute_list()
            for budget, recipe in (("1", cfg.primary_one_step), ("2", cfg.primary_two_step))
        ],
        *(  # the two-step chord of a quadratic needs no such control: it is k-segment distillation
            [
                Claim(
                    "Curve control, 1 NFE: the primary one-step recipe against the same student "
                    "supervised only at the grid times, where its curve passes through the teacher's "
                    "true states (end/grid, k-segment distillation: does the curve between them help?)",
                    "1",
                    cfg.primary_one_step,
                    f"{cfg.primary_one_step}/grid",
                )
            ]
            if cfg.primary_one_step.endswith(" end")
            else []
        ),
        Claim(
            "Exploratory, 1 NFE: best Bezier variant against the best k-RF + distill", "1", None, None, True
        ),
        Claim(
            "Exploratory, 2 NFE: best Bezier variant against the best k-RF + distill", "2", None, None, True
        ),
    ]


def baseline_methods(cfg: CompareConfig) -> list[str]:
    """The method names of the few-step baselines a configuration runs (their distilled students
    where a baseline is a flow that is distilled, as OT-CFM)."""
    return [f"{b} + distill" if b == "OT-CFM" else b for b in cfg.baseline_list()]


def aggregate(rows: list[dict], metric: str = "quality") -> dict[tuple[str, str, str], Summary]:
    """``(dataset, method, budget) -> Summary`` of ``metric`` over seeds."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r.get(metric) is not None:
            groups[(r["dataset"], r["method"], r["nfe_budget"])].append(r[metric])
    return {k: summary(v) for k, v in groups.items()}


def paired(rows: list[dict], dataset: str, a: str, b: str, budget: str, metric: str, margin: float | None):
    """Per-seed differences ``a - b`` of ``metric`` on ``dataset`` at ``budget`` (common seeds)."""
    by = {
        (r["method"], r["seed"]): r[metric]
        for r in rows
        if r["dataset"] == dataset and r["nfe_budget"] == budget and r.get(metric) is not None
    }
    seeds = sorted({s for m, s in by if m == a} & {s for m, s in by if m == b})
    return paired_difference([by[(a, s)] for s in seeds], [by[(b, s)] for s in seeds], margin=margin)


def _best(q: dict, dataset: str, budget: str, prefix: str) -> str:
    cands = [
        (s.mean, m) for (d, m, b), s in q.items() if d == dataset and b == budget and m.startswith(prefix)
    ]
    return min(cands)[1]


def _best_distilled(q: dict, dataset: str, budget: str) -> str:
    cands = [
        (s.mean, m) for (d, m, b), s in q.items() if d == dataset and b == budget and _DISTILLED.match(m)
    ]
    return min(cands)[1]


def decide(
    claim: Claim,
    rows: list[dict],
    datasets: list[str],
    metrics: tuple[Metric, ...],
    margins: dict,
    alpha=0.05,
) -> list[dict]:
    """Per dataset: the methods compared, per metric the paired difference, its Holm-adjusted
    p-value and verdict, and the verdict that stands (``metric-dependent`` when metrics differ)."""
    q = aggregate(rows, metrics[0].key)
    pairs = {}
    for d in datasets:
        a = claim.candidate or _best(q, d, claim.budget, "Bezier")
        b = claim.baseline or _best_distilled(q, d, claim.budget)
        pairs[d] = (a, b)
    results = {d: {"dataset": d, "candidate": a, "baseline": b, "metrics": {}} for d, (a, b) in pairs.items()}
    for metric in metrics:
        diffs = [
            paired(rows, d, *pairs[d], claim.budget, metric.key, margins[(d, metric.key)]) for d in datasets
        ]
        adjusted = holm([x.p for x in diffs])
        for d, diff, p_holm, v in zip(datasets, diffs, adjusted, verdicts(diffs, alpha=alpha)):
            results[d]["metrics"][metric.label] = {
                "diff": diff,
                "p_holm": p_holm,
                "margin": margins[(d, metric.key)],
                "verdict": v,
            }
    for r in results.values():
        found = {m["verdict"] for m in r["metrics"].values()}
        r["verdict"] = found.pop() if len(found) == 1 else "metric-dependent"
    return list(results.values())


def _describe_diff(diff: PairedDifference, p_holm: float) -> str:
    return (
        f"{diff.mean:+.4g} [{diff.low:+.4g}, {diff.high:+.4g}], Holm p = {p_holm:.3g}"
        if diff.n > 1
        else f"{diff.mean:+.4g} (one seed)"
    )


def _inside_margin(m: dict) -> bool:
    """A significant difference whose whole interval lies inside the equivalence margin."""
    diff = m["diff"]
    return m["verdict"] in ("better", "worse") and -m["margin"] < diff.low and diff.high < m["margin"]


def claim_paragraph(claim: Claim, results: list[dict], q: dict, secs: dict) -> str:
    """The markdown of one claim: a line per dataset and the tally of verdicts."""
    head = f"**{claim.title}.**"
    if claim.exploratory:
        head += " *Exploratory: the best of many variants on each dataset, chosen after the run.*"
    lines, tally = [head, ""], defaultdict(int)
    for r in results:
        d, a, b = r["dataset"], r["candidate"], r["baseline"]
        tally[r["verdict"]] += 1
        parts = [
            f"{label} {_describe_diff(m['diff'], m['p_holm'])}, margin ±{m['margin']:.3g}: {m['verdict']}"
            + (" (by less than the margin)" if _inside_margin(m) else "")
            for label, m in r["metrics"].items()
        ]
        qa, qb = q.get((d, a, claim.budget)), q.get((d, b, claim.budget))
        lines.append(
            f"- {d}: {a} {qa} ({secs.get((d, a), 0):.0f} s) vs {b} {qb} ({secs.get((d, b), 0):.0f} s); "
            f"paired difference (candidate - baseline, 95 % interval) {'; '.join(parts)} "
            f"-> **{r['verdict']}**"
        )
    lines.append(f"\nOutcome: {dict(tally)}.")
    return "\n".join(lines)


def ranking(
    rows: list[dict], datasets: list[str], budget: str, family: str = "Bezier"
) -> list[tuple[str, float]]:
    """Methods of ``family`` by mean rank of their mean quality across datasets at ``budget``."""
    q = aggregate(rows)
    ranks: dict[str, list[int]] = defaultdict(list)
    for d in datasets:
        found = sorted(
            (s.mean, m) for (dd, m, b), s in q.items() if dd == d and b == budget and m.startswith(family)
        )
        for r, (_, m) in enumerate(found, start=1):
            ranks[m].append(r)
    return sorted(((m, sum(r) / len(r)) for m, r in ranks.items()), key=lambda kv: kv[1])


def _columns(images: bool, translation: bool, paired: bool = False) -> list[tuple[str, str]]:
    """(header, row key) of the score columns of a dataset table."""
    if not images:
        return [("W2", "w2"), ("energy", "energy")]
    cols = [("FID (a)", "fid"), ("FID (b)", "fid_b"), ("KID (a)", "kid"), ("precision (a)", "precision")]
    cols += [("recall (a)", "recall"), ("out of range", "out_of_range"), ("W2 (pixels)", "w2")]
    if paired:
        cols += [("PSNR (dB)", "psnr"), ("SSIM", "ssim"), ("to truth", "truth_distance")]
    return cols + ([("faithfulness", "faithfulness"), ("class kept", "class_kept")] if translation else [])


def table(
    rows: list[dict], dataset: str, floors: dict, images: bool, translation: bool, paired: bool = False
) -> str:
    """The markdown table of one dataset: every method and budget, and the noise floor (on a paired
    task, its truth columns score the inputs themselves)."""
    rows = [r for r in rows if r["dataset"] == dataset]
    cols = [(h, aggregate(rows, key)) for h, key in _columns(images, translation, paired)]
    quality, seconds = aggregate(rows), aggregate(rows, "compute_seconds")
    distill, solver = aggregate(rows, "distill_error"), aggregate(rows, "solver_error")
    tnfe, evals, stages, straight = (
        aggregate(rows, k)
        for k in ("teacher_nfe_per_sample", "teacher_evals", "training_stages", "straightness")
    )
    teacher_q = {m: s for (d, m, b), s in quality.items() if b == "ODE"}
    teacher_of = {r["method"]: r["teacher"] for r in rows}
    nfe_of = {(r["method"], r["nfe_budget"]): r["nfe"] for r in rows}
    head = " | ".join(h for h, _ in cols)
    lines = [
        f"| method | NFE | {head} | gap to teacher | distill error (floor) | straightness | compute s "
        "| training stages | teacher NFE / sample | teacher evaluations |",
        "|---|---|" + "---|" * len(cols) + "---|---|---|---|---|---|---|",
    ]
    keys = sorted(quality, key=lambda k: (BUDGETS.index(k[2]), quality[k].mean))
    for key in keys:
        _, m, b = key
        t = teacher_of.get(m) or (m if b != "ODE" else "")
        gap = f"{quality[key].mean - teacher_q[t].mean:+.3f}" if t in teacher_q and b != "ODE" else "-"
        if key in distill:
            floor = solver.get((dataset, teacher_of[m], "ODE"))
            dist = f"{distill[key].mean:.3g} ({floor.mean:.1g})" if floor else f"{distill[key].mean:.3g}"
        elif key in solver:
            dist = f"solver error {solver[key].mean:.1g}"
        else:
            dist = "-"
        scores = " | ".join(str(stat[key]) if key in stat else "-" for _, stat in cols)
        st = f"{straight[key].mean:.3f}" if key in straight else "-"
        lines.append(
            f"| {m} | {nfe_of[(m, b)]} | {scores} | {gap} | {dist} | {st} "
            f"| {seconds[key].mean:.1f} | {stages[key].mean:.0f} | {tnfe[key].mean:.0f} "
            f"| {evals[key].mean:.3g} |"
        )
    floor_cols = " | ".join(
        str(floors[key]) if key in floors else "-" for _, key in _columns(images, translation, paired)
    )
    lines.append(f"| noise floor (data vs data) | - | {floor_cols} | - | - | - | - | - | - | - |")
    return "\n".join(lines)


def accumulation(rows: list[dict], dataset: str) -> str:
    """The markdown table of error accumulation on one dataset: per rectification count k, the
    k-RF at dopri5 (quality, straightness, coupling drift from the 1-RF), in one Euler step, its
    distilled students at 1 and 2 NFE, and the compute spent up to the one-step student."""
    rows = [r for r in rows if r["dataset"] == dataset]
    q, drift, bent = aggregate(rows), aggregate(rows, "coupling_drift"), aggregate(rows, "straightness")
    secs, nfe = aggregate(rows, "compute_seconds"), aggregate(rows, "teacher_nfe_per_sample")
    stages, evals = aggregate(rows, "training_stages"), aggregate(rows, "compute_evals")
    lines = [
        "| k | k-RF, dopri5 | straightness | coupling drift | k-RF, 1 step | k-RF + distill, 1 NFE "
        "| k-RF + distill, 2 NFE | compute s | forward passes | training runs | teacher NFE / sample |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for k in RECTIFICATIONS:
        teacher, student = f"{k}-RF", f"{k}-RF + distill"
        if (dataset, teacher, "ODE") not in q:
            continue

        def cell(stat, key, fmt=None):
            if key not in stat:
                return "-"
            return f"{stat[key].mean:{fmt}}" if fmt else str(stat[key])

        one = (dataset, student, "1")
        lines.append(
            f"| {k} | {cell(q, (dataset, teacher, 'ODE'))} | {cell(bent, (dataset, teacher, 'ODE'), '.4f')} "
            f"| {cell(drift, (dataset, teacher, 'ODE'), '.3g')} | {cell(q, (dataset, teacher, '1'))} "
            f"| {cell(q, one)} | {cell(q, (dataset, student, '2'))} | {cell(secs, one, '.0f')} "
            f"| {cell(evals, one, '.3g')} | {cell(stages, one, '.0f')} | {cell(nfe, one, '.0f')} |"
        )
    return "\n".join(lines)


def plots(
    rows, datasets, floors, out: Path, samples: dict, label: str, shapes: dict, decided: list
) -> list[str]:
    """The report's PNG figures; returns their file names."""
    q = aggregate(rows)
    files = []
    panels = {}
    for d in datasets:
        methods = sorted(
            {m for (dd, m, b) in q if dd == d and b in ("1", "2")},
            key=lambda m: q.get((d, m, "1"), q.get((d, m, "2"))).mean,
        )
        panels[d] = {
            "labels": methods,
            "series": {
                f"NFE {n}": [
                    (q[(d, m, n)].mean, q[(d, m, n)].sd) if (d, m, n) in q else None for m in methods
                ]
                for n in ("1", "2")
            },
            "floor": floors[d]["quality"].mean,
        }
    dot_plot(panels, out / "quality_vs_nfe.png", xlabel=f"{label} (lower is better; dashed: noise floor)")
    files.append("quality_vs_nfe.png")
    lines = {}
    for d in datasets:
        series = {
            f"k-RF, {label}": [(k, q[(d, f"{k}-RF", b)]) for k in RECTIFICATIONS if (d, f"{k}-RF", b) in q]
            for b, label in (("ODE", "dopri5"), ("1", "1 Euler step"))
        }
        for n in ("1", "2"):
            series[f"k-RF + distill, NFE {n}"] = [
                (k, q[(d, f"{k}-RF + distill", n)])
                for k in RECTIFICATIONS
                if (d, f"{k}-RF + distill", n) in q
            ]
        for n in ("1", "2"):
            pts = []
            for rect in (1, 2):
                allowed = {
                    r["method"] for r in rows if r["rectifications"] == rect and r["family"] == "Bezier"
                }
                cands = [(s.mean, s) for (dd, m, b), s in q.items() if dd == d and b == n and m in allowed]
                if cands:
                    pts.append((rect, min(cands, key=lambda c: c[0])[1]))
            series[f"best Bezier, NFE {n}"] = pts
        lines[d] = {
            "series": {k: [(x, s.mean, s.sd) for x, s in v] for k, v in series.items() if v},
            "floor": floors[d]["quality"].mean,
        }
    line_panels(
        lines,
        out / "quality_vs_rectifications.png",
        xlabel="rectifications behind the coupling",
        ylabel=label,
    )
    files.append("quality_vs_rectifications.png")
    moved = aggregate(rows, "coupling_drift")
    bent = aggregate(rows, "straightness")
    drift_panels = {
        d: {
            "series": {
                name: [  # the log axis leaves out the 1-RF's drift from itself, 0 by definition
                    (k, s[key].mean, s[key].sd)
                    for k in RECTIFICATIONS
                    if (key := (d, f"{k}-RF", "ODE")) in s and s[key].mean > 0
                ]
                for name, s in (("coupling drift E||Z1^k - Z1^1||", moved), ("straightness S", bent))
            },
            "floor": None,
        }
        for d in datasets
    }
    line_panels(
        drift_panels, out / "drift_vs_rectifications.png", xlabel="rectifications k", ylabel="k-RF at dopri5"
    )
    files.append("drift_vs_rectifications.png")
    spent = aggregate(rows, "compute_evals")
    compute_panels = {  # the one- and two-step students cost the same: one line
        d: {
            "series": {
                "k-RF + distill": [
                    (k, s.mean, s.sd)
                    for k in RECTIFICATIONS
                    if (s := spent.get((d, f"{k}-RF + distill", "1")))
                ]
            },
            "floor": None,
        }
        for d in datasets
    }
    line_panels(
        compute_panels,
        out / "compute_vs_rectifications.png",
        xlabel="rectifications k",
        ylabel="compute (forward passes)",
    )
    files.append("compute_vs_rectifications.png")
    compute = aggregate(rows, "compute_seconds")
    family = {r["method"]: r["family"] for r in rows}
    xy = {}
    for d in datasets:
        groups = defaultdict(list)
        for (dd, m, b), s in q.items():
            if dd == d and b == "1":
                groups[family[m]].append((compute[(dd, m, b)].mean, s.mean, m))
        xy[d] = {"groups": dict(groups), "floor": floors[d]["quality"].mean}
    xy_panels(
        xy,
        out / "quality_vs_compute.png",
        xlabel="compute to obtain the model (s)",
        ylabel=f"{label} at NFE 1",
    )
    files.append("quality_vs_compute.png")
    files.append(frontier(rows, datasets, floors, out, label))
    intervals = {}
    for claim, results in decided:
        items = []
        for r in results:
            for metric_label, m in r["metrics"].items():
                diff = m["diff"]
                if diff.n > 1:
                    name = r["dataset"] + (f" ({metric_label})" if len(r["metrics"]) > 1 else "")
                    items.append((name, diff.mean, diff.low, diff.high, m["verdict"], m["margin"]))
        if items:
            intervals[claim.title.split(":")[0]] = items  # "Claim 1", "Exploratory, 1 NFE", ...
    interval_panels(
        intervals, out / "claims.png", xlabel="paired difference, candidate - baseline (95 % interval)"
    )
    files.append("claims.png")
    for d, s in samples.items():
        name = f"samples_{slug(d)}.png"
        ref, inputs, truth = s.pop("reference"), s.pop("input"), s.pop("truth")
        panel = {f"{m}\nNFE {n}": x for (m, n), x in s.items()}
        if shapes[d] is None:
            scatter_panels(panel, out / name, reference=ref, cols=6)
        else:
            first = {"input (source)": inputs} if inputs is not None else {"data": ref}
            if truth is not None:  # a paired task: each input's own clean image, row by row
                first["ground truth"] = truth
            image_panels(first | panel, shapes[d], out / name, n=16, cols=6)
        files.append(name)
    return files


def frontier(rows: list[dict], datasets: list[str], floors: dict, out: Path, label: str) -> str:
    """``frontier.png``: quality against compute (forward passes) per dataset and budget; the
    k-RF + distill line over k, each recipe with equal-compute twins as a line through its twins,
    every other few-step model as a point. Returns the file name."""
    q, evals = aggregate(rows), aggregate(rows, "compute_evals")
    family = {r["method"]: r["family"] for r in rows}
    stretched_families = ("Bezier, equal compute", "k-RF + distill, equal compute")
    twins = {r["method"]: r["method"].split(" @ ")[0] for r in rows if r["family"] in stretched_families}
    panels = {}
    for d in datasets:
        for n in ("1", "2"):
            lines, points = defaultdict(list), defaultdict(list)
            stretched = {twins[m] for (dd, m, b) in q if (dd, b) == (d, n) and m in twins}
            for (dd, m, b), s in q.items():
                if dd != d or b != n or (dd, m, b) not in evals:
                    continue
                x = evals[(dd, m, b)].mean
                if _DISTILLED.match(m):
                    lines["k-RF + distill"].append((x, s.mean, s.sd))
                    if m in stretched:  # the control's line starts where 1-RF + distill is
                        lines[f"{m}, trained longer"].append((x, s.mean, s.sd))
                elif family[m] == "k-RF + distill, equal compute":
                    lines[f"{twins[m]}, trained longer"].append((x, s.mean, s.sd))
                elif twins.get(m, m) in stretched:
                    lines[twins.get(m, m)].append((x, s.mean, s.sd))
                elif family[m] != "k-RF":
                    points["other Bezier variants" if family[m] == "Bezier" else "baselines"].append(
                        (x, s.mean)
                    )
            panels[f"{d}, NFE {n}"] = {"lines": lines, "points": points, "floor": floors[d]["quality"].mean}
    frontier_panels(
        panels,
        out / "frontier.png",
        xlabel="compute to obtain the model (forward passes, training counted x3)",
        ylabel=label,
    )
    return "frontier.png"


def command(cfg: CompareConfig) -> str:
    """The command line that reproduces ``cfg`` (every flag that differs from its default)."""
    parts = ["bezier-distill compare"]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if f.name in ("resume", "overwrite") or value == f.default:
            continue
        parts.append(flag_name(f.name) if value is True else f"{flag_name(f.name)} {shlex.quote(str(value))}")
    return " ".join(parts)


def slug(dataset: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset)
