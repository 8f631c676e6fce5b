"""What a chain is made of: the samplers of a row, a trained model and what it cost (:class:`Model`),
what its teacher stages cost (:class:`Costs`), and the settings every run of a chain shares
(:class:`Chain`), the context :mod:`.chains` and :mod:`.baselines` train in."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..evaluation import DOPRI
from ..solvers import SolverSpec
from .config import CompareConfig
from .naming import Method


@dataclass(frozen=True)
class Sampler:
    """How a model is sampled for a row: its budget label (``"1"``, ``"2"``, ``"ODE"``) and solver."""

    budget: str
    spec: SolverSpec


ONE_STEP = Sampler(budget="1", spec=SolverSpec("euler", 1))
TWO_STEPS = Sampler(budget="2", spec=SolverSpec("euler", 2))
ODE = Sampler(budget="ODE", spec=DOPRI)
CONSISTENCY_TWO = Sampler(budget="2", spec=SolverSpec("consistency", 2))
FLOW_SAMPLERS = (ONE_STEP, TWO_STEPS, ODE)  # a flow: one and two Euler steps, and dopri5
GRIDS = ((1, ONE_STEP), (2, TWO_STEPS))  # a distilled student's segments and its sampler
TRAIN_COST = 3  # forward-pass equivalents of one training sample (forward + backward)


@dataclass(frozen=True)
class Model:
    """One trained model of a chain, how it is sampled, and what it cost."""

    method: Method
    folder: Path
    rectifications: int  # reflows behind its coupling (1-RF teachers only -> 1)
    teacher: Method | None  # the method whose ODE solution it distils (its gap is measured to it)
    seconds: float  # training + coupling generation seconds, everything upstream included
    teacher_nfe: float  # teacher NFE per sample spent on couplings upstream
    stages: int  # training runs upstream, its own included
    teacher_evals: float = 0.0  # teacher evaluations upstream in all (couplings and training targets)
    train_samples: float = 0.0  # training samples upstream, its own included (steps x batch per run)
    samplers: tuple[Sampler, ...] = (ONE_STEP, TWO_STEPS)
    extra: dict = field(default_factory=dict)

    @property
    def family(self) -> str:
        """k-RF, k-RF + distill, Bezier or baseline (the twins trained longer: ", equal compute")."""
        return self.method.family

    @property
    def compute(self) -> float:
        """Network evaluations spent to obtain the model, in forward passes: three per training
        sample (a forward and a backward pass) plus every teacher evaluation upstream."""
        return TRAIN_COST * self.train_samples + self.teacher_evals

    def steps_to(self, compute: float, batch_size: int) -> int:
        """Extra training steps of ``batch_size`` that bring this model to ``compute`` (rounded up)."""
        return math.ceil((compute - self.compute) / (TRAIN_COST * batch_size))

    def trained_longer(self, k: int, extra_steps: int, batch_size: int, **changes) -> Model:
        """Its twin trained ``extra_steps`` more, to the compute of ``k``-RF + distill (named so)."""
        return dataclasses.replace(
            self,
            method=self.method.at_compute_of(k),
            train_samples=self.train_samples + extra_steps * batch_size,
            extra=self.extra | {"equal_compute": str(Method.rf(k).distill())},
            **changes,
        )


@dataclass
class Costs:
    """What the teacher stages of a chain cost, by stage folder (``rf1``, ``rf1b``, ``rf2``, ...):
    seconds and teacher NFE per sample spent on couplings upstream, everything upstream included,
    and training runs; and per k the seconds and teacher NFE up to and including the k-RF's pairs."""

    seconds: dict[str, float] = field(default_factory=dict)
    nfe: dict[str, float] = field(default_factory=dict)
    stages: dict[str, int] = field(default_factory=dict)
    pairs: dict[int, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class Chain:
    """The settings every run of one (dataset, seed) chain shares, and where its runs live."""

    cfg: CompareConfig
    dataset: str
    root: Path
    sizes: dict  # the budgets (--quick's or the configuration's)
    translation: bool  # the source is an image dataset
    train: dict  # every teacher's training options: seed, device, resume, steps, batch size
    arch: dict  # the teachers' architecture, source and data folder
    student: dict  # every student's training options: fresh architecture (else it fine-tunes), steps
    coupling: dict  # every coupling's options (pairs and guided rows)
    pair_solver: dict  # the teachers' solver, as reflow takes it

    @classmethod
    def of(
        cls,
        cfg: CompareConfig,
        sizes: dict,
        dataset: str,
        seed: int,
        root: Path,
        resume: bool,
        *,
        images: bool,
        translation: bool,
    ) -> Chain:
        """The chain of ``dataset`` and ``seed`` under ``root`` (``images``, ``translation``: what the
        datasets are)."""
        train = {"seed": seed, "device": cfg.device, "resume": resume, "overwrite": False}
        train |= {"steps": sizes["steps"], "batch_size": sizes["batch_size"]}
        arch = {"hidden": sizes["hidden"], "layers": sizes["layers"], "channels": cfg.channels}
        arch |= {"blocks": cfg.blocks, "source": cfg.source, "data_dir": cfg.data_dir}
        student = train | cfg.student_arch(images, sizes["hidden"], sizes["layers"])
        student["steps"] = cfg.student_steps or sizes["steps"]
        coupling = {"seed": seed, "device": cfg.device, "data_dir": cfg.data_dir, "resume": resume}
        coupling |= {"n_pairs": sizes["n_pairs"], "shard_size": max(1, sizes["n_pairs"] // 2)}
        solver = cfg.teacher_solver_spec()
        pair_solver = {"solver": solver.method, "solver_steps": solver.steps}
        pair_solver |= {"rtol": solver.rtol, "atol": solver.atol}
        return cls(cfg, dataset, root, sizes, translation, train, arch, student, coupling, pair_solver)

    def folder(self, name: str) -> str:
        """The folder of the chain's run ``name``."""
        return str(self.root / name)

    def model(self, method: Method, name: str, *, learner: bool = False, **costs) -> Model:
        """The model of run ``name`` and its costs; ``learner``: a student (its own run at the
        students' steps)."""
        costs.setdefault("teacher_evals", costs["teacher_nfe"] * self.sizes["n_pairs"])
        teachers = costs["stages"] - 1 if learner else costs["stages"]
        runs = teachers * self.sizes["steps"] + (self.student["steps"] if learner else 0)
        costs.setdefault("train_samples", runs * self.sizes["batch_size"])
        return Model(method=method, folder=self.root / name, **costs)
