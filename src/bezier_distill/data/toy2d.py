"""Seeded 2-D toy distributions, in the style of common flow-matching benchmarks.

Every generator has the signature ``fn(n, generator) -> Tensor`` of shape ``(n, 2)``,
dtype float32 on the CPU. All randomness comes from the given ``torch.Generator`` (never
the global RNG) and the draws happen in a fixed order, so the same generator state gives
the same samples bit for bit. The sets are roughly centred at the origin and span about
``[-4, 4]^2`` (per-coordinate standard deviation of order 1-3):

* ``gaussian``: standard normal ``N(0, I)``; also the default source distribution.
* ``8gaussians``: 8 modes equally spaced on a circle of radius 4, each with sd 0.5.
* ``moons``: two interleaving half circles (scaled by 2, Gaussian noise sd 0.2).
* ``checkerboard``: uniform on 8 unit-2 squares of a checkerboard in ``[-4, 4]^2``.
* ``spirals``: two-arm spiral (arms point-symmetric about the origin), noise sd 0.1.
* ``circles``: two concentric circles of radius 3 and 1.5, noise sd 0.24.
* ``swissroll``: 2-D swiss roll (x/z plane of the classic 3-D roll), scaled by 1/5.

:data:`GENERATORS` maps each name to its function.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral

import torch
from torch import Tensor

from bezier_distill.errors import BadInput

__all__ = [
    "GENERATORS",
    "checkerboard",
    "circles",
    "eight_gaussians",
    "gaussian",
    "moons",
    "spirals",
    "swissroll",
]

_F32 = torch.float32


def _check(n: int, generator: torch.Generator) -> int:
    """Validate the common arguments; return ``n`` as a plain int."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise BadInput(f"number of samples must be a positive integer, got {n!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return int(n)


def _rand(n: int, generator: torch.Generator) -> Tensor:
    """Uniform ``[0, 1)`` draws, shape ``(n,)``."""
    return torch.rand(n, generator=generator, dtype=_F32)


def _randn(*shape: int, generator: torch.Generator) -> Tensor:
    """Standard normal draws of the given shape."""
    return torch.randn(*shape, generator=generator, dtype=_F32)


def _coin(n: int, generator: torch.Generator) -> Tensor:
    """Fair 0/1 labels, shape ``(n,)`` int64."""
    return torch.randint(0, 2, (n,), generator=generator)


def gaussian(n: int, generator: torch.Generator) -> Tensor:
    """Standard normal in 2-D. Returns ``(n, 2)`` float32."""
    n = _check(n, generator)
    return _randn(n, 2, generator=generator)


def eight_gaussians(n: int, generator: torch.Generator) -> Tensor:
    """8 Gaussian modes (sd 0.5) at angles ``k * pi / 4`` on a circle of radius 4.

    Returns ``(n, 2)`` float32; modes are chosen uniformly.
    """
    n = _check(n, generator)
    k = torch.randint(0, 8, (n,), generator=generator)
    angle = k.to(torch.float64) * (math.pi / 4.0)
    centres = 4.0 * torch.stack([torch.cos(angle), torch.sin(angle)], dim=1).to(_F32)
    return centres + 0.5 * _randn(n, 2, generator=generator)


def moons(n: int, generator: torch.Generator) -> Tensor:
    """Two interleaving half circles (as sklearn ``make_moons``), centred and scaled by 2.

    Gaussian noise of sd 0.1 in the original units (0.2 after scaling). Returns
    ``(n, 2)`` float32 with x in about ``[-3, 3]`` and y in about ``[-1.5, 1.5]``.
    """
    n = _check(n, generator)
    label = _coin(n, generator).to(torch.bool)
    t = math.pi * _rand(n, generator)
    upper = torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    lower = torch.stack([1.0 - torch.cos(t), 0.5 - torch.sin(t)], dim=1)
    pts = torch.where(label[:, None], lower, upper)
    pts = pts + 0.1 * _randn(n, 2, generator=generator)
    centre = torch.tensor([0.5, 0.25], dtype=_F32)
    return 2.0 * (pts - centre)


def checkerboard(n: int, generator: torch.Generator) -> Tensor:
    """Uniform on the 8 dark squares (side 2) of a 4x4 checkerboard covering ``[-4, 4]^2``.

    Returns ``(n, 2)`` float32.
    """
    n = _check(n, generator)
    x1 = 4.0 * _rand(n, generator) - 2.0
    x2 = _rand(n, generator) - 2.0 * _coin(n, generator).to(_F32)
    x2 = x2 + torch.remainder(torch.floor(x1), 2.0)
    return 2.0 * torch.stack([x1, x2], dim=1)


def spirals(n: int, generator: torch.Generator) -> Tensor:
    """Two-arm spiral (each arm 1.5 turns; the arms are mirror images through the origin).

    Returns ``(n, 2)`` float32 in about ``[-4, 4]^2``; noise sd 0.1.
    """
    n = _check(n, generator)
    r = torch.sqrt(_rand(n, generator)) * (3.0 * math.pi)
    jitter = 0.5 * _rand(2 * n, generator).reshape(n, 2)
    arm = torch.stack([-torch.cos(r) * r, torch.sin(r) * r], dim=1) + jitter
    sign = 1.0 - 2.0 * _coin(n, generator).to(_F32)
    pts = sign[:, None] * arm / 3.0
    return pts + 0.1 * _randn(n, 2, generator=generator)


def circles(n: int, generator: torch.Generator) -> Tensor:
    """Two concentric circles of radius 3 and 1.5 (equal mass), Gaussian noise sd 0.24.

    Returns ``(n, 2)`` float32.
    """
    n = _check(n, generator)
    inner = _coin(n, generator).to(_F32)
    radius = 3.0 - 1.5 * inner
    t = 2.0 * math.pi * _rand(n, generator)
    pts = radius[:, None] * torch.stack([torch.cos(t), torch.sin(t)], dim=1)
    return pts + 0.24 * _randn(n, 2, generator=generator)


def swissroll(n: int, generator: torch.Generator) -> Tensor:
    """2-D swiss roll: ``t (cos t, sin t)`` with ``t ~ U[1.5 pi, 4.5 pi]``, noise sd 1, / 5.

    Same construction as sklearn ``make_swiss_roll(noise=1.0)[:, [0, 2]] / 5``.
    Returns ``(n, 2)`` float32 in about ``[-3, 3]^2``.
    """
    n = _check(n, generator)
    t = 1.5 * math.pi * (1.0 + 2.0 * _rand(n, generator))
    pts = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1)
    pts = pts + _randn(n, 2, generator=generator)
    return pts / 5.0


GENERATORS: dict[str, Callable[[int, torch.Generator], Tensor]] = {
    "gaussian": gaussian,
    "8gaussians": eight_gaussians,
    "moons": moons,
    "checkerboard": checkerboard,
    "spirals": spirals,
    "circles": circles,
    "swissroll": swissroll,
}
"""Built-in 2-D toy distributions by name; each ``fn(n, generator) -> (n, 2)`` float32."""
