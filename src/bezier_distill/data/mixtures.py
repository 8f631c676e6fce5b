"""Synthetic Gaussian mixtures in higher dimension: where one-step fitting is hard.

``mixture32`` and ``mixture128``: 16 equally likely Gaussian modes of standard deviation 0.5
in 32 and 128 dimensions. The means are one fixed draw of ``N(0, I)`` from the named stream
``mixture means`` (keyed by dimension and mode count), so every user gets the same data; two
means lie about ``sqrt(2 D)`` apart, far beyond a mode's width, so a flow from ``N(0, I)`` must
split its mass into separate clusters. :data:`MIXTURES` maps each name to its ``(dim, modes)``.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import Tensor

from ..seeding import stream
from .toy2d import _check

MIXTURES: dict[str, tuple[int, int]] = {"mixture32": (32, 16), "mixture128": (128, 16)}
MODE_SD = 0.5


@cache
def mixture_means(dim: int, modes: int) -> Tensor:
    """The fixed means ``(modes, dim)`` of a mixture."""
    return torch.randn(modes, dim, generator=stream("mixture means", dim, modes))


def mixture_sampler(name: str):
    """``fn(n, generator) -> (n, dim)`` float32 draws of the mixture ``name``."""
    dim, modes = MIXTURES[name]

    def sample(n: int, generator: torch.Generator) -> Tensor:
        n = _check(n, generator)
        k = torch.randint(0, modes, (n,), generator=generator)
        return mixture_means(dim, modes)[k] + MODE_SD * torch.randn(n, dim, generator=generator)

    return sample
