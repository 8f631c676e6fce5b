"""Models declare what they take (a second time, their data and image shape); nothing is sniffed."""

import torch
from torch import nn

from bezier_distill.adapters import Velocity
from bezier_distill.capabilities import data_shape, image_shape, kind_of, takes_interval
from bezier_distill.models import MLPVelocity, UNetVelocity
from bezier_distill.solvers import SolverSpec, solve


def test_the_projects_models_declare_their_capabilities():
    mlp = MLPVelocity(dim=3, hidden=8, layers=1)
    mean_flow = MLPVelocity(dim=3, hidden=8, layers=1, interval=True)
    unet = UNetVelocity(shape=(1, 8, 8), channels=[8], blocks=1)
    assert (kind_of(mlp), takes_interval(mlp), data_shape(mlp)) == ("mlp", False, (3,))
    assert image_shape(mlp) is None
    assert takes_interval(mean_flow)
    assert (kind_of(unet), data_shape(unet), image_shape(unet)) == ("unet", (64,), (1, 8, 8))


def test_a_foreign_module_declares_nothing_until_an_adapter_states_it():
    class Foreign(nn.Module):
        interval = True  # an attribute of a foreign module is not a declaration

        def forward(self, x, t, s=None):
            return x if s is None else 2 * x

    foreign = Foreign()
    assert (kind_of(foreign), takes_interval(foreign), data_shape(foreign)) == (None, False, None)
    # so the Euler step calls it with one time, as any one-time field
    x0 = torch.ones(4, 2)
    assert torch.equal(solve(foreign, x0, SolverSpec("euler", 1)).x, 2 * x0)
    wrapped = Velocity(foreign, data_shape=(2,))
    assert (kind_of(wrapped), takes_interval(wrapped), data_shape(wrapped)) == (None, False, (2,))
