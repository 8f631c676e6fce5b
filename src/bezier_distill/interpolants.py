"""Interpolants between a source sample ``x0`` (t = 0) and a target ``x1`` (t = 1)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class PathSample:
    """A point on a path: ``x_t`` and its time derivative ``dx_t``, both ``(B, *D)``."""

    x0: Tensor
    x1: Tensor
    t: Tensor
    x_t: Tensor
    dx_t: Tensor


def expand_time(t: Tensor, x: Tensor) -> Tensor:
    """Reshape ``t (B,)`` to ``(B, 1, ..., 1)`` so it broadcasts against ``x (B, *D)``."""
    return t.reshape(-1, *([1] * (x.dim() - 1))).to(x.dtype)


def straight(x0: Tensor, x1: Tensor, t: Tensor) -> PathSample:
    """Rectified-flow path (METHOD.md section 1): ``x_t = (1 - t) x0 + t x1``, ``dx_t = x1 - x0``."""
    tt = expand_time(t, x0)
    return PathSample(x0=x0, x1=x1, t=t, x_t=(1 - tt) * x0 + tt * x1, dx_t=x1 - x0)


def cosine(x0: Tensor, x1: Tensor, t: Tensor) -> PathSample:
    """A VP-like (trigonometric) path: ``x_t = cos(pi t / 2) x0 + sin(pi t / 2) x1``.

    Its velocity ``dx_t = (pi / 2) (cos(pi t / 2) x1 - sin(pi t / 2) x0)`` gives a
    diffusion-style probability-flow teacher whose paths are not straight.
    """
    tt = expand_time(t, x0)
    a, b = torch.cos(0.5 * math.pi * tt), torch.sin(0.5 * math.pi * tt)
    return PathSample(x0=x0, x1=x1, t=t, x_t=a * x0 + b * x1, dx_t=0.5 * math.pi * (a * x1 - b * x0))


PATHS = {"straight": straight, "cosine": cosine}
