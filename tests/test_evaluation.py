import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from bezier_distill import objectives, recipes
from bezier_distill.config import GuideConfig, ReflowConfig, TrainConfig
from bezier_distill.data import get_distribution
from bezier_distill.evaluation import (
    DOPRI,
    as_image_values,
    distill_error,
    eval_data,
    evaluate,
    noise_floor,
    solver_error,
    source_draw,
    straightness,
)
from bezier_distill.models import MLPVelocity, build_model, save_pretrained
from bezier_distill.solvers import SolverSpec, solve

COMPARE_SEEDS = (0, 1, 2, 3, 4)  # the seeds `compare` uses by default


class Constant(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c

    def forward(self, x, t):
        return self.c.expand_as(x)


class Rotation(nn.Module):
    def forward(self, x, t):
        return torch.stack([-x[:, 1], x[:, 0]], dim=1)


def rows(t: torch.Tensor) -> set[bytes]:
    return {r.tobytes() for r in t.reshape(t.shape[0], -1).numpy()}


def shard_rows(folder, key: str = "z0") -> set[bytes]:
    found = set()
    for shard in sorted(folder.glob("shard_*.safetensors")):
        found |= rows(load_file(shard)[key])
    return found


def test_straightness_is_zero_for_straight_paths_and_positive_for_curved_ones():
    x0 = torch.randn(100, 2)
    assert straightness(Constant(torch.tensor([1.0, 2.0])), x0) < 1e-10
    # A rotation by one radian: the chord is shorter than the path, |v| = |x|.
    assert straightness(Rotation(), x0) > 0.1


def test_noise_floor_is_small_shrinks_with_n_and_is_reproducible():
    moons, gauss = get_distribution("moons"), get_distribution("gaussian")
    small = noise_floor(eval_data(gauss, moons, 200, seed=0))
    large = noise_floor(eval_data(gauss, moons, 1500, seed=0))
    assert 0 < large["w2"] < small["w2"] < 1.0
    assert noise_floor(eval_data(gauss, moons, 200, seed=0)) == small
    assert noise_floor(eval_data(gauss, moons, 200, seed=1)) != small


def test_the_evaluation_draws_are_three_different_streams():
    gauss = get_distribution("gaussian")
    for seed in COMPARE_SEEDS:
        data = eval_data(gauss, gauss, 300, seed)
        assert not rows(data.x0) & rows(data.reference)
        assert not rows(data.x0) & rows(data.twin)
        assert not rows(data.reference) & rows(data.twin)


def test_evaluate_scores_a_perfect_translation_near_the_floor():
    gauss = get_distribution("gaussian")
    shift = torch.tensor([3.0, 0.0])
    shifted = get_distribution("gaussian")
    data = eval_data(gauss, shifted, 1000, 0)
    data = type(data)(data.x0, data.reference + shift, data.twin + shift)
    good, samples = evaluate(Constant(shift), data, SolverSpec("euler", 1))
    bad, _ = evaluate(Constant(0 * shift), data, SolverSpec("euler", 1))
    assert good.nfe == 1 and good.n == 1000 and samples.shape == (1000, 2)
    assert good.w2 < 1.5 * noise_floor(data)["w2"]
    assert bad.w2 > 2.5


def _teacher(tmp_path, name="t", dim=2):
    torch.manual_seed(5)
    save_pretrained(MLPVelocity(dim=dim, hidden=16, layers=1), tmp_path / name / "model")
    return tmp_path / name


@pytest.mark.parametrize("seed", COMPARE_SEEDS)
def test_no_evaluation_source_row_is_in_a_coupling_or_guide_shard_of_the_same_seed(tmp_path, seed):
    teacher = _teacher(tmp_path)
    common = {"seed": seed, "n_pairs": 400, "shard_size": 100}
    recipes.run_reflow(
        ReflowConfig(model=str(teacher), out=str(tmp_path / "p"), solver="euler", solver_steps=1, **common),
        progress=False,
    )
    recipes.run_guide(
        GuideConfig(teachers=str(teacher), teacher_solvers="euler:2", out=str(tmp_path / "g"), **common),
        progress=False,
    )
    gauss = get_distribution("gaussian")
    x0 = rows(eval_data(gauss, get_distribution("moons"), 400, seed).x0)
    pairs, guided = shard_rows(tmp_path / "p"), shard_rows(tmp_path / "g")
    assert len(pairs) == len(guided) == 400
    assert not x0 & pairs and not x0 & guided
    assert not pairs & guided  # reflow pairs and guides of the same seed draw different z0 too


def test_images_evaluation_inputs_are_in_no_coupling(tmp_path):
    torch.manual_seed(0)
    save_pretrained(build_model("unet", shape=(1, 8, 8), channels=[4]), tmp_path / "u" / "model")
    digits = get_distribution("digits")
    for source_spec in ("gaussian", "mnist:size=8"):  # generation, and translation from images
        source = get_distribution(source_spec, dim=64)
        for seed in (0, 1, 2):
            out = tmp_path / f"p-{source_spec}-{seed}"
            recipes.run_reflow(
                ReflowConfig(
                    model=str(tmp_path / "u"),
                    source=source_spec,
                    out=str(out),
                    seed=seed,
                    n_pairs=300,
                    shard_size=150,
                    solver="euler",
                    solver_steps=1,
                ),
                progress=False,
            )
            x0 = eval_data(source, digits, 300, seed).x0
            assert not rows(x0) & shard_rows(out)
    # an image source's evaluation inputs come from its held-out test split
    mnist = get_distribution("mnist:size=8")
    assert rows(source_draw(mnist, 50, 0)) <= rows(mnist.heldout)


def test_no_training_batch_holds_the_reference_or_an_evaluation_input(tmp_path, monkeypatch):
    seen = []

    def recording(model, x0, x1, t, **kw):
        seen.append((x0.clone(), x1.clone()))
        return real(model, x0, x1, t, **kw)

    real = objectives.velocity_matching
    monkeypatch.setattr(objectives.flow, "velocity_matching", recording)  # what FlowMatching calls
    for seed in COMPARE_SEEDS:
        seen.clear()
        cfg = TrainConfig(
            data="moons",
            out=str(tmp_path / f"r{seed}"),
            steps=40,
            batch_size=64,
            hidden=8,
            layers=1,
            seed=seed,
        )
        recipes.run_train(cfg, progress=False)
        batch_x0 = set().union(*(rows(b[0]) for b in seen))
        batch_x1 = set().union(*(rows(b[1]) for b in seen))
        data = eval_data(get_distribution("gaussian"), get_distribution("moons"), 500, seed)
        assert len(seen) >= 40  # every step (and the fit check of step 1's batch)
        assert not rows(data.reference) & batch_x1 and not rows(data.twin) & batch_x1
        assert not rows(data.x0) & batch_x0


def test_a_point_file_is_split_once_and_scored_on_its_held_out_rows(tmp_path):
    pts = np.random.default_rng(0).normal(size=(1000, 2)).astype(np.float32)
    np.save(tmp_path / "p.npy", pts)
    first, again = get_distribution(str(tmp_path / "p.npy")), get_distribution(str(tmp_path / "p.npy"))
    assert torch.equal(first.heldout, again.heldout)
    assert len(first.points) == 800 and len(first.heldout) == 200
    assert not rows(first.points) & rows(first.heldout)
    assert rows(first.points) | rows(first.heldout) == rows(torch.from_numpy(pts))
    data = eval_data(get_distribution("gaussian"), first, 2000, seed=3)
    assert data.n == 100 and len(data.reference) == len(data.twin) == 100
    assert not rows(data.reference) & rows(data.twin)  # the floor's two draws are disjoint
    assert rows(data.reference) | rows(data.twin) <= rows(first.heldout)
    # training draws come from the training rows only
    assert rows(first.sample(5000, torch.Generator().manual_seed(0))) <= rows(first.points)
    # an explicit reference file makes all of the data training data
    np.save(tmp_path / "ref.npy", pts[:60] + 100)
    both = get_distribution(str(tmp_path / "p.npy"), reference=str(tmp_path / "ref.npy"))
    assert len(both.points) == 1000 and rows(both.heldout) == rows(torch.from_numpy(pts[:60] + 100))
    assert eval_data(get_distribution("gaussian"), both, 500, 0).n == 30


def test_image_scores_are_clipped_and_quantised_and_report_what_was_out_of_range():
    x = torch.tensor([[-1.5, -1.0, 0.0, 0.3, 1.0, 2.0]])
    scored, outside = as_image_values(x)
    assert outside == pytest.approx(2 / 6)
    assert scored.min() >= -1 and scored.max() <= 1
    assert torch.allclose((scored + 1) * 127.5, ((scored + 1) * 127.5).round(), atol=1e-4)  # 8-bit levels
    assert scored[0, 3] == pytest.approx(round(1.3 * 127.5) / 127.5 - 1)


def test_distillation_error_and_its_solver_floor():
    a = torch.randn(200, 2)
    assert distill_error(a, a) == 0
    assert distill_error(a, a + torch.tensor([3.0, 4.0])) == pytest.approx(25.0)
    gauss = get_distribution("gaussian")
    data = eval_data(gauss, gauss, 200, 0)
    rot = Rotation()
    ode = solve(rot, data.x0, DOPRI).x
    floor = solver_error(rot, data.x0, ode)  # dopri5 at 1e-5 against 1e-7: tiny, but not zero
    assert 0 < floor < 1e-6
    # exact solution: rotation by one radian; one Euler step is x0 + J x0, far from it
    angle = torch.tensor(1.0)
    exact = torch.stack(
        [
            data.x0[:, 0] * angle.cos() - data.x0[:, 1] * angle.sin(),
            data.x0[:, 0] * angle.sin() + data.x0[:, 1] * angle.cos(),
        ],
        1,
    )
    assert distill_error(ode, exact) < 1e-6
    one, _ = evaluate(rot, data, SolverSpec("euler", 1), teacher=ode)
    many, _ = evaluate(rot, data, SolverSpec("rk4", 20), teacher=ode)
    assert one.distill_error > 0.1 and many.distill_error < 1e-6
