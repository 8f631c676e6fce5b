"""Rank every method of a comparison at 1 and 2 NFE, as markdown (the ranking tables of docs/results/).

    python scripts/ranking_table.py runs/compare-2d
    python scripts/ranking_table.py runs/compare-digits --metric fid

Reads ``results.csv`` and ``claims.json`` of a finished ``bezier-distill compare`` run. Per budget:
one row per method with its mean score on every dataset (mean over seeds), its rank among the
methods on each dataset, the mean rank, and the compute it spent (wall seconds, training runs
and teacher evaluations, averaged over datasets and seeds); then the verdicts of the claims that
pit the primary Bezier recipe against each few-step baseline. ``table`` works on the rows of any
``results.csv``; ``scripts/results_pages.py`` calls it on the committed CSVs of docs/.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
from collections import defaultdict
from pathlib import Path


def load(folder: Path) -> tuple[list[dict], dict]:
    with (folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    return rows, json.loads((folder / "claims.json").read_text())


def table(rows: list[dict], budget: str, metric: str) -> str:
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    scores: dict[tuple[str, str], list[float]] = defaultdict(list)
    cost: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        if r["nfe_budget"] == budget and r.get(metric):
            scores[(r["method"], r["dataset"])].append(float(r[metric]))
            for key in ("compute_seconds", "training_stages", "teacher_evals"):
                if r.get(key):
                    cost[r["method"]][key].append(float(r[key]))
    methods = sorted({m for m, _ in scores})
    mean = {k: statistics.fmean(v) for k, v in scores.items()}
    rank, ranks = {}, defaultdict(list)
    for d in datasets:
        ordered = sorted((mean[(m, d)], m) for m in methods if (m, d) in mean)
        for i, (_, m) in enumerate(ordered, start=1):
            rank[(m, d)] = i
            ranks[m].append(i)
    order = sorted(methods, key=lambda m: statistics.fmean(ranks[m]))
    head = " | ".join(datasets)
    lines = [
        f"| method | {head} | mean rank | seconds | training runs | teacher evaluations |",
        "|---|" + "---|" * len(datasets) + "---|---|---|---|",
    ]
    for m in order:
        cells = " | ".join(
            f"{mean[(m, d)]:.3g} ({rank[(m, d)]})" if (m, d) in mean else "-" for d in datasets
        )
        c = cost[m]
        spent = " | ".join(
            f"{statistics.fmean(c[k]):{fmt}}" if c.get(k) else "-"
            for k, fmt in (("compute_seconds", ".0f"), ("training_stages", ".0f"), ("teacher_evals", ".3g"))
        )
        lines.append(f"| {m} | {cells} | {statistics.fmean(ranks[m]):.1f} | {spent} |")
    return "\n".join(lines)


def verdicts(claims: dict) -> str:
    lines = []
    for claim in claims["claims"]:
        if not claim["title"].startswith("Against"):
            continue
        found = ", ".join(f"{r['dataset']} {r['verdict']}" for r in claim["results"])
        lines.append(f"- {claim['title'].split(':')[0]}: {found}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="the --out folder of a finished compare run")
    p.add_argument("--metric", default="quality", help="row key to rank by (default: the headline)")
    args = p.parse_args(argv)
    rows, claims = load(args.folder)
    parts = []
    for budget in ("1", "2"):
        parts += [f"**{budget} NFE** ({args.metric}; in brackets the rank on the dataset)", ""]
        parts += [table(rows, budget, args.metric), ""]
    parts += ["**The primary Bezier recipe against each baseline** (paired, Holm over datasets)", ""]
    parts += [verdicts(claims)]
    text = "\n".join(parts)
    print(text)
    return text


if __name__ == "__main__":
    main()
