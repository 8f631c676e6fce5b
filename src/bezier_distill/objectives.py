"""Training objectives: velocity matching (rectified flow), distillation, Bezier Distillation and
the field's few-step baselines (consistency distillation, MeanFlow).

Each objective is a pure function of a model and a batch returning a scalar loss
(:func:`velocity_matching`, :func:`distillation`, :func:`bezier_objective`, :func:`meanflow`),
and an :class:`Objective` object that also draws its batch (:class:`FlowMatching`,
:class:`Distillation`, :class:`BezierDistillation`, :class:`ConsistencyDistillation`,
:class:`MeanFlow`): the training loop draws the global batch,
gives each process its rows and calls the object, without knowing which one it runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .bezier import curve, derivative, secant_to_end
from .capabilities import takes_interval, unwrap
from .errors import BadInput
from .interpolants import PATHS, straight

LOSSES = ("l2", "l1", "pseudo_huber", "adaptive")
ADAPTIVE_C = 1e-3  # the c of MeanFlow's adaptive weighting
T_EPS = 1e-3  # t ~ U[T_EPS, 1] for velocity matching, as in the reference code


def regression(pred: Tensor, target: Tensor, kind: str = "l2") -> Tensor:
    """Mean per-sample distance between ``pred`` and ``target`` ``(B, *D)``.

    ``l2``: mean squared error; ``l1``: mean absolute error; ``pseudo_huber``:
    ``sqrt(||d||^2 + c^2) - c`` with ``c = 0.00054 sqrt(D)`` (per sample); ``adaptive``:
    MeanFlow's adaptively weighted ``||d||^2 / sg(||d||^2 + c)`` with ``c = 1e-3`` (power 1; per
    sample, the weight without gradient).
    """
    diff = (pred - target).flatten(1)
    if kind == "l2":
        return diff.pow(2).mean()
    if kind == "l1":
        return diff.abs().mean()
    if kind == "pseudo_huber":
        c = 0.00054 * math.sqrt(diff.shape[1])
        return (torch.sqrt(diff.pow(2).sum(1) + c * c) - c).mean()
    if kind == "adaptive":
        sq = diff.pow(2).sum(1)
        return (sq / (sq.detach() + ADAPTIVE_C)).mean()
    raise BadInput(f"unknown loss {kind!r}: choose one of {', '.join(LOSSES)}")


TRAIN_TIMES = ("uniform", "u-shaped")
U_SHAPE = 4.0  # the a of 2-RF++'s U-shaped time density (Lee et al. 2024)


def u_shaped(u: Tensor, a: float = U_SHAPE) -> Tensor:
    """Map ``u ~ U[0, 1]`` to ``t`` on [0, 1] with the U-shaped density of 2-RF++ (METHOD.md
    section 7): proportional to ``exp(a t) + exp(a (1 - t))``, i.e. ``cosh(a (t - 1/2))``, the
    even mixture of ``t`` and ``1 - t`` for ``t`` with density ``exp(a t)`` that their code draws.
    The inverse of its distribution function ``(sinh(a (t - 1/2)) + sinh(a/2)) / (2 sinh(a/2))``."""
    return (0.5 + torch.asinh((2 * u.double() - 1) * math.sinh(a / 2)) / a).to(u.dtype)


def sample_time(batch: int, generator: torch.Generator, *, device="cpu", kind: str = "uniform") -> Tensor:
    """Training times of shape ``(batch,)`` on ``[T_EPS, 1]``: uniform, or ``u-shaped``
    (more weight near both ends, as 2-RF++ trains rectified flows)."""
    if kind not in TRAIN_TIMES:
        raise BadInput(f"unknown time sampling {kind!r}: choose one of {', '.join(TRAIN_TIMES)}")
    u = torch.rand(batch, generator=generator, device=device)
    return T_EPS + (1 - T_EPS) * (u_shaped(u) if kind == "u-shaped" else u)


def velocity_matching(
    model: nn.Module, x0: Tensor, x1: Tensor, t: Tensor, *, loss: str = "l2", path: str = "straight"
) -> Tensor:
    """L_RF (METHOD.md section 1): ``|| dx_t - v(x_t, t) ||^2`` on ``path``.

    On the straight path ``dx_t = x1 - x0``; ``path="cosine"`` trains a
    diffusion-style (VP-like) teacher whose ODE paths are curved.
    """
    if path not in PATHS:
        raise BadInput(f"unknown path {path!r}: choose one of {', '.join(PATHS)}")
    p = PATHS[path](x0, x1, t)
    return regression(model(p.x_t, t), p.dx_t, loss)


def grid_time(batch: int, k: int, generator: torch.Generator, *, device="cpu") -> Tensor:
    """``t`` drawn uniformly from the grid ``{0, 1/k, ..., (k-1)/k}``, shape ``(batch,)``."""
    if not isinstance(k, int) or k < 1:
        raise BadInput(f"number of distillation steps k must be a positive integer, got {k!r}")
    return torch.randint(0, k, (batch,), generator=generator, device=device).float() / k


def distillation(model: nn.Module, z0: Tensor, z1: Tensor, t: Tensor, *, loss: str = "l2") -> Tensor:
    """L_D (METHOD.md section 3) at grid times ``t``: ``|| (z1 - z0) - v(x_t, t) ||``.

    With ``t = 0`` this is one-step distillation ``T(z0) = z0 + v(z0, 0)``; with
    ``t`` from :func:`grid_time` it is k-step distillation.
    """
    return velocity_matching(model, z0, z1, t, loss=loss)


BEZIER_OBJECTIVES = ("end", "end-space", "tangent", "chord")
TIME_SAMPLINGS = ("uniform", "grid", "u-shaped", "mixed")


def bezier_time(
    batch: int, objective: str, generator: torch.Generator, *, k: int = 2, sampling: str = "uniform"
) -> Tensor:
    """Training times for a Bezier objective, shape ``(batch,)``.

    ``chord`` always uses the grid ``{0, 1/k, ..., (k-1)/k}``; ``end``, ``end-space`` and
    ``tangent`` use ``U[0, 1)`` (``sampling="uniform"``), that grid, 2-RF++'s U-shaped
    density on ``[0, 1 - T_EPS]`` (``"u-shaped"``, :func:`u_shaped`), or ``"mixed"``: a point mass
    at ``t = 0`` (half the draws, chosen at random) mixed with ``U[0, 1)`` (the one-step target,
    with the rest of the curve as an auxiliary task).
    """
    if objective not in BEZIER_OBJECTIVES:
        raise BadInput(f"unknown objective {objective!r}: choose one of {', '.join(BEZIER_OBJECTIVES)}")
    if sampling not in TIME_SAMPLINGS:
        raise BadInput(f"unknown time sampling {sampling!r}: choose one of {', '.join(TIME_SAMPLINGS)}")
    if objective == "chord" or sampling == "grid":
        return grid_time(batch, k, generator)
    u = torch.rand(batch, generator=generator)
    if sampling == "mixed":
        return torch.where(torch.rand(batch, generator=generator) < 0.5, torch.zeros_like(u), u)
    return (1 - T_EPS) * u_shaped(u) if sampling == "u-shaped" else u


def bezier_objective(
    model: nn.Module, points: Tensor, t: Tensor, objective: str, *, k: int = 2, loss: str = "l2"
) -> Tensor:
    """Bezier Distillation objectives (METHOD.md section 5) at ``x = B(t)``.

    ``points``: control points ``(n + 1, B, *D)``; ``t``: ``(B,)``.

    * ``end``: target ``(P_n - B(t)) / (1 - t)``, so ``x + (1 - t) v`` predicts the end.
    * ``end-space``: the same target with the loss on the predicted end, ``||x + (1 - t) v -
      P_n||``, i.e. ``end`` weighted by ``(1 - t)^2`` under l2 (times near 1, where the end is
      easy to predict, count less).
    * ``tangent``: target ``B'(t)`` (Bezier flow matching; sample with an ODE solver).
    * ``chord``: target ``k (B(t + 1/k) - B(t))`` at grid times, so ``k`` Euler
      steps land on the curve's end.
    """
    x = curve(points, t)
    if objective == "end":
        target = secant_to_end(points, t)
    elif objective == "end-space":
        end = x + (1 - t).view(-1, *[1] * (x.dim() - 1)) * model(x, t)
        return regression(end, points[-1], loss)
    elif objective == "tangent":
        target = derivative(points, t)
    elif objective == "chord":
        target = (curve(points, t + 1.0 / k) - x) * k
    else:
        raise BadInput(f"unknown objective {objective!r}: choose one of {', '.join(BEZIER_OBJECTIVES)}")
    return regression(model(x, t), target, loss)


class Objective:
    """An objective that draws its own batch: ``draw(batch, generator)`` returns the global batch
    as tensors with their rows first (all randomness from ``generator``); ``objective(model,
    rows)`` is the scalar loss of the rows it is given (all of them in one process, this rank's
    slice under torchrun; :func:`~bezier_distill.training.train` does the slicing)."""

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        raise NotImplementedError

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        raise NotImplementedError

    def attach(self, ema: nn.Module) -> None:
        """Called by the training loop with its EMA copy of the model (updated in place every step,
        checkpointed and resumed with it), for objectives whose target is that EMA."""


@dataclass
class FlowMatching(Objective):
    """Rectified flow (velocity matching) on ``pairs``: anything whose ``sample(batch, generator)``
    returns ``(x0, x1)``, such as an independent coupling (1-RF) or reflow pairs (k-RF)."""

    pairs: Any
    loss: str = "l2"
    path: str = "straight"
    time_sampling: str = "uniform"

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        return {"x0": x0, "x1": x1, "t": sample_time(batch, generator, kind=self.time_sampling)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        return velocity_matching(model, rows["x0"], rows["x1"], rows["t"], loss=self.loss, path=self.path)


@dataclass
class Distillation(Objective):
    """``k``-step distillation (``k = 1``: one step) on reflow pairs ``(z0, teacher ODE(z0))``."""

    pairs: Any
    k: int = 1
    loss: str = "l2"

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        z0, z1 = self.pairs.sample(batch, generator)
        return {"z0": z0, "z1": z1, "t": grid_time(batch, self.k, generator)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        return distillation(model, rows["z0"], rows["z1"], rows["t"], loss=self.loss)


@dataclass
class BezierDistillation(Objective):
    """Bezier Distillation on a guided coupling (``sample_points(batch, generator)`` returns control
    points ``(n + 1, batch, *D)``) with the ``objective`` ``end``, ``end-space``, ``tangent`` or
    ``chord`` (the default, with ``k = 2``: the two-step student the measurements chose).

    ``guide_noise`` > 0 draws each batch's interior control points from a Gaussian around the
    stored guides (standard deviation ``guide_noise``, fresh in every batch): noisy guides, a
    guiding distribution rather than a point; the ends ``P_0`` and ``P_n`` stay as they are."""

    coupling: Any
    objective: str = "chord"
    k: int = 2
    time_sampling: str = "uniform"
    loss: str = "l2"
    guide_noise: float = 0.0

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        points = self.coupling.sample_points(batch, generator)
        if self.guide_noise > 0 and points.shape[0] > 2:
            noise = torch.randn(points[1:-1].shape, generator=generator, device=points.device)
            points = torch.cat([points[:1], points[1:-1] + self.guide_noise * noise, points[-1:]])
        t = bezier_time(batch, self.objective, generator, k=self.k, sampling=self.time_sampling)
        return {"points": points.transpose(0, 1), "t": t}  # rows first

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        points = rows["points"].transpose(0, 1)
        return bezier_objective(model, points, rows["t"], self.objective, k=self.k, loss=self.loss)


def consistency_function(model: nn.Module, x: Tensor, t: Tensor) -> Tensor:
    """``f(x, t) = x + (1 - t) F(x, t)``: maps a point of a trajectory at ``t`` to its end at
    ``t = 1``, with ``f(x, 1) = x`` by construction; ``f(z0, 0)`` is one Euler step of ``F``."""
    return x + (1 - t).reshape(-1, *([1] * (x.dim() - 1))) * model(x, t)


@dataclass
class ConsistencyDistillation(Objective):
    """Consistency distillation (Song et al. 2023; METHOD.md section 7) from any ``teacher`` v(x, t).

    On the grid ``t_n = n / steps``: draw ``(x0, x1)`` from ``pairs`` (noise and data) and ``n``,
    take ``x_{t_n}`` on their straight interpolant, one Heun step of the teacher to
    ``x^_{t_{n+1}}``, and regress ``f_theta(x_{t_n}, t_n)`` on ``f_{theta-}(x^_{t_{n+1}}, t_{n+1})``,
    with ``theta-`` the training loop's EMA of ``theta`` (no gradient; :meth:`attach`). The
    student samples in one step like an ``end`` student.
    """

    teacher: nn.Module
    pairs: Any
    steps: int = 18
    loss: str = "l2"

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise BadInput(f"consistency steps must be a positive integer, got {self.steps!r}")
        self._target: nn.Module | None = None

    def attach(self, ema: nn.Module) -> None:
        self._target = ema

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        return {"x0": x0, "x1": x1, "n": torch.randint(0, self.steps, (batch,), generator=generator)}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        x0, x1 = rows["x0"], rows["x1"]
        t = (rows["n"].to(x0.dtype) / self.steps).to(x0.device)
        h = 1.0 / self.steps
        x_t = straight(x0, x1, t).x_t
        with torch.no_grad():
            v1 = self.teacher(x_t, t)
            v2 = self.teacher(x_t + h * v1, t + h)
            x_next = x_t + 0.5 * h * (v1 + v2)
            target = consistency_function(self._target or model, x_next, t + h)
        return regression(consistency_function(model, x_t, t), target, self.loss)


def meanflow(model: nn.Module, x0: Tensor, x1: Tensor, t: Tensor, s: Tensor, *, loss: str = "l2") -> Tensor:
    """The MeanFlow loss (Geng et al. 2025; METHOD.md section 7) in our time convention.

    ``u(z, t, s)``, the average velocity over ``[t, s]`` (``t <= s``), satisfies
    ``u = v + (s - t) du/dt`` along the flow, ``du/dt = v . d_z u + d_t u``. At ``z_t`` on the
    straight path from ``x0`` to ``x1`` with ``v = x1 - x0``, the target is
    ``v + (s - t) sg(du/dt)``, the derivative a Jacobian-vector product of the model with the
    tangent ``(v, 1, 0)`` (``torch.func.jvp``, without gradient; the prediction is a plain forward
    pass, so a DDP-wrapped model synchronises as usual); at ``s = t`` it is velocity matching.
    """
    p = straight(x0, x1, t)
    target = meanflow_target(model, p.x_t, t, s, p.dx_t)
    return regression(model(p.x_t, t, s), target, loss)


def meanflow_target(model: nn.Module, z: Tensor, t: Tensor, s: Tensor, v: Tensor) -> Tensor:
    """``v + (s - t) du/dt`` at ``(z, t, s)`` for the velocity ``v`` at ``z``, without gradient:
    the average velocity ``u`` over ``[t, s]`` when ``model`` is exact (:func:`meanflow`)."""
    net = unwrap(model)  # the product is taken on the module a DDP wrapper holds
    with torch.no_grad():
        _, dudt = torch.func.jvp(
            lambda x, a, b: net(x, a, b), (z, t, s), (v, torch.ones_like(t), torch.zeros_like(s))
        )
    return v + (s - t).reshape(-1, *([1] * (z.dim() - 1))) * dudt


def interval_times(
    batch: int, generator: torch.Generator, *, ratio: float = 0.25, kind: str = "uniform"
) -> tuple[Tensor, Tensor]:
    """MeanFlow's training intervals ``(t, s)``: two draws of :func:`sample_time` sorted, of which
    a fraction ``1 - ratio`` (chosen at random) is collapsed to ``s = t``."""
    a = sample_time(batch, generator, kind=kind)
    b = sample_time(batch, generator, kind=kind)
    t, s = torch.minimum(a, b), torch.maximum(a, b)
    same = torch.rand(batch, generator=generator) >= ratio
    return t, torch.where(same, t, s)


@dataclass
class MeanFlow(Objective):
    """MeanFlow on ``pairs`` (noise and data, or any coupling): a model with two time inputs
    (``interval=True``) learns the average velocity, sampled in one step as
    ``x0 + u(x0, 0, 1)`` or in ``k`` Euler steps that pass each step's both ends."""

    pairs: Any
    ratio: float = 0.25
    loss: str = "l2"
    time_sampling: str = "uniform"

    def __post_init__(self) -> None:
        if not 0 <= self.ratio <= 1:
            raise BadInput(
                f"the MeanFlow ratio of intervals with s != t must lie in [0, 1], got {self.ratio}"
            )

    def draw(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        x0, x1 = self.pairs.sample(batch, generator)
        t, s = interval_times(batch, generator, ratio=self.ratio, kind=self.time_sampling)
        return {"x0": x0, "x1": x1, "t": t, "s": s}

    def __call__(self, model: nn.Module, rows: dict[str, Tensor]) -> Tensor:
        if not takes_interval(model):
            raise BadInput("MeanFlow trains a model with two time inputs (built with interval=True)")
        return meanflow(model, rows["x0"], rows["x1"], rows["t"], rows["s"], loss=self.loss)
