"""Paired tasks with ground truth: their grammar, their aligned splits, the given coupling, the
ground truth of evaluation and its scores (PSNR, SSIM, distance to the truth)."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

from bezier_distill.cli import main
from bezier_distill.couplings import CouplingDataset
from bezier_distill.data import get_distribution, get_source
from bezier_distill.data.images import load_images
from bezier_distill.data.tasks import FILL, degradation, parse_task
from bezier_distill.errors import BadInput
from bezier_distill.evaluation import eval_data, source_draw, truth_scores
from bezier_distill.metrics import psnr, ssim
from bezier_distill.pairings import GivenCoupling, IndependentCoupling, data_coupling

SPECS = [
    "superres:digits",
    "inpaint:digits",
    "denoise:digits:sigma=0.3",
    "superres:mnist:size=14:factor=7",
    "thin:mnist:size=14:width=1",
]


@pytest.mark.parametrize(
    "spec,parsed",
    [
        ("superres:digits", ("superres", "digits", {})),
        ("superres:fashion:size=28:factor=4", ("superres", "fashion:size=28", {"factor": "4"})),
        ("inpaint:mnist:box=10:class=3+8", ("inpaint", "mnist:class=3+8", {"box": "10"})),
        ("denoise:digits:sigma=0.3", ("denoise", "digits", {"sigma": "0.3"})),
        ("thin:fashion:width=2:size=14", ("thin", "fashion:size=14", {"width": "2"})),
    ],
)
def test_a_task_spec_splits_into_the_task_the_dataset_and_the_task_options(spec, parsed):
    assert parse_task(spec) == parsed


@pytest.mark.parametrize("spec", SPECS)
def test_input_row_i_degrades_target_row_i_in_both_splits(spec):
    target = get_distribution(spec)
    inputs = target.paired
    shape = target.image_shape
    assert inputs.image_shape == shape and inputs.dim == target.dim
    assert inputs.points.shape == target.points.shape and inputs.heldout.shape == target.heldout.shape
    degrade = degradation(spec, shape)
    for split, (clean, degraded) in enumerate(
        [(target.points, inputs.points), (target.heldout, inputs.heldout)]
    ):
        assert torch.equal(degrade(clean.reshape(-1, *shape), split).flatten(1), degraded)
        assert not torch.equal(clean, degraded)
    # fixed in every command: a second load gives the same inputs
    again = get_distribution(spec).paired
    assert torch.equal(again.points, inputs.points) and torch.equal(again.heldout, inputs.heldout)


@pytest.mark.parametrize("spec", ["superres:digits", "superres:mnist"])
def test_the_held_out_rows_are_the_test_split_and_disjoint_from_training(spec):
    target = get_distribution(spec)
    images = load_images(spec.partition(":")[2])
    assert torch.equal(target.points, images.train.flatten(1))
    assert torch.equal(target.heldout, images.test.flatten(1))
    assert not (torch.cdist(target.heldout, target.points) == 0).any()
    assert target.classifier == images.classifier and target.image_shape == images.shape


def test_each_degradation_does_what_it_says():
    x = get_distribution("superres:digits").points[:50].reshape(-1, 1, 8, 8)
    low = get_distribution("superres:digits").paired.points[:50].reshape(-1, 1, 8, 8)
    assert torch.allclose(low[..., ::2, ::2], F.avg_pool2d(x, 2))  # 4x4 average pooling
    assert torch.equal(low[..., ::2, ::2], low[..., 1::2, 1::2])  # nearest upsampling: 2x2 blocks
    masked = get_distribution("inpaint:digits").paired.points[:50].reshape(-1, 1, 8, 8)
    hole = torch.zeros(8, 8, dtype=torch.bool)
    hole[2:6, 2:6] = True  # the middle square, a quarter of the side each way from the centre
    assert (masked[..., hole] == FILL).all() and torch.equal(masked[..., ~hole], x[..., ~hole])
    for sigma in (0.3, 0.1):
        noisy = get_distribution(f"denoise:digits:sigma={sigma}")
        noise = noisy.paired.points - noisy.points
        assert abs(noise.std().item() - sigma) < 0.01 * sigma + 0.005 and abs(noise.mean().item()) < 0.01
    zero = get_distribution("denoise:digits:sigma=0")
    assert torch.equal(zero.paired.points, zero.points)
    thick = get_distribution("thin:digits").paired.points[:50].reshape(-1, 1, 8, 8)
    assert (thick >= x).all() and (thick > 0).sum() > 1.5 * (x > 0).sum()  # the strokes only grow
    # pixel (3, 4) is the brightest of the 3x3 square around it; at the corner, of the 2x2 inside
    assert torch.equal(thick[:, 0, 3, 4], x[:, 0, 2:5, 3:6].flatten(1).amax(1))
    assert torch.equal(thick[:, 0, 0, 0], x[:, 0, :2, :2].flatten(1).amax(1))


@pytest.mark.parametrize(
    "spec,message",
    [
        ("superres:digits:factor=3", "factor=3 does not divide the 8x8 images"),
        ("superres:digits:factor=0", "factor must be an integer >= 1"),
        ("superres:digits:box=2", "superres takes factor=, size=, class="),
        ("inpaint:digits:box=9", "box=9 is larger than the 8x8 images"),
        ("denoise:digits:sigma=-1", "sigma must be a number >= 0"),
        ("denoise:digits:sigma=nan", "sigma must be a number >= 0"),
        ("thin:digits:width=4", "width=4 dilates past the 8x8 images"),
        ("thin:digits:width=0", "width must be an integer >= 1"),
        ("superres", "names no dataset"),
        ("superres:factor=2", "names no dataset"),
        ("superres:nope", "unknown image dataset 'nope'"),
    ],
)
def test_bad_task_specs_are_named(spec, message):
    with pytest.raises(BadInput, match=message):
        get_distribution(spec)


def test_the_source_of_a_task_is_its_inputs_with_optional_noise():
    target = get_distribution("superres:digits")
    plain = get_source("superres:digits")
    assert plain.is_inputs_of(target) and plain.noise == 0 and torch.equal(plain.points, target.paired.points)
    noisy = get_source("superres:digits", noise=0.2)
    assert noisy.is_inputs_of(target) and noisy.name == "superres:digits inputs + noise 0.2"
    assert not get_source("gaussian", dim=64).is_inputs_of(target)
    assert not get_source("inpaint:digits").is_inputs_of(target)
    with pytest.raises(BadInput, match="source noise is for the inputs of a paired task"):
        get_source("gaussian", dim=64, noise=0.1)
    with pytest.raises(BadInput, match="non-negative"):
        get_source("superres:digits", noise=-0.1)


def test_the_given_coupling_draws_one_index_for_both_sides():
    target = get_distribution("superres:digits")
    coupling = data_coupling(get_source("superres:digits"), target)
    assert isinstance(coupling, GivenCoupling)
    x0, x1 = coupling.sample(300, torch.Generator().manual_seed(0))
    assert torch.equal(degradation("superres:digits", (1, 8, 8))(x1.reshape(-1, 1, 8, 8), 0).flatten(1), x0)
    a = coupling.sample(64, torch.Generator().manual_seed(1))
    b = coupling.sample(64, torch.Generator().manual_seed(1))
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    # with source noise: the same pairs plus Gaussian noise of that standard deviation on x0
    noisy = data_coupling(get_source("superres:digits", noise=0.1), target)
    n0, n1 = noisy.sample(2000, torch.Generator().manual_seed(2))
    clean = degradation("superres:digits", (1, 8, 8))(n1.reshape(-1, 1, 8, 8), 0).flatten(1)
    assert abs((n0 - clean).std().item() - 0.1) < 0.003
    # an unpaired target keeps its pairing; a paired one refuses a source that is not its inputs
    digits = get_distribution("digits")
    assert isinstance(data_coupling(get_source("gaussian", dim=64), digits), IndependentCoupling)
    with pytest.raises(BadInput, match="start from its inputs"):
        data_coupling(get_source("gaussian", dim=64), target)


@pytest.mark.parametrize("noise", [0.0, 0.1])
def test_evaluation_inputs_are_held_out_degraded_rows_with_their_ground_truth(noise):
    target = get_distribution("superres:digits")
    source = get_source("superres:digits", noise=noise)
    data = eval_data(source, target, 200, seed=3)
    assert data.truth is not None and data.truth.shape == data.x0.shape == (200, 64)
    assert data.image_shape == (1, 8, 8) and torch.equal(data.heldout, target.heldout)
    degraded = degradation("superres:digits", (1, 8, 8))(data.truth.reshape(-1, 1, 8, 8), 1).flatten(1)
    held = (torch.cdist(data.truth, target.heldout) == 0).any(1)
    assert held.all()  # the truth is held-out clean rows ...
    if noise:  # ... and x0 their inputs, plus the source noise (fixed by the seed)
        assert abs((data.x0 - degraded).std().item() - noise) < 0.01
        assert torch.equal(source_draw(source, 200, 3), data.x0)
    else:
        assert torch.equal(degraded, data.x0)
    # a source that is not the task's inputs gets no ground truth
    assert eval_data(get_source("gaussian", dim=64), target, 50, seed=3).truth is None


def test_psnr_and_ssim_of_the_truth_itself_and_of_a_known_perturbation():
    truth = torch.rand(20, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1
    assert psnr(truth, truth, (1, 8, 8)) == math.inf
    assert ssim(truth, truth, (1, 8, 8)) == pytest.approx(1.0)
    # image i shifted by d_i everywhere: MSE_i = d_i^2, PSNR_i = 10 log10(2^2 / d_i^2)
    d = torch.linspace(0.05, 0.5, 20)
    expected = (10 * torch.log10(4 / d.double() ** 2)).mean().item()
    assert psnr(truth + d[:, None], truth, (1, 8, 8)) == pytest.approx(expected, rel=1e-6)
    assert psnr(truth + 0.1, truth, (1, 8, 8), data_range=1.0) == pytest.approx(20.0, rel=1e-6)
    noisy = truth + 0.3 * torch.randn(truth.shape, generator=torch.Generator().manual_seed(1))
    assert 0 < ssim(noisy, truth, (1, 8, 8)) < ssim((truth + noisy) / 2, truth, (1, 8, 8)) < 1
    scores = truth_scores(truth + 0.1, truth, (1, 8, 8))
    assert scores["truth_distance"] == pytest.approx(0.1, rel=1e-5)
    assert scores["psnr"] == pytest.approx(10 * math.log10(400), rel=1e-6)
    small = torch.rand(5, 16) * 2 - 1  # images too small for the 11-pixel window
    assert ssim(small, small, (1, 4, 4)) == pytest.approx(1.0)
    with pytest.raises(BadInput, match="paired image sets"):
        psnr(truth, truth[:10], (1, 8, 8))


def test_a_paired_task_through_the_cli_records_its_source_and_scores_the_truth(tmp_path, capsys):
    d = tmp_path
    run = ["--steps", "4", "--batch-size", "16", "--log-every", "2"]
    argv = ["train", "--data", "superres:digits", "--source-noise", "0.05", *run, "--channels", "8"]
    argv += ["--out", f"{d}/rf1"]
    assert main(argv) == 0
    recorded = json.loads((d / "rf1" / "model" / "config.json").read_text())["provenance"]
    assert recorded == {"source": "superres:digits", "data": "superres:digits", "source_noise": 0.05}
    reflow = ["--solver", "euler", "--solver-steps", "2", "--n-pairs", "40", "--shard-size", "20"]
    assert main(["reflow", "--model", f"{d}/rf1", *reflow, "--out", f"{d}/pairs"]) == 0
    manifest = json.loads((d / "pairs" / "manifest.json").read_text())
    assert manifest["source"] == "superres:digits inputs + noise 0.05"
    z0 = CouplingDataset(d / "pairs").points[0]  # the task's training inputs plus the source noise
    inputs = get_distribution("superres:digits").paired.points
    residual = z0 - inputs[torch.cdist(z0, inputs).argmin(1)]
    assert abs(residual.std().item() - 0.05) < 0.005
    assert main(["distill", "--pairs", f"{d}/pairs", *run, "--out", f"{d}/d1"]) == 0
    capsys.readouterr()
    one = ["--solver", "euler", "--solver-steps", "1", "--n", "60"]
    assert main(["evaluate", "--model", f"{d}/d1", *one, "--out", f"{d}/e.json"]) == 0
    printed = capsys.readouterr().out
    assert "PSNR (dB)" in printed and "SSIM" in printed and "to truth" in printed
    report = json.loads((d / "e.json").read_text())
    assert report["source"] == "superres:digits inputs + noise 0.05" and report["data"] == "superres:digits"
    scores = report["scores"]
    assert math.isfinite(scores["psnr"]) and 0 < scores["ssim"] < 1 and scores["truth_distance"] > 0
    assert scores["distill_error"] is not None and scores["faithfulness"] is not None
    assert (d / "e.png").is_file()
    assert main(["sample", "--model", f"{d}/d1", "--source", "gaussian", "--out", f"{d}/s.npy"]) == 2
    assert "the model learned the paired task superres:digits" in capsys.readouterr().err


def test_a_data_anchored_coupling_of_a_paired_task_starts_from_the_given_inputs(tmp_path):
    d = str(tmp_path)
    argv = ["train", "--data", "inpaint:digits", "--steps", "5", "--batch-size", "16", "--channels", "8"]
    assert main([*argv, "--out", f"{d}/rf"]) == 0
    guide = ["guide", "--teachers", f"{d}/rf", "--teacher-solvers", "euler:4", "--degree", "2"]
    assert main([*guide, "--n-pairs", "60", "--anchor", "data", "--out", f"{d}/g"]) == 0
    coupling = CouplingDataset(f"{d}/g")
    z0, end = coupling.points[0], coupling.points[-1]
    target = get_distribution("inpaint:digits")
    # every row is a given pair: z0 an input row i of the training split, the end its clean row i
    match = (z0[:, None] == target.paired.points[None]).all(-1)
    assert bool(match.any(1).all())
    rows = match.float().argmax(1)
    assert torch.equal(end, target.points[rows])
    assert coupling.manifest["anchor"] == {"data": "inpaint:digits", "pairs": "given"}
