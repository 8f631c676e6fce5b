"""Velocity matching (rectified flow, METHOD.md section 1) and k-step distillation of stored
pairs (section 3), as functions and as objectives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import BadInput
from ..interpolants import PATHS
from .base import Objective, regression
from .times import grid_time, sample_time


def velocity_matching(
    model: nn.Module, x0: Tensor, x1: Tensor, t: Tensor, *, loss: str = "l2", path: str = "straight"
) -> Tensor:
    """L_RF (METHOD.md section 1): ``|| dx_t - v(x_t, t) ||^2`` on ``path``.

    On the straight path ``dx_t = x1 - x0``; ``path="cosine"`` trains a
    diffusion-style (VP-like) teacher whose ODE paths are curved.
    """
    if path not in PATHS:
        raise BadInput(f"unknown path {path!r}: choose one of {', '.join(PATHS)}")
    p = PATHS[path](x0, x1, t)
    return regression(model(p.x_t, t), p.dx_t, loss)


def distillation(model: nn.Module, z0: Tensor, z1: Tensor, t: Tensor, *, loss: str = "l2") -> Tensor:
    """L_D (METHOD.md section 3) at grid times ``t``: ``|| (z1 - z0) - v(x_t, t) ||``.

    With ``t = 0`` this is one-step distillation ``T(z0) = z0 + v(z0, 0)``; with
    ``t`` from :func:`grid_time` it is k-step distillation.
    """
    return velocity_matching(model, z0, z1, t, loss=loss)


@dataclass
class FlowMatching(Objective):
    """Rectified flow (velocity matching) on ``pairs``: anything whose ``sample(batch, generator)``
    returns ``(x0, x1)``, such as an independent coupling (1-RF) or reflow pairs (k-RF)."""

    pairs: Any
    loss: str = "l2"
    path: str = "straight"
    time_sampling: str = "uniform"

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        return {"x0": x0, "x1": x1, "t": sample_time(batch, generator, kind=self.time_sampling)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        return velocity_matching(model, rows["x0"], rows["x1"], rows["t"], loss=self.loss, path=self.path)


@dataclass
class Distillation(Objective):
    """``k``-step distillation (``k = 1``: one step) on reflow pairs ``(z0, teacher ODE(z0))``."""

    pairs: Any
    k: int = 1
    loss: str = "l2"

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        z0, z1 = self.pairs.sample(batch, generator)
        return {"z0": z0, "z1": z1, "t": grid_time(batch, self.k, generator)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        return distillation(model, rows["z0"], rows["z1"], rows["t"], loss=self.loss)
