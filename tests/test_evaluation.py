import torch
from torch import nn

from bezier_distill.data import get_distribution
from bezier_distill.evaluation import evaluate, noise_floor, reference, source_draw, straightness
from bezier_distill.solvers import SolverSpec


class Constant(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x, t):
        return self.c.expand_as(x)


class Rotation(nn.Module):
    def forward(self, x, t):
        return torch.stack([-x[:, 1], x[:, 0]], dim=1)


def test_straightness_is_zero_for_straight_paths_and_positive_for_curved_ones():
    x0 = torch.randn(100, 2)
    assert straightness(Constant(torch.tensor([1.0, 2.0])), x0) < 1e-10
    # A rotation by one radian: the chord is shorter than the path, |v| = |x|.
    assert straightness(Rotation(), x0) > 0.1


def test_noise_floor_is_small_shrinks_with_n_and_is_reproducible():
    moons = get_distribution("moons")
    small, large = noise_floor(moons, 200, seed=0), noise_floor(moons, 1500, seed=0)
    assert 0 < large["w2"] < small["w2"] < 1.0
    assert noise_floor(moons, 200, seed=0) == small
    assert noise_floor(moons, 200, seed=1) != small


def test_evaluate_scores_a_perfect_translation_near_the_floor():
    gauss = get_distribution("gaussian")
    shift = torch.tensor([3.0, 0.0])

    class Shifted:
        name, dim = "shifted", 2

        def sample(self, n, g):
            return gauss.sample(n, g) + shift

    x0 = source_draw(gauss, 1000, 0)
    ref = reference(Shifted(), 1000, 0)
    good, samples = evaluate(Constant(shift), x0, ref, SolverSpec("euler", 1))
    bad, _ = evaluate(Constant(0 * shift), x0, ref, SolverSpec("euler", 1))
    assert good.nfe == 1 and samples.shape == (1000, 2)
    assert good.w2 < 1.5 * noise_floor(Shifted(), 1000, seed=0)["w2"]
    assert bad.w2 > 2.5
