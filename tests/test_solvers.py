import math

import pytest
import torch
from torch import nn

from bezier_distill.errors import BadInput
from bezier_distill.solvers import ODE_SOLVERS, SolverSpec, solve


class Linear(nn.Module):
    """v(x, t) = A x: exact solution x(t) = expm(A t) x0."""

    def __init__(self, A):
        super().__init__()
        self.A = A
        self.calls = 0

    def forward(self, x, t):
        self.calls += 1
        return x @ self.A.T


class TimeField(nn.Module):
    """v(x, t) = 3 t^2 (non-autonomous): x(1) = x0 + 1."""

    def forward(self, x, t):
        return 3 * t[:, None] ** 2 * torch.ones_like(x)


A = torch.tensor([[0.0, -1.0], [1.0, -0.1]], dtype=torch.float64)
X0 = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def exact():
    return X0 @ torch.linalg.matrix_exp(A).T


@pytest.mark.parametrize("method,order", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_observed_order_under_step_halving(method, order):
    errs = [
        (solve(Linear(A), X0, SolverSpec(method, n)).x - exact()).abs().max().item() for n in (16, 32, 64)
    ]
    rates = [math.log2(errs[i] / errs[i + 1]) for i in range(2)]
    assert all(abs(r - order) < 0.25 for r in rates), rates


@pytest.mark.parametrize("method,stages", [("euler", 1), ("heun", 2), ("rk4", 4)])
def test_nfe_equals_model_calls(method, stages):
    field = Linear(A)
    result = solve(field, X0, SolverSpec(method, 7))
    assert result.nfe == field.calls == 7 * stages


def test_dopri5_matches_exact_and_counts_calls():
    field = Linear(A)
    result = solve(field, X0, SolverSpec("dopri5", rtol=1e-9, atol=1e-9))
    assert (result.x - exact()).abs().max() < 1e-7
    assert result.nfe == field.calls > 6


@pytest.mark.parametrize("method", ODE_SOLVERS)
def test_time_dependent_field(method):
    spec = SolverSpec(method, 200, rtol=1e-8, atol=1e-8)
    result = solve(TimeField(), X0, spec)
    tol = {"euler": 2e-2, "heun": 1e-4}.get(method, 1e-6)
    assert torch.allclose(result.x, X0 + 1, atol=tol)


def test_one_euler_step_is_one_call():
    field = Linear(A)
    result = solve(field, X0, SolverSpec("euler", 1))
    assert result.nfe == 1
    assert torch.allclose(result.x, X0 + X0 @ A.T)


def test_trajectory_shapes():
    r = solve(Linear(A), X0, SolverSpec("rk4", 10), trajectory=True)
    assert r.trajectory.shape == (11, 5, 2) and r.times.shape == (11,)
    assert torch.equal(r.trajectory[0], X0) and torch.equal(r.trajectory[-1], r.x)
    d = solve(Linear(A), X0, SolverSpec("dopri5"), trajectory=True, record_times=torch.linspace(0, 1, 5))
    assert d.trajectory.shape == (5, 5, 2)
    assert solve(Linear(A), X0, SolverSpec("rk4", 3)).trajectory is None


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"method": "rk45"}, "unknown solver"),
        ({"steps": 0}, "positive integer"),
        ({"steps": -3}, "positive integer"),
        ({"method": "dopri5", "rtol": 0.0}, "tolerances"),
    ],
)
def test_bad_solver_spec(kwargs, match):
    with pytest.raises(BadInput, match=match):
        SolverSpec(**kwargs)


def test_tolerances_floating_point_cannot_meet_are_refused_up_front():
    with pytest.raises(BadInput, match="at least 1e-12"):
        SolverSpec("dopri5", rtol=1e-30, atol=1e-30)


class _NaNField(torch.nn.Module):
    def forward(self, x, t):
        return x * float("nan")


def test_an_underflowing_dopri5_is_one_line_naming_the_tolerances():
    with pytest.raises(BadInput, match="dopri5 cannot meet rtol=1e-05, atol=1e-05 .* underflowed"):
        solve(_NaNField(), X0, SolverSpec("dopri5"))


def test_on_model_call_reports_the_time_of_every_model_call():
    from bezier_distill.solvers import on_model_call

    seen = []
    model = lambda x, t: -x  # noqa: E731
    with on_model_call(seen.append):
        result = solve(model, torch.ones(4, 2), SolverSpec("dopri5"))
    assert len(seen) == result.nfe and seen[0] == 0.0 and max(seen) >= 1.0  # dopri5 may step past 1
    solve(model, torch.ones(4, 2), SolverSpec("rk4", 5))  # outside the block: nothing reported
    assert len(seen) == result.nfe


def test_euler_passes_an_interval_model_both_ends_of_each_step():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_objectives import ExpAverage

    x0 = torch.randn(16, 2, dtype=torch.float64)
    # the exact average velocity of dz/dt = z: every Euler step lands on the solution z0 e^t
    for steps in (1, 2, 5):
        assert torch.allclose(solve(ExpAverage(), x0, SolverSpec("euler", steps)).x, x0 * math.e)
    # a one-time model is called with t only: Euler's error on the same field
    assert torch.allclose(solve(ExpAverage(exact=False), x0, SolverSpec("euler", 1)).x, 2 * x0)
    # other solvers use the instantaneous velocity u(x, t, t) = x
    assert torch.allclose(solve(ExpAverage(), x0, SolverSpec("rk4", 50)).x, x0 * math.e, atol=1e-7)


class ConstantField(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = torch.tensor(c)

    def forward(self, x, t):
        return self.c.expand_as(x)


def test_the_consistency_sampler_jumps_to_the_end_and_renoises_from_its_generator():
    x0 = torch.randn(8, 2)
    f = ConstantField([1.0, -2.0])
    one = solve(f, x0, SolverSpec("consistency", 1))
    assert one.nfe == 1 and torch.equal(one.x, solve(f, x0, SolverSpec("euler", 1)).x)
    two = solve(f, x0, SolverSpec("consistency", 2), generator=torch.Generator().manual_seed(3))
    z = torch.randn(8, 2, generator=torch.Generator().manual_seed(3))
    end = x0 + f.c  # the first jump from t = 0
    assert two.nfe == 2 and torch.allclose(two.x, 0.5 * z + 0.5 * end + 0.5 * f.c)
    with pytest.raises(BadInput, match="needs a random generator"):
        solve(f, x0, SolverSpec("consistency", 2))


def test_a_teacher_refuses_the_consistency_sampler():
    from bezier_distill.teachers import Teacher, parse_solvers

    with pytest.raises(BadInput, match="not 'consistency'"):
        Teacher.from_module(ConstantField([1.0, 0.0]), SolverSpec("consistency", 1))
    with pytest.raises(BadInput, match="unknown solver 'consistency'"):
        parse_solvers("consistency:2", 1)
