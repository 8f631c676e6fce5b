import numpy as np
import pytest
import torch
from torch import nn

from bezier_distill.capabilities import VelocityModel
from bezier_distill.errors import BadInput
from bezier_distill.interpolants import straight
from bezier_distill.objectives import distillation, grid_time, regression, sample_time, velocity_matching


class Exact(nn.Module):
    """The true velocity of a fixed translation coupling x1 = x0 + c."""

    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x, t):
        return self.c.expand_as(x)


def test_straight_path_endpoints_and_derivative():
    x0, x1 = torch.randn(6, 3), torch.randn(6, 3)
    p = straight(x0, x1, torch.zeros(6))
    assert torch.equal(p.x_t, x0)
    p = straight(x0, x1, torch.ones(6))
    assert torch.allclose(p.x_t, x1)
    assert torch.equal(p.dx_t, x1 - x0)


def test_velocity_matching_is_zero_for_the_true_field():
    c = torch.tensor([1.0, -2.0])
    x0 = torch.randn(32, 2)
    g = torch.Generator().manual_seed(0)
    assert velocity_matching(Exact(c), x0, x0 + c, sample_time(32, g)).item() == pytest.approx(0, abs=1e-12)
    assert velocity_matching(Exact(c * 0), x0, x0 + c, sample_time(32, g)).item() == pytest.approx(2.5)


def test_grid_time_draws_only_grid_points():
    g = torch.Generator().manual_seed(0)
    t = grid_time(1000, 4, g)
    assert set(t.tolist()) == {0.0, 0.25, 0.5, 0.75}
    assert torch.equal(grid_time(10, 1, g), torch.zeros(10))


def test_one_step_distillation_is_the_t0_loss():
    model = nn.Linear(2, 2)
    z0, z1 = torch.randn(16, 2), torch.randn(16, 2)

    def v(x, t):
        return model(x)

    loss = distillation(v, z0, z1, torch.zeros(16))
    assert torch.allclose(loss, ((z1 - z0) - model(z0)).pow(2).mean())


def test_losses():
    a, b = torch.zeros(4, 3), torch.ones(4, 3)
    assert regression(a, b, "l2").item() == 1.0
    assert regression(a, 2 * b, "l1").item() == 2.0
    ph = regression(a, b, "pseudo_huber").item()
    assert 0 < ph <= 3**0.5
    with pytest.raises(BadInput, match="unknown loss"):
        regression(a, b, "l3")
    with pytest.raises(BadInput, match="positive integer"):
        grid_time(4, 0, torch.Generator())


def test_cosine_path_endpoints_and_velocity():
    from bezier_distill.interpolants import cosine

    x0, x1 = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    assert torch.allclose(cosine(x0, x1, torch.zeros(5)).x_t, x0)
    assert torch.allclose(cosine(x0, x1, torch.ones(5)).x_t, x1)
    t, h = torch.full((5,), 0.3, dtype=torch.float64), 1e-6
    fd = (cosine(x0, x1, t + h).x_t - cosine(x0, x1, t - h).x_t) / (2 * h)
    assert torch.allclose(cosine(x0, x1, t).dx_t, fd, atol=1e-8)


def test_degree_one_end_objective_at_t0_is_exactly_distillation():
    from bezier_distill.objectives import bezier_objective

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 2))
    z0, z1 = torch.randn(64, 2), torch.randn(64, 2)

    def v(x, t):
        return model(x) * (1 + t[:, None])

    t0 = torch.zeros(64)
    for loss in ("l2", "l1", "pseudo_huber"):
        bez = bezier_objective(v, torch.stack([z0, z1]), t0, "end", loss=loss)
        assert torch.equal(bez, distillation(v, z0, z1, t0, loss=loss))


def test_bezier_objective_targets():
    from bezier_distill.bezier import curve, derivative
    from bezier_distill.objectives import bezier_objective, bezier_time

    points = torch.randn(4, 16, 2, dtype=torch.float64)
    t = torch.full((16,), 0.5, dtype=torch.float64)
    seen = {}

    def probe(x, tt):
        seen["x"] = x
        return torch.zeros_like(x)

    for objective, target in [
        ("end", (points[-1] - curve(points, t)) / 0.5),
        ("tangent", derivative(points, t)),
        ("chord", (points[-1] - curve(points, t)) * 2),
    ]:
        loss = bezier_objective(probe, points, t, objective, k=2)
        assert torch.allclose(seen["x"], curve(points, t))
        assert torch.allclose(loss, target.pow(2).mean())
    g = torch.Generator().manual_seed(0)
    assert set(bezier_time(500, "chord", g, k=4).tolist()) == {0.0, 0.25, 0.5, 0.75}
    u = bezier_time(500, "end", g)
    assert u.min() >= 0 and u.max() < 1 and len(set(u.tolist())) == 500
    with pytest.raises(BadInput, match="unknown objective"):
        bezier_time(4, "arc", g)


def test_chord_training_reaches_the_curve_end_in_k_euler_steps():
    """An analytic quadratic coupling: P1 = R z0 + c (a rotation), P2 = 2 z0 + d."""
    from bezier_distill.models import MLPVelocity
    from bezier_distill.objectives import bezier_objective, bezier_time
    from bezier_distill.solvers import SolverSpec, solve
    from bezier_distill.training import TrainSettings, train

    R = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    c, d = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 3.0])

    def controls(z0):
        return torch.stack([z0, z0 @ R.T + c, 2 * z0 + d])

    def loss_fn(model, g, part):
        points = controls(torch.randn(256, 2, generator=g))
        return bezier_objective(model, points, bezier_time(256, "chord", g, k=2), "chord", k=2)

    torch.manual_seed(0)
    model = MLPVelocity(dim=2, hidden=64, layers=2)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        settings = TrainSettings(steps=1500, lr=3e-3, warmup=50, checkpoint_every=1500, ema_decay=0.99)
        ema = train(model, loss_fn, settings, tmp, progress=False)
    z0 = torch.randn(500, 2, generator=torch.Generator().manual_seed(9))
    end = controls(z0)[-1]
    two = solve(ema, z0, SolverSpec("euler", 2))
    one_step_error = (solve(ema, z0, SolverSpec("euler", 1)).x - end).norm(dim=1).mean()
    error = (two.x - end).norm(dim=1).mean()
    assert two.nfe == 2
    assert error < 0.1 * (end - z0).norm(dim=1).mean()
    assert error < 0.5 * one_step_error  # one step of a chord field does not land on the end


def test_the_u_shaped_times_follow_their_density():
    from scipy import stats

    from bezier_distill.objectives import T_EPS, U_SHAPE, sample_time, u_shaped

    u = torch.rand(200_000, generator=torch.Generator().manual_seed(0))
    t = u_shaped(u).double().numpy()
    half = np.sinh(U_SHAPE / 2)
    cdf = lambda x: (np.sinh(U_SHAPE * (x - 0.5)) + half) / (2 * half)  # noqa: E731
    assert stats.kstest(t, cdf).statistic < 0.005  # the draws follow exp(4t) + exp(4(1 - t))
    histogram, _ = np.histogram(t, bins=10, range=(0, 1))
    assert min(histogram[0], histogram[-1]) > 2.5 * max(histogram[4], histogram[5])  # U-shaped
    assert abs(histogram[0] - histogram[-1]) < 0.03 * histogram[0]  # and symmetric
    g = torch.Generator().manual_seed(1)
    drawn = sample_time(1000, g, kind="u-shaped")
    assert float(drawn.min()) >= T_EPS and float(drawn.max()) <= 1.0
    with pytest.raises(BadInput, match="unknown time sampling"):
        sample_time(4, g, kind="cosine")


def test_consistency_distillation_is_exact_on_a_straight_field_and_the_identity_at_the_boundary():
    from bezier_distill.data import get_distribution
    from bezier_distill.objectives import ConsistencyDistillation, consistency_function
    from bezier_distill.pairings import IndependentCoupling

    class Constant(nn.Module):  # v(x, t) = c: straight trajectories, exactly integrated by Heun
        def __init__(self, c):
            super().__init__()
            self.c = nn.Parameter(torch.tensor(c))

        def forward(self, x, t):
            return self.c.expand_as(x)

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 2, generator=g)
    assert torch.equal(consistency_function(Constant([3.0, -1.0]), x, torch.ones(8)), x)  # f(x, 1) = x

    pairs = IndependentCoupling(get_distribution("gaussian"), get_distribution("moons"))
    objective = ConsistencyDistillation(Constant([0.5, 2.0]), pairs, steps=6)
    rows = objective.draw(64, g)
    assert rows["n"].min() >= 0 and rows["n"].max() <= 5
    student = Constant([0.5, 2.0])  # the exact consistency function of the teacher
    objective.attach(Constant([0.5, 2.0]))
    assert objective(student, rows).item() < 1e-10
    assert objective(Constant([0.0, 2.0]), rows).item() > 1e-3  # any other field is penalised
    with pytest.raises(BadInput, match="consistency steps"):
        ConsistencyDistillation(student, pairs, steps=0)


def test_bezier_end_times_can_be_u_shaped():
    from bezier_distill.objectives import T_EPS, bezier_time

    g = torch.Generator().manual_seed(0)
    t = bezier_time(100_000, "end", g, sampling="u-shaped").numpy()
    histogram, _ = np.histogram(t, bins=10, range=(0, 1))
    assert t.max() <= 1 - T_EPS and min(histogram[0], histogram[-1]) > 2.5 * histogram[5]
    g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    assert torch.equal(bezier_time(50, "end", g1), torch.rand(50, generator=g2))  # uniform unchanged


class ExpAverage(VelocityModel):
    """The exact average velocity of dz/dt = z over [t, s]: z (e^h - 1) / h with h = s - t."""

    interval = True

    def __init__(self, exact: bool = True) -> None:
        super().__init__()
        self.exact = exact

    def forward(self, z, t, s=None):
        h = (torch.zeros_like(t) if s is None else s - t).reshape(-1, 1).double()
        if not self.exact:  # the instantaneous velocity, whatever the interval
            return z
        ratio = torch.where(h.abs() < 1e-8, 1 + h / 2, torch.expm1(h) / h.where(h.abs() >= 1e-8, 1.0))
        return z * ratio.to(z.dtype)


def test_the_meanflow_target_is_the_average_velocity_of_an_exact_model():
    from bezier_distill.objectives import meanflow_target

    g = torch.Generator().manual_seed(0)
    z = torch.randn(64, 2, generator=g, dtype=torch.float64)
    t = torch.rand(64, generator=g, dtype=torch.float64) * 0.5
    s = t + torch.rand(64, generator=g, dtype=torch.float64) * 0.5
    exact = ExpAverage()
    # v(z) = z: the identity u = v + (s - t) du/dt holds for the exact average and only for it
    assert torch.allclose(meanflow_target(exact, z, t, s, z), exact(z, t, s), atol=1e-10)
    wrong = ExpAverage(exact=False)
    assert (meanflow_target(wrong, z, t, s, z) - wrong(z, t, s)).abs().max() > 0.05
    assert torch.allclose(meanflow_target(exact, z, t, t, z), z)  # s = t: the velocity itself


def test_meanflow_loss_of_a_constant_field_is_zero_at_that_field_and_trains_gradients():
    from bezier_distill.models import build_model
    from bezier_distill.objectives import meanflow

    class Constant(VelocityModel):
        interval = True

        def forward(self, z, t, s=None):
            return torch.tensor([1.5, -0.5]).expand_as(z)

    x0 = torch.randn(32, 2)
    t, s = torch.rand(32) * 0.5, 0.5 + torch.rand(32) * 0.5
    assert meanflow(Constant(), x0, x0 + torch.tensor([1.5, -0.5]), t, s) < 1e-12
    assert meanflow(Constant(), x0, x0 + torch.tensor([1.0, -0.5]), t, s).item() == pytest.approx(0.125)
    model = build_model("mlp", dim=2, hidden=16, layers=2, interval=True)
    meanflow(model, x0, torch.randn(32, 2), t, s, loss="adaptive").backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.net.parameters())


def test_meanflow_intervals_are_ordered_and_a_ratio_of_them_is_proper():
    from bezier_distill.objectives import MeanFlow, interval_times

    t, s = interval_times(20000, torch.Generator().manual_seed(1), ratio=0.25)
    assert bool((s >= t).all()) and 0.24 < float((s > t).float().mean()) < 0.26
    t, s = interval_times(1000, torch.Generator().manual_seed(1), ratio=0.0)
    assert torch.equal(t, s)
    with pytest.raises(BadInput, match="MeanFlow ratio"):
        MeanFlow(pairs=None, ratio=1.5)
    with pytest.raises(BadInput, match="two time inputs"):
        MeanFlow(pairs=None)(nn.Linear(2, 2), {})


def test_adaptive_loss_is_the_squared_error_weighted_by_its_stopped_inverse():
    pred = torch.tensor([[3.0, 4.0], [0.0, 0.0]], requires_grad=True)
    target = torch.zeros(2, 2)
    loss = regression(pred, target, "adaptive")
    assert loss.item() == pytest.approx((25 / 25.001 + 0) / 2)
    loss.backward()  # d/dpred of sq / sg(sq + c) = 2 d / (sq + c)
    assert torch.allclose(pred.grad[0], torch.tensor([3.0, 4.0]) * 2 / 25.001 / 2)


def test_mixed_end_times_put_half_the_draws_at_zero():
    from bezier_distill.objectives import bezier_time

    t = bezier_time(20000, "end", torch.Generator().manual_seed(0), sampling="mixed")
    zero = t == 0
    assert 0.48 < float(zero.float().mean()) < 0.52
    assert abs(float(t[~zero].mean()) - 0.5) < 0.01 and float(t.max()) < 1


def test_end_on_the_grid_of_a_through_curve_is_supervised_by_the_true_teacher_state():
    from bezier_distill.bezier import through_points_to_control

    g = torch.Generator().manual_seed(0)
    z0, state, z1 = (torch.randn(16, 3, generator=g) for _ in range(3))
    points = through_points_to_control(z0, state[None], z1)  # passes through `state` at t = 1/2

    class Recorder(nn.Module):
        def forward(self, x, t):
            self.x = x
            return torch.zeros_like(x)

    model = Recorder()
    from bezier_distill.objectives import bezier_objective

    loss = bezier_objective(model, points, torch.full((16,), 0.5), "end")
    # at t = 1/2 the student sees the teacher's own state and regresses on 2 (z1 - state):
    # k-segment distillation from true states, whatever the curve does between the grid times
    assert torch.allclose(model.x, state, atol=1e-5)
    assert torch.allclose(loss, (2 * (z1 - state)).pow(2).mean(), rtol=1e-4)


def test_noisy_guides_move_only_the_interior_control_points():
    from bezier_distill.couplings import Coupling
    from bezier_distill.objectives import BezierDistillation

    points = torch.randn(3, 500, 2, generator=torch.Generator().manual_seed(0))
    exact = BezierDistillation(Coupling(points)).draw(4000, torch.Generator().manual_seed(1))
    noisy = BezierDistillation(Coupling(points), guide_noise=0.3).draw(4000, torch.Generator().manual_seed(1))
    a, b = exact["points"], noisy["points"]  # (rows, n + 1, D), the same rows drawn
    assert torch.equal(a[:, 0], b[:, 0]) and torch.equal(a[:, -1], b[:, -1])
    assert abs(float((b[:, 1] - a[:, 1]).std()) - 0.3) < 0.01


def test_end_space_loss_is_the_end_loss_weighted_by_one_minus_t_squared():
    from bezier_distill.objectives import bezier_objective

    g = torch.Generator().manual_seed(1)
    points = torch.randn(3, 5, 2, generator=g)
    net = nn.Linear(2, 2)
    model = lambda x, t: net(x) * (1 + t[:, None])  # noqa: E731
    for t in (torch.zeros(5), torch.full((5,), 0.75)):
        space = bezier_objective(model, points, t, "end-space")
        end = bezier_objective(model, points, t, "end")
        assert space.item() == pytest.approx(float((1 - t[0]) ** 2) * end.item(), rel=1e-5)
    from bezier_distill.bezier import curve

    t = torch.tensor([0.0, 0.2, 0.5, 0.9, 0.99])  # per row: the predicted end against P_n
    points_at = curve(points, t)
    pred_end = points_at + (1 - t)[:, None] * model(points_at, t)
    want = (pred_end - points[-1]).pow(2).mean()
    assert bezier_objective(model, points, t, "end-space").item() == pytest.approx(want.item(), rel=1e-6)
