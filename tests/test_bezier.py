"""Mathematical checks of bezier_distill.bezier (METHOD.md section 5)."""

from __future__ import annotations

import pytest
import torch

from bezier_distill.bezier import (
    bernstein,
    curve,
    derivative,
    elevate,
    secant_to_end,
    straight_controls,
    through_points_to_control,
)
from bezier_distill.errors import BadInput

F64 = torch.float64
SHAPES = [(7, 3), (5, 1, 4, 4)]  # (B, D) and image-shaped (B, C, H, W)


def _points(n: int, shape: tuple[int, ...] = (7, 3), dtype: torch.dtype = F64) -> torch.Tensor:
    torch.manual_seed(100 + n)
    return torch.randn(n + 1, *shape, dtype=dtype)


def _times(batch: int, dtype: torch.dtype = F64) -> torch.Tensor:
    torch.manual_seed(7)
    return torch.rand(batch, dtype=dtype)


def _bcast(t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, *[1] * (x.dim() - 1))


def _close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-12) -> None:
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


# --- Bernstein basis ----------------------------------------------------------------------


@pytest.mark.parametrize("n", range(7))
def test_bernstein_partition_of_unity_and_nonnegative(n: int) -> None:
    t = torch.linspace(0, 1, 101, dtype=F64)
    b = bernstein(n, t)
    assert b.shape == (n + 1, 101)
    assert (b >= 0).all()
    _close(b.sum(0), torch.ones_like(t))


def test_bernstein_closed_forms_and_shape() -> None:
    t = torch.linspace(0, 1, 11, dtype=F64)
    s = 1 - t
    _close(bernstein(2, t), torch.stack([s**2, 2 * s * t, t**2]))
    _close(bernstein(3, t), torch.stack([s**3, 3 * s**2 * t, 3 * s * t**2, t**3]))
    assert bernstein(3, torch.rand(2, 5)).shape == (4, 2, 5)
    with pytest.raises(BadInput, match="-1"):
        bernstein(-1, t)


# --- curve and derivative -----------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", range(1, 6))
def test_curve_endpoints_exact(n: int, shape: tuple[int, ...]) -> None:
    p = _points(n, shape)
    batch = shape[0]
    assert torch.equal(curve(p, torch.zeros(batch, dtype=F64)), p[0])
    assert torch.equal(curve(p, torch.ones(batch, dtype=F64)), p[-1])
    assert curve(p, _times(batch)).shape == shape


def test_degree_one_is_straight_line() -> None:
    p = _points(1)
    t = _times(p.shape[1])
    tb = _bcast(t, p[0])
    _close(curve(p, t), (1 - tb) * p[0] + tb * p[1])
    _close(derivative(p, t), (p[1] - p[0]).expand_as(p[0]))


def test_closed_form_quadratic_and_cubic() -> None:
    t = _times(7)
    p2, p3 = _points(2), _points(3)
    tb = _bcast(t, p2[0])
    s = 1 - tb
    _close(curve(p2, t), s**2 * p2[0] + 2 * s * tb * p2[1] + tb**2 * p2[2])
    _close(derivative(p2, t), 2 * s * (p2[1] - p2[0]) + 2 * tb * (p2[2] - p2[1]))
    expected = s**3 * p3[0] + 3 * s**2 * tb * p3[1] + 3 * s * tb**2 * p3[2] + tb**3 * p3[3]
    _close(curve(p3, t), expected)


@pytest.mark.parametrize("n", range(1, 6))
def test_derivative_matches_central_difference(n: int) -> None:
    p = _points(n)
    t = 0.05 + 0.9 * _times(p.shape[1])
    h = 1e-6
    fd = (curve(p, t + h) - curve(p, t - h)) / (2 * h)
    exact = derivative(p, t)
    err = (fd - exact).abs().max() / exact.abs().max()
    assert err < 1e-7


def test_scalar_t_broadcasts_and_float32_works() -> None:
    p = _points(3, (5, 1, 4, 4), dtype=torch.float32)
    out = curve(p, torch.tensor(0.3))
    assert out.dtype == torch.float32 and out.shape == (5, 1, 4, 4)
    torch.testing.assert_close(out, curve(p, torch.full((5,), 0.3)))
    assert derivative(p, torch.tensor(0.3)).dtype == torch.float32


def test_differentiable_in_points_and_t() -> None:
    p = _points(3, (2, 2)).requires_grad_()
    t = torch.tensor([0.0, 0.7], dtype=F64, requires_grad=True)
    torch.autograd.gradcheck(lambda p, t: curve(p, t), (p, t))
    torch.autograd.gradcheck(lambda p, t: secant_to_end(p, t), (p, t))
    torch.autograd.gradcheck(lambda p: through_points_to_control(p[0], p[1:-1], p[-1]), (p,))
    t1 = torch.tensor([1.0, 1.0], dtype=F64, requires_grad=True)
    curve(p, t1).sum().backward()
    assert torch.isfinite(t1.grad).all()


# --- secant to the end --------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", range(1, 6))
def test_secant_to_end(n: int, shape: tuple[int, ...]) -> None:
    p = _points(n, shape)
    batch = shape[0]
    t = 0.95 * _times(batch)
    tb = _bcast(t, p[0])
    x = curve(p, t)
    sec = secant_to_end(p, t)
    _close(sec, (p[-1] - x) / (1 - tb), tol=1e-10)
    _close(x + (1 - tb) * sec, p[-1])
    _close(secant_to_end(p, torch.ones(batch, dtype=F64)), n * (p[-1] - p[-2]))
    near = secant_to_end(p, torch.full((batch,), 1 - 1e-9, dtype=F64))
    assert torch.isfinite(near).all()
    _close(near, n * (p[-1] - p[-2]), tol=1e-6)
    near32 = secant_to_end(p.float(), torch.full((batch,), 1 - 1e-7))
    assert torch.isfinite(near32).all()


# --- pass-through conversion --------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(
    ("n", "times"),
    [(2, None), (3, None), (4, None), (2, [0.3]), (3, [0.2, 0.9]), (4, [0.1, 0.5, 0.95])],
)
def test_through_points_passes_through(n: int, times: list[float] | None, shape) -> None:
    torch.manual_seed(n)
    x0, x1 = torch.randn(2, *shape, dtype=F64)
    passes = torch.randn(n - 1, *shape, dtype=F64)
    tt = None if times is None else torch.tensor(times, dtype=F64)
    p = through_points_to_control(x0, passes, x1, tt)
    assert p.shape == (n + 1, *shape)
    assert torch.equal(p[0], x0) and torch.equal(p[-1], x1)
    s = [j / n for j in range(1, n)] if times is None else times
    for j, sj in enumerate(s):
        _close(curve(p, torch.tensor(sj, dtype=F64)), passes[j], tol=1e-10)


def test_through_points_quadratic_closed_form_and_degree_one() -> None:
    torch.manual_seed(3)
    x0, m, x1 = torch.randn(3, 6, 2)  # float32: result keeps the input dtype
    p = through_points_to_control(x0, m[None], x1)
    assert p.dtype == torch.float32
    torch.testing.assert_close(p[1], 2 * m - (x0 + x1) / 2)
    line = through_points_to_control(x0, torch.empty(0, 6, 2), x1)
    assert torch.equal(line, torch.stack([x0, x1]))


def test_through_points_of_a_curve_recovers_its_controls() -> None:
    p = _points(4)
    s = torch.tensor([0.15, 0.6, 0.8], dtype=F64)
    passes = torch.stack([curve(p, si) for si in s])
    _close(through_points_to_control(p[0], passes, p[-1], s), p, tol=1e-10)


# --- straight controls and degree elevation -----------------------------------------------


@pytest.mark.parametrize("n", range(1, 5))
def test_straight_controls_is_uniform_line(n: int) -> None:
    torch.manual_seed(n)
    x0, x1 = torch.randn(2, 5, 1, 4, 4, dtype=F64)
    p = straight_controls(x0, x1, n)
    assert p.shape == (n + 1, 5, 1, 4, 4)
    assert torch.equal(p[0], x0) and torch.equal(p[-1], x1)
    t = _times(5)
    tb = _bcast(t, x0)
    _close(curve(p, t), (1 - tb) * x0 + tb * x1)
    _close(derivative(p, t), x1 - x0)
    _close(secant_to_end(p, t), x1 - x0)


@pytest.mark.parametrize("n", range(1, 5))
def test_elevate_preserves_curve(n: int) -> None:
    p = _points(n)
    q = elevate(p)
    assert q.shape == (n + 2, *p.shape[1:])
    t = torch.linspace(0, 1, p.shape[1], dtype=F64)
    _close(curve(q, t), curve(p, t))
    _close(derivative(q, t), derivative(p, t))
    _close(elevate(straight_controls(p[0], p[-1], n)), straight_controls(p[0], p[-1], n + 1))


# --- bad input ----------------------------------------------------------------------------


def test_bad_input() -> None:
    p = _points(2)
    with pytest.raises(BadInput, match="n = 0"):
        curve(p[:1], torch.zeros(7, dtype=F64))
    with pytest.raises(BadInput, match=r"\(4,\)"):
        curve(p, torch.zeros(4, dtype=F64))
    with pytest.raises(BadInput, match=r"\(7, 2\)"):
        derivative(p, torch.zeros(7, 2, dtype=F64))
    with pytest.raises(BadInput, match="n = 0"):
        straight_controls(p[0], p[1], 0)
    x0, x1 = p[0], p[-1]
    passes = torch.randn(2, 7, 3, dtype=F64)
    for bad, msg in [
        ([0.6, 0.3], "increasing"),
        ([0.3, 0.3], "increasing"),
        ([0.0, 0.5], r"\(0, 1\)"),
        ([0.5, 1.0], r"\(0, 1\)"),
        ([0.5], r"\(2,\)"),
    ]:
        with pytest.raises(BadInput, match=msg):
            through_points_to_control(x0, passes, x1, torch.tensor(bad, dtype=F64))
    with pytest.raises(BadInput, match="passes"):
        through_points_to_control(x0, torch.randn(2, 7, 4, dtype=F64), x1)
    with pytest.raises(BadInput, match="x0 and x1"):
        through_points_to_control(x0, passes, x1[:3])
