"""Any model as a velocity field ``v(x, t)`` in the project's convention.

The project integrates ``dx/dt = v(x, t)`` from the source at ``t = 0`` to the data at
``t = 1`` on the straight path ``x_t = (1 - t) x0 + t x1`` (METHOD.md section 1), with
``x (B, *D)`` and ``t (B,)``. :class:`Velocity` wraps a model that differs:

* ``order="tx"``: it is called ``model(t, x)`` (torchdiffeq's and torchcfm's convention);
* ``predicts="noise"``: it returns the source sample ``x0`` it believes ``x_t`` came from,
  so ``v = (x_t - x0_hat) / t``; ``predicts="data"``: it returns ``x1``, so
  ``v = (x1_hat - x_t) / (1 - t)``. The division is clamped away from zero at the end where
  it is singular (``eps``), as samplers of such models do;
* ``scalar_time=True``: it takes one time for the whole batch, a 0-dim tensor (as ODE solvers
  and torchdyn-style wrappers such as torchcfm's ``torch_wrapper`` do), not a ``(B,)`` tensor.
  Such a model can be a teacher, whose rows share their time; a student must take ``(B,)``.

A plain function ``f(x, t)`` is wrapped the same way. The wrapper is an ``nn.Module`` whose
parameters are the wrapped model's, so it trains, moves between devices and is saved as usual.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from .capabilities import VelocityModel
from .errors import BadInput

ORDERS = ("xt", "tx")
PREDICTS = ("velocity", "noise", "data")


class Velocity(VelocityModel):
    """``v(x, t)`` of any model or function; see the module docstring."""

    def __init__(
        self,
        model: nn.Module | Callable,
        *,
        order: str = "xt",
        predicts: str = "velocity",
        scalar_time: bool = False,
        data_shape: tuple[int, ...] | None = None,
        eps: float = 1e-3,
    ) -> None:
        super().__init__()
        if order not in ORDERS:
            raise BadInput(f"unknown argument order {order!r}: choose one of {', '.join(ORDERS)}")
        if predicts not in PREDICTS:
            raise BadInput(f"unknown prediction {predicts!r}: choose one of {', '.join(PREDICTS)}")
        if not callable(model):
            raise BadInput(f"a model must be an nn.Module or a function v(x, t), got {type(model).__name__}")
        if isinstance(model, nn.Module):
            self.model = model
        else:
            self.fn = model
        self.order, self.predicts, self.scalar_time, self.eps = order, predicts, scalar_time, eps
        shape = data_shape if data_shape is not None else getattr(model, "data_shape", None)
        self.data_shape = tuple(shape) if shape is not None else None

    def _call(self, x: Tensor, t: Tensor) -> Tensor:
        f = self.model if hasattr(self, "model") else self.fn
        time = t.reshape(-1)[0] if self.scalar_time else t
        return f(time, x) if self.order == "tx" else f(x, time)

    def forward(self, x: Tensor, t: Tensor | float) -> Tensor:
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        t = t.expand(x.shape[0]) if t.dim() == 0 else t
        out = self._call(x, t)
        if self.predicts == "velocity":
            return out
        tt = t.reshape(-1, *([1] * (x.dim() - 1)))
        if self.predicts == "noise":
            return (x - out) / tt.clamp(min=self.eps)
        return (out - x) / (1 - tt).clamp(min=self.eps)
