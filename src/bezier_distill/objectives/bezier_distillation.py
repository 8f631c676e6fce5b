"""Bezier Distillation (METHOD.md section 5): the ``end``, ``end-space``, ``tangent`` and
``chord`` objectives at points ``B(t)`` of the curves, their training times, and the objective
that draws control points from a guided coupling."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..bezier import curve, derivative, secant_to_end
from ..errors import BadInput
from .base import Objective, regression
from .times import T_EPS, grid_time, u_shaped

BEZIER_OBJECTIVES = ("end", "end-space", "tangent", "chord")


TIME_SAMPLINGS = ("uniform", "grid", "u-shaped", "mixed")


def bezier_time(
    batch: int, objective: str, generator: torch.Generator, *, k: int = 2, sampling: str = "uniform"
) -> Tensor:
    """Training times for a Bezier objective, shape ``(batch,)``.

    ``chord`` always uses the grid ``{0, 1/k, ..., (k-1)/k}``; ``end``, ``end-space`` and
    ``tangent`` use ``U[0, 1)`` (``sampling="uniform"``), that grid, 2-RF++'s U-shaped
    density on ``[0, 1 - T_EPS]`` (``"u-shaped"``, :func:`u_shaped`), or ``"mixed"``: a point mass
    at ``t = 0`` (half the draws, chosen at random) mixed with ``U[0, 1)`` (the one-step target,
    with the rest of the curve as an auxiliary task).
    """
    if objective not in BEZIER_OBJECTIVES:
        raise BadInput(f"unknown objective {objective!r}: choose one of {', '.join(BEZIER_OBJECTIVES)}")
    if sampling not in TIME_SAMPLINGS:
        raise BadInput(f"unknown time sampling {sampling!r}: choose one of {', '.join(TIME_SAMPLINGS)}")
    if objective == "chord" or sampling == "grid":
        return grid_time(batch, k, generator)
    u = torch.rand(batch, generator=generator)
    if sampling == "mixed":
        return torch.where(torch.rand(batch, generator=generator) < 0.5, torch.zeros_like(u), u)
    return (1 - T_EPS) * u_shaped(u) if sampling == "u-shaped" else u


def bezier_objective(
    model: nn.Module, points: Tensor, t: Tensor, objective: str, *, k: int = 2, loss: str = "l2"
) -> Tensor:
    """Bezier Distillation objectives (METHOD.md section 5) at ``x = B(t)``.

    ``points``: control points ``(n + 1, B, *D)``; ``t``: ``(B,)``.

    * ``end``: target ``(P_n - B(t)) / (1 - t)``, so ``x + (1 - t) v`` predicts the end.
    * ``end-space``: the same target with the loss on the predicted end, ``||x + (1 - t) v -
      P_n||``, i.e. ``end`` weighted by ``(1 - t)^2`` under l2 (times near 1, where the end is
      easy to predict, count less).
    * ``tangent``: target ``B'(t)`` (Bezier flow matching; sample with an ODE solver).
    * ``chord``: target ``k (B(t + 1/k) - B(t))`` at grid times, so ``k`` Euler
      steps land on the curve's end.
    """
    x = curve(points, t)
    if objective == "end":
        target = secant_to_end(points, t)
    elif objective == "end-space":
        end = x + (1 - t).view(-1, *[1] * (x.dim() - 1)) * model(x, t)
        return regression(end, points[-1], loss)
    elif objective == "tangent":
        target = derivative(points, t)
    elif objective == "chord":
        target = (curve(points, t + 1.0 / k) - x) * k
    else:
        raise BadInput(f"unknown objective {objective!r}: choose one of {', '.join(BEZIER_OBJECTIVES)}")
    return regression(model(x, t), target, loss)


@dataclass
class BezierDistillation(Objective):
    """Bezier Distillation on a guided coupling (``sample_points(batch, generator)`` returns control
    points ``(n + 1, batch, *D)``) with the ``objective`` ``end``, ``end-space``, ``tangent`` or
    ``chord`` (the default, with ``k = 2``: the two-step student the measurements chose).

    ``guide_noise`` > 0 draws each batch's interior control points from a Gaussian around the
    stored guides (standard deviation ``guide_noise``, fresh in every batch): noisy guides, a
    guiding distribution rather than a point; the ends ``P_0`` and ``P_n`` stay as they are."""

    coupling: Any
    objective: str = "chord"
    k: int = 2
    time_sampling: str = "uniform"
    loss: str = "l2"
    guide_noise: float = 0.0

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        points = self.coupling.sample_points(batch, generator)
        if self.guide_noise > 0 and points.shape[0] > 2:
            noise = torch.randn(points[1:-1].shape, generator=generator, device=points.device)
            points = torch.cat([points[:1], points[1:-1] + self.guide_noise * noise, points[-1:]])
        t = bezier_time(batch, self.objective, generator, k=self.k, sampling=self.time_sampling)
        return {"points": points.transpose(0, 1), "t": t}  # rows first

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        points = rows["points"].transpose(0, 1)
        return bezier_objective(model, points, rows["t"], self.objective, k=self.k, loss=self.loss)
