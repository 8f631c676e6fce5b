"""The public Python API with a model that is not one of the project's (``import bezier_distill as bd``)."""

from __future__ import annotations

import copy
import json
import sys

import pytest
import torch
from torch import nn

import bezier_distill as bd


class TimeFirst(nn.Module):
    """A velocity MLP in the ``(t, x)`` convention of torchdiffeq and torchcfm, with no data_shape."""

    def __init__(self, dim: int = 2, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(dim + 1, hidden),
            nn.SiLU(),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, dim),
        )

    def forward(self, t, x):
        return self.net(torch.cat([x, t.reshape(-1, 1).expand(len(x), 1)], dim=1))


def _users_own_training(net: nn.Module, steps: int = 800) -> nn.Module:
    """Rectified flow trained with plain PyTorch, as a user's own code would."""
    data = bd.get_distribution("moons")
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    for step in range(steps):
        g = bd.stream("test teacher batches", 0, step)
        x1, x0, t = data.sample(256, g), torch.randn(256, 2, generator=g), torch.rand(256, generator=g)
        xt = (1 - t[:, None]) * x0 + t[:, None] * x1
        loss = ((net(t, xt) - (x1 - x0)) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net.eval()


def test_a_plain_module_teacher_is_distilled_into_a_one_step_student_through_the_public_api(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = _users_own_training(TimeFirst())
    teacher = bd.Teacher.from_module(net, bd.SolverSpec("rk4", 20), order="tx")
    pairs = bd.sample_coupling(
        bd.TeacherEnsemble([teacher], degree=1, guides=[]),
        torch.randn(4000, 2, generator=bd.stream("test coupling", 0)),
    )
    assert pairs.degree == 1 and len(pairs) == 4000 and pairs.data_shape == (2,)

    def one_step_distillation(model, g, part):
        z0, z1 = pairs.sample(256, g)
        return bd.distillation(model, z0[part], z1[part], torch.zeros(256)[part])

    student = bd.train(
        copy.deepcopy(teacher.model),
        one_step_distillation,
        bd.TrainSettings(steps=400, batch_size=256, warmup=20),
        progress=False,
    )
    assert not any(tmp_path.iterdir())  # without an output folder nothing is written

    z0 = torch.randn(2000, 2, generator=bd.stream("test evaluation", 0))  # noise no stage saw
    ode = bd.solve(teacher.model, z0, bd.SolverSpec("dopri5", rtol=1e-5, atol=1e-5)).x
    one_step = bd.SolverSpec("euler", 1)
    student_error = bd.distill_error(bd.solve(student, z0, one_step).x, ode)
    teacher_error = bd.distill_error(bd.solve(teacher.model, z0, one_step).x, ode)
    assert student_error < teacher_error / 10, (student_error, teacher_error)


def test_a_foreign_module_saves_as_plain_safetensors_and_is_not_mistaken_for_ours(tmp_path):
    model = bd.Velocity(TimeFirst(), order="tx")

    def loss(m, g, part):
        x = torch.randn(32, 2, generator=g)
        return (m(x[part], torch.rand(32, generator=g)[part]) ** 2).mean()

    bd.train(
        model, loss, bd.TrainSettings(steps=3, batch_size=32, warmup=0), tmp_path / "run", progress=False
    )
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["type"] == "external" and config["class"].endswith("Velocity")
    assert (tmp_path / "run" / "model" / "model.safetensors").is_file()
    with pytest.raises(bd.BadInput, match="unknown model type 'external'"):
        bd.from_pretrained(tmp_path / "run")


@pytest.mark.parametrize("predicts", ["velocity", "noise", "data"])
def test_adapters_turn_noise_and_data_predictions_into_velocities(predicts):
    g = torch.Generator().manual_seed(0)
    x0, x1, t = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g), torch.full((5,), 0.3)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    answer = {"velocity": x1 - x0, "noise": x0, "data": x1}[predicts]
    v = bd.Velocity(lambda time, x: answer, order="tx", predicts=predicts)
    assert torch.allclose(v(xt, t), x1 - x0, atol=1e-5)
    seen = []
    bd.Velocity(lambda x, time: seen.append(time) or x, scalar_time=True)(xt, t)
    assert len(seen) == 1 and seen[0].dim() == 0 and float(seen[0]) == pytest.approx(0.3)
    with pytest.raises(bd.BadInput, match="unknown prediction"):
        bd.Velocity(lambda x, time: x, predicts="score")


def test_the_package_exports_its_names_lazily():
    import subprocess

    code = "import sys, bezier_distill as bd; print(bd.Teacher.__name__, 'matplotlib' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.split() == ["Teacher", "False"], done.stderr
    assert all(hasattr(bd, name) for name in bd.__all__)


def test_an_objective_object_trains_exactly_as_the_function_it_stands_for():
    g = torch.Generator().manual_seed(0)
    z0 = torch.randn(300, 2, generator=g)
    pairs = bd.Coupling(torch.stack([z0, z0 * 0.5 + 1]))
    settings = bd.TrainSettings(steps=5, batch_size=32, warmup=0)

    def by_hand(model, generator, part):
        z0, z1 = pairs.sample(32, generator)
        t = bd.grid_time(32, 2, generator)
        return bd.distillation(model, z0[part], z1[part], t[part])

    torch.manual_seed(1)
    start = TimeFirst()
    a = bd.train(
        bd.Velocity(copy.deepcopy(start), order="tx"), bd.Distillation(pairs, k=2), settings, progress=False
    )
    b = bd.train(bd.Velocity(copy.deepcopy(start), order="tx"), by_hand, settings, progress=False)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    rows = bd.BezierDistillation(bd.Coupling(torch.randn(3, 10, 2)), "chord").draw(4, g)
    assert rows["points"].shape == (4, 3, 2) and rows["t"].shape == (4,)  # rows first
