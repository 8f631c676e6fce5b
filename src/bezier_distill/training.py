"""The one training loop every recipe uses.

A recipe supplies an :class:`~bezier_distill.objectives.Objective`, which draws the global batch
from the per-step generator; the loop gives each process its rows. Because that generator is the
stream named for the stage, keyed by ``(seed, step)``, a run resumed from a checkpoint draws
exactly the batches the uninterrupted run drew, and reaches the same weights.

Adam with linear warm-up, gradient clipping, an EMA copy (used for sampling),
atomic checkpoints every ``checkpoint_every`` steps, a progress bar with loss
and ETA, and ``metrics.jsonl``.
"""

from __future__ import annotations

import copy
import io
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import distributed
from .errors import BadInput
from .models import parameters_sha256, save_pretrained
from .objectives import Objective
from .seeding import stream
from .storage import atomic_write_bytes, atomic_write_json, check_fields

CHECKPOINT = "checkpoint.pt"
METRICS = "metrics.jsonl"


class TrainingDiverged(BadInput):
    """The loss or the weights became NaN or Inf; the last good checkpoint is kept."""


PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings shared by every recipe."""

    steps: int = 2000
    batch_size: int = 256
    lr: float = 1e-3
    warmup: int = 100
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    checkpoint_every: int = 500
    log_every: int = 50
    seed: int = 0
    precision: str = "fp32"  # "bf16": the forward pass and loss under bfloat16 autocast

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise BadInput(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.warmup, int) or self.warmup < 0:
            raise BadInput(f"warmup must be a non-negative integer, got {self.warmup!r}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise BadInput(f"lr must be a positive number, got {self.lr!r}")
        if not 0 <= self.ema_decay < 1:
            raise BadInput(f"ema_decay must be in [0, 1), got {self.ema_decay!r}")
        if not self.grad_clip > 0:
            raise BadInput(f"grad_clip must be positive, got {self.grad_clip!r}")
        if self.precision not in PRECISIONS:
            raise BadInput(f"unknown precision {self.precision!r}: choose one of {', '.join(PRECISIONS)}")


def _lr_at(settings: TrainSettings, step: int) -> float:
    if settings.warmup == 0:
        return settings.lr
    return settings.lr * min(1.0, step / settings.warmup)


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """EMA with warm-up: the effective decay is ``min(decay, (1 + step) / (10 + step))``."""
    decay = min(decay, (1 + step) / (10 + step))
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1 - decay)


def _save_checkpoint(path: Path, step: int, seconds: float, model, ema, optimizer) -> None:
    buf = io.BytesIO()
    torch.save(
        {
            "step": step,
            "seconds": seconds,
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "optimizer": optimizer.state_dict(),
        },
        buf,
    )
    atomic_write_bytes(path, buf.getvalue())


_CHECKPOINT_FIELDS = {"step": int, "seconds": float, "model": dict, "ema": dict, "optimizer": dict}


def _load_checkpoint(path: Path, *, mmap: bool = False) -> dict:
    """The resume checkpoint, schema-checked (plain tensors and containers only)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # noqa: BLE001 - any failure to read means a corrupt file
        raise BadInput(f"checkpoint {path} is corrupt ({type(e).__name__})") from None
    check_fields(state, _CHECKPOINT_FIELDS, f"checkpoint {path}")
    if state["step"] < 0:
        raise BadInput(f"checkpoint {path}: field 'step' must be >= 0, got {state['step']}")
    return state


def check_checkpoint(out_dir: str | Path, model: nn.Module) -> int | None:
    """The step of ``out_dir``'s checkpoint after checking that it fits ``model``; None if there is none.

    Run before a resumed run writes anything: a checkpoint of another model is refused here,
    naming the file and the entry.
    """
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        return None
    state = _load_checkpoint(path, mmap=True)
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for entry in ("model", "ema"):
        found = {k: tuple(v.shape) if isinstance(v, Tensor) else None for k, v in state[entry].items()}
        if found != expected:
            wrong = sorted(set(found.items()) ^ set(expected.items()))[0][0]
            raise BadInput(
                f"checkpoint {path}: its {entry!r} weights do not fit the model ({wrong!r} differs); "
                "it belongs to another run"
            )
    check_fields(state["optimizer"], {"state": dict, "param_groups": list}, f"checkpoint {path}: 'optimizer'")
    return state["step"]


def _finite(*modules: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for m in modules for p in m.parameters())


LossFunction = Callable[[nn.Module, torch.Generator, slice], Tensor]


def _local_loss(
    objective: Objective | LossFunction, model: nn.Module, generator: torch.Generator, batch: int, device: str
) -> Tensor:
    """The loss of this process's rows of the global batch drawn from ``generator``."""
    part = distributed.local_part(batch)
    if isinstance(objective, Objective):
        rows = {k: v[part].to(device) for k, v in objective.draw(batch, generator).items()}
        return objective(model, rows)
    return objective(model, generator, part)


def check_batch_fits(
    model: nn.Module,
    objective: Objective | LossFunction,
    settings: TrainSettings,
    device: str = "cpu",
    purpose: str = "train",
) -> None:
    """One forward and backward pass of step 1's batch, before the run writes anything.

    A batch that does not fit in memory fails here (the CLI says which setting to lower)
    instead of after the run folder was made. The weights are left as they were.
    """
    model.to(device).train()
    with torch.autocast(
        torch.device(device).type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"
    ):
        loss = _local_loss(objective, model, stream(purpose, settings.seed, 1), settings.batch_size, device)
    loss.float().backward()
    model.zero_grad(set_to_none=True)


def _kept(step: int, path: Path | None) -> str:
    if step and path is not None:
        return f"the last good checkpoint: step {step} is kept in {path}"
    return "no checkpoint was saved yet"


def _trim_metrics(path: Path, last_step: int) -> None:
    """Drop log lines written after the checkpoint we resume from."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= last_step:
                kept.append(line)
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    atomic_write_bytes(path, ("\n".join(kept) + "\n" if kept else "").encode())


def run_seconds(out_dir: str | Path) -> float:
    """Training seconds spent on the run in ``out_dir`` (summed over resumes)."""
    lines = (Path(out_dir) / METRICS).read_text().splitlines()
    return float(json.loads(lines[-1])["seconds"]) if lines else 0.0


def train(
    model: nn.Module,
    objective: Objective | LossFunction,
    settings: TrainSettings,
    out_dir: str | Path | None = None,
    *,
    resume: bool = False,
    device: str = "cpu",
    progress: bool = True,
    desc: str = "train",
    purpose: str = "train",
    provenance: dict | None = None,
) -> nn.Module:
    """Train ``model`` in place and return its EMA copy (saved to ``out_dir/model`` when given).

    ``model`` is any ``nn.Module`` taking ``(x, t)``. Without ``out_dir`` nothing is written:
    no checkpoint, metrics log or saved model (and nothing to resume). The model is saved with
    :func:`~bezier_distill.models.save_pretrained` (a module of another project as plain
    safetensors and a ``config.json`` naming its class).

    ``objective`` is an :class:`~bezier_distill.objectives.Objective`: the loop draws the global
    batch with it from ``generator`` (the stream ``purpose`` keyed by the seed and the step),
    gives this process its rows (all of them in one process; this rank's slice under torchrun)
    and takes the loss of those rows. For full control it may instead be a function
    ``loss_fn(model, generator, part)`` that draws the batch itself and returns the loss of the
    rows ``part``. Recipes name the purpose after the stage and its
    coupling (``train/distill@<digest>``), so no two stages draw the same batches. With
    ``resume=True`` the state in ``out_dir/checkpoint.pt`` is restored and
    training continues from the step after it. ``provenance`` goes into the saved model's
    ``config.json`` (see :func:`~bezier_distill.models.save_pretrained`).
    """
    writes = out_dir is not None
    out_dir = Path(out_dir) if writes else None
    if writes:
        out_dir.mkdir(parents=True, exist_ok=True)
    main = distributed.is_main()
    ckpt_path, metrics_path = (out_dir / CHECKPOINT, out_dir / METRICS) if writes else (None, None)
    model.to(device).train()
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    if isinstance(objective, Objective):
        objective.attach(ema)  # e.g. the target network of consistency distillation
    optimizer = torch.optim.Adam(model.parameters(), lr=settings.lr)
    start, seconds_before = 0, 0.0
    if resume and writes and ckpt_path.is_file():
        state = _load_checkpoint(ckpt_path)
        try:
            model.load_state_dict(state["model"])
            ema.load_state_dict(state["ema"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, KeyError, ValueError, TypeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise BadInput(f"checkpoint {ckpt_path} does not fit the model ({first})") from None
        start, seconds_before = int(state["step"]), float(state["seconds"])
        if main:
            _trim_metrics(metrics_path, start)
    elif main and writes and metrics_path.exists():
        metrics_path.unlink()
    distributed.barrier()
    net = model
    if distributed.world() > 1:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device] if device.startswith("cuda") else None
        )

    device_type = torch.device(device).type
    if device_type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
    bar = tqdm(
        total=settings.steps,
        initial=start,
        desc=desc,
        disable=None if (progress and main) else True,
        dynamic_ncols=True,
        leave=False,
    )
    t_start = time.perf_counter()
    last_saved = start
    log = open(metrics_path, "a") if main and writes else None  # noqa: SIM115 - closed below
    try:
        for step in range(start + 1, settings.steps + 1):
            for group in optimizer.param_groups:
                group["lr"] = _lr_at(settings, step)
            # Batches are drawn on the CPU, so a run draws the same numbers on every device.
            generator = stream(purpose, settings.seed, step)
            with torch.autocast(device_type, dtype=torch.bfloat16, enabled=settings.precision == "bf16"):
                loss = _local_loss(objective, net, generator, settings.batch_size, device).float()
            global_loss = distributed.mean_across_ranks(loss)
            if not torch.isfinite(global_loss):
                raise TrainingDiverged(
                    f"loss became {global_loss.item()} at step {step}; {_kept(last_saved, ckpt_path)}"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
            optimizer.step()
            _ema_update(ema, model, settings.ema_decay, step)
            bar.update(1)
            if log is not None and (step % settings.log_every == 0 or step == settings.steps):
                record = {
                    "step": step,
                    "loss": global_loss.item(),
                    "grad_norm": float(grad_norm),
                    "lr": _lr_at(settings, step),
                    "seconds": round(seconds_before + time.perf_counter() - t_start, 3),
                }
                log.write(json.dumps(record) + "\n")
                log.flush()
                bar.set_postfix(loss=f"{record['loss']:.4f}")
            if step % settings.checkpoint_every == 0 or step == settings.steps:
                if not _finite(model, ema):  # a finite loss does not make finite weights
                    raise TrainingDiverged(
                        f"the weights became NaN or Inf by step {step} although the loss was finite "
                        f"(lower --lr or raise --warmup); {_kept(last_saved, ckpt_path)}"
                    )
                seconds = seconds_before + time.perf_counter() - t_start
                if main and writes:
                    _save_checkpoint(ckpt_path, step, seconds, model, ema, optimizer)
                last_saved = step
    finally:
        bar.close()
        if log is not None:
            log.close()
    if distributed.world() > 1:
        digests = distributed.gather(parameters_sha256(model))
        if main and writes:
            atomic_write_json(
                out_dir / "distributed.json", {"world_size": len(digests), "param_sha256": digests}
            )
    if main and writes:
        save_pretrained(ema, out_dir / "model", provenance=provenance)
    distributed.barrier()
    return ema
