"""What every objective shares: the regression losses and the :class:`Objective` interface that
the training loop calls (draw the global batch, then the loss of this process's rows)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..errors import BadInput

LOSSES = ("l2", "l1", "pseudo_huber", "adaptive")


ADAPTIVE_C = 1e-3  # the c of MeanFlow's adaptive weighting


def regression(pred: Tensor, target: Tensor, kind: str = "l2") -> Tensor:
    """Mean per-sample distance between ``pred`` and ``target`` ``(B, *D)``.

    ``l2``: mean squared error; ``l1``: mean absolute error; ``pseudo_huber``:
    ``sqrt(||d||^2 + c^2) - c`` with ``c = 0.00054 sqrt(D)`` (per sample); ``adaptive``:
    MeanFlow's adaptively weighted ``||d||^2 / sg(||d||^2 + c)`` with ``c = 1e-3`` (power 1; per
    sample, the weight without gradient).
    """
    diff = (pred - target).flatten(1)
    if kind == "l2":
        return diff.pow(2).mean()
    if kind == "l1":
        return diff.abs().mean()
    if kind == "pseudo_huber":
        c = 0.00054 * math.sqrt(diff.shape[1])
        return (torch.sqrt(diff.pow(2).sum(1) + c * c) - c).mean()
    if kind == "adaptive":
        sq = diff.pow(2).sum(1)
        return (sq / (sq.detach() + ADAPTIVE_C)).mean()
    raise BadInput(f"unknown loss {kind!r}: choose one of {', '.join(LOSSES)}")


class Objective:
    """An objective that draws its own batch: ``draw(batch, generator)`` returns the global batch
    as tensors with their rows first (all randomness from ``generator``); ``objective(model,
    rows)`` is the scalar loss of the rows it is given (all of them in one process, this rank's
    slice under torchrun; :func:`~bezier_distill.training.train` does the slicing)."""

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        raise NotImplementedError

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def attach(self, ema: nn.Module) -> None:
        """Called by the training loop with its EMA copy of the model (updated in place every step,
        checkpointed and resumed with it), for objectives whose target is that EMA."""
