"""Consistency distillation (Song et al. 2023; METHOD.md section 7) from a flow teacher, with the
consistency function ``f(x, t) = x + (1 - t) F(x, t)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import BadInput
from ..interpolants import straight
from .base import Objective, regression


def consistency_function(model: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    """``f(x, t) = x + (1 - t) F(x, t)``: maps a point of a trajectory at ``t`` to its end at
    ``t = 1``, with ``f(x, 1) = x`` by construction; ``f(z0, 0)`` is one Euler step of ``F``."""
    return x + (1 - t).reshape(-1, *([1] * (x.dim() - 1))) * model(x, t)


@dataclass
class ConsistencyDistillation(Objective):
    """Consistency distillation (Song et al. 2023; METHOD.md section 7) from any ``teacher`` v(x, t).

    On the grid ``t_n = n / steps``: draw ``(x0, x1)`` from ``pairs`` (noise and data) and ``n``,
    take ``x_{t_n}`` on their straight interpolant, one Heun step of the teacher to
    ``x^_{t_{n+1}}``, and regress ``f_theta(x_{t_n}, t_n)`` on ``f_{theta-}(x^_{t_{n+1}}, t_{n+1})``,
    with ``theta-`` the training loop's EMA of ``theta`` (no gradient; :meth:`attach`). The
    student samples in one step like an ``end`` student.
    """

    teacher: nn.Module
    pairs: Any
    steps: int = 18
    loss: str = "l2"

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise BadInput(f"consistency steps must be a positive integer, got {self.steps!r}")
        self._target: nn.Module | None = None

    def attach(self, ema: nn.Module) -> None:
        self._target = ema

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        return {"x0": x0, "x1": x1, "n": torch.randint(0, self.steps, (batch,), generator=generator)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        x0, x1 = rows["x0"], rows["x1"]
        t = (rows["n"].to(x0.dtype) / self.steps).to(x0.device)
        h = 1.0 / self.steps
        x_t = straight(x0, x1, t).x_t
        with torch.no_grad():
            v1 = self.teacher(x_t, t)
            v2 = self.teacher(x_t + h * v1, t + h)
            x_next = x_t + 0.5 * h * (v1 + v2)
            target = consistency_function(self._target or model, x_next, t + h)
        return regression(consistency_function(model, x_t, t), target, self.loss)
