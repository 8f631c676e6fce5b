"""The report's tables: every score summarised over seeds (:func:`aggregate`), the methods ranked,
each dataset's table and the error-accumulation table, as markdown."""

from __future__ import annotations

from collections import defaultdict

from .naming import Method
from .stats import Summary, summary

BUDGETS = ("ODE", "1", "2")
RECTIFICATIONS = (1, 2, 3, 4)


def aggregate(rows: list[dict], metric: str = "quality") -> dict[tuple[str, str, str], Summary]:
    """``(dataset, method, budget) -> Summary`` of ``metric`` over seeds."""
    groups: dict[tuple, list[float]] = defaultdict(list)
    for r in rows:
        if r.get(metric) is not None:
            groups[(r["dataset"], r["method"], r["nfe_budget"])].append(r[metric])
    return {k: summary(v) for k, v in groups.items()}


def ranking(
    rows: list[dict], datasets: list[str], budget: str, bezier_only: bool = True
) -> list[tuple[str, float]]:
    """Methods (the Bezier students only, their twins included, unless not ``bezier_only``) by mean
    rank of their mean quality across datasets at ``budget``."""
    q = aggregate(rows)
    ranks: dict[str, list[int]] = defaultdict(list)
    for d in datasets:
        found = sorted(
            (s.mean, m)
            for (dd, m, b), s in q.items()
            if dd == d and b == budget and (not bezier_only or Method.parse(m).is_bezier)
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
        teacher, student = str(Method.rf(k)), str(Method.rf(k).distill())
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
