"""Evaluate a model: samples with counted NFE, scored beside the noise floor.

The noise floor is the same metric between two independent draws of the true
distribution at the same sample size: what a perfect model would score.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .metrics import energy_distance, w2
from .seeding import make_generator
from .solvers import SolverSpec, solve


@torch.no_grad()
def straightness(model: nn.Module, x0: Tensor, *, steps: int = 100) -> float:
    """S(Z) (METHOD.md section 4) on an Euler trajectory of ``steps`` steps from ``x0 (B, *D)``.

    ``mean_i E || (Z_1 - Z_0) - v(Z_{t_i}, t_i) ||^2`` over the grid; 0 for straight paths.
    """
    result = solve(model, x0, SolverSpec("euler", steps), trajectory=True)
    traj, times = result.trajectory, result.times
    chord = (traj[-1] - traj[0]).flatten(1)
    total = 0.0
    for i in range(steps):
        v = model(traj[i], times[i].expand(x0.shape[0])).flatten(1)
        total += (chord - v).pow(2).sum(1).mean().item()
    return total / steps


@dataclass(frozen=True)
class Evaluation:
    """Scores of one sample set against a reference draw of the data."""

    nfe: int
    w2: float
    energy: float
    straightness: float | None
    sample_seconds: float

    def as_dict(self) -> dict:
        return asdict(self)


def reference(target, n: int, seed: int) -> Tensor:
    """The reference draw of ``n`` target points that every method is scored against."""
    return target.sample(n, make_generator(seed, 1))


def noise_floor(target, n: int, seed: int) -> dict[str, float]:
    """W2 and energy distance between the reference draw and an independent twin draw."""
    ref, twin = reference(target, n, seed), target.sample(n, make_generator(seed, 2))
    return {"w2": w2(twin, ref), "energy": energy_distance(twin, ref)}


def source_draw(source, n: int, seed: int) -> Tensor:
    """The source points ``x0`` that every method starts from."""
    return source.sample(n, make_generator(seed, 0))


def evaluate(
    model: nn.Module,
    x0: Tensor,
    ref: Tensor,
    spec: SolverSpec,
    *,
    with_straightness: bool = True,
) -> tuple[Evaluation, Tensor]:
    """Sample from ``x0 (n, *D)`` with ``spec`` and score the samples against ``ref (m, *D)``.

    Returns the scores and the samples ``(n, *D)`` on the CPU.
    """
    model = model.eval()
    start = time.perf_counter()
    result = solve(model, x0, spec)
    seconds = time.perf_counter() - start
    samples = result.x.cpu()
    return (
        Evaluation(
            nfe=result.nfe,
            w2=w2(samples, ref.cpu()),
            energy=energy_distance(samples, ref.cpu()),
            straightness=straightness(model, x0) if with_straightness else None,
            sample_seconds=round(seconds, 4),
        ),
        samples,
    )
