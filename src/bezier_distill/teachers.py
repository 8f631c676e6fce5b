"""Teachers and the guides they supply as Bezier control points (METHOD.md section 5).

A teacher is any trained velocity model of the project with its own solver
settings. A :class:`TeacherEnsemble` turns a source draw ``z0 (B, *D)`` into
control points ``P_0 .. P_n``:

* ``P_0 = z0``; ``P_n = z1``, the end teacher's ODE solution from ``z0``;
* each interior point ``P_i`` is a weighted average of guides from one or
  more teachers, of kind ``endpoint`` (the teacher's ODE solution), ``state``
  (its trajectory state at ``i / n``) or ``onestep`` (``z0 + v(z0, 0)``);
* with ``guide_as="through"`` (state guides only) the guides are points the
  curve passes through at ``i / n`` and are converted to control points.

Degree 1 with one teacher is reflow's pair generation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from .adapters import Velocity
from .bezier import through_points_to_control
from .capabilities import data_shape, kind_of
from .errors import BadInput
from .models import MODELS, load_model_dir, parameters_sha256
from .solvers import ODE_SOLVERS, SolverSpec, solve, solve_to_times

GUIDE_KINDS = ("endpoint", "state", "onestep")
DEFAULT_SOLVER = SolverSpec("rk4", 50)
GUIDE_AS = ("control", "through")


@dataclass(frozen=True)
class Teacher:
    """A trained velocity model, where it came from, and how to integrate it."""

    path: str
    sha256: str
    solver: SolverSpec
    model: nn.Module

    def __post_init__(self) -> None:
        if self.solver.method not in ODE_SOLVERS:
            raise BadInput(
                f"a teacher is integrated with an ODE solver ({', '.join(ODE_SOLVERS)}), not "
                f"{self.solver.method!r}: that samples consistency students"
            )

    @classmethod
    def load(cls, folder: str | Path, solver: SolverSpec, *, device: str = "cpu") -> Teacher:
        """The teacher in a model folder (or a run folder's ``model/``), checked by
        :func:`~bezier_distill.models.load_model_dir`."""
        loaded = load_model_dir(folder, device=device)
        return cls(str(loaded.path.resolve()), loaded.sha256, solver, loaded.model)

    @classmethod
    def from_module(
        cls,
        model: nn.Module | Callable,
        solver: SolverSpec = DEFAULT_SOLVER,
        *,
        name: str = "in-memory",
        **options,
    ) -> Teacher:
        """A teacher from any model or function ``v(x, t)``, kept in memory.

        ``options`` adapt another convention (``order="tx"``, ``predicts="noise"`` or ``"data"``,
        ``scalar_time``, ``data_shape``; see :class:`~bezier_distill.adapters.Velocity`); a model
        of this project is used as it is. ``name`` stands in for the folder in descriptions.
        """
        ours = not options and kind_of(model) in MODELS
        velocity = model if ours else Velocity(model, **options)
        return cls(name, parameters_sha256(velocity), solver, velocity.eval())

    def describe(self) -> dict:
        return {"path": self.path, "sha256": self.sha256, "solver": asdict(self.solver)}


@dataclass(frozen=True)
class Guide:
    """The guide of one interior control point: a kind and ``(teacher index, weight)`` pairs."""

    kind: str
    teachers: tuple[tuple[int, float], ...] = ((0, 1.0),)


def parse_solvers(text: str, count: int, flag: str = "--teacher-solvers") -> list[SolverSpec]:
    """``"rk4:50"`` for all teachers, or one entry per teacher: ``"rk4:50,dopri5,heun:20"``;
    ``flag`` names the option in error messages."""
    entries = [e.strip() for e in text.split(",") if e.strip()]
    if len(entries) == 1:
        entries *= count
    if len(entries) != count:
        raise BadInput(f"{flag} gives {len(entries)} solvers for {count} teachers")
    specs = []
    for entry in entries:
        method, _, steps = entry.partition(":")
        if method not in ODE_SOLVERS:
            raise BadInput(f"unknown solver {method!r} in {flag}: choose one of {', '.join(ODE_SOLVERS)}")
        if steps and not steps.isdigit():
            raise BadInput(f"solver steps in {flag} must be a positive integer, got {steps!r}")
        specs.append(SolverSpec(method, int(steps) if steps else 50))
    return specs


_GUIDE = re.compile(r"^(?P<kind>[a-z]+)(?::(?P<teachers>[0-9.@+eE-]+))?$")


def parse_guides(text: str, degree: int, n_teachers: int) -> list[Guide]:
    """Guides of the ``degree - 1`` interior points from text.

    One entry per point separated by ``;`` (or one entry for all points); an
    entry is ``KIND`` or ``KIND:TEACHERS`` where ``TEACHERS`` is ``i`` or
    ``i@w+j@w`` (teacher indices into ``--teachers``, weights normalised), e.g.
    ``"state:0;endpoint:1@0.5+2@0.5"``. Teacher 0 when none is named.
    """
    if degree == 1:
        if text.strip():
            raise BadInput("degree 1 has no interior control points; leave --guides empty")
        return []
    entries = [e.strip() for e in text.split(";")]
    if len(entries) == 1:
        entries *= degree - 1
    if len(entries) != degree - 1:
        raise BadInput(
            f"--guides gives {len(entries)} entries for the {degree - 1} interior points of degree {degree}"
        )
    guides = []
    for entry in entries:
        m = _GUIDE.match(entry)
        if not m:
            raise BadInput(f"cannot read guide {entry!r}: write KIND or KIND:i or KIND:i@w+j@w")
        if m["kind"] not in GUIDE_KINDS:
            raise BadInput(f"unknown guide kind {m['kind']!r}: choose one of {', '.join(GUIDE_KINDS)}")
        pairs = []
        for item in (m["teachers"] or "0").split("+"):
            index, _, weight = item.partition("@")
            try:
                i, w = int(index), float(weight) if weight else 1.0
            except ValueError:
                raise BadInput(f"cannot read teacher {item!r} in guide {entry!r}") from None
            if not 0 <= i < n_teachers:
                raise BadInput(f"guide {entry!r} names teacher {i}, but there are {n_teachers} teachers")
            if not w > 0:
                raise BadInput(f"guide {entry!r} has a non-positive weight {w}")
            if not math.isfinite(w):
                raise BadInput(f"guide {entry!r} has a non-finite weight {w}")
            pairs.append((i, w))
        if not math.isfinite(sum(w for _, w in pairs)):
            raise BadInput(f"guide {entry!r} has weights too large to add up; scale them down")
        guides.append(Guide(m["kind"], tuple(pairs)))
    return guides


class TeacherEnsemble:
    """Makes Bezier control points from source draws; a ``Maker`` for stored couplings."""

    def __init__(
        self,
        teachers: list[Teacher],
        degree: int,
        guides: list[Guide],
        *,
        guide_as: str = "control",
        end_teacher: int = 0,
    ) -> None:
        if not teachers:
            raise BadInput("at least one teacher is needed")
        if not isinstance(degree, int) or degree < 1:
            raise BadInput(f"--degree must be an integer >= 1, got {degree!r}")
        if len(guides) != degree - 1:
            raise BadInput(f"degree {degree} needs {degree - 1} guides, got {len(guides)}")
        if guide_as not in GUIDE_AS:
            raise BadInput(f"unknown --guide-as {guide_as!r}: choose one of {', '.join(GUIDE_AS)}")
        if guide_as == "through" and any(g.kind != "state" for g in guides):
            raise BadInput(
                "--guide-as through converts trajectory states: every guide must be of kind 'state'"
            )
        if not 0 <= end_teacher < len(teachers):
            raise BadInput(f"--end-teacher {end_teacher} is not one of the {len(teachers)} teachers")
        shapes = {
            data_shape(t.model) for t in teachers if data_shape(t.model) is not None
        }
        if len(shapes) > 1:
            raise BadInput(f"teachers disagree on the data shape: {sorted(shapes)}")
        self.teachers, self.degree, self.guides = teachers, degree, guides
        self.guide_as, self.end_teacher = guide_as, end_teacher

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The data shape the teachers state (in-memory ones may not: pass ``data_shape=``)."""
        for t in self.teachers:
            if data_shape(t.model) is not None:
                return data_shape(t.model)
        raise BadInput("no teacher states its data shape: pass data_shape= to Teacher.from_module")

    def identity(self) -> dict:
        """What determines the control points (recorded in the coupling manifest)."""
        return {
            "teachers": [t.describe() for t in self.teachers],
            "degree": self.degree,
            "guides": [{"kind": g.kind, "teachers": [list(p) for p in g.teachers]} for g in self.guides],
            "guide_as": self.guide_as,
            "end_teacher": self.end_teacher,
        }

    def _times_needed(self) -> dict[int, set[float]]:
        need: dict[int, set[float]] = {self.end_teacher: {1.0}}
        for i, guide in enumerate(self.guides, start=1):
            for j, _ in guide.teachers:
                if guide.kind == "state":
                    need.setdefault(j, set()).add(i / self.degree)
                elif guide.kind == "endpoint":
                    need.setdefault(j, set()).add(1.0)
        return need

    @torch.no_grad()
    def __call__(self, z0: Tensor, end: Tensor | None = None) -> tuple[dict[str, Tensor], int]:
        """Control points for ``z0 (B, *D)``: ``{"z1": (B, *D), "guides": (B, n - 1, *D)}`` and the NFE.

        ``end`` replaces the end teacher's solution as ``P_n`` (a data-anchored coupling)."""
        nfe = 0
        states: dict[tuple[int, float], Tensor] = {}
        for j, times in self._times_needed().items():
            teacher = self.teachers[j]
            order = sorted(times)
            xs, used = solve_to_times(teacher.model, z0, teacher.solver, order)
            states.update({(j, t): x for t, x in zip(order, xs)})
            nfe += used
        onestep: dict[int, Tensor] = {}
        guides = []
        for i, guide in enumerate(self.guides, start=1):
            total = sum(w for _, w in guide.teachers)
            parts = []
            for j, w in guide.teachers:
                if guide.kind == "onestep":
                    if j not in onestep:
                        t0 = torch.zeros(z0.shape[0], device=z0.device, dtype=z0.dtype)
                        onestep[j] = z0 + self.teachers[j].model(z0, t0)
                        nfe += 1
                    g = onestep[j]
                else:
                    g = states[(j, i / self.degree if guide.kind == "state" else 1.0)]
                parts.append(g * (w / total))
            guides.append(torch.stack(parts).sum(0))
        z1 = states[(self.end_teacher, 1.0)] if end is None else end
        if not guides:
            return {"z1": z1}, nfe
        interior = torch.stack(guides)
        if self.guide_as == "through":
            interior = through_points_to_control(z0, interior, z1)[1:-1]
        return {"z1": z1, "guides": interior.transpose(0, 1).contiguous()}, nfe


class DataAnchored:
    """A ``Maker`` whose rows start from real data: for data draws ``x1`` it solves the end
    teacher's ODE *backward* (t = 1 -> 0) to the noise ``z0`` that the teacher maps to ``x1``,
    makes the ensemble's guides from that ``z0`` and keeps ``x1`` itself as ``P_n``, so the end
    point carries no teacher error (METHOD.md section 5). NFE: the backward solve plus the
    ensemble's.

    With ``given`` (a paired task) each row is a given pair ``[x0, x1]`` side by side
    (:class:`~bezier_distill.pairings.GivenRows`): the task's own input ``x0`` is ``z0`` and
    nothing is solved backward."""

    def __init__(self, ensemble: TeacherEnsemble, given: bool = False) -> None:
        self.ensemble, self.given = ensemble, given

    @torch.no_grad()
    def __call__(self, x1: Tensor) -> tuple[dict[str, Tensor], int]:
        if self.given:
            z0, x1 = x1.chunk(2, dim=1)
            made, nfe = self.ensemble(z0, end=x1)
            return {"z0": z0, **made}, nfe
        teacher = self.ensemble.teachers[self.ensemble.end_teacher]
        back = solve(teacher.model, x1, teacher.solver, t0=1.0, t1=0.0)
        made, nfe = self.ensemble(back.x, end=x1)
        return {"z0": back.x, **made}, nfe + back.nfe
