"""ODE solvers for ``dx/dt = v(x, t)`` with counted NFE.

Fixed-step ``euler``, ``heun`` and ``rk4`` on a uniform grid of ``steps``
intervals, and adaptive ``dopri5`` from torchdiffeq (``rtol``, ``atol``). The
number of function evaluations is counted by wrapping the model, never
inferred from a step count.

Two samplers of few-step students share the grid: ``euler`` passes an interval model
(MeanFlow, ``model.interval``) both ends of each step, ``model(x, t, t + h)``, so a step moves by
the average velocity over it; ``consistency`` is the multistep sampler of consistency models
(Song et al. 2023): at each grid time it jumps to the end, ``x^ = x + (1 - t) v(x, t)``, and
re-noises that estimate to the next grid time, ``(1 - t') z + t' x^`` with fresh Gaussian ``z``
from the ``generator`` it is given (one step: plain Euler).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace

import torch
from torch import Tensor, nn

from .capabilities import takes_interval
from .errors import BadInput

ODE_SOLVERS = ("euler", "heun", "rk4", "dopri5")
SOLVERS = (*ODE_SOLVERS, "consistency")  # consistency: a sampler of consistency students, not an ODE solver
MIN_TOL = 1e-12  # below this dopri5's step shrinks until it underflows (float64 resolves ~1e-16)


@dataclass(frozen=True)
class SolverSpec:
    """How to integrate: ``method`` with ``steps`` (fixed-step) or ``rtol``/``atol``."""

    method: str = "rk4"
    steps: int = 50
    rtol: float = 1e-5
    atol: float = 1e-5

    def __post_init__(self) -> None:
        if self.method not in SOLVERS:
            raise BadInput(f"unknown solver {self.method!r}: choose one of {', '.join(SOLVERS)}")
        if not isinstance(self.steps, int) or self.steps < 1:
            raise BadInput(f"solver steps must be a positive integer, got {self.steps!r}")
        if not all(isinstance(v, int | float) and MIN_TOL <= v < math.inf for v in (self.rtol, self.atol)):
            raise BadInput(
                f"solver tolerances must be finite and at least {MIN_TOL:g} (floating point cannot meet "
                f"smaller ones), got rtol={self.rtol}, atol={self.atol}"
            )

    def describe(self) -> str:
        if self.method == "dopri5":
            return f"dopri5(rtol={self.rtol:g}, atol={self.atol:g})"
        return f"{self.method} x {self.steps}"


@dataclass(frozen=True)
class SolveResult:
    """Result of :func:`solve`.

    x: final state ``(B, *D)``; nfe: model calls made; times: ``(T,)`` and
    trajectory: ``(T, B, *D)`` when requested, else None.
    """

    x: Tensor
    nfe: int
    times: Tensor | None = None
    trajectory: Tensor | None = None


_ON_CALL: ContextVar[Callable[[float], None] | None] = ContextVar("on_model_call", default=None)


@contextmanager
def on_model_call(callback: Callable[[float], None]):
    """Within the block, every model call of a solver first calls ``callback(t)`` (for progress
    inside one long solve, e.g. a dopri5 shard of a coupling)."""
    token = _ON_CALL.set(callback)
    try:
        yield
    finally:
        _ON_CALL.reset(token)


class CountingField:
    """Wrap ``v(x, t)`` and count its calls; ``t`` may be a float or ``(B,)``."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.nfe = 0
        self.on_call = _ON_CALL.get()

    def __call__(self, x: Tensor, t: Tensor | float, s: float | None = None) -> Tensor:
        """``v(x, t)``; with ``s``, an interval model's average velocity over ``[t, s]``."""
        self.nfe += 1
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if self.on_call is not None:
            self.on_call(float(t.reshape(-1)[0]))
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        if s is not None and takes_interval(self.model):
            return self.model(x, t, torch.full_like(t, s))
        return self.model(x, t)


def _step(method: str, f: CountingField, x: Tensor, t: float, h: float) -> Tensor:
    if method == "euler":
        return x + h * f(x, t, t + h)
    if method == "heun":
        k1 = f(x, t)
        k2 = f(x + h * k1, t + h)
        return x + 0.5 * h * (k1 + k2)
    k1 = f(x, t)
    k2 = f(x + 0.5 * h * k1, t + 0.5 * h)
    k3 = f(x + 0.5 * h * k2, t + 0.5 * h)
    k4 = f(x + h * k3, t + h)
    return x + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)


@torch.no_grad()
def solve(
    model: nn.Module,
    x0: Tensor,
    spec: SolverSpec | None = None,
    *,
    t0: float = 0.0,
    t1: float = 1.0,
    trajectory: bool = False,
    record_times: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> SolveResult:
    """Integrate ``dx/dt = model(x, t)`` from ``x0 (B, *D)`` at ``t0`` to ``t1``.

    With ``trajectory=True`` the states on the solver grid (fixed-step) or at
    ``record_times`` (dopri5; default 101 uniform times) are returned too. ``generator`` gives
    the fresh noise of the ``consistency`` sampler (required there beyond one step).
    """
    spec = spec or SolverSpec()
    f = CountingField(model)
    if spec.method == "consistency":
        return _consistency(f, x0, spec.steps, generator, trajectory)
    if spec.method == "dopri5":
        from torchdiffeq import odeint  # it imports SciPy: loaded by the runs that use it

        times = record_times if trajectory else None
        if times is None:
            times = torch.linspace(t0, t1, 101 if trajectory else 2)
        times = times.to(device=x0.device, dtype=x0.dtype)
        try:
            ys = odeint(lambda t, x: f(x, t), x0, times, method="dopri5", rtol=spec.rtol, atol=spec.atol)
        except AssertionError as e:  # torchdiffeq's only failure mode: the step size underflowed
            if "underflow" not in str(e):
                raise
            raise BadInput(
                f"dopri5 cannot meet rtol={spec.rtol:g}, atol={spec.atol:g} after {f.nfe} model calls "
                "(its step size underflowed): raise --rtol/--atol, or check the model for NaN"
            ) from None
        return SolveResult(
            x=ys[-1],
            nfe=f.nfe,
            times=times if trajectory else None,
            trajectory=ys if trajectory else None,
        )
    grid = torch.linspace(t0, t1, spec.steps + 1, dtype=torch.float64)
    x = x0
    states = [x0] if trajectory else None
    for i in range(spec.steps):
        t, h = float(grid[i]), float(grid[i + 1] - grid[i])
        x = _step(spec.method, f, x, t, h)
        if states is not None:
            states.append(x)
    return SolveResult(
        x=x,
        nfe=f.nfe,
        times=grid.to(device=x0.device, dtype=x0.dtype) if trajectory else None,
        trajectory=torch.stack(states) if states is not None else None,
    )


def _consistency(
    f: CountingField, x0: Tensor, steps: int, generator: torch.Generator | None, trajectory: bool
) -> SolveResult:
    """Multistep consistency sampling on the grid ``t_i = i / steps`` from ``t = 0`` (see the
    module docstring); the trajectory holds the end estimates ``x^`` of every step."""
    if steps > 1 and generator is None:
        raise BadInput("the consistency sampler needs a random generator for its re-noising steps")
    x, ends = x0, []
    for i in range(steps):
        t = i / steps
        end = x + (1 - t) * f(x, t)
        ends.append(end)
        if i + 1 < steps:
            t_next = (i + 1) / steps
            noise = torch.randn(x0.shape, generator=generator, device=generator.device).to(x0)
            x = (1 - t_next) * noise + t_next * end
    times = torch.linspace(0, 1, steps + 1, device=x0.device, dtype=x0.dtype)[1:]
    return SolveResult(
        x=ends[-1],
        nfe=f.nfe,
        times=times if trajectory else None,
        trajectory=torch.stack(ends) if trajectory else None,
    )


def solve_to_times(
    model: nn.Module, x0: Tensor, spec: SolverSpec, times: list[float]
) -> tuple[list[Tensor], int]:
    """States at increasing ``times`` in (0, 1] of the ODE from ``x0`` at t = 0, and the NFE.

    dopri5 records the states on its dense output; a fixed-step solver spends
    ``round(steps * (t_j - t_{j-1}))`` steps (at least one) on each segment, so
    ``times = [1.0]`` is exactly ``solve(model, x0, spec)``.
    """
    if any(b <= a for a, b in zip([0.0, *times], times)) or times[-1] > 1:
        raise BadInput(f"times must increase within (0, 1], got {times}")
    if spec.method == "dopri5":
        grid = torch.tensor([0.0, *times], dtype=torch.float64)
        result = solve(model, x0, spec, trajectory=True, record_times=grid)
        return list(result.trajectory[1:]), result.nfe
    states, nfe, x, t_prev = [], 0, x0, 0.0
    for t in times:
        steps = max(1, round(spec.steps * (t - t_prev)))
        result = solve(model, x, replace(spec, steps=steps), t0=t_prev, t1=t)
        states.append(result.x)
        nfe, x, t_prev = nfe + result.nfe, result.x, t
    return states, nfe
