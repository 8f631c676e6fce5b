"""One frozen config dataclass per command (the CLI's flags, TOML keys and ``config.json`` of a
run are their fields); the compare config lives beside compare (``compare/config.py``)."""

import math
from dataclasses import dataclass

from ..data.tasks import is_task_spec
from ..errors import BadInput
from ..interpolants import PATHS
from ..objectives import BEZIER_OBJECTIVES, TIME_SAMPLINGS, TRAIN_TIMES
from ..pairings import PAIRINGS
from .fields import check_choice, check_common, check_positive_int, left_at_default, opt, refuse_ignored
from .groups import Anchor, Arch, Common, Optim, Overwrite, RunFlags, Solver

# Named recipes of `train`: the settings they give to the flags a user leaves out.
TRAIN_RECIPES = {"2-rf++": {"time_sampling": "u-shaped", "loss": "pseudo_huber"}}


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
        check_common(self)
        self._check_optim()
        check_choice(self, "path", tuple(PATHS))
        check_choice(self, "pairing", tuple(PAIRINGS))
        check_choice(self, "time_sampling", TRAIN_TIMES)
        check_choice(self, "objective", ("flow", "meanflow"))
        if self.recipe is not None:
            check_choice(self, "recipe", tuple(TRAIN_RECIPES))
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
        check_common(self)
        self._check_optim()
        check_positive_int(self, "k", "consistency_steps")
        self._check_arch("the pairs' teacher")
        check_choice(self, "objective", ("distill", "consistency"))
        if not self.pairs:
            raise BadInput("--pairs is required: a pair folder made by `bezier-distill reflow`")
        if self.objective == "consistency":
            refuse_ignored(self, ("k",), "with --objective consistency (a one-step student)")
        else:
            refuse_ignored(self, ("consistency_steps",), "unless --objective consistency")
        if self.init and not (self.init == "scratch" and self.objective == "consistency"):
            refuse_ignored(self, ("allow_changed_teacher",), "with --init (the pairs' teacher is not used)")



@dataclass(frozen=True)
class ReflowConfig(Anchor, Solver, RunFlags, Common):
    """Generate reflow pairs (z0, teacher ODE(z0)) as resumable shards."""

    out: str = opt("runs/out", "output folder of the pairs: manifest.json and safetensors shards")

    model: str | None = opt(None, "teacher model folder (required)")
    source: str | None = opt(None, "source dataset; default: the teacher's training source")
    n_pairs: int = opt(20000, "number of pairs")
    shard_size: int = opt(5000, "pairs per shard")

    def __post_init__(self) -> None:
        check_common(self)
        check_positive_int(self, "n_pairs", "shard_size")
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
        check_common(self)
        check_positive_int(self, "n_pairs", "shard_size")
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
        check_common(self)
        self._check_optim()
        check_positive_int(self, "k")
        self._check_arch("the end teacher")
        if not (isinstance(self.guide_noise, int | float) and 0 <= self.guide_noise < math.inf):
            raise BadInput(f"--guide-noise must be a non-negative number, got {self.guide_noise!r}")
        check_choice(self, "objective", BEZIER_OBJECTIVES)
        check_choice(self, "time_sampling", TIME_SAMPLINGS)
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
        check_common(self)
        check_positive_int(self, "n")
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
        check_common(self)
        check_positive_int(self, "n")
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
        check_common(self)
        check_positive_int(self, "steps", "batch_size", "n_pairs", "n_eval")


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
        check_common(self)
        check_choice(self, "dataset", ("digits", "mnist", "fashion"))
        check_choice(self, "net", ("a", "b"))
        if isinstance(self.epochs, bool) or not isinstance(self.epochs, int) or self.epochs < 0:
            raise BadInput(f"--epochs must be a non-negative integer, got {self.epochs!r}")
