"""Tests for bezier_distill.data: toy generators, point files, get_distribution."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bezier_distill.data import DATASETS, Distribution, get_distribution
from bezier_distill.data.points import load_points
from bezier_distill.data.toy2d import GENERATORS
from bezier_distill.errors import BadInput

EXPECTED_NAMES = {
    "gaussian",
    "8gaussians",
    "moons",
    "checkerboard",
    "spirals",
    "circles",
    "swissroll",
}


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ---------------------------------------------------------------- toy generators


def test_names() -> None:
    assert set(GENERATORS) == EXPECTED_NAMES
    assert sorted(GENERATORS) + ["mixture128", "mixture32"] == DATASETS


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_generator_shape_dtype_finite_scale(name: str) -> None:
    x = GENERATORS[name](4000, gen(0))
    assert x.shape == (4000, 2)
    assert x.dtype == torch.float32
    assert x.device.type == "cpu"
    assert torch.isfinite(x).all()
    # roughly centred, std of order 1-3
    assert x.mean(0).abs().max() < 1.0
    std = x.std(0)
    assert (std > 0.5).all() and (std < 3.5).all()
    assert x.abs().max() < 8.0


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_generator_seeded(name: str) -> None:
    fn = GENERATORS[name]
    a = fn(500, gen(123))
    b = fn(500, gen(123))
    c = fn(500, gen(124))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    one = fn(1, gen(5))
    assert one.shape == (1, 2)


def test_generators_ignore_global_rng() -> None:
    torch.manual_seed(0)
    a = GENERATORS["moons"](100, gen(7))
    torch.manual_seed(1)
    b = GENERATORS["moons"](100, gen(7))
    assert torch.equal(a, b)


def test_eight_gaussians_modes() -> None:
    x = GENERATORS["8gaussians"](8000, gen(0))
    radius = x.norm(dim=1)
    assert abs(radius.mean().item() - 4.0) < 0.1
    angle = torch.atan2(x[:, 1], x[:, 0])
    k = torch.round(angle / (np.pi / 4)).remainder(8).long()
    counts = torch.bincount(k, minlength=8)
    assert (counts > 800).all()


def test_checkerboard_support() -> None:
    x = GENERATORS["checkerboard"](4000, gen(0))
    assert (x.abs() <= 4.0).all()
    cells = torch.floor(x / 2.0).long()  # in {-2..1}^2
    assert ((cells[:, 0] + cells[:, 1]) % 2 == 0).all()  # only one colour of squares


def test_circles_radii() -> None:
    r = GENERATORS["circles"](4000, gen(0)).norm(dim=1)
    inner = (r < 2.25).float().mean().item()
    assert 0.4 < inner < 0.6
    assert abs(r[r >= 2.25].mean().item() - 3.0) < 0.1
    assert abs(r[r < 2.25].mean().item() - 1.5) < 0.1


@pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
def test_generator_bad_n(n: object) -> None:
    with pytest.raises(BadInput, match="positive integer"):
        GENERATORS["gaussian"](n, gen(0))  # type: ignore[arg-type]


# ---------------------------------------------------------------- get_distribution


@pytest.mark.parametrize("name", sorted(EXPECTED_NAMES))
def test_get_distribution_builtin(name: str) -> None:
    dist = get_distribution(name)
    assert isinstance(dist, Distribution)
    assert dist.name == name and dist.dim == 2 and dist.points is None
    x = dist.sample(64, gen(1))
    assert x.shape == (64, 2) and x.dtype == torch.float32
    assert torch.equal(x, GENERATORS[name](64, gen(1)))
    assert dist == get_distribution(name)


def test_unknown_dataset_lists_choices() -> None:
    with pytest.raises(BadInput) as err:
        get_distribution("nonsense")
    msg = str(err.value)
    assert "nonsense" in msg and "\n" not in msg
    for name in DATASETS:
        assert name in msg
    assert ".npy/.csv" in msg


@pytest.mark.parametrize("n", [0, -1, 1.5, False, None])
def test_sample_bad_n(n: object) -> None:
    with pytest.raises(BadInput, match="positive integer"):
        get_distribution("gaussian").sample(n, gen(0))  # type: ignore[arg-type]


def test_sample_requires_generator() -> None:
    with pytest.raises(TypeError):
        get_distribution("gaussian").sample(3, 0)  # type: ignore[arg-type]


def test_get_distribution_npy(tmp_path) -> None:
    pts = np.arange(30, dtype=np.float64).reshape(10, 3)
    path = tmp_path / "pts.npy"
    np.save(path, pts)
    rows = {tuple(r) for r in pts.astype(np.float32).tolist()}
    for spec in (str(path), path):
        dist = get_distribution(spec)
        assert dist.dim == 3 and dist.name == str(path)
        # one row in five is held out for evaluation; the others are the training rows
        train, held = {tuple(r) for r in dist.points.tolist()}, {tuple(r) for r in dist.heldout.tolist()}
        assert len(train) == 8 and len(held) == 2 and train | held == rows
    x = dist.sample(500, gen(0))
    assert x.shape == (500, 3) and x.dtype == torch.float32
    # every sample is a training row of the file; with replacement, all of them show up
    drawn = {tuple(r) for r in x.tolist()}
    assert drawn == train
    assert torch.equal(x, dist.sample(500, gen(0)))
    assert not torch.equal(x, dist.sample(500, gen(1)))


@pytest.mark.parametrize("header", [False, True])
def test_get_distribution_csv(tmp_path, header: bool) -> None:
    path = tmp_path / "pts.csv"
    text = ("x,y\n" if header else "") + "1.5,-2\n3,4e-1\n\n-5, 6\n"
    path.write_text(text)
    np.save(tmp_path / "held.npy", np.zeros((2, 2)))
    # three rows are too few to hold out a fifth: a held-out file is needed
    with pytest.raises(BadInput, match="at least 10 are needed"):
        get_distribution(str(path))
    dist = get_distribution(str(path), reference=str(tmp_path / "held.npy"))
    expected = torch.tensor([[1.5, -2.0], [3.0, 0.4], [-5.0, 6.0]])
    assert torch.equal(dist.points, expected)
    assert dist.dim == 2
    assert dist.sample(7, gen(3)).shape == (7, 2)


def test_csv_single_column_and_bom(tmp_path) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes("\ufeffvalue\n1\n2\n3\n".encode())
    x = load_points(path)
    assert x.shape == (3, 1) and x.dtype == torch.float32


def test_npy_integer_and_float32(tmp_path) -> None:
    path = tmp_path / "ints.NPY"
    np.save(tmp_path / "ints.npy", np.ones((4, 2), dtype=np.int32))
    (tmp_path / "ints.npy").rename(path)
    x = load_points(path)
    assert x.dtype == torch.float32 and torch.equal(x, torch.ones(4, 2))


def test_spec_with_point_extension_missing(tmp_path) -> None:
    path = tmp_path / "absent.csv"
    with pytest.raises(BadInput, match="absent.csv"):
        get_distribution(str(path))


def test_existing_file_with_other_extension(tmp_path) -> None:
    path = tmp_path / "points.txt"
    path.write_text("1,2\n")
    with pytest.raises(BadInput, match="unsupported extension") as err:
        get_distribution(str(path))
    assert "points.txt" in str(err.value)


# ---------------------------------------------------------------- load_points errors


def _write(path, content) -> None:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)


@pytest.mark.parametrize(
    ("filename", "content", "pattern"),
    [
        ("empty.csv", "", "empty"),
        ("blank.csv", "\n \n\n", "empty"),
        ("header_only.csv", "x,y\n", "empty"),
        ("text.csv", "1,2\n3,abc\n", "non-numeric"),
        ("mixed_header.csv", "x,2\n1,2\n", "non-numeric"),
        ("ragged.csv", "1,2\n3,4,5\n", "columns"),
        ("trailing.csv", "1,2,\n3,4,\n", "non-numeric"),
        ("nan.csv", "1,2\nnan,4\n5,inf\n7,8\n", "2 of 4 rows"),
        ("overflow.csv", "1e300,2\n", "NaN or Inf"),
        ("binary.csv", b"\xff\xfe\x00\x81garbage", "cannot read"),
        ("corrupt.npy", b"this is not a numpy file", "cannot read"),
        ("empty.npy", b"", "empty"),
        ("points.json", "[[1, 2]]", "unsupported extension"),
    ],
)
def test_load_points_errors(tmp_path, filename: str, content, pattern: str) -> None:
    path = tmp_path / filename
    _write(path, content)
    with pytest.raises(BadInput, match=pattern) as err:
        load_points(path)
    msg = str(err.value)
    assert filename in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    ("filename", "array", "pattern"),
    [
        ("rank1.npy", np.arange(5.0), "2-D"),
        ("rank3.npy", np.zeros((2, 3, 4)), "2-D"),
        ("scalar.npy", np.float64(3.0), "2-D"),
        ("zero_rows.npy", np.zeros((0, 2)), "empty"),
        ("zero_cols.npy", np.zeros((3, 0)), "empty"),
        ("nan.npy", np.array([[1.0, np.nan], [2.0, 3.0], [np.inf, -np.inf]]), "2 of 3 rows"),
        ("strings.npy", np.array([["a", "b"], ["c", "d"]]), "non-numeric"),
        ("bools.npy", np.ones((3, 2), dtype=bool), "non-numeric"),
        ("complex.npy", np.ones((3, 2), dtype=np.complex64), "non-numeric"),
    ],
)
def test_load_points_npy_errors(tmp_path, filename: str, array, pattern: str) -> None:
    path = tmp_path / filename
    np.save(path, array)
    with pytest.raises(BadInput, match=pattern) as err:
        load_points(path)
    assert filename in str(err.value)


def test_load_points_pickled_object_array(tmp_path) -> None:
    path = tmp_path / "objects.npy"
    np.save(path, np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(BadInput, match="cannot read") as err:
        load_points(path)
    assert "objects.npy" in str(err.value)


def test_load_points_truncated_npy(tmp_path) -> None:
    path = tmp_path / "truncated.npy"
    np.save(path, np.zeros((100, 2)))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(BadInput, match="cannot read") as err:
        load_points(path)
    assert "truncated.npy" in str(err.value)


def test_load_points_missing_and_directory(tmp_path) -> None:
    with pytest.raises(BadInput, match="does not exist") as err:
        load_points(tmp_path / "missing.npy")
    assert "missing.npy" in str(err.value)
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    with pytest.raises(BadInput, match="not a regular file") as err:
        load_points(folder)
    assert "folder.csv" in str(err.value)


@pytest.mark.parametrize("name,dim", [("mixture32", 32), ("mixture128", 128)])
def test_the_high_dimensional_mixtures_have_fixed_separated_modes(name, dim):
    from bezier_distill.data.mixtures import MODE_SD, mixture_means

    dist = get_distribution(name)
    x = dist.sample(4000, torch.Generator().manual_seed(0))
    assert dist.dim == dim and x.shape == (4000, dim) and x.dtype == torch.float32
    assert torch.equal(x, get_distribution(name).sample(4000, torch.Generator().manual_seed(0)))
    means = mixture_means(dim, 16)
    nearest = torch.cdist(x, means).argmin(1)
    # every draw sits within a few sd of its nearest mean, every mode is drawn about equally
    assert float((x - means[nearest]).pow(2).sum(1).sqrt().max()) < MODE_SD * (dim**0.5 + 5)
    assert torch.bincount(nearest, minlength=16).min() > 4000 / 16 * 0.7
    gaps = torch.cdist(means, means) + 1e9 * torch.eye(16)
    assert float(gaps.min()) > 8 * MODE_SD
