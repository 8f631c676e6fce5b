"""Evaluate a model: samples with counted NFE, scored beside the noise floor.

Every number here is computed on data that training never saw:

* the source draws ``x0`` come from the ``eval source`` stream (for a source with a held-out
  part, a point file or an image dataset, from that part without replacement), so no
  evaluation input is ever a training input of any stage or coupling;
* the reference the samples are scored against comes from the ``eval reference`` stream of a
  built-in generator, or from the held-out part of a point file or image dataset;
* the noise floor is the same metric between the reference and a *twin*, a second draw of
  the data disjoint from the reference (the ``noise-floor twin`` stream of a generator, the
  other half of a point file's held-out rows, or a training draw without replacement of an
  image dataset, whose whole test split is the FID reference): what a perfect sampler scores.

Image samples are clipped to the data range [-1, 1] and quantised to 8 bits, as when they are
saved as images, before every score; the fraction of values that fell outside the range is
reported. Image data is scored by the FID, KID, precision and recall of
:mod:`bezier_distill.features` in two feature spaces (two independently trained networks), and
translation (an image source) also by the faithfulness: the RMS distance per pixel between
each input and its output, in the [-1, 1] scale, and, with a labelled source, by the class kept:
the fraction of outputs that network a labels as their input's class.

A paired task (:mod:`bezier_distill.data.tasks`) has ground truth: its inputs ``x0`` are held-out
degraded rows and the held-out clean rows of the same indices are their ``truth``, against
which each output is scored by PSNR and SSIM (data range 2, the width of [-1, 1]) and by its
distance to the truth (RMS per pixel); the reference of the other scores stays the whole test
split of the clean images.

A student's **distillation error** is the mean squared distance between its output and its
teacher's ODE solution from the same held-out ``x0``; its floor is the teacher's own solver
error, the distance between the teacher's dopri5 solution and a tighter one.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from .features import FeatureMetric, weights_path
from .metrics import energy_distance, psnr, ssim, w2
from .seeding import stream
from .solvers import SolverSpec, solve

EVAL_SOURCE, EVAL_REFERENCE, FLOOR_TWIN = "eval source", "eval reference", "noise-floor twin"
EVAL_RENOISE = "eval renoise"
DOPRI = SolverSpec("dopri5", rtol=1e-5, atol=1e-5)  # the teachers' full-accuracy solve
TIGHT = SolverSpec("dopri5", rtol=1e-7, atol=1e-7)  # the reference solve of the solver-error floor
FEATURE_NETS = ("a", "b")


@torch.no_grad()
def straightness(model: nn.Module, x0: Tensor, *, steps: int = 100) -> float:
    """S(Z) (METHOD.md section 4) on an Euler trajectory of ``steps`` steps from ``x0 (B, *D)``.

    ``mean_i E || (Z_1 - Z_0) - v(Z_{t_i}, t_i) ||^2`` over the grid; 0 for straight paths.
    """
    result = solve(model, x0, SolverSpec("euler", steps), trajectory=True)
    traj, times = result.trajectory, result.times
    chord = (traj[-1] - traj[0]).flatten(1)
    total = 0.0
    for i in range(steps):
        v = model(traj[i], times[i].expand(x0.shape[0])).flatten(1)
        total += (chord - v).pow(2).sum(1).mean().item()
    return total / steps


@dataclass(frozen=True)
class Evaluation:
    """Scores of one sample set against the reference (None where a score does not apply).

    ``fid``/``kid``/``precision``/``recall`` are in the feature space of network a,
    ``*_b`` in that of network b; ``out_of_range`` is the fraction of image values outside
    [-1, 1] before clipping; ``distill_error`` the mean squared distance to the teacher's
    ODE solution from the same ``x0``; ``psnr`` (dB), ``ssim`` and ``truth_distance`` (RMS per
    pixel) compare each output with its ground truth, on a paired task.
    """

    n: int
    nfe: int
    w2: float
    energy: float
    straightness: float | None
    sample_seconds: float
    fid: float | None = None
    kid: float | None = None
    precision: float | None = None
    recall: float | None = None
    fid_b: float | None = None
    kid_b: float | None = None
    precision_b: float | None = None
    recall_b: float | None = None
    out_of_range: float | None = None
    faithfulness: float | None = None
    class_kept: float | None = None
    distill_error: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    truth_distance: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class EvalData:
    """What sample sets are scored against.

    ``x0 (n, *D)``: the source draws every model starts from; ``reference (m, *D)``: the data
    draw of the W2 and energy; ``twin (n, *D)``: an independent data draw disjoint from it (the
    noise floor); ``heldout``: the image test split, the reference of the feature scores;
    ``truth (n, *D)``: on a paired task, the ground truth of each ``x0`` (its clean row), with
    ``image_shape`` ``(C, H, W)`` to fold both back into images.
    """

    x0: Tensor
    reference: Tensor
    twin: Tensor
    heldout: Tensor | None = None
    x0_labels: Tensor | None = None  # the class of each source draw (-1 unknown), if labelled
    truth: Tensor | None = None
    image_shape: tuple[int, int, int] | None = None

    @property
    def n(self) -> int:
        return self.x0.shape[0]


def _without_replacement(points: Tensor, n: int, purpose: str, seed: int) -> Tensor:
    return points[torch.randperm(points.shape[0], generator=stream(purpose, seed))[:n]]


def source_draw(source, n: int, seed: int) -> Tensor:
    """The source points ``x0`` that sampling and evaluation start from (``eval source`` stream).

    A source with a held-out part gives held-out rows without replacement (at most all of them),
    plus the source's noise when it has some.
    """
    return _source_rows(source, n, seed)[0]


def _source_rows(source, n: int, seed: int) -> tuple[Tensor, Tensor | None]:
    """:func:`source_draw` and the indices of the held-out rows it took (``None`` without any)."""
    g = stream(EVAL_SOURCE, seed)
    if source.heldout is None:
        return source.sample(n, g), None
    rows = torch.randperm(source.heldout.shape[0], generator=g)[:n]
    return source.perturb(source.heldout[rows], g), rows


def renoise_stream(seed: int, device: str = "cpu") -> torch.Generator:
    """The fresh noise of the multistep ``consistency`` sampler (``eval renoise`` stream)."""
    return stream(EVAL_RENOISE, seed, device=device)


def eval_data(source, target, n: int, seed: int) -> EvalData:
    """Source draws, reference and twin for scoring ``n`` samples of ``source -> target``.

    With held-out data the sizes shrink to what it holds: a point file's held-out rows are
    halved into a reference and a twin of equal size; an image source gives at most its test
    split; an image target's twin is at most its training split. When ``source`` is the inputs
    of the paired task ``target``, ``truth`` holds the clean held-out rows of the inputs drawn.
    """
    x0, rows = _source_rows(source, n, seed)
    paired = rows is not None and source.is_inputs_of(target)
    if target.heldout is None:
        n = x0.shape[0]
        reference = target.sample(n, stream(EVAL_REFERENCE, seed))
        twin = target.sample(n, stream(FLOOR_TWIN, seed))
        return EvalData(x0, reference, twin)
    order = torch.randperm(target.heldout.shape[0], generator=stream(EVAL_REFERENCE, seed))
    if target.image_shape is None:
        n = min(x0.shape[0], target.heldout.shape[0] // 2)
        held = target.heldout[order]
        return EvalData(x0[:n], held[:n], held[n : 2 * n])
    twin = _without_replacement(target.points, x0.shape[0], FLOOR_TWIN, seed)
    n = twin.shape[0]
    return EvalData(
        x0[:n],
        target.heldout[order[:n]],
        twin,
        heldout=target.heldout,
        x0_labels=source.heldout_labels[rows[:n]]
        if rows is not None and source.heldout_labels is not None
        else None,
        truth=target.heldout[rows[:n]] if paired else None,
        image_shape=target.image_shape,
    )


def feature_metrics(target, inception_weights: str | None = None) -> dict[str, FeatureMetric]:
    """The feature scorers of an image dataset by network name: Inception alone when weights are
    given, else the two shipped classifiers of the built-in dataset it comes from; empty for
    point data and user images."""
    if target.image_shape is None:
        return {}
    if inception_weights:
        from .features import inception_metric

        return {"a": inception_metric(inception_weights)}
    if target.classifier is None:
        return {}
    return {
        net: FeatureMetric.for_dataset(target.classifier, net=net)
        for net in FEATURE_NETS
        if weights_path(target.classifier, net=net).is_file()
    }


def as_image_values(samples: Tensor) -> tuple[Tensor, float]:
    """Clip image values to [-1, 1] and quantise them to 8 bits, as saving them would.

    Returns the scored samples and the fraction of values that were outside [-1, 1].
    """
    outside = float(((samples < -1) | (samples > 1)).float().mean())
    levels = ((samples.clamp(-1, 1) + 1) * 127.5).round()
    return levels / 127.5 - 1, outside


def _feature_scores(features: dict[str, FeatureMetric], samples: Tensor, heldout: Tensor, seed: int) -> dict:
    out = {}
    for net, metric in features.items():
        s = metric.score(samples, heldout, seed=seed)
        suffix = "" if net == "a" else f"_{net}"
        out |= {f"fid{suffix}": s.fid, f"kid{suffix}": s.kid}
        out |= {f"precision{suffix}": s.precision, f"recall{suffix}": s.recall}
    return out


def class_kept(
    features: dict[str, FeatureMetric] | None, outputs: Tensor, labels: Tensor | None
) -> float | None:
    """Class preservation of a translation: the fraction of outputs that network a (the target's
    classifier) labels as the true class of their input (inputs of unknown class left out); chance
    is about one over the number of classes. ``None`` without labels or a class head."""
    if not features or labels is None or not bool((labels >= 0).any()):
        return None
    predicted = features["a"].classify(outputs)
    if predicted is None:
        return None
    known = labels >= 0
    return float((predicted[known] == labels[known]).float().mean())


def noise_floor(data: EvalData, features: dict[str, FeatureMetric] | None = None, *, seed: int = 0) -> dict:
    """The scores of the twin draw against the reference: what a perfect sampler would score."""
    floor = {"w2": w2(data.twin, data.reference), "energy": energy_distance(data.twin, data.reference)}
    if features:
        floor |= _feature_scores(features, data.twin, data.heldout, seed)
    return floor


def faithfulness(inputs: Tensor, outputs: Tensor) -> float:
    """Mean over pairs of the RMS per-coordinate distance between input and output."""
    return float((outputs.flatten(1) - inputs.flatten(1)).pow(2).mean(1).sqrt().mean())


def truth_scores(outputs: Tensor, truth: Tensor, shape: tuple[int, int, int]) -> dict[str, float]:
    """PSNR, SSIM (data range 2: images in [-1, 1]) and RMS per-pixel distance of ``outputs (n, *D)``
    against their ground truth ``truth (n, *D)``, row by row, the images folded to ``shape``."""
    return {
        "psnr": psnr(outputs, truth, shape, data_range=2.0),
        "ssim": ssim(outputs, truth, shape, data_range=2.0),
        "truth_distance": faithfulness(truth, outputs),
    }


def distill_error(samples: Tensor, teacher: Tensor) -> float:
    """Mean over rows of the squared Euclidean distance between two sample sets ``(n, *D)``
    made from the same source draws (a student's outputs and its teacher's ODE solutions)."""
    return float((samples.float().flatten(1) - teacher.float().flatten(1)).pow(2).sum(1).mean())


def solver_error(teacher: nn.Module, x0: Tensor, solution: Tensor | None = None) -> float:
    """The floor of the distillation error: :func:`distill_error` between the teacher's
    :data:`DOPRI` solution (``solution`` when already computed) and its :data:`TIGHT` one."""
    if solution is None:
        solution = solve(teacher.eval(), x0, DOPRI).x
    return distill_error(solution.cpu(), solve(teacher.eval(), x0, TIGHT).x.cpu())


def evaluate(
    model: nn.Module,
    data: EvalData,
    spec: SolverSpec,
    *,
    with_straightness: bool = True,
    features: dict[str, FeatureMetric] | None = None,
    image: bool = False,
    translation: bool = False,
    teacher: Tensor | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> tuple[Evaluation, Tensor]:
    """Sample from ``data.x0`` with ``spec`` and score the samples against ``data``.

    ``image``: the samples are images in [-1, 1] (clipped and quantised before scoring; with
    ``features`` they also get FID, KID, precision and recall against ``data.heldout``);
    ``translation``: their faithfulness to ``x0``; ``teacher (n, *D)``: the teacher's ODE
    solutions from the same ``x0``, giving the distillation error; ``data.truth``: the ground truth
    of a paired task, giving :func:`truth_scores`. Returns the scores and the raw samples
    ``(n, *D)`` on the CPU.
    """
    model = model.eval()
    x0 = data.x0.to(device)
    start = time.perf_counter()
    result = solve(model, x0, spec, generator=renoise_stream(seed, device))
    seconds = time.perf_counter() - start
    raw = result.x.float().cpu()
    scored, outside = as_image_values(raw) if image else (raw, None)
    scores = _feature_scores(features, scored, data.heldout, seed) if features else {}
    if data.truth is not None:
        scores |= truth_scores(scored, data.truth, data.image_shape)
    return (
        Evaluation(
            n=data.n,
            nfe=result.nfe,
            w2=w2(scored, data.reference),
            energy=energy_distance(scored, data.reference),
            # images: on the first 500 draws (the 100-step trajectory is large)
            straightness=straightness(model, x0[:500] if image else x0) if with_straightness else None,
            sample_seconds=round(seconds, 4),
            out_of_range=outside,
            faithfulness=faithfulness(data.x0, scored) if translation else None,
            class_kept=class_kept(features, scored, data.x0_labels) if translation else None,
            distill_error=distill_error(raw, teacher) if teacher is not None else None,
            **scores,
        ),
        raw,
    )
