"""Error accumulation side by side: the reference run against its twins with fewer pairs or a coarser solver.

    python scripts/accumulation_table.py runs/accumulation-2d runs/accumulation-2d-pairs2k \
        runs/accumulation-2d-euler8

Reads ``results.csv`` of finished ``bezier-distill compare`` folders that share their seeds and
their 1-RFs (the twins change only how each reflow's coupling is made) and prints, per dataset
the folders have in common and per rectification count k, three columns per folder: the k-RF at
dopri5, its coupling drift from the 1-RF, and k-RF + distill in one step (means over the seeds).
After the first folder, each column is followed by its paired difference from the first folder
(twin - reference over the common seeds, with its 95 % interval; positive: the twin is worse,
or drifts further). A twin with fewer pairs measures estimation error, one with a coarser solver
the solver's error: whichever makes the error grow faster with k is the one that accumulates.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from bezier_distill.compare.naming import Method
from bezier_distill.compare.stats import paired_difference

# (column label, the method of each k, budget, results.csv field)
QUANTITIES = (
    ("k-RF, dopri5", Method.rf, "ODE", "quality"),
    ("drift", Method.rf, "ODE", "coupling_drift"),
    ("k-RF + distill, 1 NFE", lambda k: Method.rf(k).distill(), "1", "quality"),
)


def _read(path: Path) -> dict[tuple, dict[int, float]]:
    """The quantities of one run: ``path`` is its ``results.csv`` or the compare folder holding it."""
    out: dict[tuple, dict[int, float]] = {}
    with (path / "results.csv" if path.is_dir() else path).open() as f:
        for r in csv.DictReader(f):
            for _, _, budget, field in QUANTITIES:
                if r["nfe_budget"] == budget and r[field] != "":
                    key = (r["dataset"], r["method"], budget, field)
                    out.setdefault(key, {})[int(r["seed"])] = float(r[field])
    return out


def _cell(ref: dict[int, float] | None, twin: dict[int, float] | None, first: bool) -> list[str]:
    if not twin:
        return ["-"] if first else ["-", "-"]
    mean = f"{sum(twin.values()) / len(twin):.4g}"
    if first:
        return [mean]
    seeds = sorted(set(ref or {}) & set(twin))
    if len(seeds) < 2:
        return [mean, "-"]
    d = paired_difference([twin[s] for s in seeds], [ref[s] for s in seeds])
    return [mean, f"{d.mean:+.3g} [{d.low:+.3g}, {d.high:+.3g}]"]


def table(paths: list[Path], names: list[str], rectifications: int = 4) -> str:
    """The markdown table of the runs in ``paths`` (``results.csv`` files or compare folders, the
    reference first), their columns headed by ``names``."""
    runs = [_read(path) for path in paths]
    found = [{key[0] for key in run} for run in runs]
    datasets = [d for d in dict.fromkeys(key[0] for key in runs[0]) if all(d in n for n in found)]
    head, rule = ["dataset", "k"], ["---", "---"]
    for i, name in enumerate(names):
        for label, *_ in QUANTITIES:
            head.append(f"{name}: {label}")
            if i:
                head.append("vs first")
    rule += ["---"] * (len(head) - 2)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(rule) + "|"]
    for d in datasets:
        for k in range(1, rectifications + 1):
            cells = [d, str(k)]
            for i, run in enumerate(runs):
                for _, method, budget, field in QUANTITIES:
                    key = (d, str(method(k)), budget, field)
                    cells += _cell(runs[0].get(key), run.get(key), first=i == 0)
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="finished compare folders, the reference first")
    p.add_argument("--rectifications", type=int, default=4, help="largest k to list")
    args = p.parse_args(argv)
    text = table(args.folders, [folder.name for folder in args.folders], args.rectifications)
    print(text)
    return text

if __name__ == "__main__":
    main()
