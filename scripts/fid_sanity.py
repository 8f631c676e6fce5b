"""Print the feature FID / KID of reference image sets against each dataset's test split.

    python scripts/fid_sanity.py [--n 1000] [--seed 0]

Rows per built-in dataset: a training draw (what a perfect model scores: the noise floor),
one class only (a model that collapsed onto one mode), the training images blurred by a 2x
down-and-up resize, and uniform noise. The shipped classifier's test accuracy is shown too.
"""

from __future__ import annotations

import argparse

import torch

from bezier_distill.data import get_distribution
from bezier_distill.data.images import resize
from bezier_distill.evaluation import feature_metric
from bezier_distill.features import load_classifier, weights_path
from bezier_distill.seeding import stream


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print("| dataset | classifier accuracy | image set | feature FID | KID |")
    print("|---|---|---|---|---|")
    for name in ("digits", "mnist", "fashion"):
        target = get_distribution(name)
        metric = feature_metric(target)
        acc = float(load_classifier(weights_path(name))[1]["accuracy"])
        g = stream("fid sanity draws", args.seed)
        train = target.sample(args.n, g)
        c, h, w = target.image_shape
        images = train.reshape(-1, c, h, w)
        sets = {
            "training draw (noise floor)": train,
            "class 1 only": get_distribution(f"{name}:class=1").sample(args.n, g),
            "training draw, blurred": resize(resize(images, h // 2), h).flatten(1),
            "uniform noise": torch.rand(args.n, target.dim, generator=g) * 2 - 1,
        }
        for label, x in sets.items():
            s = metric.score(x, target.test, seed=args.seed)
            print(f"| {name} | {acc:.3f} | {label} | {s.fid:.2f} | {s.kid:.3f} |")


if __name__ == "__main__":
    main()
