"""Multi-process runs with PyTorch's own engine (``torchrun`` + DistributedDataParallel).

``torchrun --nproc_per_node=N bezier-distill train ...`` sets ``WORLD_SIZE`` and
``RANK``; :func:`init_from_env` then joins the process group (gloo on CPU,
nccl on CUDA). Every rank draws the same global batch from the per-step
generator and trains on its slice, so N processes follow the single-process
run with the same global batch (up to float summation order). Only rank 0
writes shared files and shows progress.
"""

from __future__ import annotations

import importlib
import os

import torch
import torch.distributed as dist

from .errors import BadInput


def init_from_env(device: str = "cpu") -> bool:
    """Join the process group when launched by torchrun; return whether running distributed."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return dist.is_initialized()
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    # DistributedDataParallel imports torch._dynamo; imported after the group exists, it keeps a
    # reference to it, so destroy_process_group leaves gloo's threads running until the
    # interpreter's teardown, which now and then aborts the process ("terminate called without
    # an active exception") after the work is done. Imported first, it holds nothing.
    importlib.import_module("torch._dynamo")
    dist.init_process_group(backend)
    return True


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def world() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def local_part(batch: int) -> slice:
    """This rank's slice of a global batch of ``batch`` rows."""
    n = world()
    if batch % n:
        raise BadInput(f"--batch-size {batch} must be divisible by the number of processes ({n})")
    size = batch // n
    return slice(rank() * size, (rank() + 1) * size)


def mean_across_ranks(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar over ranks (the loss of the global batch)."""
    if not dist.is_initialized():
        return value.detach()
    total = value.detach().clone()
    dist.all_reduce(total)
    return total / world()


def gather(obj):
    """``obj`` of every rank, as a list on every rank."""
    if not dist.is_initialized():
        return [obj]
    out = [None] * world()
    dist.all_gather_object(out, obj)
    return out
