"""A torchcfm flow distilled by bezier-distill into one- and two-step students.

    pip install --no-deps torchcfm && pip install pandas
    python examples/torchcfm_interop.py [--data moons] [--steps 3000] [--seed 0]

(``--no-deps``: torchcfm declares torchdyn, which pulls in torchvision; no torchvision loads beside
torch 2.13, and an installed one breaks torchmetrics. The parts of torchcfm used here need only
pandas besides this project's own dependencies.)

torchcfm trains the teacher with its own flow matcher and MLP (conditional flow matching with
sigma = 0, i.e. rectified flow), as a torchcfm user would. bezier-distill then takes that model
as it is, in the torchdyn-style ``(t, x)`` order with one time per batch (the signature of
torchcfm's ``torch_wrapper``, written out below so that torchdyn is not needed), and distils it:

* one-step distillation on reflow pairs (``bd.Distillation``);
* Bezier Distillation (``bd.BezierDistillation``) with state guides at t = 1/2 passed through,
  ``end`` objective (one step);
* the same curves with the ``chord`` objective for two steps.

Every student starts from the teacher's weights and trains for ``--steps`` on the same number of
pairs or curves. All are scored on held-out noise against a held-out reference: W2, and the
squared distance to the teacher's own dopri5 solution (the distillation error). No weights are
downloaded.
"""

from __future__ import annotations

import argparse
import copy

import torch
from torch import nn
from torchcfm.conditional_flow_matching import ConditionalFlowMatcher
from torchcfm.models import MLP

import bezier_distill as bd


class TimeFirst(nn.Module):
    """torchcfm's ``torch_wrapper``: ``forward(t, x)`` with one time ``t`` for the whole batch."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, t, x):
        return self.mlp(torch.cat([x, t.repeat(x.shape[0])[:, None]], dim=1))


class PerRowTime(nn.Module):
    """torchcfm's MLP (input: x with t appended) as v(x, t) with a time per row, for students."""

    def __init__(self, mlp: nn.Module) -> None:
        super().__init__()
        self.mlp = mlp

    def forward(self, x, t):
        return self.mlp(torch.cat([x, t.reshape(-1, 1).expand(len(x), 1)], dim=1))


def train_with_torchcfm(data, steps: int, seed: int) -> nn.Module:
    """The torchcfm user's own loop: its matcher draws t and x_t, its MLP is the velocity."""
    torch.manual_seed(seed)
    mlp = MLP(dim=2, time_varying=True, w=128)
    matcher = ConditionalFlowMatcher(sigma=0.0)
    optimizer = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    for step in range(steps):
        g = bd.stream("torchcfm teacher batches", seed, step)
        x0, x1 = torch.randn(256, 2, generator=g), data.sample(256, g)
        t, xt, ut = matcher.sample_location_and_conditional_flow(x0, x1)
        loss = ((mlp(torch.cat([xt, t[:, None]], dim=1)) - ut) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return mlp.eval()


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="moons")
    parser.add_argument(
        "--steps", type=int, default=3000, help="teacher steps; each student trains for as many"
    )
    parser.add_argument("--n-pairs", type=int, default=10000)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = bd.get_distribution(args.data)
    mlp = train_with_torchcfm(data, args.steps, args.seed)

    solver = bd.SolverSpec("rk4", 20)
    teacher = bd.Teacher.from_module(TimeFirst(mlp), solver, order="tx", scalar_time=True, data_shape=(2,))
    z0 = torch.randn(args.n_pairs, 2, generator=bd.stream("torchcfm coupling", args.seed))
    pairs = bd.sample_coupling(bd.TeacherEnsemble([teacher], degree=1, guides=[]), z0)
    curves = bd.sample_coupling(
        bd.TeacherEnsemble([teacher], degree=2, guides=[bd.Guide("state")], guide_as="through"), z0
    )
    settings = bd.TrainSettings(steps=args.steps, batch_size=256, seed=args.seed)

    objectives = {
        "distill": bd.Distillation(pairs),
        "bezier end": bd.BezierDistillation(curves, "end"),
        "bezier chord": bd.BezierDistillation(curves, "chord", k=2),
    }
    students = {
        name: bd.train(
            PerRowTime(copy.deepcopy(mlp)).train(), objective, settings, progress=False, purpose=name
        )
        for name, objective in objectives.items()
    }

    held_out = bd.eval_data(bd.get_distribution("gaussian"), data, args.n_eval, seed=args.seed)
    ode = bd.solve(teacher.model, held_out.x0, bd.SolverSpec("dopri5")).x
    rows = {
        "torchcfm teacher, dopri5": (teacher.model, bd.SolverSpec("dopri5")),
        "torchcfm teacher, 1 Euler step": (teacher.model, bd.SolverSpec("euler", 1)),
        "torchcfm teacher, 2 Euler steps": (teacher.model, bd.SolverSpec("euler", 2)),
        "one-step distillation": (students["distill"], bd.SolverSpec("euler", 1)),
        "Bezier end, 1 step": (students["bezier end"], bd.SolverSpec("euler", 1)),
        "Bezier chord, 2 steps": (students["bezier chord"], bd.SolverSpec("euler", 2)),
    }
    results = {}
    print("| model | NFE | W2 | distillation error |\n|---|---|---|---|")
    for name, (model, spec) in rows.items():
        scores, _ = bd.evaluate(model, held_out, spec, teacher=ode, with_straightness=False)
        results[name] = {"nfe": scores.nfe, "w2": scores.w2, "distill_error": scores.distill_error}
        print(f"| {name} | {scores.nfe} | {scores.w2:.3f} | {scores.distill_error:.2e} |")
    floor = bd.noise_floor(held_out)["w2"]
    print(f"| noise floor (data vs data) | - | {floor:.3f} | - |")
    return results


if __name__ == "__main__":
    main()
