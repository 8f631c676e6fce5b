"""How much it flatters a student to be scored on the noise it was trained on.

    python scripts/shared_noise.py runs/compare-digits/runs/digits/seed0 [--n 1000]

For the one-step k-RF + distill students of one chain of `bezier-distill compare` (folders
``d1-k1``, ``d2-k1``), sample once from the first ``n`` source rows of the student's own training
coupling (``pairs1``, ``pairs2``) and once from ``n`` fresh evaluation draws, and print for both
the distillation error (mean squared distance to the teacher's dopri5 solution from the same rows)
and the headline score (feature FID of network a against the test split for images, else the
exact W2 against an evaluation reference draw). Earlier versions of the project drew the
evaluation noise from the same stream as the first rows of every coupling; this shows the size
of what that did.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from bezier_distill.data import get_distribution
from bezier_distill.evaluation import DOPRI, as_image_values, distill_error, eval_data, feature_metrics
from bezier_distill.metrics import w2
from bezier_distill.models import from_pretrained
from bezier_distill.solvers import SolverSpec, solve


def coupling_rows(folder: Path, n: int) -> torch.Tensor:
    """The first ``n`` source rows ``z0`` of a stored coupling, in shard order."""
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = [
        load_file(folder / e["file"])["z0"]
        for _, e in sorted(manifest["shards"].items(), key=lambda kv: int(kv[0]))
    ]
    return torch.cat(rows)[:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chain", type=Path, help="a chain folder of a compare run: OUT/runs/DATASET/seedK")
    parser.add_argument("--n", type=int, default=1000)
    args = parser.parse_args()
    run = json.loads((args.chain / "rf1" / "config.json").read_text())
    target = get_distribution(run["data"])
    source = get_distribution(run["source"], dim=target.dim)
    seed = run["seed"]
    image = target.image_shape is not None
    features = feature_metrics(target)
    data = eval_data(source, target, args.n, seed)
    print(f"chain {args.chain} ({run['source']} -> {run['data']}, seed {seed}), {data.n} rows each")
    print(f"{'student':<16}{'noise':<24}{'distill error':>14}{'FID (a)' if image else 'W2':>10}")
    for k in (1, 2):
        student, teacher = args.chain / f"d{k}-k1", args.chain / f"rf{k}"
        if not student.is_dir():
            continue
        s_model, t_model = from_pretrained(student), from_pretrained(teacher)
        for label, x0 in (
            (f"its coupling pairs{k}", coupling_rows(args.chain / f"pairs{k}", data.n)),
            ("fresh evaluation draws", data.x0),
        ):
            out = solve(s_model, x0, SolverSpec("euler", 1)).x
            ode = solve(t_model, x0, DOPRI).x
            score_set = as_image_values(out)[0] if image else out
            score = (
                features["a"].score(score_set, data.heldout).fid if image else w2(score_set, data.reference)
            )
            print(f"{k}-RF + distill  {label:<24}{distill_error(out, ode):>14.4g}{score:>10.3f}")


if __name__ == "__main__":
    main()
