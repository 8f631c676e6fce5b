"""Print the feature FID / KID / precision / recall of reference image sets against each test split.

    python scripts/fid_sanity.py [--n 1000] [--seed 0] [--datasets digits,mnist,fashion]

Rows per built-in dataset and image set: a training draw (what a perfect model scores: the
noise floor), one class only (a model that collapsed onto one mode), the training images
blurred by a 2x down-and-up resize, and uniform noise. Every score is shown in both feature
spaces, net a (the small CNN, seed 0) and net b (the residual CNN, seed 1), whose test
accuracies head each dataset's rows; an image claim should hold in both. Precision and
recall use k = 3 nearest neighbours against the whole test split.
"""

from __future__ import annotations

import argparse

import torch

from bezier_distill.data import get_distribution
from bezier_distill.data.images import resize
from bezier_distill.features import FeatureMetric, load_classifier, weights_path
from bezier_distill.seeding import stream

NETS = ("a", "b")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="digits,mnist,fashion")
    args = parser.parse_args()
    cols = " | ".join(f"{m} {net}" for net in NETS for m in ("FID", "KID", "precision", "recall"))
    print(f"| dataset | image set | {cols} |")
    print("|---|---|" + "---|" * 4 * len(NETS))
    for name in args.datasets.split(","):
        target = get_distribution(name)
        metrics = {net: FeatureMetric.for_dataset(name, net=net) for net in NETS}
        accs = {net: float(load_classifier(weights_path(name, net=net))[1]["accuracy"]) for net in NETS}
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
        head = ", ".join(f"net {net} accuracy {acc:.4f}" for net, acc in accs.items())
        print(f"| **{name}** | ({head}) |" + " |" * 4 * len(NETS))
        for label, x in sets.items():
            cells = []
            for net in NETS:
                s = metrics[net].score(x, target.test, seed=args.seed)
                cells += [f"{s.fid:.2f}", f"{s.kid:.3f}", f"{s.precision:.3f}", f"{s.recall:.3f}"]
            print(f"| {name} | {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
