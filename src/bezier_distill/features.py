"""Feature FID, KID, precision and recall: image quality in the feature space of a classifier.

Inception weights cannot be downloaded offline, so for each built-in image dataset the
project trains two small classifiers of different architectures and seeds
(``bezier-distill classifier``) and ships their weights in the package:

* net ``a`` (:class:`Classifier`, seed 0): a plain 3x3 CNN with max pooling and a
  128-d fully connected feature layer; ``weights/classifier-<dataset>.safetensors``.
* net ``b`` (:class:`ResidualClassifier`, seed 1): a residual CNN with 5x5 kernels, group
  norm, SiLU and global average pooling of a 128-channel layer;
  ``weights/classifier-<dataset>-b.safetensors``.

Each file's metadata records the net, its test accuracy, seed, epochs, ... (a file without
a ``net`` entry is net ``a``). A claim about image quality should hold in both feature
spaces: small FID differences can reverse between two independently trained networks.

FID and KID are computed by torchmetrics with the network's penultimate layer as the feature
extractor, precision and recall (Kynkaanniemi et al. 2019) by
:func:`bezier_distill.metrics.precision_recall` in the same space. Images of another size
(e.g. ``fashion:size=14``) are resized to the classifier's size first; the reference
statistics come from the dataset's test split, resized the same way.

Random draws: weight initialisation on the stream ``"classifier init"`` and batches and
augmentation on ``"classifier batches"``, both keyed by ``(seed, net index)`` (a: 0, b: 1),
so the two nets never share a stream even with the same seed.

Standard Inception FID is available for users who supply the weights file
(``--inception-weights``, needs ``torch-fidelity``); nothing is ever downloaded.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data.images import load_images, resize
from .errors import BadInput
from .seeding import seeded, stream
from .storage import atomic_write_bytes

WEIGHTS_DIR = Path(__file__).parent / "weights"
NUM_FEATURES = 128


def _check_net(net: str) -> str:
    if net not in NETS:
        raise BadInput(f"unknown feature network {net!r}: choose one of {', '.join(NETS)}")
    return net


def weights_path(dataset: str, folder: str | Path | None = None, net: str = "a") -> Path:
    """``classifier-<dataset>.safetensors`` (net a) or ``classifier-<dataset>-<net>.safetensors``."""
    suffix = "" if _check_net(net) == "a" else f"-{net}"
    return Path(folder or WEIGHTS_DIR) / f"classifier-{dataset}{suffix}.safetensors"


class _FeatureNet(nn.Module):
    """A classifier for ``(B, C, size, size)`` images in [-1, 1]: ``body`` gives the features."""

    num_features = NUM_FEATURES
    net = ""
    body: nn.Module
    head: nn.Module

    def __init__(self, channels: int, size: int, classes: int) -> None:
        super().__init__()
        self.channels, self.size, self.classes = channels, size, classes

    def prepare(self, x: Tensor) -> Tensor:
        """Flat ``(B, D)`` or ``(B, C, H, W)`` images -> ``(B, C, size, size)`` float32."""
        x = x.float()
        if x.dim() == 2:
            side = int(round((x.shape[1] / self.channels) ** 0.5))
            x = x.reshape(x.shape[0], self.channels, side, side)
        return resize(x, self.size).clamp(-1, 1)

    def features(self, x: Tensor) -> Tensor:
        return self.body(self.prepare(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))


class Classifier(_FeatureNet):
    """Net a: a small CNN (3x3 convolutions, max pooling); ``features`` is its 128-d FC layer."""

    net = "a"

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 10) -> None:
        super().__init__(channels, size, classes)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Linear(256, NUM_FEATURES),
            nn.ReLU(),
        )
        self.head = nn.Linear(NUM_FEATURES, classes)


def _norm(width: int) -> nn.GroupNorm:
    return nn.GroupNorm(8, width)


class _ResBlock(nn.Module):
    """``x + conv(silu(norm(conv(silu(norm(x))))))`` at a fixed width (pre-activation)."""

    def __init__(self, width: int, kernel: int) -> None:
        super().__init__()
        pad = kernel // 2
        self.branch = nn.Sequential(
            _norm(width),
            nn.SiLU(),
            nn.Conv2d(width, width, kernel, padding=pad),
            _norm(width),
            nn.SiLU(),
            nn.Conv2d(width, width, kernel, padding=pad),
        )

    def forward(self, x: Tensor) -> Tensor:
        return x + self.branch(x)


class ResidualClassifier(_FeatureNet):
    """Net b: a residual CNN (5x5 kernels, group norm, SiLU) with global average pooling.

    ``5x5 conv (32) -> max pool -> residual block (32, 5x5) -> strided 3x3 conv (48) ->
    residual block (48, 3x3) -> 1x1 conv (128) -> group norm, SiLU -> global average pool``:
    ``features`` is the pooled 128-d layer. A different architecture from net a (no fully
    connected feature layer, normalised activations, pooled rather than flattened), so the
    two feature spaces are not copies of each other.
    """

    net = "b"

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 10) -> None:
        super().__init__(channels, size, classes)
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 5, padding=2),
            nn.MaxPool2d(2),
            _ResBlock(32, 5),
            _norm(32),
            nn.SiLU(),
            nn.Conv2d(32, 48, 3, stride=2, padding=1),
            _ResBlock(48, 3),
            _norm(48),
            nn.SiLU(),
            nn.Conv2d(48, NUM_FEATURES, 1),
            _norm(NUM_FEATURES),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(NUM_FEATURES, classes)


NETS: dict[str, type[_FeatureNet]] = {"a": Classifier, "b": ResidualClassifier}


def feature_extractor(dataset: str, net: str = "a") -> nn.Module:
    """The features of the shipped classifier ``net`` of ``dataset`` as a module: images (flat or
    ``(B, C, H, W)``) -> ``(B, num_features)``, in batches, without gradients."""
    model, _ = load_classifier(weights_path(dataset, net=net))
    return _Extractor(model.eval())


class _Extractor(nn.Module):
    """A network's ``features`` in batches, without gradients."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.classifier.features(c) for c in x.split(1000)])


def train_classifier(
    train: Tensor,
    labels: Tensor,
    test: Tensor,
    test_labels: Tensor,
    *,
    epochs: int,
    seed: int = 0,
    net: str = "a",
    batch_size: int = 128,
    progress: bool = True,
) -> tuple[_FeatureNet, float]:
    """Train net ``net`` (see :data:`NETS`) on ``(N, C, H, W)`` images; return it and its test accuracy.

    Adam with a one-cycle learning rate; light augmentation (a random shift of up to one
    pixel per batch). Initialisation draws from the stream ``"classifier init"``, batches and
    shifts from ``"classifier batches"``, both keyed by ``(seed, net index)``.
    """
    keys = (seed, list(NETS).index(_check_net(net)))
    c, h, _ = train.shape[1:]
    classes = int(labels.max()) + 1
    with seeded("classifier init", *keys):
        model = NETS[net](c, h, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = stream("classifier batches", *keys)
    steps = epochs * -(-len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    bar = tqdm(total=steps, desc=f"classifier {net}", disable=not progress)
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(train), generator=g).split(batch_size):
            x = train[idx]
            # light augmentation: random shifts of up to one pixel in each direction
            dx, dy = (int(v) for v in torch.randint(-1, 2, (2,), generator=g))
            x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update()
            bar.set_postfix(loss=f"{loss.item():.3f}")
    bar.close()
    return model.eval(), accuracy(model, test, test_labels)


@torch.no_grad()
def accuracy(model: nn.Module, images: Tensor, labels: Tensor) -> float:
    model.eval()
    pred = torch.cat([model(x).argmax(1) for x in images.split(1000)])
    return float((pred == labels).float().mean())


def save_classifier(model: _FeatureNet, path: str | Path, info: dict) -> None:
    """Write ``model`` as safetensors with its shape, its net name and ``info`` as metadata."""
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {
        "net": model.net,
        "channels": str(model.channels),
        "size": str(model.size),
        "classes": str(model.classes),
    }
    meta.update({k: str(v) for k, v in info.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), save(state, metadata=meta))


def load_classifier(path: str | Path) -> tuple[_FeatureNet, dict]:
    """A shipped (or user-trained) classifier and its metadata (net, accuracy, dataset, seed, ...).

    The metadata's ``net`` picks the architecture; a file without one holds net ``a``.
    """
    path = Path(path)
    if not path.is_file():
        raise BadInput(
            f"no feature classifier at {path}: train one with `bezier-distill classifier --dataset NAME`"
        )
    try:
        with safe_open(str(path), "pt") as fh:
            meta = dict(fh.metadata() or {})
        meta.setdefault("net", "a")
        if meta["net"] not in NETS:
            raise ValueError(f"unknown net {meta['net']!r}")
        state = load_file(path)
        model = NETS[meta["net"]](int(meta["channels"]), int(meta["size"]), int(meta["classes"]))
        model.load_state_dict(state)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        raise BadInput(f"feature classifier {path} is corrupt ({str(e).splitlines()[0]})") from None
    return model.eval(), meta


@dataclass
class FeatureScores:
    """FID, KID (mean and sd over subsets), precision and recall in one feature space."""

    fid: float
    kid: float
    kid_sd: float
    precision: float
    recall: float


class FeatureMetric:
    """FID, KID, precision and recall between image sets in a classifier's feature space.

    FID and KID by torchmetrics; precision and recall (k = ``pr_k`` nearest neighbours) by
    :func:`bezier_distill.metrics.precision_recall`, against the same reference features.
    Precision and recall depend on the sizes of both sets (the k-NN radii shrink as a set
    grows), so compare them only between scores with the same sample and reference sizes.
    """

    pr_k = 3

    def __init__(self, classifier: nn.Module, name: str) -> None:
        self.name = name
        self.extractor = _Extractor(classifier.eval())
        self._reference: tuple[Tensor, Tensor] | None = None  # the last reference and its features

    def _reference_features(self, reference: Tensor) -> Tensor:
        """Features of ``reference``, kept while the same tensor (e.g. a test split) comes back."""
        if self._reference is None or self._reference[0] is not reference:
            self._reference = (reference, self.extractor(reference.cpu().float()))
        return self._reference[1]

    @classmethod
    def for_dataset(cls, dataset: str, folder: str | Path | None = None, *, net: str = "a") -> FeatureMetric:
        """The metric of the shipped (or ``folder``'s) classifier ``net`` of ``dataset``."""
        model, meta = load_classifier(weights_path(dataset, folder, net))
        which = "classifier" if net == "a" else f"classifier {net}"
        return cls(model, f"feature FID ({dataset} {which}, test accuracy {float(meta['accuracy']):.3f})")

    @torch.no_grad()
    def classify(self, samples: Tensor) -> Tensor | None:
        """The classifier's label of each image (flat or ``(B, C, H, W)``); ``None`` for a
        feature network without a class head (Inception)."""
        net = self.extractor.classifier
        if not isinstance(net, _FeatureNet):
            return None
        return torch.cat([net(c).argmax(1) for c in samples.cpu().float().split(1000)])

    def score(self, samples: Tensor, reference: Tensor, *, seed: int = 0) -> FeatureScores:
        """FID, KID, precision and recall of ``samples`` against ``reference``.

        Both are flat or ``(B, C, H, W)`` images; ``seed`` keys KID's random subsets.
        """
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

        from .metrics import precision_recall

        real, fake = self._reference_features(reference), self.extractor(samples.cpu().float())
        ident = _Identity(self.extractor.num_features)
        fid = FrechetInceptionDistance(feature=ident, reset_real_features=False)
        fid.update(real, real=True)
        fid.update(fake, real=False)
        subset = min(len(real), len(fake), 1000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # KID's note on keeping features in memory
            kid = KernelInceptionDistance(feature=ident, subsets=50, subset_size=subset)
        kid.update(real, real=True)
        kid.update(fake, real=False)
        with seeded("KID subsets", seed):  # KID draws its subsets from the global RNG
            kid_mean, kid_sd = kid.compute()
        precision, recall = precision_recall(real, fake, k=self.pr_k)
        return FeatureScores(
            fid=float(fid.compute()),
            kid=float(kid_mean),
            kid_sd=float(kid_sd),
            precision=precision,
            recall=recall,
        )


class _Identity(nn.Module):
    """Features are extracted once up front; torchmetrics sees them as its 'images'."""

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: Tensor) -> Tensor:
        return x


class InceptionFeatures(nn.Module):
    """The 2048-d pool features of torchmetrics' Inception v3, from a user-supplied weights file."""

    num_features = 2048

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def features(self, x: Tensor) -> Tensor:
        if x.dim() == 2:  # flat single-channel images
            side = int(round(x.shape[1] ** 0.5))
            x = x.reshape(x.shape[0], 1, side, side)
        x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        return self.net(x).reshape(x.shape[0], -1)


def inception_metric(weights: str | Path) -> FeatureMetric:
    """Standard Inception FID from a user-supplied weights file (never downloaded)."""
    missing = BadInput("standard Inception FID needs torch-fidelity: pip install torch-fidelity")
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
    except ImportError:
        raise missing from None
    if not Path(weights).is_file():
        raise BadInput(f"Inception weights file {weights} does not exist")
    try:
        net = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(weights)
        )
    except ModuleNotFoundError:
        raise missing from None
    return FeatureMetric(InceptionFeatures(net), "Inception FID (user-supplied weights)")


# Training epochs of the feature classifiers, by (dataset, net); each trains in a few CPU minutes.
CLASSIFIER_EPOCHS = {
    ("digits", "a"): 30,
    ("mnist", "a"): 20,
    ("fashion", "a"): 10,
    ("digits", "b"): 30,
    ("mnist", "b"): 20,
    ("fashion", "b"): 8,
}


def run_classifier(cfg, *, progress: bool = True) -> dict:
    """The ``classifier`` command (``cfg``: a :class:`~bezier_distill.config.ClassifierConfig`): train a
    feature classifier (net a or b) of a built-in dataset and write it as safetensors."""
    path = weights_path(cfg.dataset, cfg.out, cfg.net)
    if path.exists() and not cfg.overwrite:
        raise BadInput(f"{path} already exists; pass --overwrite to replace it")
    data = load_images(cfg.dataset, cfg.data_dir)
    epochs = cfg.epochs or CLASSIFIER_EPOCHS[(cfg.dataset, cfg.net)]
    start = time.perf_counter()
    model, acc = train_classifier(
        data.train,
        data.train_labels,
        data.test,
        data.test_labels,
        epochs=epochs,
        seed=cfg.seed,
        net=cfg.net,
        progress=progress,
    )
    info = {
        "dataset": cfg.dataset,
        "net": cfg.net,
        "accuracy": round(acc, 4),
        "epochs": epochs,
        "seed": cfg.seed,
        "train_images": len(data.train),
        "test_images": len(data.test),
        "seconds": round(time.perf_counter() - start, 1),
    }
    save_classifier(model, path, info)
    return info | {"path": str(path)}
