"""The names of a comparison's methods, written and read here only.

A name is one of

* ``k-RF``: the rectified flow after k - 1 reflows (the 1-RF trains on the data), and
  ``k-RF + distill``, its one- or two-step distilled student;
* ``Bezier n=DEGREE [TEACHERS] OBJECTIVE``: a Bezier Distillation student of a teacher set of
  :data:`TEACHER_SETS` and a compare objective (``OBJECTIVE[/SAMPLING][@NOISE]``);
* a baseline of the field (:data:`BASELINES`), ``OT-CFM + distill`` for OT-CFM's student;

each maybe followed by `` @ k-RF compute``: its equal-compute twin, trained longer to the
compute of ``k-RF + distill``. :class:`Method` is a name parsed; ``str`` writes it back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace

from ..objectives import BEZIER_OBJECTIVES, TIME_SAMPLINGS

BASELINES = ("2-RF++", "OT-CFM", "CD", "MeanFlow")
# Bezier objectives of a comparison: OBJECTIVE, or OBJECTIVE/TIME-SAMPLING for end and tangent
COMPARE_OBJECTIVES = (
    *BEZIER_OBJECTIVES,
    *(f"{o}/{t}" for o in ("end", "end-space", "tangent") for t in TIME_SAMPLINGS if t != "uniform"),
)


@dataclass(frozen=True)
class TeacherSet:
    """The teachers of a Bezier coupling: folders (by stage name), guides and what they cost."""

    label: str
    folders: tuple[str, ...]  # the teachers' stage folders, the end teacher first
    guides: str
    upstream: tuple[str, ...]  # the teacher stages (folders) whose cost the coupling inherits
    rectifications: int
    guide_as: str = "through"
    anchor: str = "noise"  # "data": rows start from training data, the end teacher's ODE solved backward

    @property
    def end(self) -> Method:
        """The method whose ODE end is P_n (the first of ``folders``)."""
        return Method.rf(self.rectifications)

    @property
    def slug(self) -> str:
        """The label in folder names."""
        return self.label.replace(" ", "").replace("+", "_")


_SETS = (
    TeacherSet("1-RF", ("rf1",), "state:0", ("rf1",), 1),
    TeacherSet("1-RF x2", ("rf1", "rf1b"), "state:0+1", ("rf1", "rf1b"), 1),
    TeacherSet("1-RF+2-RF", ("rf2", "rf1"), "state:0+1", ("rf2",), 2),
    # the same 1-RF guided otherwise: its one-step endpoints, or its states as raw control points
    TeacherSet("1-RF endpoint", ("rf1",), "endpoint:0", ("rf1",), 1, "control"),
    TeacherSet("1-RF control", ("rf1",), "state:0", ("rf1",), 1, "control"),
    # teachers of two ranks, one per control point: the 1-RF's states inside, the 2-RF's end
    TeacherSet("1-RF guides+2-RF end", ("rf2", "rf1"), "state:1", ("rf2",), 2),
    # rows anchored on real data: the 1-RF solved backward from training data, P_n the data itself
    TeacherSet("1-RF data-anchored", ("rf1",), "state:0", ("rf1",), 1, anchor="data"),
)
TEACHER_SETS = {ts.label: ts for ts in _SETS}
ONE_RF_SETS = ("1-RF", "1-RF x2")  # the teacher sets of 1-RF teachers only, as they train them


def _objective_variant(objective: str) -> str | None:
    """``OBJECTIVE[/SAMPLING]`` of a compare objective ``OBJECTIVE[/SAMPLING][@NOISE]`` (None when
    the guide-noise suffix is not a non-negative number)."""
    base, at, noise = objective.partition("@")
    if at:
        try:
            if not 0 <= float(noise) < math.inf:
                return None
        except ValueError:
            return None
    return base


def is_compare_objective(text: str) -> bool:
    """Whether ``text`` is a compare objective: ``OBJECTIVE[/SAMPLING]`` of
    :data:`COMPARE_OBJECTIVES`, maybe with ``@NOISE``, a non-negative guide noise."""
    return _objective_variant(text) in COMPARE_OBJECTIVES


def objective_settings(objective: str) -> dict:
    """The Bezier run's settings a compare objective names: objective, time sampling, guide noise."""
    variant, _, noise = objective.partition("@")
    kind, _, sampling = variant.partition("/")
    return {"objective": kind, "time_sampling": sampling or "uniform", "guide_noise": float(noise or 0)}


def objective_slug(objective: str) -> str:
    """A compare objective in folder names."""
    return objective.replace("/", "_").replace("@", "_noise")


RF, BEZIER, BASELINE = "k-RF", "Bezier", "baseline"  # the kinds of method
_TWIN = re.compile(r"(?P<core>.+) @ (?P<k>[0-9]+)-RF compute")
_BEZIER = re.compile(r"Bezier n=(?P<degree>[0-9]+) \[(?P<teachers>[^\]]+)\] (?P<objective>\S.*)")
_FLOW = re.compile(r"(?:(?P<k>[0-9]+)-RF|(?P<baseline>.+?))(?P<distilled> \+ distill)?")


@dataclass(frozen=True)
class Method:
    """A method of a comparison, as its name says: a flow (``k``-RF or a baseline), maybe
    distilled, or a Bezier student; maybe trained longer to the compute of ``compute_of``-RF +
    distill. ``str`` gives its name, :meth:`parse` reads one."""

    kind: str  # RF, BEZIER or BASELINE
    k: int = 0  # a k-RF's rectifications
    baseline: str = ""  # a baseline's name, one of BASELINES
    distilled: bool = False  # the flow's distilled student
    degree: int = 0  # a Bezier student's degree, teacher set and objective
    teachers: str = ""
    objective: str = ""
    compute_of: int | None = None  # an equal-compute twin: trained to the compute of this k-RF + distill

    @classmethod
    def rf(cls, k: int) -> Method:
        return cls(RF, k=k)

    @classmethod
    def of_baseline(cls, name: str) -> Method:
        return cls(BASELINE, baseline=name)

    @classmethod
    def bezier(cls, degree: int, teachers: str, objective: str) -> Method:
        return cls(BEZIER, degree=degree, teachers=teachers, objective=objective)

    def distill(self) -> Method:
        """The flow's distilled student."""
        return replace(self, distilled=True)

    def at_compute_of(self, k: int) -> Method:
        """Its twin trained longer, to the compute of ``k``-RF + distill."""
        return replace(self, compute_of=k)

    @property
    def base(self) -> Method:
        """The method an equal-compute twin was trained longer from (itself otherwise)."""
        return replace(self, compute_of=None)

    @property
    def is_bezier(self) -> bool:
        """A Bezier student, its equal-compute twins included."""
        return self.kind == BEZIER

    @property
    def is_distilled_rf(self) -> bool:
        """A k-RF + distill student at its own training (not a twin trained longer)."""
        return self.kind == RF and self.distilled and self.compute_of is None

    @property
    def family(self) -> str:
        """Its family in the rows: k-RF, k-RF + distill, Bezier or baseline (", equal compute" for
        the twins)."""
        if self.kind == BASELINE:
            return BASELINE
        family = BEZIER if self.kind == BEZIER else f"{RF} + distill" if self.distilled else RF
        return family if self.compute_of is None else f"{family}, equal compute"

    def __str__(self) -> str:
        if self.kind == BEZIER:
            name = f"Bezier n={self.degree} [{self.teachers}] {self.objective}"
        else:
            name = (self.baseline if self.kind == BASELINE else f"{self.k}-RF") + (
                " + distill" if self.distilled else ""
            )
        return name if self.compute_of is None else f"{name} @ {self.compute_of}-RF compute"

    @classmethod
    def parse(cls, text: str) -> Method:
        """The method a name names; ValueError when ``text`` is none (only a name as ``str`` writes
        it is one: ``str(Method.parse(text)) == text``)."""
        core, compute_of = text, None
        if twin := _TWIN.fullmatch(text):
            core, compute_of = twin["core"], int(twin["k"])
        if m := _BEZIER.fullmatch(core):
            method = cls.bezier(int(m["degree"]), m["teachers"], m["objective"])
        elif (m := _FLOW.fullmatch(core)) and (m["k"] or m["baseline"] in BASELINES):
            flow = cls.rf(int(m["k"])) if m["k"] else cls.of_baseline(m["baseline"])
            method = flow.distill() if m["distilled"] else flow
        else:
            raise ValueError(f"not a method name: {text!r}")
        method = replace(method, compute_of=compute_of)
        if str(method) != text:
            raise ValueError(f"not a method name: {text!r}")
        return method


def parse_or_none(text: str) -> Method | None:
    """:meth:`Method.parse`, None where ``text`` names no method."""
    try:
        return Method.parse(text)
    except ValueError:
        return None
