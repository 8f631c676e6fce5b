"""Evaluate a model: samples with counted NFE, scored beside the noise floor.

The noise floor is the same metric between two independent draws of the true
distribution at the same sample size: what a perfect model would score.

Image data is also scored with the feature FID and KID of :mod:`bezier_distill.features`
(samples against the dataset's test split; the floor is a training draw of the same size
against it), and translation (an image source) with the faithfulness: the RMS distance per
pixel between each input and its output, in the [-1, 1] scale.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .features import FeatureMetric, weights_path
from .metrics import energy_distance, w2
from .seeding import make_generator
from .solvers import SolverSpec, solve


@torch.no_grad()
def straightness(model: nn.Module, x0: Tensor, *, steps: int = 100) -> float:
    """S(Z) (METHOD.md section 4) on an Euler trajectory of ``steps`` steps from ``x0 (B, *D)``.

    ``mean_i E || (Z_1 - Z_0) - v(Z_{t_i}, t_i) ||^2`` over the grid; 0 for straight paths.
    """
    result = solve(model, x0, SolverSpec("euler", steps), trajectory=True)
    traj, times = result.trajectory, result.times
    chord = (traj[-1] - traj[0]).flatten(1)
    total = 0.0
    for i in range(steps):
        v = model(traj[i], times[i].expand(x0.shape[0])).flatten(1)
        total += (chord - v).pow(2).sum(1).mean().item()
    return total / steps


@dataclass(frozen=True)
class Evaluation:
    """Scores of one sample set against a reference draw of the data."""

    nfe: int
    w2: float
    energy: float
    straightness: float | None
    sample_seconds: float
    fid: float | None = None
    kid: float | None = None
    faithfulness: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def reference(target, n: int, seed: int) -> Tensor:
    """The reference draw of ``n`` target points that every method is scored against."""
    return target.sample(n, make_generator(seed, 1))


def feature_metric(target, inception_weights: str | None = None) -> FeatureMetric | None:
    """The FID scorer of an image dataset: Inception when weights are given, else the shipped
    classifier of the built-in dataset it comes from; ``None`` for point data and user images."""
    if target.image_shape is None:
        return None
    if inception_weights:
        from .features import inception_metric

        return inception_metric(inception_weights)
    if target.classifier is None or not weights_path(target.classifier).is_file():
        return None
    return FeatureMetric.for_dataset(target.classifier)


def noise_floor(target, n: int, seed: int, features: FeatureMetric | None = None) -> dict[str, float]:
    """W2 and energy distance between the reference draw and an independent twin draw (and the
    feature FID/KID of the twin against the test split, for image data)."""
    ref, twin = reference(target, n, seed), target.sample(n, make_generator(seed, 2))
    floor = {"w2": w2(twin, ref), "energy": energy_distance(twin, ref)}
    if features is not None:
        scores = features.score(twin, target.test, seed=seed)
        floor |= {"fid": scores.fid, "kid": scores.kid}
    return floor


def faithfulness(inputs: Tensor, outputs: Tensor) -> float:
    """Mean over pairs of the RMS per-coordinate distance between input and output."""
    return float((outputs.flatten(1) - inputs.flatten(1)).pow(2).mean(1).sqrt().mean())


def source_draw(source, n: int, seed: int) -> Tensor:
    """The source points ``x0`` that every method starts from."""
    return source.sample(n, make_generator(seed, 0))


def evaluate(
    model: nn.Module,
    x0: Tensor,
    ref: Tensor,
    spec: SolverSpec,
    *,
    with_straightness: bool = True,
    features: FeatureMetric | None = None,
    test: Tensor | None = None,
    translation: bool = False,
    seed: int = 0,
) -> tuple[Evaluation, Tensor]:
    """Sample from ``x0 (n, *D)`` with ``spec`` and score the samples against ``ref (m, *D)``.

    With ``features`` the samples also get FID and KID against ``test``; with ``translation``
    their faithfulness to ``x0``. Returns the scores and the samples ``(n, *D)`` on the CPU.
    """
    model = model.eval()
    start = time.perf_counter()
    result = solve(model, x0, spec)
    seconds = time.perf_counter() - start
    samples = result.x.float().cpu()
    feats = features.score(samples, test, seed=seed) if features is not None else None
    return (
        Evaluation(
            nfe=result.nfe,
            w2=w2(samples, ref.cpu()),
            energy=energy_distance(samples, ref.cpu()),
            # images: on the first 500 draws (the 100-step trajectory is large)
            straightness=straightness(model, x0[:500] if features else x0) if with_straightness else None,
            sample_seconds=round(seconds, 4),
            fid=feats.fid if feats else None,
            kid=feats.kid if feats else None,
            faithfulness=faithfulness(x0.cpu(), samples) if translation else None,
        ),
        samples,
    )
