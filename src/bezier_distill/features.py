"""Feature FID and KID: image quality measured in the feature space of a small classifier.

Inception weights cannot be downloaded offline, so for each built-in image dataset the
project trains a small CNN classifier (``bezier-distill classifier``, fixed seed) and ships
its weights in the package (``bezier_distill/weights/classifier-<dataset>.safetensors``,
with its test accuracy in the file's metadata). FID and KID are computed by torchmetrics
with that network's penultimate layer as the feature extractor. Images of another size
(e.g. ``fashion:size=14``) are resized to the classifier's size first; the reference
statistics come from the dataset's test split, resized the same way.

Standard Inception FID is available for users who supply the weights file
(``--inception-weights``, needs ``torch-fidelity``); nothing is ever downloaded.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save
from torch import Tensor, nn
from tqdm.auto import tqdm

from .data.images import resize
from .errors import BadInput
from .seeding import seeded, stream
from .storage import atomic_write_bytes

WEIGHTS_DIR = Path(__file__).parent / "weights"
NUM_FEATURES = 128


def weights_path(dataset: str, folder: str | Path | None = None) -> Path:
    return Path(folder or WEIGHTS_DIR) / f"classifier-{dataset}.safetensors"


class Classifier(nn.Module):
    """A small CNN for ``(B, C, size, size)`` images in [-1, 1]; ``features`` is its 128-d layer."""

    num_features = NUM_FEATURES

    def __init__(self, channels: int = 1, size: int = 28, classes: int = 10) -> None:
        super().__init__()
        self.channels, self.size, self.classes = channels, size, classes
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
    batch_size: int = 128,
    progress: bool = True,
) -> tuple[Classifier, float]:
    """Train a :class:`Classifier` on ``(N, C, H, W)`` images; return it and its test accuracy."""
    c, h, _ = train.shape[1:]
    classes = int(labels.max()) + 1
    with seeded("classifier init", seed):
        model = Classifier(c, h, classes)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = stream("classifier batches", seed)
    steps = epochs * -(-len(train) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    bar = tqdm(total=steps, desc="classifier", disable=not progress)
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
def accuracy(model: Classifier, images: Tensor, labels: Tensor) -> float:
    model.eval()
    pred = torch.cat([model(x).argmax(1) for x in images.split(1000)])
    return float((pred == labels).float().mean())


def save_classifier(model: Classifier, path: str | Path, info: dict) -> None:
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    meta = {"channels": str(model.channels), "size": str(model.size), "classes": str(model.classes)}
    meta.update({k: str(v) for k, v in info.items()})
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(Path(path), save(state, metadata=meta))


def load_classifier(path: str | Path) -> tuple[Classifier, dict]:
    """A shipped (or user-trained) classifier and its metadata (accuracy, dataset, seed, ...)."""
    path = Path(path)
    if not path.is_file():
        raise BadInput(
            f"no feature classifier at {path}: train one with `bezier-distill classifier --dataset NAME`"
        )
    try:
        with safe_open(str(path), "pt") as fh:
            meta = dict(fh.metadata() or {})
        state = load_file(path)
        model = Classifier(int(meta["channels"]), int(meta["size"]), int(meta["classes"]))
        model.load_state_dict(state)
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError) as e:
        raise BadInput(f"feature classifier {path} is corrupt ({str(e).splitlines()[0]})") from None
    return model.eval(), meta


@dataclass
class FeatureScores:
    fid: float
    kid: float
    kid_sd: float


class FeatureMetric:
    """FID and KID between image sets in a classifier's feature space (torchmetrics)."""

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
    def for_dataset(cls, dataset: str, folder: str | Path | None = None) -> FeatureMetric:
        model, meta = load_classifier(weights_path(dataset, folder))
        return cls(model, f"feature FID ({dataset} classifier, test accuracy {float(meta['accuracy']):.3f})")

    def score(self, samples: Tensor, reference: Tensor, *, seed: int = 0) -> FeatureScores:
        """FID and KID of ``samples`` against ``reference`` (both flat or ``(B, C, H, W)``)."""
        from torchmetrics.image.fid import FrechetInceptionDistance
        from torchmetrics.image.kid import KernelInceptionDistance

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
        return FeatureScores(float(fid.compute()), float(kid_mean), float(kid_sd))


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
