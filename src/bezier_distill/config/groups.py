"""The flag groups that several commands share (a command's config inherits the groups it takes)."""

import math
from dataclasses import dataclass

from ..errors import BadInput
from ..objectives import LOSSES
from ..solvers import SOLVERS, SolverSpec
from ..training import PRECISIONS, TrainSettings
from .fields import check_choice, check_positive_int, opt, parse_widths, refuse_ignored

ANCHORS = ("noise", "data")
COMMAND_CONFIGS: list[type] = []  # every command's config, registered by subclassing Common


@dataclass(frozen=True)
class Common:
    """Flags that every command shares; a command's config subclasses it (and is registered)."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        COMMAND_CONFIGS.append(cls)

    out: str = opt("runs/out", "output folder")
    seed: int = opt(0, "random seed; every random draw derives from it")
    device: str = opt("cpu", "torch device: cpu, cuda or cuda:N")
    data_dir: str | None = opt(
        None,
        "folder of Fashion-MNIST's IDX files (default: $BEZIER_DISTILL_FASHION_DIR, else the Debian "
        "package's) or of CIFAR's binary "
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
        check_positive_int(self, "steps", "batch_size", "checkpoint_every", "log_every")
        check_choice(self, "loss", LOSSES)
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
        check_positive_int(self, "hidden", "layers", "blocks")
        check_choice(self, "arch", ("auto", "mlp", "unet"))
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
class Anchor:
    """Where the rows of a stored coupling start."""

    anchor: str = opt(
        "noise",
        "where rows start: noise (source draws, the teacher's ODE forward) or data (draws of the end "
        "teacher's training data, its ODE solved backward to their noise; P_n is the data itself)",
    )

    def _check_anchor(self) -> None:
        check_choice(self, "anchor", ANCHORS)
        if self.anchor == "data":
            refuse_ignored(self, ("source",), "with --anchor data (rows start from the data)")

