"""Training-time samplings: uniform on ``[T_EPS, 1]``, 2-RF++'s U-shaped density, and the grid
``{0, 1/k, ..., (k-1)/k}`` of k-step distillation."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ..errors import BadInput

T_EPS = 1e-3  # t ~ U[T_EPS, 1] for velocity matching, as in the reference code


TRAIN_TIMES = ("uniform", "u-shaped")


U_SHAPE = 4.0  # the a of 2-RF++'s U-shaped time density (Lee et al. 2024)


def u_shaped(u: Tensor, a: float = U_SHAPE) -> Tensor:
    """Map ``u ~ U[0, 1]`` to ``t`` on [0, 1] with the U-shaped density of 2-RF++ (METHOD.md
    section 7): proportional to ``exp(a t) + exp(a (1 - t))``, i.e. ``cosh(a (t - 1/2))``, the
    even mixture of ``t`` and ``1 - t`` for ``t`` with density ``exp(a t)`` that their code draws.
    The inverse of its distribution function ``(sinh(a (t - 1/2)) + sinh(a/2)) / (2 sinh(a/2))``."""
    return (0.5 + torch.asinh((2 * u.double() - 1) * math.sinh(a / 2)) / a).to(u.dtype)


def sample_time(batch: int, generator: torch.Generator, *, device="cpu", kind: str = "uniform") -> Tensor:
    """Training times of shape ``(batch,)`` on ``[T_EPS, 1]``: uniform, or ``u-shaped``
    (more weight near both ends, as 2-RF++ trains rectified flows)."""
    if kind not in TRAIN_TIMES:
        raise BadInput(f"unknown time sampling {kind!r}: choose one of {', '.join(TRAIN_TIMES)}")
    u = torch.rand(batch, generator=generator, device=device)
    return T_EPS + (1 - T_EPS) * (u_shaped(u) if kind == "u-shaped" else u)


def grid_time(batch: int, k: int, generator: torch.Generator, *, device="cpu") -> Tensor:
    """``t`` drawn uniformly from the grid ``{0, 1/k, ..., (k-1)/k}``, shape ``(batch,)``."""
    if not isinstance(k, int) or k < 1:
        raise BadInput(f"number of distillation steps k must be a positive integer, got {k!r}")
    return torch.randint(0, k, (batch,), generator=generator, device=device).float() / k
