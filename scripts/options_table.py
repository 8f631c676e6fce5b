"""Every Bezier option of a finished comparison against one baseline (docs/results/bezier-options-2d.md).

    python scripts/options_table.py runs/bezier-options-2d --nfe 1 \
        --objectives end,end-space,end/u-shaped,end/mixed,end@0.1,end/grid
    python scripts/options_table.py runs/bezier-options-2d --nfe 2 --objectives chord

Reads ``results.csv`` and ``claims.json`` of a ``bezier-distill compare`` folder and prints one
markdown row per Bezier student (teacher set x objective, those with an objective named) and one
column per dataset: the paired difference of the headline quality (candidate - baseline over the
seeds, negative: the candidate is better) with its 95 % interval and verdict. The verdicts use
the comparison's own margins and Holm's correction over the whole table (every option on every
dataset is one test), so they are stricter than a claim's; the rows are exploratory all the same:
none of these options was named before the run except the comparison's primary recipes.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from bezier_distill.compare.stats import paired_difference, verdicts


def _scores(rows: list[dict], nfe: str) -> dict[tuple[str, str], dict[int, float]]:
    out: dict[tuple[str, str], dict[int, float]] = {}
    for r in rows:
        if r["nfe_budget"] == nfe:
            out.setdefault((r["dataset"], r["method"]), {})[int(r["seed"])] = float(r["quality"])
    return out


def _margins(claims: dict) -> dict[str, float]:
    found = {}
    for claim in claims["claims"]:
        for result in claim["results"]:
            metric = next(iter(result["metrics"].values()))
            found.setdefault(result["dataset"], metric["margin"])
    return found


def table(rows: list[dict], margins: dict[str, float], nfe: str, baseline: str, objectives: list[str]) -> str:
    """The markdown table of every Bezier student whose objective is in ``objectives`` against
    ``baseline`` at budget ``nfe``, per dataset, with the equivalence ``margins`` per dataset."""
    scores = _scores(rows, nfe)
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    methods = [
        m
        for o in objectives
        for m in dict.fromkeys(r["method"] for r in rows if r["family"] == "Bezier" and r["objective"] == o)
        if m != baseline
    ]
    tests, cells = [], {}
    for m in methods:
        for d in datasets:
            a, b = scores.get((d, m)), scores.get((d, baseline))
            if not a or not b:
                continue
            seeds = sorted(set(a) & set(b))
            cells[(m, d)] = len(tests)
            tests.append(paired_difference([a[s] for s in seeds], [b[s] for s in seeds], margin=margins[d]))
    decided = verdicts(tests)
    lines = [
        f"| {nfe} NFE, against {baseline} | " + " | ".join(datasets) + " |",
        "|---|" + "---|" * len(datasets),
    ]
    for m in methods:
        parts = []
        for d in datasets:
            if (m, d) not in cells:
                parts.append("-")
                continue
            t, verdict = tests[cells[(m, d)]], decided[cells[(m, d)]]
            mark = "**" if verdict == "better" else ""
            parts.append(f"{mark}{t.mean:+.3g} [{t.low:+.3g}, {t.high:+.3g}] {verdict}{mark}")
        lines.append(f"| {m} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", type=Path, help="a finished compare --out folder")
    p.add_argument("--nfe", default="1", help="the sampling budget: 1 or 2 Euler steps")
    p.add_argument("--baseline", default="1-RF + distill", help="the method every option is compared with")
    p.add_argument("--objectives", required=True, help="comma-separated Bezier objectives to list")
    args = p.parse_args(argv)
    with (args.folder / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    margins = _margins(json.loads((args.folder / "claims.json").read_text()))
    wanted = [o.strip() for o in args.objectives.split(",")]
    text = table(rows, margins, args.nfe, args.baseline, wanted)
    print(text)
    return text

if __name__ == "__main__":
    main()
