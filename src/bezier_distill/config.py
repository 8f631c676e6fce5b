"""One frozen config dataclass per command, loaded from TOML plus overrides.

Field names are the TOML keys; the CLI flag of field ``batch_size`` is
``--batch-size``. Every field carries its help text, so the CLI is generated
from these classes and cannot drift from them. The resolved config is written
as ``config.json`` beside every artefact.
"""

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from .couplings import PAIRINGS
from .data.tasks import is_task_spec
from .errors import BadInput
from .interpolants import PATHS
from .objectives import BEZIER_OBJECTIVES, LOSSES, TIME_SAMPLINGS, TRAIN_TIMES
from .solvers import SOLVERS, SolverSpec
from .storage import check_fields, read_json
from .teachers import parse_solvers
from .training import PRECISIONS, TrainSettings


def opt(default: Any, help: str) -> Any:
    """A config field with its default and its help text."""
    return field(default=default, metadata={"help": help})


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def _check_positive_int(cfg: Any, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise BadInput(f"{flag_name(name)} must be a positive integer, got {value!r}")


def _check_choice(cfg: Any, name: str, choices: tuple[str, ...]) -> None:
    value = getattr(cfg, name)
    if value not in choices:
        raise BadInput(f"unknown {name.replace('_', ' ')} {value!r}: choose one of {', '.join(choices)}")


def check_device(device: str) -> None:
    """``cpu``, ``cuda`` or ``cuda:N``, and a CUDA device only where one exists."""
    m = re.fullmatch(r"cpu|cuda(?::(\d+))?", device) if isinstance(device, str) else None
    if m is None:
        raise BadInput(f"--device must be cpu, cuda or cuda:N, got {device!r}")
    if device == "cpu":
        return
    if not torch.cuda.is_available():
        raise BadInput(f"--device {device}: no CUDA GPU is available here; use --device cpu")
    count = torch.cuda.device_count()
    if m[1] is not None and int(m[1]) >= count:
        raise BadInput(
            f"--device {device}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )


def _check_device(cfg: Any) -> None:
    """The checks every command's flags share: --device, --seed and a non-empty --out."""
    check_device(cfg.device)
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise BadInput(f"--seed must be a non-negative integer, got {cfg.seed!r}")
    if cfg.out is not None and not str(cfg.out).strip():
        raise BadInput("--out is empty: name the output (an unset shell variable?)")


def refuse_ignored(cfg: Any, names: tuple[str, ...], why: str, fix: str = "leave it out") -> None:
    """Refuse flags that ``cfg``'s mode would ignore (any of ``names`` set away from its default)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    for name in names:
        if getattr(cfg, name) != defaults[name]:
            raise BadInput(f"{flag_name(name)} is ignored {why}: {fix}")


def left_at_default(cfg: Any, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` for the fields of ``cfg`` left at their defaults, ``cfg``'s own for the others
    (a named recipe or a mode's sizes that an explicit flag still overrides)."""
    defaults = {f.name: f.default for f in dataclasses.fields(cfg)}
    return {k: v if getattr(cfg, k) == defaults[k] else getattr(cfg, k) for k, v in values.items()}


def parse_widths(text: str) -> list[int]:
    """``"32,64"`` -> ``[32, 64]`` (UNet widths per level); BadInput unless all are positive."""
    try:
        widths = [int(c) for c in text.split(",")]
    except ValueError:
        widths = []
    if not widths or min(widths) < 1:
        raise BadInput(f"--channels must be comma-separated positive widths, got {text!r}")
    return widths


@dataclass(frozen=True)
class Common:
    """Flags that every command shares."""

    out: str = opt("runs/out", "output folder")
    seed: int = opt(0, "random seed; every random draw derives from it")
    device: str = opt("cpu", "torch device: cpu, cuda or cuda:N")
    data_dir: str | None = opt(
        None,
        "folder of Fashion-MNIST's IDX files (default: the Debian package's) or of CIFAR's binary "
        "batches (cifar-10-batches-bin, cifar-100-binary)",
    )


@dataclass(frozen=True)
class Overwrite:
    overwrite: bool = opt(False, "replace what --out holds instead of refusing")


@dataclass(frozen=True)
class RunFlags(Overwrite):
    resume: bool = opt(False, "continue the run held in --out (its config must match)")


@dataclass(frozen=True)
class Optim:
    steps: int = opt(2000, "training steps")
    batch_size: int = opt(256, "batch size")
    lr: float = opt(1e-3, "peak learning rate (Adam)")
    warmup: int = opt(100, "linear learning-rate warm-up steps")
    grad_clip: float = opt(1.0, "gradient-norm clipping threshold")
    ema_decay: float = opt(0.999, "EMA decay of the weights used for sampling")
    checkpoint_every: int = opt(500, "steps between checkpoints")
    log_every: int = opt(50, "steps between metrics.jsonl lines")
    loss: str = opt("l2", f"regression loss: {', '.join(LOSSES)}")
    precision: str = opt("fp32", f"training precision: {', '.join(PRECISIONS)} (bf16: autocast)")

    def settings(self) -> TrainSettings:
        return TrainSettings(
            steps=self.steps,
            batch_size=self.batch_size,
            lr=self.lr,
            warmup=self.warmup,
            grad_clip=self.grad_clip,
            ema_decay=self.ema_decay,
            checkpoint_every=self.checkpoint_every,
            log_every=self.log_every,
            seed=self.seed,
            precision=self.precision,
        )

    def _check_optim(self) -> None:
        _check_positive_int(self, "steps", "batch_size", "checkpoint_every", "log_every")
        _check_choice(self, "loss", LOSSES)
        if not (isinstance(self.lr, float | int) and self.lr > 0 and math.isfinite(self.lr)):
            raise BadInput(f"--lr must be a positive number, got {self.lr!r}")
        self.settings()


@dataclass(frozen=True)
class Solver:
    solver: str = opt("rk4", f"ODE solver: {', '.join(SOLVERS)}")
    solver_steps: int = opt(50, "steps of a fixed-step solver (NFE = steps x stages)")
    rtol: float = opt(1e-5, "relative tolerance of dopri5")
    atol: float = opt(1e-5, "absolute tolerance of dopri5")

    def solver_spec(self) -> SolverSpec:
        return SolverSpec(self.solver, self.solver_steps, self.rtol, self.atol)

    def _check_solver(self) -> None:
        spec = self.solver_spec()
        if spec.method == "dopri5":
            refuse_ignored(self, ("solver_steps",), "by dopri5 (adaptive: set --rtol and --atol)")
        else:
            refuse_ignored(self, ("rtol", "atol"), f"by {spec.method} (fixed-step: set --solver-steps)")


@dataclass(frozen=True)
class Arch:
    """The architecture of a fresh model (a run that fine-tunes a model takes that model's)."""

    arch: str = opt("auto", "model: mlp, unet, or auto (unet for image data, mlp otherwise)")
    hidden: int = opt(256, "MLP width")
    layers: int = opt(3, "MLP hidden layers")
    channels: str = opt("32,64", "UNet widths, one per resolution level (depth = their number)")
    blocks: int = opt(1, "UNet residual blocks per level")

    def widths(self) -> list[int]:
        return parse_widths(self.channels)

    def fresh_model(self) -> bool:
        return self.init == "scratch"

    def _check_arch(self, default_start: str) -> None:
        """Valid architecture flags, and none set unless the run builds a fresh model (else it
        starts from ``--init`` or ``default_start``)."""
        _check_positive_int(self, "hidden", "layers", "blocks")
        _check_choice(self, "arch", ("auto", "mlp", "unet"))
        self.widths()
        if not self.fresh_model():
            start = f"--init {self.init}" if self.init else default_start
            refuse_ignored(
                self,
                ("arch", "hidden", "layers", "channels", "blocks"),
                f"when training starts from a model ({start})",
                "leave it out, or pass --init scratch for a fresh model",
            )


@dataclass(frozen=True)
class TrainConfig(Optim, Arch, RunFlags, Common):
    """Train a velocity model: 1-RF on (source, data), or k-RF on stored pairs."""

    out: str = opt("runs/out", "output folder: model/, checkpoint.pt, metrics.jsonl, config.json")

    data: str = opt(
        "8gaussians",
        "target dataset: a name, an image dataset, a paired task TASK:DATASET (superres:digits, "
        "inpaint:mnist, denoise:digits:sigma=0.3, thin:digits: trained on its given pairs), "
        "or a .npy/.csv point file",
    )
    reference: str | None = opt(
        None, "point file of held-out data for --data (then all of --data trains); default: a fifth of it"
    )
    source: str = opt(
        "gaussian",
        "source dataset (pi0): gaussian, or any dataset (translation); a paired task's are its inputs",
    )
    source_noise: float = opt(
        0.0, "a paired task: standard deviation of Gaussian noise added to its inputs in every draw"
    )
    pairs: str | None = opt(None, "pair folder from `reflow`: train k-RF on it instead")
    init: str | None = opt(
        None, "model folder to start from, or 'scratch'; default: the pairs' teacher, or scratch"
    )
    allow_changed_teacher: bool = opt(
        False, "use the coupling although its teacher's weights differ from the SHA-256 it recorded"
    )
    path: str = opt("straight", f"interpolant: {', '.join(PATHS)} (cosine: a diffusion-style teacher)")
    pairing: str = opt(
        "independent",
        "how 1-RF pairs source and data draws in each batch: independent, ot (exact minibatch "
        "optimal transport, OT-CFM), feature-ot (the same in the target's classifier features) or "
        "class (same class; labelled images): the last two keep an image's content in translation",
    )
    time_sampling: str = opt(
        "uniform", "training times: uniform, or u-shaped (density exp(4t) + exp(4(1 - t)), as 2-RF++)"
    )
    objective: str = opt(
        "flow",
        "flow: velocity matching (rectified flow); meanflow: the average velocity over an interval "
        "(MeanFlow, a model with two time inputs; sample it with --solver euler)",
    )
    meanflow_ratio: float = opt(0.25, "meanflow: the fraction of training intervals with s != t")
    recipe: str | None = opt(
        None,
        "a named recipe whose settings replace those left at their defaults: 2-rf++ (on --pairs: "
        "u-shaped times, pseudo-Huber loss, starting from the pairs' teacher; Lee et al. 2024)",
    )

    def __post_init__(self) -> None:
        _check_device(self)
        self._check_optim()
        _check_choice(self, "path", tuple(PATHS))
        _check_choice(self, "pairing", tuple(PAIRINGS))
        _check_choice(self, "time_sampling", TRAIN_TIMES)
        _check_choice(self, "objective", ("flow", "meanflow"))
        if self.recipe is not None:
            _check_choice(self, "recipe", tuple(TRAIN_RECIPES))
            if not self.pairs:
                raise BadInput(f"--recipe {self.recipe} reflows a flow: pass --pairs (from `reflow`)")
            for name, value in left_at_default(self, TRAIN_RECIPES[self.recipe]).items():
                object.__setattr__(self, name, value)
        if not 0 <= self.meanflow_ratio <= 1:
            raise BadInput(f"--meanflow-ratio must lie in [0, 1], got {self.meanflow_ratio}")
        if self.objective != "meanflow":
            refuse_ignored(self, ("meanflow_ratio",), "unless --objective meanflow")
        elif self.path != "straight":
            raise BadInput("--objective meanflow trains on the straight path: leave --path out")
        if not (isinstance(self.source_noise, int | float) and 0 <= self.source_noise < math.inf):
            raise BadInput(f"--source-noise must be a non-negative number, got {self.source_noise!r}")
        if self.pairs:
            refuse_ignored(
                self,
                ("data", "source", "source_noise"),
                "with --pairs (the pair folder fixes source and data)",
            )
            refuse_ignored(self, ("pairing",), "with --pairs (the pair folder fixes the pairs)")
        elif is_task_spec(self.data):
            refuse_ignored(
                self,
                ("source", "pairing"),
                f"with the paired task {self.data} (its inputs are the source, paired with the truth)",
            )
        else:
            refuse_ignored(self, ("source_noise",), "unless --data is a paired task (e.g. superres:digits)")
        if self.init or not self.pairs:
            refuse_ignored(self, ("allow_changed_teacher",), "unless the run starts from the pairs' teacher")
        self._check_arch("the pairs' teacher")

    def fresh_model(self) -> bool:
        """Whether the run builds a fresh model (else it fine-tunes --init or the pairs' teacher)."""
        return self.init == "scratch" or not (self.init or self.pairs)


ANCHORS = ("noise", "data")

# Named recipes of `train`: the settings they give to the flags a user leaves out.
TRAIN_RECIPES = {"2-rf++": {"time_sampling": "u-shaped", "loss": "pseudo_huber"}}


@dataclass(frozen=True)
class DistillConfig(Optim, Arch, RunFlags, Common):
    """Distill a k-RF into a one-step (k = 1) or k-step student from stored pairs."""

    out: str = opt("runs/out", "output folder of the student: model/, checkpoint.pt, metrics.jsonl")

    pairs: str | None = opt(None, "pair folder from `reflow` (required)")
    init: str | None = opt(
        None, "model folder to start from, or 'scratch' (a fresh student); default: the pairs' teacher"
    )
    k: int = opt(1, "number of student steps (t drawn from {0, 1/k, ...})")
    objective: str = opt(
        "distill",
        "distill: regress on the pairs; consistency: consistency distillation from the pairs' teacher "
        "on fresh noise and its training data (one-step student; the EMA is the target network)",
    )
    consistency_steps: int = opt(18, "consistency: the number of intervals of the time grid")
    allow_changed_teacher: bool = opt(
        False, "use the coupling although its teacher's weights differ from the SHA-256 it recorded"
    )

    def __post_init__(self) -> None:
        _check_device(self)
        self._check_optim()
        _check_positive_int(self, "k", "consistency_steps")
        self._check_arch("the pairs' teacher")
        _check_choice(self, "objective", ("distill", "consistency"))
        if not self.pairs:
            raise BadInput("--pairs is required: a pair folder made by `bezier-distill reflow`")
        if self.objective == "consistency":
            refuse_ignored(self, ("k",), "with --objective consistency (a one-step student)")
        else:
            refuse_ignored(self, ("consistency_steps",), "unless --objective consistency")
        if self.init and not (self.init == "scratch" and self.objective == "consistency"):
            refuse_ignored(self, ("allow_changed_teacher",), "with --init (the pairs' teacher is not used)")


@dataclass(frozen=True)
class Anchor:
    """Where the rows of a stored coupling start."""

    anchor: str = opt(
        "noise",
        "where rows start: noise (source draws, the teacher's ODE forward) or data (draws of the end "
        "teacher's training data, its ODE solved backward to their noise; P_n is the data itself)",
    )

    def _check_anchor(self) -> None:
        _check_choice(self, "anchor", ANCHORS)
        if self.anchor == "data":
            refuse_ignored(self, ("source",), "with --anchor data (rows start from the data)")


@dataclass(frozen=True)
class ReflowConfig(Anchor, Solver, RunFlags, Common):
    """Generate reflow pairs (z0, teacher ODE(z0)) as resumable shards."""

    out: str = opt("runs/out", "output folder of the pairs: manifest.json and safetensors shards")

    model: str | None = opt(None, "teacher model folder (required)")
    source: str | None = opt(None, "source dataset; default: the teacher's training source")
    n_pairs: int = opt(20000, "number of pairs")
    shard_size: int = opt(5000, "pairs per shard")

    def __post_init__(self) -> None:
        _check_device(self)
        _check_positive_int(self, "n_pairs", "shard_size")
        self._check_anchor()
        self._check_solver()
        if not self.model:
            raise BadInput("--model is required: the teacher's model folder")


@dataclass(frozen=True)
class GuideConfig(Anchor, RunFlags, Common):
    """Generate a guided coupling: Bezier control points whose interior guides come from teachers."""

    out: str = opt("runs/out", "output folder of the coupling: manifest.json and safetensors shards")

    teachers: str | None = opt(None, "comma-separated teacher model folders (required); indices from 0")
    teacher_solvers: str = opt("rk4:50", "solver per teacher, e.g. 'rk4:50' or 'rk4:50,dopri5'")
    degree: int = opt(2, "Bezier degree n (1 = reflow pairs, 2 = quadratic, 3 = cubic, ...)")
    guides: str = opt(
        "state", "guide per interior point: KIND[:i[@w]+j[@w]] separated by ';' (endpoint, state, onestep)"
    )
    guide_as: str = opt("through", "state guides as raw control points ('control') or passed 'through'")
    end_teacher: int = opt(0, "index of the teacher whose ODE solution is the end point P_n")
    source: str | None = opt(None, "source dataset; default: the end teacher's training source")
    n_pairs: int = opt(20000, "number of source draws (rows of the coupling)")
    shard_size: int = opt(5000, "rows per shard")

    def __post_init__(self) -> None:
        _check_device(self)
        _check_positive_int(self, "n_pairs", "shard_size")
        self._check_anchor()
        if not self.teachers:
            raise BadInput("--teachers is required: comma-separated teacher model folders")
        if isinstance(self.degree, bool) or not isinstance(self.degree, int) or self.degree < 1:
            raise BadInput(f"--degree must be an integer >= 1, got {self.degree!r}")
        if self.end_teacher < 0:
            raise BadInput(f"--end-teacher must be a teacher index >= 0, got {self.end_teacher}")


@dataclass(frozen=True)
class BezierConfig(Optim, Arch, RunFlags, Common):
    """Bezier Distillation: train a one- or few-step student on a guided coupling."""

    out: str = opt("runs/out", "output folder of the student: model/, checkpoint.pt, metrics.jsonl")

    coupling: str | None = opt(None, "guided coupling folder from `guide` (required)")
    init: str | None = opt(
        None, "model folder to start from, or 'scratch' (a fresh student); default: the end teacher"
    )
    allow_changed_teacher: bool = opt(
        False, "use the coupling although its teacher's weights differ from the SHA-256 it recorded"
    )
    objective: str = opt(
        "chord",
        f"objective: {', '.join(BEZIER_OBJECTIVES)} (chord: a two-step student, the measured default; "
        "end: a one-step student, best with --time-sampling mixed)",
    )
    k: int = opt(2, "grid steps of the chord objective (and of --time-sampling grid)")
    time_sampling: str = opt("uniform", f"training times of end/tangent: {', '.join(TIME_SAMPLINGS)}")
    guide_noise: float = opt(
        0.0, "standard deviation of Gaussian noise added to the interior control points of every batch"
    )

    def __post_init__(self) -> None:
        _check_device(self)
        self._check_optim()
        _check_positive_int(self, "k")
        self._check_arch("the end teacher")
        if not (isinstance(self.guide_noise, int | float) and 0 <= self.guide_noise < math.inf):
            raise BadInput(f"--guide-noise must be a non-negative number, got {self.guide_noise!r}")
        _check_choice(self, "objective", BEZIER_OBJECTIVES)
        _check_choice(self, "time_sampling", TIME_SAMPLINGS)
        if not self.coupling:
            raise BadInput("--coupling is required: a folder made by `bezier-distill guide`")
        if self.init:
            refuse_ignored(self, ("allow_changed_teacher",), "with --init (the end teacher is not used)")


@dataclass(frozen=True)
class SampleConfig(Solver, Overwrite, Common):
    """Draw samples from a model with a chosen solver; write .npy (+ .png, .json)."""

    out: str = opt("samples.npy", "output .npy file (a .json and, for 2-D, a .png beside it)")
    model: str | None = opt(None, "model folder (required)")
    source: str | None = opt(None, "source dataset; default: the model's training source")
    n: int = opt(2000, "number of samples")

    def __post_init__(self) -> None:
        _check_device(self)
        _check_positive_int(self, "n")
        self._check_solver()
        if not self.model:
            raise BadInput("--model is required: a model folder")


@dataclass(frozen=True)
class EvaluateConfig(Solver, Overwrite, Common):
    """Score a model's samples against the data, beside the noise floor."""

    out: str | None = opt(None, "write the report to this .json file too")
    model: str | None = opt(None, "model folder (required)")
    data: str | None = opt(None, "dataset to score against; default: the model's training data")
    reference: str | None = opt(
        None, "point file of held-out data to score against; default: the held-out part of the data"
    )
    source: str | None = opt(None, "source dataset; default: the model's training source")
    n: int = opt(2000, "number of samples (and of reference points; held-out data may hold fewer)")
    inception_weights: str | None = opt(
        None, "images: also score standard Inception FID with this weights file (needs torch-fidelity)"
    )

    def __post_init__(self) -> None:
        _check_device(self)
        _check_positive_int(self, "n")
        self._check_solver()
        if not self.model:
            raise BadInput("--model is required: a model folder")
        if not self.out:
            refuse_ignored(self, ("overwrite",), "without --out (nothing is written)")


@dataclass(frozen=True)
class DemoConfig(RunFlags, Common):
    """1-RF -> pairs -> 2-RF -> distill on a 2-D dataset, or a translation chain (1-RF -> distill,
    guide -> Bezier) on a paired task, with a table and plots."""

    out: str = opt("runs/demo", "output folder (every stage's run, report.md, results.json, PNGs)")
    data: str = opt(
        "8gaussians",
        "target dataset name or point file, or a paired task (e.g. superres:digits: a translation "
        "chain with a small UNet; sizes left at their defaults become 600 steps, batch 128, 2000 pairs)",
    )
    source: str = opt("gaussian", "source dataset name or point file")
    steps: int = opt(3000, "training steps of each stage")
    batch_size: int = opt(512, "batch size of each stage")
    n_pairs: int = opt(20000, "reflow pairs")
    n_eval: int = opt(2000, "evaluation samples")

    def __post_init__(self) -> None:
        _check_device(self)
        _check_positive_int(self, "steps", "batch_size", "n_pairs", "n_eval")


TEACHER_SETS = (
    "1-RF",
    "1-RF x2",
    "1-RF+2-RF",
    "1-RF endpoint",
    "1-RF control",
    "1-RF guides+2-RF end",
    "1-RF data-anchored",
)
# Bezier objectives of a comparison: OBJECTIVE, or OBJECTIVE/TIME-SAMPLING for end and tangent
COMPARE_OBJECTIVES = (
    *BEZIER_OBJECTIVES,
    *(f"{o}/{t}" for o in ("end", "end-space", "tangent") for t in TIME_SAMPLINGS if t != "uniform"),
)
BASELINES = ("2-RF++", "OT-CFM", "CD", "MeanFlow")
_BEZIER_NAME = re.compile(r"^Bezier n=(?P<degree>\d+) \[(?P<teachers>[^\]]+)\] (?P<objective>[\w/.@-]+)$")
_DISTILLED_NAME = re.compile(r"^(?P<k>\d+)-RF \+ distill$")


def _variant_of(objective: str) -> str | None:
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
        "Bezier n=2 [1-RF] end", "the Bezier recipe that decides the one-step claims (named before the run)"
    )
    baseline_one_step: str = opt("1-RF + distill", "the k-RF + distill baseline of the one-step claim 2")
    primary_two_step: str = opt(
        "Bezier n=2 [1-RF] chord", "the Bezier recipe that decides the two-step claim (named before the run)"
    )
    baseline_two_step: str = opt("1-RF + distill", "the k-RF + distill baseline of the two-step claim")
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
        _check_device(self)
        _check_positive_int(self, "steps", "batch_size", "hidden", "layers", "n_pairs", "n_eval", "blocks")
        if not [d for d in self.datasets.split(",") if d.strip()]:
            raise BadInput("--datasets is empty")
        _check_choice(self, "pairing", tuple(PAIRINGS))
        if self.rectifications not in (2, 3, 4):
            raise BadInput(f"--rectifications must be 2, 3 or 4, got {self.rectifications!r}")
        for name, choices in (("teacher_sets", TEACHER_SETS), ("objectives", COMPARE_OBJECTIVES)):
            bad = [x for x in _items(getattr(self, name)) if _variant_of(x) not in choices]
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
        if self.teacher_set_of(self.primary_one_step) not in ("1-RF", "1-RF x2"):
            raise BadInput(
                f"--primary-one-step {self.primary_one_step!r} decides claim 1 (fewer rectifications): "
                "it must be built from 1-RF teachers only (teacher set 1-RF or '1-RF x2')"
            )
        for name in ("baseline_one_step", "baseline_two_step"):
            m = _DISTILLED_NAME.match(getattr(self, name))
            if not m or not 1 <= int(m["k"]) <= self.rectifications:
                raise BadInput(
                    f"{flag_name(name)} must name a k-RF + distill student with k in "
                    f"1..{self.rectifications}, e.g. '1-RF + distill', got {getattr(self, name)!r}"
                )

    def _check_bezier_recipe(self, name: str) -> None:
        value = getattr(self, name)
        m = _BEZIER_NAME.match(value)
        if (
            not m
            or int(m["degree"]) not in self.degree_list()
            or m["teachers"] not in self.teacher_set_list()
            or m["objective"] not in self.objective_list()
        ):
            raise BadInput(
                f"{flag_name(name)} must name a Bezier student of this comparison, "
                "'Bezier n=DEGREE [TEACHERS] OBJECTIVE' with DEGREE in --degrees, TEACHERS in "
                f"--teacher-sets and OBJECTIVE in --objectives, got {value!r}"
            )

    @staticmethod
    def teacher_set_of(method: str) -> str | None:
        m = _BEZIER_NAME.match(method)
        return m["teachers"] if m else None

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


@dataclass(frozen=True)
class ClassifierConfig(Overwrite, Common):
    """Train the feature-FID classifier of a built-in image dataset (shipped in the package)."""

    out: str | None = opt(None, "output folder; default: the package's weights folder")
    dataset: str = opt("digits", "built-in image dataset: digits, mnist or fashion")
    net: str = opt(
        "a",
        "feature network: a (small CNN, shipped with seed 0) or b (residual CNN with 5x5 kernels "
        "and group norm, shipped with --seed 1)",
    )
    epochs: int = opt(0, "training epochs; 0 picks the default of the dataset and net")

    def __post_init__(self) -> None:
        _check_device(self)
        _check_choice(self, "dataset", ("digits", "mnist", "fashion"))
        _check_choice(self, "net", ("a", "b"))
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise BadInput(f"--epochs must be a non-negative integer, got {self.epochs!r}")


def _type_ok(value: Any, annotation: Any) -> bool:
    if annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, annotation)


# Keys whose value is a list, written as text on the command line (``--seeds 0,1,2``); a TOML
# file may give them as arrays instead (``seeds = [0, 1, 2]``). Guides are separated by ';'.
LIST_KEYS = {
    "channels": ",",
    "teachers": ",",
    "teacher_solvers": ",",
    "guides": ";",
    "datasets": ",",
    "seeds": ",",
    "degrees": ",",
    "teacher_sets": ",",
    "objectives": ",",
    "baselines": ",",
    "student_channels": ",",
}


def _from_array(key: str, value: Any) -> Any:
    """A TOML array of a list key as the text its flag takes; other values unchanged."""
    if key not in LIST_KEYS or not isinstance(value, list):
        return value
    if not value or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
        raise BadInput(f"config key {key!r} must be a non-empty array of strings or integers, got {value!r}")
    return LIST_KEYS[key].join(str(v) for v in value)


def load(cls: type, toml_path: str | None = None, overrides: dict[str, Any] | None = None):
    """Build ``cls`` from an optional TOML file, then ``overrides`` (None values ignored).

    In the file, list keys (:data:`LIST_KEYS`) may be arrays or the flag's text.
    """
    values: dict[str, Any] = {}
    if toml_path is not None:
        path = Path(toml_path)
        try:
            values = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise BadInput(f"config file {path} does not exist") from None
        except (OSError, UnicodeDecodeError) as e:
            raise BadInput(f"config file {path} cannot be read ({e})") from None
        except tomllib.TOMLDecodeError as e:
            raise BadInput(f"config file {path} is not valid TOML ({e})") from None
        values = {k: _from_array(k, v) for k, v in values.items()}
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key not in hints:
            raise BadInput(
                f"unknown config key {key!r} for {cls.__name__}; known keys: {', '.join(sorted(hints))}"
            )
        if not _type_ok(value, hints[key]):
            kind = getattr(hints[key], "__name__", str(hints[key]))
            raise BadInput(f"config key {key!r} must be of type {kind}, got {value!r}")
    return cls(**values)


def to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as a JSON-ready dict (without the run flags)."""
    d = dataclasses.asdict(cfg)
    d.pop("resume", None)
    d.pop("overwrite", None)
    return d


CONFIGS = (
    TrainConfig,
    DistillConfig,
    ReflowConfig,
    GuideConfig,
    BezierConfig,
    SampleConfig,
    EvaluateConfig,
    DemoConfig,
    CompareConfig,
    ClassifierConfig,
)


def _annotations() -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for cls in CONFIGS:
        for key, hint in typing.get_type_hints(cls).items():
            found.setdefault(key, []).append(hint)
    return found


def read_run_config(path: str | Path) -> dict[str, Any]:
    """A run folder's ``config.json``, schema-checked.

    It must be a JSON object with ``out`` and ``seed``, and every key that some command
    knows must have that command's type (``pairs: 5`` is refused, naming the file and the
    key). Keys no command knows are kept as they are.
    """
    where = f"run config {path}"
    cfg = check_fields(read_json(path, what="run config"), {"out": str, "seed": int}, where)
    for key, value in cfg.items():
        hints = _annotations().get(key)
        if hints and not any(_type_ok(value, h) for h in hints):
            kind = getattr(hints[0], "__name__", str(hints[0]))
            raise BadInput(f"{where}: field {key!r} must be of type {kind}, got {value!r}")
    return cfg
