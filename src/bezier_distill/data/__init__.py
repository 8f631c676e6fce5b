"""Target/source distributions: built-in 2-D toys and user point files.

:func:`get_distribution` turns a dataset spec (a built-in name from :data:`DATASETS` or a
path to a ``.npy``/``.csv`` point file) into a :class:`Distribution`, whose
:meth:`Distribution.sample` draws ``(n, dim)`` float32 samples from an explicit
``torch.Generator`` (same generator state -> same samples, bit for bit).

Image datasets are meant to be added later as another branch of :func:`get_distribution`
(producing a :class:`Distribution` with a flattened ``dim``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import torch
from torch import Tensor

from bezier_distill.data.points import POINT_EXTENSIONS, load_points
from bezier_distill.data.toy2d import GENERATORS
from bezier_distill.errors import BadInput

__all__ = [
    "DATASETS",
    "GENERATORS",
    "Distribution",
    "check_num_samples",
    "get_distribution",
    "load_points",
]

DATASETS: list[str] = sorted(GENERATORS)
"""Names of the built-in datasets (all 2-D), sorted."""


def check_num_samples(n: object) -> int:
    """Return ``n`` as an int if it is a positive integer (not a bool); else raise BadInput."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise BadInput(f"number of samples must be a positive integer, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class Distribution:
    """A distribution we can sample from with an explicit generator.

    Attributes:
        name: the built-in name, or the point file path as given.
        dim: dimension ``D`` of one sample.
        sampler: ``fn(n, generator) -> Tensor (n, dim)`` float32; prefer :meth:`sample`,
            which validates its arguments.
        points: for a point-file distribution, the whole ``(N, dim)`` float32 point set
            (sampled uniformly with replacement); ``None`` for built-ins.
    """

    name: str
    dim: int
    sampler: Callable[[int, torch.Generator], Tensor] = field(repr=False, compare=False)
    points: Tensor | None = field(default=None, repr=False, compare=False)

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` samples; returns ``(n, dim)`` float32.

        Raises:
            BadInput: ``n`` is not a positive integer.
            TypeError: ``generator`` is not a ``torch.Generator``.
        """
        n = check_num_samples(n)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return self.sampler(n, generator)

    @classmethod
    def from_points(cls, points: Tensor, name: str) -> Distribution:
        """Empirical distribution of a ``(N, D)`` point set: rows drawn uniformly with
        replacement via ``torch.randint(N, (n,), generator=generator)``."""
        if points.ndim != 2 or points.shape[0] < 1 or points.shape[1] < 1:
            raise BadInput(f"point set '{name}' must have shape (N, D), got {tuple(points.shape)}")
        pts = points.to(dtype=torch.float32, device="cpu").contiguous()
        num = pts.shape[0]

        def _sample(n: int, generator: torch.Generator) -> Tensor:
            idx = torch.randint(0, num, (n,), generator=generator)
            return pts[idx]

        return cls(name=name, dim=int(pts.shape[1]), sampler=_sample, points=pts)


def get_distribution(spec: str | os.PathLike[str], *, dim: int | None = None) -> Distribution:
    """Resolve a dataset spec to a :class:`Distribution`.

    ``spec`` is a built-in name from :data:`DATASETS` (dim 2), or else a point file: any
    spec ending in ``.npy``/``.csv`` (case-insensitive) or naming an existing file is
    loaded with :func:`~bezier_distill.data.points.load_points`. ``gaussian`` with
    ``dim`` given is the standard normal of that dimension (the default source for
    data of any dimension).

    Raises:
        BadInput: unknown name (the message lists the choices) or a bad point file.
    """
    if spec == "gaussian" and dim is not None and dim != 2:
        d = check_num_samples(dim)
        return Distribution(name=spec, dim=d, sampler=lambda n, g: torch.randn(n, d, generator=g))
    if isinstance(spec, str) and spec in GENERATORS:
        return Distribution(name=spec, dim=2, sampler=GENERATORS[spec])
    if not isinstance(spec, (str, os.PathLike)):
        raise BadInput(f"dataset must be a name or a file path, got {spec!r}")
    text = os.fspath(spec)
    if text.lower().endswith(POINT_EXTENSIONS) or Path(text).is_file():
        return Distribution.from_points(load_points(text), name=text)
    raise BadInput(
        f"unknown dataset '{text}': choose one of {', '.join(DATASETS)} or give a .npy/.csv point file"
    )
