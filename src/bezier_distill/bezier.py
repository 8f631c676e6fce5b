"""Bezier curves of any degree on batched tensors (METHOD.md section 5).

Conventions used throughout:

* ``points`` has shape ``(n + 1, B, *D)``: control points ``P_0 .. P_n`` of one
  degree-``n`` curve per batch element, with ``P_0 = x0`` (the source, t = 0)
  and ``P_n = x1`` (the target, t = 1).
* ``t`` has shape ``(B,)`` (one time per batch element) or is 0-dim (one time
  for all). Values are meant to lie in ``[0, 1]``; they are not checked (that
  would synchronise the device on every call), and outside ``[0, 1]`` the
  polynomials simply extrapolate.

All functions are pure, differentiable, and work in float32 and float64 on any
device. Bad shapes or options raise :class:`~bezier_distill.errors.BadInput`.
"""

from __future__ import annotations

from math import comb

import torch
from torch import Tensor

from bezier_distill.errors import BadInput

__all__ = [
    "bernstein",
    "curve",
    "derivative",
    "secant_to_end",
    "through_points_to_control",
    "straight_controls",
    "elevate",
]


def _degree(points: Tensor) -> int:
    """Validate ``points`` of shape ``(n + 1, B, *D)`` and return the degree ``n >= 1``."""
    if not isinstance(points, Tensor) or not points.is_floating_point():
        raise BadInput(f"points must be a floating-point tensor, got {type(points).__name__}")
    if points.dim() < 2:
        raise BadInput(f"points must have shape (n+1, B, *D), got shape {tuple(points.shape)}")
    n = points.shape[0] - 1
    if n < 1:
        raise BadInput(f"Bezier degree must be >= 1, got n = {n} (points.shape[0] = {n + 1})")
    return n


def _time(t: Tensor | float, points: Tensor) -> Tensor:
    """Check ``t`` against ``points`` and return it with shape ``(B, 1, ..., 1)``.

    ``t`` may be 0-dim (broadcast to all ``B``) or of shape ``(B,)``; it is cast
    to the dtype and device of ``points``.
    """
    t = torch.as_tensor(t, dtype=points.dtype, device=points.device)
    batch = points.shape[1]
    if t.dim() == 0:
        t = t.expand(batch)
    elif tuple(t.shape) != (batch,):
        raise BadInput(
            f"t must have shape (B,) = ({batch},) to match points of shape "
            f"{tuple(points.shape)}, got t of shape {tuple(t.shape)}"
        )
    return t.reshape(batch, *([1] * (points.dim() - 2)))


def bernstein(n: int, t: Tensor) -> Tensor:
    """Bernstein basis of degree ``n`` (METHOD.md section 5, the weights of ``B(t)``).

    Row ``i`` is ``b_{i,n}(t) = C(n, i) (1 - t)^(n - i) t^i``.

    Args:
        n: degree, ``n >= 0`` (degree 0 gives a single row of ones).
        t: times, any shape ``T``.

    Returns:
        Tensor of shape ``(n + 1, *T)``, dtype and device of ``t``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise BadInput(f"Bernstein degree n must be an int >= 0, got n = {n!r}")
    s = 1 - t
    return torch.stack([comb(n, i) * s ** (n - i) * t**i for i in range(n + 1)])


def curve(points: Tensor, t: Tensor) -> Tensor:
    """Point on the curve, ``B(t) = sum_i C(n, i) (1 - t)^(n - i) t^i P_i`` (METHOD.md sec. 5).

    Args:
        points: control points, shape ``(n + 1, B, *D)`` with ``n >= 1``.
        t: times, shape ``(B,)`` or 0-dim.

    Returns:
        ``B(t)``, shape ``(B, *D)``.
    """
    n = _degree(points)
    weights = bernstein(n, _time(t, points))  # (n + 1, B, 1, ..., 1)
    return (weights * points).sum(dim=0)


def derivative(points: Tensor, t: Tensor) -> Tensor:
    """Tangent ``B'(t) = n sum_i C(n-1, i) (1-t)^(n-1-i) t^i (P_{i+1} - P_i)`` (METHOD.md sec. 5).

    Args:
        points: control points, shape ``(n + 1, B, *D)`` with ``n >= 1``.
        t: times, shape ``(B,)`` or 0-dim.

    Returns:
        ``B'(t)``, shape ``(B, *D)``.
    """
    n = _degree(points)
    weights = bernstein(n - 1, _time(t, points))  # (n, B, 1, ..., 1)
    return n * (weights * (points[1:] - points[:-1])).sum(dim=0)


def secant_to_end(points: Tensor, t: Tensor) -> Tensor:
    """Target of the ``end`` objective, ``(P_n - B(t)) / (1 - t)`` (METHOD.md sec. 5).

    Evaluated without division: since ``P_n - B(t) = sum_{i<n} b_{i,n}(t) (P_n - P_i)``
    and every ``b_{i,n}`` with ``i < n`` carries a factor ``(1 - t)``,

        (P_n - B(t)) / (1 - t) = sum_{i<n} C(n, i) (1 - t)^(n - 1 - i) t^i (P_n - P_i),

    which is finite for all ``t`` and equals the limit ``B'(1) = n (P_n - P_{n-1})``
    at ``t = 1``. Hence ``B(t) + (1 - t) * secant_to_end(points, t) == P_n``.

    Args:
        points: control points, shape ``(n + 1, B, *D)`` with ``n >= 1``.
        t: times, shape ``(B,)`` or 0-dim.

    Returns:
        Secant velocity towards the end point, shape ``(B, *D)``.
    """
    n = _degree(points)
    tt = _time(t, points)
    s = 1 - tt
    weights = torch.stack([comb(n, i) * s ** (n - 1 - i) * tt**i for i in range(n)])
    return (weights * (points[-1:] - points[:-1])).sum(dim=0)


def through_points_to_control(x0: Tensor, passes: Tensor, x1: Tensor, times: Tensor | None = None) -> Tensor:
    """Control points of the curve from ``x0`` to ``x1`` passing through given states.

    METHOD.md section 5, guide kind ``state`` ("passes through"): find the interior
    control points ``P_1 .. P_{n-1}`` such that ``B(s_j) = passes[j-1]`` for
    ``j = 1 .. n-1``, i.e. solve the Bernstein system

        sum_{i=1}^{n-1} b_{i,n}(s_j) P_i = M_j - b_{0,n}(s_j) x0 - b_{n,n}(s_j) x1.

    The ``(n-1) x (n-1)`` system is solved in float64 and cast back. For ``n = 2``
    and ``s_1 = 1/2`` this is ``P_1 = 2 M - (x0 + x1) / 2``.

    Args:
        x0: start states, shape ``(B, *D)``.
        passes: interior states ``M_1 .. M_{n-1}``, shape ``(n - 1, B, *D)``; zero
            rows give the straight segment (``n = 1``).
        x1: end states, shape ``(B, *D)``.
        times: pass-through times, shape ``(n - 1,)``, strictly increasing in
            ``(0, 1)``; default ``s_j = j / n``.

    Returns:
        Control points, shape ``(n + 1, B, *D)``, with ``[0] = x0`` and ``[-1] = x1``.
    """
    for name, x in (("x0", x0), ("passes", passes), ("x1", x1)):
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise BadInput(f"{name} must be a floating-point tensor, got {type(x).__name__}")
    if x0.shape != x1.shape:
        raise BadInput(f"x0 and x1 shapes differ: {tuple(x0.shape)} vs {tuple(x1.shape)}")
    if x0.dim() < 1 or passes.dim() != x0.dim() + 1 or passes.shape[1:] != x0.shape:
        raise BadInput(
            f"passes must have shape (n-1, *x0.shape) = (n-1, {', '.join(map(str, x0.shape))}),"
            f" got {tuple(passes.shape)}"
        )
    n = passes.shape[0] + 1
    dtype = torch.promote_types(torch.promote_types(x0.dtype, passes.dtype), x1.dtype)
    if times is None:
        s = torch.arange(1, n, dtype=torch.float64, device=x0.device) / n
    else:
        s = torch.as_tensor(times, dtype=torch.float64, device=x0.device)
        if tuple(s.shape) != (n - 1,):
            raise BadInput(
                f"times must have shape (n-1,) = ({n - 1},) for {n - 1} passes, got shape {tuple(s.shape)}"
            )
        values = s.tolist()
        if not all(0.0 < v < 1.0 for v in values):
            raise BadInput(f"times must lie strictly inside (0, 1), got {values}")
        if any(a >= b for a, b in zip(values[:-1], values[1:], strict=True)):
            raise BadInput(f"times must be strictly increasing, got {values}")
    if n == 1:
        return torch.stack([x0.to(dtype), x1.to(dtype)])

    basis = bernstein(n, s)  # (n + 1, n - 1): basis[i, j] = b_{i,n}(s_j)
    system = basis[1:-1].T  # (n - 1, n - 1): rows j, columns i = 1 .. n-1
    flat = passes.reshape(n - 1, -1).to(torch.float64)
    rhs = flat - basis[0, :, None] * x0.reshape(1, -1) - basis[-1, :, None] * x1.reshape(1, -1)
    interior = torch.linalg.solve(system, rhs).to(dtype).reshape(passes.shape)
    return torch.cat([x0[None].to(dtype), interior, x1[None].to(dtype)])


def straight_controls(x0: Tensor, x1: Tensor, n: int) -> Tensor:
    """Degree-``n`` control points of the straight segment ``x0 -> x1`` (METHOD.md sec. 5).

    ``P_i = (1 - i/n) x0 + (i/n) x1``, so ``B(t) = (1 - t) x0 + t x1`` (uniform speed,
    the degree-1 rectified-flow path) and ``P_0 = x0``, ``P_n = x1`` exactly.

    Args:
        x0: start states, shape ``(B, *D)``.
        x1: end states, shape ``(B, *D)``.
        n: degree, ``n >= 1``.

    Returns:
        Control points, shape ``(n + 1, B, *D)``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise BadInput(f"Bezier degree n must be an int >= 1, got n = {n!r}")
    if x0.shape != x1.shape:
        raise BadInput(f"x0 and x1 shapes differ: {tuple(x0.shape)} vs {tuple(x1.shape)}")
    dtype = torch.promote_types(x0.dtype, x1.dtype)
    w = (torch.arange(n + 1, device=x0.device, dtype=dtype) / n).reshape(-1, *[1] * x0.dim())
    return (1 - w) * x0 + w * x1


def elevate(points: Tensor) -> Tensor:
    """Degree elevation ``n -> n + 1`` of the same curve (Bernstein identity).

    ``Q_0 = P_0``, ``Q_{n+1} = P_n`` and ``Q_i = (i/(n+1)) P_{i-1} + (1 - i/(n+1)) P_i``
    for ``i = 1 .. n``; ``B_Q(t) = B_P(t)`` for all ``t`` (METHOD.md sec. 5 curves).

    Args:
        points: control points, shape ``(n + 1, B, *D)`` with ``n >= 1``.

    Returns:
        Control points, shape ``(n + 2, B, *D)``.
    """
    n = _degree(points)
    a = torch.arange(1, n + 1, device=points.device, dtype=points.dtype) / (n + 1)
    a = a.reshape(-1, *[1] * (points.dim() - 1))
    middle = a * points[:-1] + (1 - a) * points[1:]
    return torch.cat([points[:1], middle, points[-1:]])
