"""The config of ``bezier-distill compare``: datasets, seeds, budgets, the methods to run and the
recipes that decide the claims, named before the run."""

import dataclasses
import math
import shlex
from dataclasses import dataclass

from ..config.fields import check_choice, check_common, check_positive_int, flag_name, opt, parse_widths
from ..config.groups import Common, RunFlags
from ..errors import BadInput
from ..pairings import PAIRINGS
from ..solvers import SolverSpec
from ..teachers import parse_solvers
from .naming import (
    BASELINES,
    BEZIER,
    COMPARE_OBJECTIVES,
    ONE_RF_SETS,
    TEACHER_SETS,
    Method,
    is_compare_objective,
    parse_or_none,
)


def _items(text: str) -> list[str]:
    return [x.strip() for x in text.split(",") if x.strip()]


@dataclass(frozen=True)
class CompareConfig(RunFlags, Common):
    """k-RF, k-RF + distill and Bezier Distillation on equal budgets, over datasets and seeds."""

    out: str = opt("runs/compare", "output folder (report.md, results.csv, plots, every run)")
    datasets: str = opt("8gaussians,moons,checkerboard,spirals", "comma-separated target datasets")
    seeds: str = opt("0,1,2,3,4", "comma-separated seeds (the paired statistics are over these)")
    steps: int = opt(2000, "training steps of every stage")
    batch_size: int = opt(256, "batch size of every stage")
    hidden: int = opt(256, "MLP width of teachers and students")
    layers: int = opt(3, "MLP hidden layers")
    n_pairs: int = opt(10000, "pairs / guided rows per coupling")
    n_eval: int = opt(2000, "evaluation samples per row")
    teacher_solver: str = opt("rk4:50", "solver of every teacher when making pairs and guides")
    source: str = opt("gaussian", "source dataset (pi0); an image dataset makes it a translation task")
    channels: str = opt("32,64", "UNet widths per level (image datasets)")
    blocks: int = opt(1, "UNet residual blocks per level (image datasets)")
    pairing: str = opt(
        "independent",
        "how the 1-RF teachers pair source and data draws: independent, ot, feature-ot or class (the "
        "last two pair a translation by content)",
    )
    rectifications: int = opt(3, "train k-RF for k up to this (2, 3 or 4), each distilled")
    degrees: str = opt("2,3", "Bezier degrees, comma-separated")
    teacher_sets: str = opt(
        "1-RF,1-RF x2,1-RF+2-RF",
        "Bezier teacher sets, comma-separated: 1-RF (state guides passed through), '1-RF x2', 1-RF+2-RF "
        "(averaged states), '1-RF endpoint', '1-RF control' (states as raw control points), "
        "'1-RF guides+2-RF end' (the 1-RF's states inside, the 2-RF's end), '1-RF data-anchored' "
        "(rows from training data, the 1-RF solved backward)",
    )
    objectives: str = opt(
        "end,tangent,chord",
        "Bezier objectives, comma-separated (end-space: end with its loss on the predicted end); "
        "end, end-space and tangent may name their time sampling, e.g. end/grid (only the grid "
        "times: the true teacher states), end/u-shaped, end/mixed; '@S' adds "
        "guide noise of standard deviation S, e.g. end@0.1",
    )
    student_hidden: int = opt(
        0, "MLP width of fresh students (distilled, Bezier, CD); 0: fine-tune the teacher"
    )
    student_layers: int = opt(0, "MLP hidden layers of fresh students; 0: the teachers' --layers")
    student_steps: int = opt(
        0, "training steps of every student (distilled, Bezier, CD); 0: --steps, as the teachers"
    )
    student_channels: str = opt(
        "", "UNet widths of fresh students (image datasets); empty: fine-tune the teacher"
    )
    baselines: str = opt(
        ",".join(BASELINES),
        "the field's few-step baselines to run beside them, comma-separated (empty: none), each at the "
        "training samples of 1-RF + distill",
    )
    primary_one_step: str = opt(
        str(Method.bezier(2, "1-RF", "end")),
        "the Bezier recipe that decides the one-step claims (named before the run)",
    )
    baseline_one_step: str = opt(
        str(Method.rf(1).distill()), "the k-RF + distill baseline of the one-step claim 2"
    )
    primary_two_step: str = opt(
        str(Method.bezier(2, "1-RF", "chord")),
        "the Bezier recipe that decides the two-step claim (named before the run)",
    )
    baseline_two_step: str = opt(
        str(Method.rf(1).distill()), "the k-RF + distill baseline of the two-step claim"
    )
    margin: float = opt(
        0.05, "equivalence margin as a fraction of the mean noise floor, fixed before the run"
    )
    equal_compute: str = opt(
        "",
        "the frontier: comma-separated k in 2..--rectifications; the primary Bezier recipes are also "
        "trained longer, to the compute of each k-RF + distill, and claim 1 is decided there",
    )
    quick: bool = opt(False, "a small run for tests (2 datasets, 2 seeds, tiny budgets); sizes ignored")

    def __post_init__(self) -> None:
        check_common(self)
        check_positive_int(self, "steps", "batch_size", "hidden", "layers", "n_pairs", "n_eval", "blocks")
        if not [d for d in self.datasets.split(",") if d.strip()]:
            raise BadInput("--datasets is empty")
        check_choice(self, "pairing", tuple(PAIRINGS))
        if self.rectifications not in (2, 3, 4):
            raise BadInput(f"--rectifications must be 2, 3 or 4, got {self.rectifications!r}")
        self._check_methods()
        parse_widths(self.channels)
        try:
            seeds = [int(x) for x in self.seeds.split(",")]
        except ValueError:
            seeds = [-1]
        if min(seeds) < 0:
            raise BadInput(f"--seeds must be comma-separated integers >= 0, got {self.seeds!r}")
        self.teacher_solver_spec()
        if not (isinstance(self.margin, float | int) and 0 < self.margin < math.inf):
            raise BadInput(f"--margin must be a positive number, got {self.margin!r}")
        self._check_recipes()

    def _check_methods(self) -> None:
        """The teacher sets, objectives, students, baselines and degrees of the methods to run."""
        listed = (
            ("teacher_sets", TEACHER_SETS, TEACHER_SETS.__contains__),
            ("objectives", COMPARE_OBJECTIVES, is_compare_objective),
        )
        for name, choices, known in listed:
            bad = [x for x in _items(getattr(self, name)) if not known(x)]
            if bad or not _items(getattr(self, name)):
                raise BadInput(
                    f"{flag_name(name)} must list some of {', '.join(choices)}, got {bad or 'none'}"
                )
        for name in ("student_hidden", "student_layers", "student_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise BadInput(f"{flag_name(name)} must be a non-negative integer, got {value!r}")
        if self.student_channels:
            parse_widths(self.student_channels)
        bad = [x for x in self.baseline_list() if x not in BASELINES]
        if bad:
            raise BadInput(f"--baselines must list some of {', '.join(BASELINES)} (or none), got {bad}")
        try:
            degrees = self.degree_list()
        except ValueError:
            degrees = []
        if not degrees or min(degrees) < 2:
            raise BadInput(f"--degrees must be comma-separated integers >= 2, got {self.degrees!r}")

    def _check_recipes(self) -> None:
        """The recipes named before the run to decide the claims, and the equal-compute k."""
        for name in ("primary_one_step", "primary_two_step"):
            self._check_bezier_recipe(name)
        try:
            ks = self.equal_compute_list()
        except ValueError:
            ks = [0]
        if any(not 2 <= k <= self.rectifications for k in ks):
            raise BadInput(
                f"--equal-compute must list rectification counts k in 2..{self.rectifications} "
                f"(--rectifications), e.g. 2 or 2,3, got {self.equal_compute!r}"
            )
        if parse_or_none(self.primary_one_step).teachers not in ONE_RF_SETS:
            raise BadInput(
                f"--primary-one-step {self.primary_one_step!r} decides claim 1 (fewer rectifications): "
                "it must be built from 1-RF teachers only (teacher set 1-RF or '1-RF x2')"
            )
        for name in ("baseline_one_step", "baseline_two_step"):
            m = parse_or_none(getattr(self, name))
            if not (m and m.is_distilled_rf and 1 <= m.k <= self.rectifications):
                raise BadInput(
                    f"{flag_name(name)} must name a k-RF + distill student with k in "
                    f"1..{self.rectifications}, e.g. '1-RF + distill', got {getattr(self, name)!r}"
                )

    def _check_bezier_recipe(self, name: str) -> None:
        value = getattr(self, name)
        m = parse_or_none(value)
        if (
            not m
            or m.kind != BEZIER
            or m.compute_of is not None
            or m.degree not in self.degree_list()
            or m.teachers not in self.teacher_set_list()
            or m.objective not in self.objective_list()
        ):
            raise BadInput(
                f"{flag_name(name)} must name a Bezier student of this comparison, "
                "'Bezier n=DEGREE [TEACHERS] OBJECTIVE' with DEGREE in --degrees, TEACHERS in "
                f"--teacher-sets and OBJECTIVE in --objectives, got {value!r}"
            )

    def teacher_solver_spec(self) -> SolverSpec:
        """The teachers' solver (``rk4:50``, ``dopri5``, ...); BadInput when it cannot be read."""
        return parse_solvers(self.teacher_solver, 1, flag="--teacher-solver")[0]

    def equal_compute_list(self) -> list[int]:
        return [int(k) for k in _items(self.equal_compute)]

    def degree_list(self) -> list[int]:
        return [int(d) for d in _items(self.degrees)]

    def teacher_set_list(self) -> list[str]:
        return _items(self.teacher_sets)

    def objective_list(self) -> list[str]:
        return _items(self.objectives)

    def baseline_list(self) -> list[str]:
        return _items(self.baselines)

    def student_arch(self, images: bool, hidden: int, layers: int) -> dict:
        """The arguments that make a student fresh and smaller than its teachers (of MLP width
        ``hidden`` and depth ``layers``); empty: students fine-tune their teacher, the default."""
        if images and self.student_channels:
            return {"init": "scratch", "channels": self.student_channels, "blocks": self.blocks}
        if not images and (self.student_hidden or self.student_layers):
            return {
                "init": "scratch",
                "hidden": self.student_hidden or hidden,
                "layers": self.student_layers or layers,
            }
        return {}

    def command(self) -> str:
        """The command line that reproduces this configuration (every flag that differs from its
        default)."""
        parts = ["bezier-distill compare"]
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("resume", "overwrite") or value == f.default:
                continue
            parts.append(
                flag_name(f.name) if value is True else f"{flag_name(f.name)} {shlex.quote(str(value))}"
            )
        return " ".join(parts)
