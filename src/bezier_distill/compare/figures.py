"""The report's PNG figures: quality against NFE, rectifications and compute, the coupling drift,
the frontier, the claims' intervals and each dataset's samples."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from ..plotting import (
    dot_plot,
    frontier_panels,
    image_panels,
    interval_panels,
    line_panels,
    scatter_panels,
    xy_panels,
)
from .naming import BEZIER, RF, Method
from .tables import RECTIFICATIONS, aggregate


def plots(
    rows, datasets, floors, out: Path, samples: dict, label: str, shapes: dict, decided: list
) -> list[str]:
    """The report's PNG figures; returns their file names."""
    q = aggregate(rows)
    files = [
        _quality_vs_nfe(q, datasets, floors, out, label),
        _quality_vs_rectifications(rows, q, datasets, floors, out, label),
        _drift_vs_rectifications(rows, datasets, out),
        _compute_vs_rectifications(rows, datasets, out),
        _quality_vs_compute(rows, q, datasets, floors, out, label),
        frontier(rows, datasets, floors, out, label),
        _claims(decided, out),
    ]
    return files + [_samples(d, s, shapes[d], out) for d, s in samples.items()]


def _quality_vs_nfe(q: dict, datasets, floors: dict, out: Path, label: str) -> str:
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
    return "quality_vs_nfe.png"


def _quality_vs_rectifications(rows, q: dict, datasets, floors: dict, out: Path, label: str) -> str:
    lines = {}
    for d in datasets:
        series = {
            f"k-RF, {solver}": [
                (k, q[key]) for k in RECTIFICATIONS if (key := (d, str(Method.rf(k)), b)) in q
            ]
            for b, solver in (("ODE", "dopri5"), ("1", "1 Euler step"))
        }
        for n in ("1", "2"):
            series[f"k-RF + distill, NFE {n}"] = [
                (k, q[key]) for k in RECTIFICATIONS if (key := (d, str(Method.rf(k).distill()), n)) in q
            ]
        for n in ("1", "2"):
            pts = []
            for rect in (1, 2):
                allowed = {r["method"] for r in rows if r["rectifications"] == rect and r["family"] == BEZIER}
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
    return "quality_vs_rectifications.png"


def _drift_vs_rectifications(rows, datasets, out: Path) -> str:
    moved = aggregate(rows, "coupling_drift")
    bent = aggregate(rows, "straightness")
    drift_panels = {
        d: {
            "series": {
                name: [  # the log axis leaves out the 1-RF's drift from itself, 0 by definition
                    (k, s[key].mean, s[key].sd)
                    for k in RECTIFICATIONS
                    if (key := (d, str(Method.rf(k)), "ODE")) in s and s[key].mean > 0
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
    return "drift_vs_rectifications.png"


def _compute_vs_rectifications(rows, datasets, out: Path) -> str:
    spent = aggregate(rows, "compute_evals")
    compute_panels = {  # the one- and two-step students cost the same: one line
        d: {
            "series": {
                "k-RF + distill": [
                    (k, s.mean, s.sd)
                    for k in RECTIFICATIONS
                    if (s := spent.get((d, str(Method.rf(k).distill()), "1")))
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
    return "compute_vs_rectifications.png"


def _quality_vs_compute(rows, q: dict, datasets, floors: dict, out: Path, label: str) -> str:
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
    return "quality_vs_compute.png"


def _claims(decided: list, out: Path) -> str:
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
    return "claims.png"


def _samples(dataset: str, s: dict, shape, out: Path) -> str:
    name = f"samples_{slug(dataset)}.png"
    ref, inputs, truth = s.pop("reference"), s.pop("input"), s.pop("truth")
    panel = {f"{m}\nNFE {n}": x for (m, n), x in s.items()}
    if shape is None:
        scatter_panels(panel, out / name, reference=ref, cols=6)
    else:
        first = {"input (source)": inputs} if inputs is not None else {"data": ref}
        if truth is not None:  # a paired task: each input's own clean image, row by row
            first["ground truth"] = truth
        image_panels(first | panel, shape, out / name, n=16, cols=6)
    return name


def frontier(rows: list[dict], datasets: list[str], floors: dict, out: Path, label: str) -> str:
    """``frontier.png``: quality against compute (forward passes) per dataset and budget; the
    k-RF + distill line over k, each recipe with equal-compute twins as a line through its twins,
    every other few-step model as a point. Returns the file name."""
    q, evals = aggregate(rows), aggregate(rows, "compute_evals")
    methods = {r["method"]: Method.parse(r["method"]) for r in rows}
    twins = {m: str(method.base) for m, method in methods.items() if method.compute_of is not None}
    panels = {}
    for d in datasets:
        for n in ("1", "2"):
            lines, points = defaultdict(list), defaultdict(list)
            stretched = {twins[m] for (dd, m, b) in q if (dd, b) == (d, n) and m in twins}
            for (dd, m, b), s in q.items():
                if dd != d or b != n or (dd, m, b) not in evals:
                    continue
                x, method = evals[(dd, m, b)].mean, methods[m]
                if method.is_distilled_rf:
                    lines["k-RF + distill"].append((x, s.mean, s.sd))
                    if m in stretched:  # the control's line starts where 1-RF + distill is
                        lines[f"{m}, trained longer"].append((x, s.mean, s.sd))
                elif method.kind == RF and method.distilled:  # the control trained longer
                    lines[f"{twins[m]}, trained longer"].append((x, s.mean, s.sd))
                elif twins.get(m, m) in stretched:
                    lines[twins.get(m, m)].append((x, s.mean, s.sd))
                elif method.family != RF:
                    points["other Bezier variants" if method.family == BEZIER else "baselines"].append(
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


def slug(dataset: str) -> str:
    """A dataset's name in file names."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in dataset)
