"""Target/source distributions: built-in 2-D toys and user point files.

:func:`get_distribution` turns a dataset spec (a built-in name from :data:`DATASETS` or a
path to a ``.npy``/``.csv`` point file) into a :class:`Distribution`, whose
:meth:`Distribution.sample` draws ``(n, dim)`` float32 samples from an explicit
``torch.Generator`` (same generator state -> same samples, bit for bit).

Image datasets (:mod:`bezier_distill.data.images`) are distributions too: their samples are
flattened to ``(n, C*H*W)`` so every coupling, objective and solver works on them unchanged;
``image_shape`` says how to fold them back.

Paired tasks (:mod:`bezier_distill.data.tasks`, ``superres:digits`` ...) are image datasets
whose rows come with aligned degraded versions, ``paired``: the task's inputs, which
:func:`get_source` gives as the source of a flow.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from numbers import Integral
from pathlib import Path

import torch
from torch import Tensor

from bezier_distill.data.images import IMAGE_DATASETS, is_image_spec, load_images
from bezier_distill.data.mixtures import MIXTURES, mixture_sampler
from bezier_distill.data.points import POINT_EXTENSIONS, load_points
from bezier_distill.data.tasks import TASKS, is_task_spec, load_task
from bezier_distill.data.toy2d import GENERATORS
from bezier_distill.errors import BadInput
from bezier_distill.seeding import stream

__all__ = [
    "DATASETS",
    "GENERATORS",
    "IMAGE_DATASETS",
    "TASKS",
    "Distribution",
    "check_num_samples",
    "get_distribution",
    "get_source",
    "load_points",
]

DATASETS: list[str] = sorted(GENERATORS) + sorted(MIXTURES)
"""Names of the built-in datasets (all 2-D), sorted."""


def check_num_samples(n: object) -> int:
    """Return ``n`` as an int if it is a positive integer (not a bool); else raise BadInput."""
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:
        raise BadInput(f"number of samples must be a positive integer, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class Distribution:
    """A distribution we can sample from with an explicit generator.

    Attributes:
        name: the built-in name, or the point file path as given.
        dim: dimension ``D`` of one sample.
        sampler: ``fn(n, generator) -> Tensor (n, dim)`` float32; prefer :meth:`sample`,
            which validates its arguments.
        points: for a point-file or image distribution, the training part ``(N, dim)`` float32
            (sampled uniformly with replacement); ``None`` for built-ins.
        image_shape: ``(C, H, W)`` for an image dataset, else ``None``.
        heldout: the held-out part ``(M, dim)`` of a point file or image dataset, which only
            evaluation sees (the reference of every score, e.g. an image dataset's test split);
            ``None`` for built-in generators, whose evaluation draws come from their own streams.
        classifier: the built-in dataset whose shipped classifier gives its feature FID.
        labels, heldout_labels: the class of each row of ``points`` and ``heldout`` (``-1``
            unknown) for labelled image datasets, else ``None``.
        paired: for a paired task, its inputs: a distribution whose ``points`` and ``heldout``
            rows degrade the rows of the same index of this one's (``None`` otherwise).
        noise: the standard deviation of Gaussian noise added to every draw, for training
            (:meth:`sample`) and evaluation (:meth:`perturb`) alike; 0 by default.
    """

    name: str
    dim: int
    sampler: Callable[[int, torch.Generator], Tensor] = field(repr=False, compare=False)
    points: Tensor | None = field(default=None, repr=False, compare=False)
    image_shape: tuple[int, int, int] | None = None
    heldout: Tensor | None = field(default=None, repr=False, compare=False)
    classifier: str | None = None
    labels: Tensor | None = field(default=None, repr=False, compare=False)
    heldout_labels: Tensor | None = field(default=None, repr=False, compare=False)
    paired: Distribution | None = field(default=None, repr=False, compare=False)
    noise: float = 0.0

    @property
    def test(self) -> Tensor | None:  # the name image code uses for the held-out split
        return self.heldout

    def sample(self, n: int, generator: torch.Generator) -> Tensor:
        """Draw ``n`` samples; returns ``(n, dim)`` float32.

        Raises:
            BadInput: ``n`` is not a positive integer.
            TypeError: ``generator`` is not a ``torch.Generator``.
        """
        n = check_num_samples(n)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        return self.perturb(self.sampler(n, generator), generator)

    def is_inputs_of(self, target: Distribution) -> bool:
        """Whether this distribution is the inputs of the paired task ``target`` (its training and
        held-out rows are ``target.paired``'s, whatever its noise)."""
        inputs = target.paired
        return (
            inputs is not None
            and self.points is not None
            and self.heldout is not None
            and self.points.shape == inputs.points.shape
            and self.heldout.shape == inputs.heldout.shape
            and torch.equal(self.points, inputs.points)
            and torch.equal(self.heldout, inputs.heldout)
        )

    def perturb(self, rows: Tensor, generator: torch.Generator) -> Tensor:
        """``rows (n, dim)`` plus this distribution's Gaussian ``noise`` drawn from ``generator``
        (unchanged, and nothing drawn, when ``noise`` is 0)."""
        if not self.noise:
            return rows
        return rows + self.noise * torch.randn(rows.shape, generator=generator, dtype=rows.dtype)

    @classmethod
    def from_points(cls, points: Tensor, name: str, *, heldout: Tensor | None = None) -> Distribution:
        """Empirical distribution of a ``(N, D)`` training point set: rows drawn uniformly with
        replacement via ``torch.randint(N, (n,), generator=generator)``; ``heldout`` ``(M, D)``
        is kept apart for evaluation."""
        if points.ndim != 2 or points.shape[0] < 1 or points.shape[1] < 1:
            raise BadInput(f"point set '{name}' must have shape (N, D), got {tuple(points.shape)}")
        pts = points.to(dtype=torch.float32, device="cpu").contiguous()
        num = pts.shape[0]

        def _sample(n: int, generator: torch.Generator) -> Tensor:
            idx = torch.randint(0, num, (n,), generator=generator)
            return pts[idx]

        if heldout is not None:
            heldout = heldout.to(dtype=torch.float32, device="cpu").contiguous()
            if heldout.ndim != 2 or heldout.shape[1] != pts.shape[1] or heldout.shape[0] < 2:
                raise BadInput(
                    f"held-out points of '{name}' must have shape (M >= 2, {pts.shape[1]}), "
                    f"got {tuple(heldout.shape)}"
                )
        return cls(name=name, dim=int(pts.shape[1]), sampler=_sample, points=pts, heldout=heldout)


HELDOUT_FRACTION = 5  # one row in five of a point file is held out


def split_heldout(points: Tensor, name: str) -> tuple[Tensor, Tensor]:
    """Split a user's point set once, deterministically, into training rows and held-out rows.

    A fixed permutation (the ``held-out split`` stream, independent of any user seed) sends
    every fifth row to the held-out part, so the split is the same in every command.
    """
    if points.shape[0] < 2 * HELDOUT_FRACTION:
        raise BadInput(
            f"point file '{name}' has {points.shape[0]} rows: at least {2 * HELDOUT_FRACTION} are needed "
            "to hold out a fifth for evaluation (or pass --reference FILE)"
        )
    order = torch.randperm(points.shape[0], generator=stream("held-out split", 0))
    held = torch.zeros(points.shape[0], dtype=torch.bool)
    held[order[HELDOUT_FRACTION - 1 :: HELDOUT_FRACTION]] = True
    return points[~held], points[held]


def get_distribution(
    spec: str | os.PathLike[str],
    *,
    dim: int | None = None,
    data_dir: str | None = None,
    reference: str | None = None,
) -> Distribution:
    """Resolve a dataset spec to a :class:`Distribution`.

    ``spec`` is a built-in name from :data:`DATASETS` (dim 2, or 32 and 128 for the Gaussian
    mixtures of :mod:`~bezier_distill.data.mixtures`), or else a point file: any
    spec ending in ``.npy``/``.csv`` (case-insensitive) or naming an existing file is
    loaded with :func:`~bezier_distill.data.points.load_points`. ``gaussian`` with
    ``dim`` given is the standard normal of that dimension (the default source for
    data of any dimension). Image datasets (``digits``, ``mnist``, ``fashion``, an image
    folder or an image ``.npy``, with ``:size=``/``:class=`` options) are read by
    :func:`~bezier_distill.data.images.load_images`, Fashion-MNIST from ``data_dir``. A paired
    task ``TASK:DATASET[:options]`` (:mod:`~bezier_distill.data.tasks`) gives its clean images,
    with its inputs as ``paired``.

    Held-out data: an image dataset holds out its test split; a point file holds out a fixed
    fifth of its rows (:func:`split_heldout`), unless ``reference`` names a point file of
    held-out data, in which case all of ``spec`` is training data.

    Raises:
        BadInput: unknown name (the message lists the choices) or a bad point file.
    """
    if reference is not None and not (isinstance(spec, str | os.PathLike) and _is_point_file(spec)):
        raise BadInput(f"--reference is for point files, but the data {spec!r} is not one")
    if spec == "gaussian" and dim is not None and dim != 2:
        d = check_num_samples(dim)
        return Distribution(name=spec, dim=d, sampler=lambda n, g: torch.randn(n, d, generator=g))
    if isinstance(spec, str) and spec in GENERATORS:
        return Distribution(name=spec, dim=2, sampler=GENERATORS[spec])
    if isinstance(spec, str) and spec in MIXTURES:
        return Distribution(name=spec, dim=MIXTURES[spec][0], sampler=mixture_sampler(spec))
    if not isinstance(spec, (str, os.PathLike)):
        raise BadInput(f"dataset must be a name or a file path, got {spec!r}")
    text = os.fspath(spec)
    if is_task_spec(text):
        images, inputs, heldout_inputs = load_task(text, data_dir)
        return dataclasses.replace(
            _image_distribution(images.train, images.test, text, images.shape, images.classifier),
            paired=_image_distribution(inputs, heldout_inputs, f"{text} inputs", images.shape, None),
        )
    if is_image_spec(text):
        images = load_images(text, data_dir)
        return _image_distribution(
            images.train,
            images.test,
            text,
            images.shape,
            images.classifier,
            images.train_labels,
            images.test_labels,
        )
    if _is_point_file(text):
        points = load_points(text)
        if reference is not None:
            return Distribution.from_points(points, name=text, heldout=load_points(reference))
        train, heldout = split_heldout(points, text)
        return Distribution.from_points(train, name=text, heldout=heldout)
    raise BadInput(
        f"unknown dataset '{text}': choose one of {', '.join(DATASETS + list(IMAGE_DATASETS))}, "
        f"a paired task ({', '.join(f'{t}:DATASET' for t in TASKS)}), an image folder, or a .npy/.csv "
        "point file"
    )


def get_source(
    spec: str | os.PathLike[str],
    *,
    dim: int | None = None,
    data_dir: str | None = None,
    noise: float = 0.0,
) -> Distribution:
    """The source distribution (pi0) named by ``spec``: a paired task's spec names the task's inputs
    (its degraded images, ``get_distribution(spec).paired``); any other spec is read by
    :func:`get_distribution`. ``noise`` (paired tasks only) is the standard deviation of Gaussian
    noise added to every draw of the inputs (named ``<task> inputs + noise <noise>``).

    Raises:
        BadInput: what :func:`get_distribution` refuses, a negative noise, or noise on a source
            that is not a paired task.
    """
    if not (isinstance(noise, int | float) and not isinstance(noise, bool) and 0 <= noise < float("inf")):
        raise BadInput(f"source noise must be a non-negative number, got {noise!r}")
    if is_task_spec(spec):
        inputs = get_distribution(spec, data_dir=data_dir).paired
        if not noise:
            return inputs
        return dataclasses.replace(inputs, name=f"{inputs.name} + noise {noise:g}", noise=float(noise))
    if noise:
        raise BadInput(f"source noise is for the inputs of a paired task, but the source {spec!r} is not one")
    return get_distribution(spec, dim=dim, data_dir=data_dir)


def _image_distribution(
    train: Tensor,
    test: Tensor,
    name: str,
    shape: tuple[int, int, int],
    classifier: str | None,
    train_labels: Tensor | None = None,
    test_labels: Tensor | None = None,
) -> Distribution:
    """Images ``(N, C, H, W)`` (training) and ``(M, C, H, W)`` (held out) as flat rows, with their
    labels where any is known."""
    labelled = train_labels is not None and bool((train_labels >= 0).any())
    return dataclasses.replace(
        Distribution.from_points(train.flatten(1), name=name, heldout=test.flatten(1)),
        image_shape=shape,
        classifier=classifier,
        labels=train_labels if labelled else None,
        heldout_labels=test_labels if labelled else None,
    )


def _is_point_file(spec: str | os.PathLike[str]) -> bool:
    text = os.fspath(spec)
    return (
        text not in GENERATORS
        and not is_task_spec(text)
        and not is_image_spec(text)
        and (text.lower().endswith(POINT_EXTENSIONS) or Path(text).is_file())
    )
