import pytest
import torch
from torch import nn

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
