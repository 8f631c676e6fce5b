"""MeanFlow (Geng et al. 2025; METHOD.md section 7): the average velocity over an interval,
learned through the MeanFlow identity with a Jacobian-vector product."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..capabilities import takes_interval, unwrap
from ..errors import BadInput
from ..interpolants import straight
from .base import Objective, regression
from .times import sample_time


def meanflow(model: nn.Module, x0: Tensor, x1: Tensor, t: Tensor, s: Tensor, *, loss: str = "l2") -> Tensor:
    """The MeanFlow loss (Geng et al. 2025; METHOD.md section 7) in our time convention.

    ``u(z, t, s)``, the average velocity over ``[t, s]`` (``t <= s``), satisfies
    ``u = v + (s - t) du/dt`` along the flow, ``du/dt = v . d_z u + d_t u``. At ``z_t`` on the
    straight path from ``x0`` to ``x1`` with ``v = x1 - x0``, the target is
    ``v + (s - t) sg(du/dt)``, the derivative a Jacobian-vector product of the model with the
    tangent ``(v, 1, 0)`` (``torch.func.jvp``, without gradient; the prediction is a plain forward
    pass, so a DDP-wrapped model synchronises as usual); at ``s = t`` it is velocity matching.
    """
    p = straight(x0, x1, t)
    target = meanflow_target(model, p.x_t, t, s, p.dx_t)
    return regression(model(p.x_t, t, s), target, loss)


def meanflow_target(model: nn.Module, z: Tensor, t: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """``v + (s - t) du/dt`` at ``(z, t, s)`` for the velocity ``v`` at ``z``, without gradient:
    the average velocity ``u`` over ``[t, s]`` when ``model`` is exact (:func:`meanflow`)."""
    net = unwrap(model)  # the product is taken on the module a DDP wrapper holds
    with torch.no_grad():
        _, dudt = torch.func.jvp(
            lambda x, a, b: net(x, a, b), (z, t, s), (v, torch.ones_like(t), torch.zeros_like(s))
        )
    return v + (s - t).reshape(-1, *([1] * (z.dim() - 1))) * dudt


def interval_times(
    batch: int, generator: torch.Generator, *, ratio: float = 0.25, kind: str = "uniform"
) -> tuple[Tensor, Tensor]:
    """MeanFlow's training intervals ``(t, s)``: two draws of :func:`sample_time` sorted, of which
    a fraction ``1 - ratio`` (chosen at random) is collapsed to ``s = t``."""
    a = sample_time(batch, generator, kind=kind)
    b = sample_time(batch, generator, kind=kind)
    t, s = torch.minimum(a, b), torch.maximum(a, b)
    same = torch.rand(batch, generator=generator) >= ratio
    return t, torch.where(same, t, s)


@dataclass
class MeanFlow(Objective):
    """MeanFlow on ``pairs`` (noise and data, or any coupling): a model with two time inputs
    (``interval=True``) learns the average velocity, sampled in one step as
    ``x0 + u(x0, 0, 1)`` or in ``k`` Euler steps that pass each step's both ends."""

    pairs: Any
    ratio: float = 0.25
    loss: str = "l2"
    time_sampling: str = "uniform"

    def __post_init__(self) -> None:
        if not 0 <= self.ratio <= 1:
            raise BadInput(
                f"the MeanFlow ratio of intervals with s != t must lie in [0, 1], got {self.ratio}"
            )

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        t, s = interval_times(batch, generator, ratio=self.ratio, kind=self.time_sampling)
        return {"x0": x0, "x1": x1, "t": t, "s": s}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        if not takes_interval(model):
            raise BadInput("MeanFlow trains a model with two time inputs (built with interval=True)")
        return meanflow(model, rows["x0"], rows["x1"], rows["t"], rows["s"], loss=self.loss)
