"""Pairings: how a 1-RF draws ``(x0, x1)`` from a source and a target, batch by batch.

* :class:`IndependentCoupling` pairs a source draw with an independent data draw (1-rectified
  flow); :class:`MinibatchOTCoupling` pairs each batch by exact optimal transport (OT-CFM),
  :class:`FeatureOTCoupling` the same in a classifier's features and :class:`ClassCoupling`
  within a class; :data:`PAIRINGS` names them.
* :class:`GivenCoupling` draws the given pairs of a paired task (input ``i`` with its ground
  truth ``i``), :class:`GivenRows` the same as single rows; :func:`data_coupling` picks.

Stored couplings (reflow pairs, guided couplings) are :mod:`bezier_distill.couplings`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .errors import BadInput


class IndependentCoupling:
    """``x0 ~ source`` and ``x1 ~ target`` drawn independently."""

    def __init__(self, source, target) -> None:
        if source.dim != target.dim:
            raise BadInput(
                f"source {source.name!r} has dimension {source.dim} but target "
                f"{target.name!r} has dimension {target.dim}"
            )
        self.source, self.target = source, target

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        return self.source.sample(batch, generator), self.target.sample(batch, generator)


class MinibatchOTCoupling(IndependentCoupling):
    """Independent draws paired by exact optimal transport within each batch (OT-CFM, Tong et al.
    2023; METHOD.md section 7): the batch's ``x1`` rows are permuted to minimise the total
    squared Euclidean distance to the ``x0`` rows (POT's ``emd``; O(B^3) per batch)."""

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x0, x1 = super().sample(batch, generator)
        return x0, x1[ot_permutation(x0, x1)]


def ot_permutation(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation ``p`` minimising ``sum_i ||x0_i - x1_p(i)||^2`` (an exact OT plan between two
    equal-size uniform point sets is a permutation)."""
    import ot

    cost = torch.cdist(x0.flatten(1).double(), x1.flatten(1).double()).square().cpu().numpy()
    weights = np.full(len(x0), 1.0 / len(x0))
    plan = ot.emd(weights, weights, cost, numItermax=10_000_000)
    return torch.from_numpy(plan.argmax(axis=1)).to(x1.device)


class FeatureOTCoupling(IndependentCoupling):
    """Minibatch OT in a classifier's feature space (content-preserving translation): as
    :class:`MinibatchOTCoupling`, with the cost the squared distance between the features of the
    target's shipped classifier (net a) of the two images instead of between their pixels, so
    an input is paired with a target that the classifier sees as alike."""

    def __init__(self, source, target) -> None:
        super().__init__(source, target)
        if target.classifier is None or source.image_shape != target.image_shape:
            raise BadInput(
                "--pairing feature-ot needs an image source and a built-in image target of the same "
                f"shape (its shipped classifier gives the features); got source {source.name!r} "
                f"and target {target.name!r}"
            )
        from .features import feature_extractor

        self.features = feature_extractor(target.classifier)

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x0, x1 = super().sample(batch, generator)
        return x0, x1[ot_permutation(self.features(x0), self.features(x1)).cpu()]


class ClassCoupling(IndependentCoupling):
    """Class-conditional pairing (content-preserving translation where labels exist): ``x0`` from
    the source's training rows of the classes both datasets have, ``x1`` from the target's rows
    of the same class, each uniformly."""

    def __init__(self, source, target) -> None:
        super().__init__(source, target)
        if source.labels is None or target.labels is None:
            raise BadInput(
                "--pairing class needs labelled source and target (labelled image datasets); got "
                f"source {source.name!r} and target {target.name!r}"
            )
        classes = sorted(set(source.labels.tolist()) & set(target.labels.tolist()) - {-1})
        if not classes:
            raise BadInput(f"--pairing class: {source.name!r} and {target.name!r} share no class")
        self.classes = classes
        self.rows0 = torch.nonzero(torch.isin(source.labels, torch.tensor(classes))).flatten()
        self.rows1 = {c: torch.nonzero(target.labels == c).flatten() for c in classes}

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        i0 = self.rows0[torch.randint(len(self.rows0), (batch,), generator=generator)]
        y = self.source.labels[i0]
        i1 = torch.empty_like(i0)
        for c in self.classes:  # a fixed order: the same generator gives the same pairs
            mask = y == c
            rows = self.rows1[c]
            i1[mask] = rows[torch.randint(len(rows), (int(mask.sum()),), generator=generator)]
        return self.source.points[i0], self.target.points[i1]


PAIRINGS = {
    "independent": IndependentCoupling,
    "ot": MinibatchOTCoupling,
    "feature-ot": FeatureOTCoupling,
    "class": ClassCoupling,
}


class GivenCoupling:
    """The given pairs of a paired task (:mod:`bezier_distill.data.tasks`): one index ``i`` drawn
    uniformly (with replacement) for both, ``x0`` = input row ``i`` plus the source's Gaussian noise
    (:meth:`~bezier_distill.data.Distribution.perturb`, from the same generator), ``x1`` = clean row ``i``.

    ``source`` must be ``target``'s inputs (``target.paired``, with or without noise).
    """

    def __init__(self, source, target) -> None:
        if not source.is_inputs_of(target):
            raise BadInput(
                f"the given pairs of {target.name!r} start from its inputs, but the source is {source.name!r}"
            )
        self.source, self.target = source, target

    def sample(self, batch: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        idx = torch.randint(0, self.target.points.shape[0], (batch,), generator=generator)
        return self.source.perturb(self.source.points[idx], generator), self.target.points[idx]


class GivenRows:
    """A paired task's given pairs drawn as single rows ``[x0, x1]`` (:class:`GivenCoupling`'s
    draws side by side), the rows of a data-anchored coupling that starts from the task's inputs."""

    def __init__(self, pairs: GivenCoupling) -> None:
        self.pairs, self.name, self.dim = pairs, pairs.target.name, pairs.target.dim

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        return torch.cat(self.pairs.sample(n, generator), dim=1)


def data_coupling(source, target, pairing: str = "independent"):
    """How a 1-RF draws ``(x0, x1)`` from ``source`` and ``target``: the given pairs of a paired
    task, else the ``pairing`` of :data:`PAIRINGS` (independent draws, or minibatch OT)."""
    if target.paired is not None:
        return GivenCoupling(source, target)
    return PAIRINGS[pairing](source, target)
