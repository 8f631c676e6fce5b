"""The regime table of docs/RESULTS.md: where does reflow pay, and where do the claims hold?

    python scripts/regime_table.py runs/accumulation-2d runs/regimes/points-* \
        runs/accumulation-digits runs/regimes/images-*

Reads ``claims.json`` of each finished ``bezier-distill compare`` folder given and prints one
markdown row per (regime, dataset): the verdict of each claim (the premise "2-RF + distill beats
1-RF + distill" at 1 and 2 NFE, claim 1, claim 2 at 1 and 2 NFE, claim 1 at the 2-RF's compute
and its control, the Bezier twin against 1-RF + distill trained as long, and the curve control,
the one-step end student against end/grid, where the run has them) with the paired difference
of the headline metric (candidate - baseline; negative: the candidate is better). Folders without
a ``claims.json`` (runs not finished) are listed as such.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

COLUMNS = (
    ("Premise, 1 NFE", "2-RF + distill vs 1-RF + distill, 1 NFE"),
    ("Premise, 2 NFE", "2-RF + distill vs 1-RF + distill, 2 NFE"),
    ("Claim 1", "claim 1 (Bezier from 1-RF vs 2-RF + distill)"),
    ("Claim 2 at 1 NFE", "claim 2, 1 NFE"),
    ("Claim 2 at 2 NFE", "claim 2, 2 NFE"),
    ("Equal compute, 2-RF, 1 NFE", "claim 1 at the 2-RF's compute, 1 NFE"),
    ("Equal compute, 2-RF, 2 NFE", "claim 1 at the 2-RF's compute, 2 NFE"),
    ("Equal compute control, 2-RF, 1 NFE", "Bezier vs 1-RF + distill, both at the 2-RF's compute, 1 NFE"),
    ("Equal compute control, 2-RF, 2 NFE", "Bezier vs 1-RF + distill, both at the 2-RF's compute, 2 NFE"),
    ("Curve control, 1 NFE", "Bezier end vs end/grid (true states only), 1 NFE"),
)


def cell(result: dict) -> str:
    metric = next(iter(result["metrics"].values()))
    return f"{result['verdict']} ({metric['mean']:+.3g})"


def main(argv: list[str] | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="finished compare --out folders, one per regime")
    args = p.parse_args(argv)
    lines = [
        "| regime | dataset | " + " | ".join(label for _, label in COLUMNS) + " |",
        "|---|---|" + "---|" * len(COLUMNS),
    ]
    for folder in args.folders:
        path = folder / "claims.json"
        if not path.is_file():
            if folder.is_dir():
                lines.append(f"| {folder.name} | (not finished) |" + " |" * len(COLUMNS))
            continue
        claims = {c["title"].split(":")[0]: c for c in json.loads(path.read_text())["claims"]}
        datasets = [r["dataset"] for r in next(iter(claims.values()))["results"]]
        for i, dataset in enumerate(datasets):
            cells = [cell(claims[key]["results"][i]) if key in claims else "-" for key, _ in COLUMNS]
            lines.append(f"| {folder.name} | {dataset} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
