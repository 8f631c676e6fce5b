"""The claims of a comparison and their verdicts: each claim's candidate and baseline, decided on
*paired* differences over seeds, and its paragraph and record.

Every method of a seed is scored on the same held-out source draws against the same reference;
the claims take t-based 95 % intervals, Holm's correction across the datasets of a claim and four
verdicts (:mod:`.stats`). The recipes that decide each claim are named in the configuration
before the run; the best of all variants is reported separately and labelled exploratory. For
images a verdict stands only where the two feature spaces agree; otherwise it reads
"metric-dependent".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace

from .config import CompareConfig
from .naming import Method
from .stats import PairedDifference, holm, paired_difference, verdicts
from .tables import aggregate


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
        *_primary_claims(cfg),
        *_against_baselines(cfg),
        *_at_equal_compute(cfg),
        *_curve_control(cfg),
        *[
            Claim(
                f"Exploratory, {n} NFE: best Bezier variant against the best k-RF + distill",
                n,
                None,
                None,
                True,
            )
            for n in ("1", "2")
        ],
    ]


def _primary_claims(cfg: CompareConfig) -> list[Claim]:
    """Claims 1 and 2, and their premise: reflow pays."""
    one, two = str(Method.rf(1).distill()), str(Method.rf(2).distill())
    return [
        Claim(
            "Claim 1: Bezier Distillation beats rectified-flow distillation with fewer RF iterations "
            "(a Bezier student from 1-RF teachers against 2-RF + distill, one step)",
            "1",
            cfg.primary_one_step,
            two,
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
                f"Premise, {budget} NFE: reflow pays, 2-RF + distill beats 1-RF + distill", budget, two, one
            )
            for budget in ("1", "2")
        ],
    ]


def _against_baselines(cfg: CompareConfig) -> list[Claim]:
    """The primary recipes against each of the field's baselines the configuration runs."""
    return [
        Claim(
            f"Against {name}, {budget} NFE: the primary Bezier recipe against the field's baseline "
            f"{name} at the same budget",
            budget,
            cfg.primary_one_step if budget == "1" else cfg.primary_two_step,
            name,
        )
        for budget in ("1", "2")
        for name in baseline_methods(cfg)
    ]


def _at_equal_compute(cfg: CompareConfig) -> list[Claim]:
    """The primary recipes trained longer to the compute of each k-RF + distill of
    ``--equal-compute``: against it, and against 1-RF + distill trained as long (the control)."""
    primaries = (("1", Method.parse(cfg.primary_one_step)), ("2", Method.parse(cfg.primary_two_step)))
    one = Method.rf(1).distill()
    equal = [
        Claim(
            f"Equal compute, {k}-RF, {budget} NFE: the primary Bezier recipe trained longer, to the "
            f"compute of {k}-RF + distill, against it",
            budget,
            str(recipe.at_compute_of(k)),
            str(Method.rf(k).distill()),
        )
        for k in cfg.equal_compute_list()
        for budget, recipe in primaries
    ]
    control = [
        Claim(
            f"Equal compute control, {k}-RF, {budget} NFE: the primary Bezier recipe against "
            f"1-RF + distill, both trained longer to the compute of {k}-RF + distill (is it the curve "
            "or the extra steps?)",
            budget,
            str(recipe.at_compute_of(k)),
            str(one.at_compute_of(k)),
        )
        for k in cfg.equal_compute_list()
        for budget, recipe in primaries
    ]
    return equal + control


def _curve_control(cfg: CompareConfig) -> list[Claim]:
    """The primary one-step recipe of objective end against the same student supervised only at
    the grid times (end/grid). The two-step chord of a quadratic needs no such control: it is
    k-segment distillation."""
    primary = Method.parse(cfg.primary_one_step)
    if primary.objective != "end":
        return []
    return [
        Claim(
            "Curve control, 1 NFE: the primary one-step recipe against the same student "
            "supervised only at the grid times, where its curve passes through the teacher's "
            "true states (end/grid, k-segment distillation: does the curve between them help?)",
            "1",
            cfg.primary_one_step,
            str(replace(primary, objective="end/grid")),
        )
    ]


def baseline_methods(cfg: CompareConfig) -> list[str]:
    """The method names of the few-step baselines a configuration runs (their distilled students
    where a baseline is a flow that is distilled, as OT-CFM)."""
    return [
        str(Method.of_baseline(b).distill() if b == "OT-CFM" else Method.of_baseline(b))
        for b in cfg.baseline_list()
    ]


def paired(rows: list[dict], dataset: str, a: str, b: str, budget: str, metric: str, margin: float | None):
    """Per-seed differences ``a - b`` of ``metric`` on ``dataset`` at ``budget`` (common seeds)."""
    by = {
        (r["method"], r["seed"]): r[metric]
        for r in rows
        if r["dataset"] == dataset and r["nfe_budget"] == budget and r.get(metric) is not None
    }
    seeds = sorted({s for m, s in by if m == a} & {s for m, s in by if m == b})
    return paired_difference([by[(a, s)] for s in seeds], [by[(b, s)] for s in seeds], margin=margin)


def _best(q: dict, dataset: str, budget: str, chosen) -> str:
    """The method of best mean on ``dataset`` at ``budget`` among those ``chosen`` takes."""
    cands = [
        (s.mean, m) for (d, m, b), s in q.items() if d == dataset and b == budget and chosen(Method.parse(m))
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
        a = claim.candidate or _best(q, d, claim.budget, lambda m: m.is_bezier)
        b = claim.baseline or _best(q, d, claim.budget, lambda m: m.is_distilled_rf)
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


def claim_record(claim: Claim, results: list[dict]) -> dict:
    """A decided claim as ``claims.json`` keeps it."""
    return {
        "title": claim.title,
        "budget": claim.budget,
        "exploratory": claim.exploratory,
        "results": [
            {
                "dataset": r["dataset"],
                "candidate": r["candidate"],
                "baseline": r["baseline"],
                "verdict": r["verdict"],
                "metrics": {
                    label: {
                        "mean": m["diff"].mean,
                        "low": m["diff"].low if m["diff"].n > 1 else None,
                        "high": m["diff"].high if m["diff"].n > 1 else None,
                        "n": m["diff"].n,
                        "p": m["diff"].p,
                        "p_holm": m["p_holm"],
                        "margin": m["margin"],
                        "verdict": m["verdict"],
                    }
                    for label, m in r["metrics"].items()
                },
            }
            for r in results
        ],
    }
