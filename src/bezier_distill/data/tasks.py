"""Paired image-to-image tasks with ground truth, built offline from the image datasets.

A task spec is ``TASK:DATASET[:options]``: the image dataset spec of
:mod:`bezier_distill.data.images` (``digits``, ``mnist:size=14``, ``fashion:class=3``...) after
the task's name, with the task's own options among the dataset's::

    superres:digits                       # 8x8 digits from their 4x4 average-pooled version
    superres:fashion:size=28:factor=4     # 28x28 from 7x7
    inpaint:digits                        # the middle 4x4 square of each 8x8 digit masked
    inpaint:mnist:box=10                  # a 10x10 square in the middle masked
    denoise:digits:sigma=0.3              # Gaussian noise of standard deviation 0.3 added
    thin:mnist:size=14:width=1            # thin strokes restored from strokes dilated by one pixel

Every image is a target (clean, in [-1, 1]); its degraded version is the task's input, of the same
size, so source and target have one dimension as flows need:

* ``superres`` (option ``factor=F``, default 2): the image average-pooled by ``F x F`` (``F``
  must divide its height and width), brought back to full size by nearest-neighbour upsampling
  (each low-resolution pixel becomes an ``F x F`` block).
* ``inpaint`` (option ``box=B``, default half the shorter side): a ``B x B`` square in the middle
  of the image (a quarter of the side each way from the centre by default) filled with
  :data:`FILL` = 0, the middle of the value range, unlike both ink and background.
* ``denoise`` (option ``sigma=S``, default 0.3): Gaussian noise of standard deviation ``S`` in
  the [-1, 1] scale added, not clipped; the noise is fixed per split (the ``task noise`` stream,
  key 0 for the training split, 1 for the test split), so every command sees the same inputs.
* ``thin`` (option ``width=W``, default 1): a style task, the strokes thickened by ``W`` pixels on
  every side (grey-scale dilation: each pixel the maximum over the ``(2W+1) x (2W+1)`` square
  around it, ink being the bright end of [-1, 1]); the flow restores the thin original strokes.

Row ``i`` of the inputs is the degradation of row ``i`` of the targets, in the training split
and in the test split alike; the test split is held out for evaluation as for the dataset itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import BadInput
from ..seeding import stream
from .images import OPTIONS as IMAGE_OPTIONS
from .images import ImageSet, load_images

FILL = 0.0  # the value of the masked pixels of ``inpaint``
TASK_NOISE = "task noise"  # the stream of the fixed noise of ``denoise``
# task -> (option -> default; None: follows the image size)
TASKS: dict[str, dict[str, float | int | None]] = {
    "superres": {"factor": 2},
    "inpaint": {"box": None},
    "denoise": {"sigma": 0.3},
    "thin": {"width": 1},
}


def is_task_spec(spec: object) -> bool:
    """Whether ``spec`` names a paired task (``TASK:DATASET...`` with a known ``TASK``)."""
    return isinstance(spec, str) and spec.partition(":")[0] in TASKS


def parse_task(spec: str) -> tuple[str, str, dict[str, str]]:
    """``"superres:fashion:size=28:factor=4"`` -> ``("superres", "fashion:size=28", {"factor": "4"})``.

    Raises:
        BadInput: no dataset after the task's name, or an option neither the task's nor the dataset's.
    """
    task, _, rest = spec.partition(":")
    parts = rest.split(":")
    if not parts[0] or "=" in parts[0]:
        raise BadInput(f"task {spec!r} names no dataset: write {task}:DATASET[:options], e.g. {task}:digits")
    options = {}
    keep = [parts[0]]
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if eq and key in TASKS[task]:
            options[key] = value
        elif eq and key in IMAGE_OPTIONS:
            keep.append(part)
        else:
            allowed = ", ".join(f"{k}=" for k in (*TASKS[task], *IMAGE_OPTIONS))
            raise BadInput(f"bad option {part!r} in {spec!r}: {task} takes {allowed}")
    return task, ":".join(keep), options


def _number(spec: str, key: str, value: str, kind: type, low: float) -> float | int:
    try:
        x = kind(value)
    except ValueError:
        x = None
    if x is None or not math.isfinite(x) or x < low:
        what = "an integer" if kind is int else "a number"
        raise BadInput(f"{key} must be {what} >= {low:g} in {spec!r}, got {value!r}")
    return x


def degradation(spec: str, shape: tuple[int, int, int]) -> Callable[[Tensor, int], Tensor]:
    """The degradation of task ``spec`` for images of ``shape`` ``(C, H, W)``: a function of a
    batch ``(N, C, H, W)`` in [-1, 1] and its split (0 train, 1 test) to the inputs ``(N, C, H, W)``.

    Raises:
        BadInput: an option out of range (a factor that does not divide the image's side, a box
            larger than the image, a negative sigma) or not a number.
    """
    task, _, given = parse_task(spec)
    _, height, width = shape
    if task == "superres":
        factor = _number(spec, "factor", given.get("factor", "2"), int, 1)
        if height % factor or width % factor:
            raise BadInput(
                f"factor={factor} does not divide the {height}x{width} images of {spec!r}: "
                "choose a factor of both sides (or another size=)"
            )
        return lambda x, split: superres(x, factor)
    if task == "inpaint":
        box = _number(spec, "box", given.get("box", str(min(height, width) // 2)), int, 1)
        if box > min(height, width):
            raise BadInput(f"box={box} is larger than the {height}x{width} images of {spec!r}")
        return lambda x, split: inpaint(x, box)
    if task == "thin":
        radius = _number(spec, "width", given.get("width", "1"), int, 1)
        if 2 * radius + 1 > min(height, width):
            raise BadInput(f"width={radius} dilates past the {height}x{width} images of {spec!r}")
        return lambda x, split: dilate(x, radius)
    sigma = _number(spec, "sigma", given.get("sigma", "0.3"), float, 0)
    return lambda x, split: denoise(x, sigma, stream(TASK_NOISE, split))


def superres(images: Tensor, factor: int) -> Tensor:
    """``(N, C, H, W)`` average-pooled by ``factor x factor``, then upsampled back to ``H x W``
    by repeating each pixel (nearest neighbour)."""
    low = F.avg_pool2d(images, factor)
    return low.repeat_interleave(factor, dim=-2).repeat_interleave(factor, dim=-1)


def inpaint(images: Tensor, box: int) -> Tensor:
    """``(N, C, H, W)`` with the ``box x box`` square in the middle set to :data:`FILL`."""
    top, left = (images.shape[-2] - box) // 2, (images.shape[-1] - box) // 2
    out = images.clone()
    out[..., top : top + box, left : left + box] = FILL
    return out


def denoise(images: Tensor, sigma: float, generator: torch.Generator) -> Tensor:
    """``(N, C, H, W)`` plus Gaussian noise of standard deviation ``sigma`` drawn from ``generator``."""
    return images + sigma * torch.randn(images.shape, generator=generator)


def dilate(images: Tensor, width: int) -> Tensor:
    """``(N, C, H, W)`` with every pixel the maximum over the ``(2 width + 1)``-wide square around it
    (the image's edge padded with its background, -1), so bright strokes grow by ``width`` pixels."""
    padded = F.pad(images, (width,) * 4, value=-1.0)
    return F.max_pool2d(padded, 2 * width + 1, stride=1)


def load_task(spec: str, data_dir: str | None = None) -> tuple[ImageSet, Tensor, Tensor]:
    """The clean images of task ``spec`` (an :class:`~bezier_distill.data.images.ImageSet`) and
    their inputs, train ``(N, C, H, W)`` and test ``(M, C, H, W)``, row ``i`` degrading row ``i``."""
    _, image_spec, _ = parse_task(spec)
    images = load_images(image_spec, data_dir)
    degrade = degradation(spec, images.shape)
    return images, degrade(images.train, 0).contiguous(), degrade(images.test, 1).contiguous()
