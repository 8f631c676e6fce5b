"""Tests for bezier_distill.metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

import bezier_distill.metrics as metrics_mod
from bezier_distill.data import get_distribution
from bezier_distill.errors import BadInput
from bezier_distill.metrics import energy_distance, gaussian_frechet, mmd_rbf, precision_recall, w2


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(n: int, d: int, seed: int) -> torch.Tensor:
    return torch.randn(n, d, generator=gen(seed))


# ---------------------------------------------------------------- w2


def test_w2_self_is_zero() -> None:
    x = randn(300, 2, 0)
    assert w2(x, x) < 1e-6


def test_w2_translation_is_exact() -> None:
    x = randn(400, 2, 1).double()
    c = torch.tensor([0.3, -1.2], dtype=torch.float64)
    assert w2(x, x + c) == pytest.approx(c.norm().item(), rel=1e-9)


def test_w2_point_masses() -> None:
    assert w2(torch.zeros(1, 2), torch.tensor([[3.0, 4.0]])) == pytest.approx(5.0, rel=1e-12)
    # three copies of a point mass against one copy of another: sizes may differ
    assert w2(torch.zeros(3, 2), torch.tensor([[3.0, 4.0]])) == pytest.approx(5.0, rel=1e-12)


def test_w2_gaussian_shift() -> None:
    m = torch.tensor([3.0, 0.0])
    x = randn(1500, 2, 2)
    y = randn(1500, 2, 3) + m
    assert w2(x, y) == pytest.approx(3.0, abs=0.2)


def test_w2_symmetric_and_unequal_sizes() -> None:
    x = randn(300, 2, 4)
    y = randn(200, 2, 5) * 2.0 + 1.0
    assert w2(x, y) == pytest.approx(w2(y, x), rel=1e-9)


def test_w2_flattens_trailing_dims() -> None:
    x = randn(100, 6, 6).reshape(100, 2, 3)
    y = randn(120, 6, 7).reshape(120, 2, 3)
    assert w2(x, y) == pytest.approx(w2(x.reshape(100, 6), y.reshape(120, 6)), rel=1e-12)
    # numpy input works too
    assert w2(x.numpy(), y.numpy()) == pytest.approx(w2(x, y), rel=1e-12)


def test_w2_not_converged_raises_without_warning() -> None:
    x = randn(200, 2, 8)
    y = randn(200, 2, 9) + 1.0
    with pytest.raises(RuntimeError, match="numItermax"):
        w2(x, y, num_iter_max=5)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_w2_bad_num_iter_max(bad: object) -> None:
    with pytest.raises(BadInput, match="num_iter_max"):
        w2(torch.zeros(2, 2), torch.zeros(2, 2), num_iter_max=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("fn", [w2, energy_distance, mmd_rbf, gaussian_frechet])
def test_bad_inputs(fn) -> None:
    with pytest.raises(BadInput, match="feature sizes"):
        fn(torch.zeros(5, 2), torch.zeros(5, 3))
    bad = torch.zeros(5, 2)
    bad[2, 1] = float("nan")
    with pytest.raises(BadInput, match="NaN"):
        fn(bad, torch.zeros(5, 2))
    with pytest.raises(BadInput, match="at least"):
        fn(torch.zeros(0, 2), torch.zeros(5, 2))


# ---------------------------------------------------------------- energy / mmd


def _energy_reference(x: np.ndarray, y: np.ndarray) -> float:
    def d(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    n, m = len(x), len(y)
    return 2 * d(x, y).mean() - d(x, x).sum() / (n * (n - 1)) - d(y, y).sum() / (m * (m - 1))


def _mmd_reference(x: np.ndarray, y: np.ndarray, bws) -> float:
    def k(a, b):
        d2 = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        return sum(np.exp(-d2 / (2 * s * s)) for s in bws)

    n, m = len(x), len(y)
    kxx = k(x, x)
    kyy = k(y, y)
    return (
        (kxx.sum() - np.trace(kxx)) / (n * (n - 1))
        + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        - 2 * k(x, y).mean()
    )


@pytest.mark.parametrize("features", [2, 40])  # exact-difference and BLAS distance paths
@pytest.mark.parametrize("chunk", [None, 7])  # default chunking and many tiny chunks
def test_energy_and_mmd_match_reference(monkeypatch, features: int, chunk: int | None) -> None:
    if chunk is not None:
        monkeypatch.setattr(metrics_mod, "_CHUNK_ELEMS", chunk)
    x = randn(60, features, 10)
    y = randn(45, features, 11) * 1.5 + 0.5
    xn, yn = x.double().numpy(), y.double().numpy()
    assert energy_distance(x, y) == pytest.approx(_energy_reference(xn, yn), rel=1e-9)
    bws = (0.5, 1.0, 2.0, 4.0, 8.0)
    assert mmd_rbf(x, y) == pytest.approx(_mmd_reference(xn, yn, bws), rel=1e-9, abs=1e-12)
    assert mmd_rbf(x, y, bandwidths=[3.0]) == pytest.approx(
        _mmd_reference(xn, yn, [3.0]), rel=1e-9, abs=1e-12
    )


@pytest.mark.parametrize("fn", [energy_distance, mmd_rbf])
def test_discrepancy_zero_for_same_distribution_and_grows_with_shift(fn) -> None:
    dist = get_distribution("8gaussians")
    x = dist.sample(1000, gen(0))
    y = dist.sample(1000, gen(1))
    same = fn(x, y)
    values = [fn(x, y + torch.tensor([s, 0.0])) for s in (0.5, 1.0, 2.0)]
    assert abs(same) < 0.2 * values[0]
    assert 0 < values[0] < values[1] < values[2]
    assert fn(x, y) == pytest.approx(fn(y, x), rel=1e-9, abs=1e-12)


def test_energy_same_distribution_small() -> None:
    x = randn(1000, 2, 20)
    y = randn(1000, 2, 21)
    assert abs(energy_distance(x, y)) < 0.01
    assert abs(mmd_rbf(x, y)) < 0.005


def test_energy_gaussian_shift_positive() -> None:
    x = randn(500, 2, 22)
    assert energy_distance(x, x + 1.0) > 0.5


@pytest.mark.parametrize("bws", [(), (1.0, 0.0), (-1.0,), (float("inf"),), ("a",)])
def test_mmd_bad_bandwidths(bws) -> None:
    with pytest.raises(BadInput, match="bandwidths"):
        mmd_rbf(torch.zeros(3, 2), torch.ones(3, 2), bandwidths=bws)


# ---------------------------------------------------------------- gaussian_frechet


def _with_moments(z: np.ndarray, mean: np.ndarray, cov_root: np.ndarray) -> np.ndarray:
    """Transform z so that its sample mean and (ddof=1) covariance are exactly as given."""
    z = z - z.mean(0)
    chol = np.linalg.cholesky(z.T @ z / (len(z) - 1))
    white = np.linalg.solve(chol, z.T).T  # sample covariance exactly I
    return white @ cov_root.T + mean


def _frechet_reference(m1, s1, m2, s2) -> float:
    r1 = scipy.linalg.sqrtm(s1)
    cross = scipy.linalg.sqrtm(r1 @ s2 @ r1)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(cross)))


def test_gaussian_frechet_exact_moments() -> None:
    rng = np.random.default_rng(0)
    d = 5
    a1 = rng.normal(size=(d, d))
    a2 = rng.normal(size=(d, d))
    m1, m2 = rng.normal(size=d), rng.normal(size=d)
    x = _with_moments(rng.normal(size=(500, d)), m1, a1)
    y = _with_moments(rng.normal(size=(700, d)), m2, a2)
    expected = _frechet_reference(m1, a1 @ a1.T, m2, a2 @ a2.T)
    assert gaussian_frechet(torch.from_numpy(x), torch.from_numpy(y)) == pytest.approx(expected, rel=1e-8)
    assert gaussian_frechet(y, x) == pytest.approx(expected, rel=1e-8)


def test_gaussian_frechet_one_dimensional_closed_form() -> None:
    rng = np.random.default_rng(1)
    x = _with_moments(rng.normal(size=(100, 1)), np.array([1.0]), np.array([[2.0]]))
    y = _with_moments(rng.normal(size=(80, 1)), np.array([-0.5]), np.array([[0.5]]))
    # (m1 - m2)^2 + (s1 - s2)^2 with standard deviations s
    assert gaussian_frechet(x, y) == pytest.approx(1.5**2 + 1.5**2, rel=1e-10)


def test_gaussian_frechet_large_samples_and_self() -> None:
    x = randn(20000, 2, 30) * torch.tensor([1.0, 2.0])
    y = randn(20000, 2, 31) + torch.tensor([1.0, 0.0])
    # N(0, diag(1, 4)) vs N((1, 0), I): 1 + (1 - 1)^2 + (2 - 1)^2 = 2
    assert gaussian_frechet(x, y) == pytest.approx(2.0, abs=0.1)
    assert gaussian_frechet(x, x) == pytest.approx(0.0, abs=1e-9)


def test_gaussian_frechet_singular_covariance_no_warning() -> None:
    x = randn(10, 50, 32)  # fewer points than dimensions: rank-deficient covariances
    y = randn(12, 50, 33)
    value = gaussian_frechet(x, y)
    assert math.isfinite(value) and value > 0


# ---------------------------------------------------------------- precision_recall


def _precision_recall_reference(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[float, float]:
    """Brute force in float64 numpy, straight from the definition."""

    def radii(a: np.ndarray) -> np.ndarray:
        d = np.linalg.norm(a[:, None] - a[None], axis=-1)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    fake_to_real = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # (M, N)
    real_to_fake = fake_to_real.T
    precision = (fake_to_real <= radii(real)[None, :]).any(1).mean()
    recall = (real_to_fake <= radii(fake)[None, :]).any(1).mean()
    return float(precision), float(recall)


@pytest.mark.parametrize("features", [2, 64])  # exact differences / matrix products
def test_precision_recall_of_identical_sets_is_one(features: int) -> None:
    x = randn(400, features, 40)
    assert precision_recall(x, x) == (1.0, 1.0)
    assert precision_recall(x, x.clone(), k=1) == (1.0, 1.0)


@pytest.mark.parametrize("features", [2, 64])
def test_precision_recall_of_far_apart_clusters_is_zero(features: int) -> None:
    x = randn(300, features, 41)
    y = randn(200, features, 42) + 100.0
    assert precision_recall(x, y) == (0.0, 0.0)
    assert precision_recall(y, x) == (0.0, 0.0)


@pytest.mark.parametrize("features", [8, 64])
def test_a_collapsed_fake_set_keeps_precision_but_loses_recall(features: int) -> None:
    real = randn(1000, features, 43)
    fake = real[:5].repeat(40, 1)  # 200 points on 5 real points (k-NN radius 0 among copies)
    precision, recall = precision_recall(real, fake)
    assert precision == 1.0
    assert recall <= 5 / 1000
    # a slightly blurred collapse: still precise, still covering almost nothing
    blurred = fake + 1e-3 * randn(200, features, 44)
    precision, recall = precision_recall(real, blurred)
    assert precision == 1.0 and recall < 0.02


def test_precision_recall_one_dimensional_by_hand() -> None:
    # k = 1. real 0, 1, 3: radii 1, 1, 2 -> balls [-1, 1], [0, 2], [1, 5]
    # fake 0.5, 1.5, 6, 7: radii 1, 1, 1, 1 -> balls [-0.5, 1.5], [0.5, 2.5], [5, 7], [6, 8]
    # precision: 0.5 and 1.5 lie in a real ball, 6 and 7 do not -> 2/4
    # recall: 0 and 1 lie in a fake ball, 3 does not -> 2/3
    real = torch.tensor([[0.0], [1.0], [3.0]])
    fake = torch.tensor([[0.5], [1.5], [6.0], [7.0]])
    precision, recall = precision_recall(real, fake, k=1)
    assert precision == pytest.approx(0.5) and recall == pytest.approx(2 / 3)
    # 1-D vectors work too (a trailing feature of size 1)
    assert precision_recall(real.flatten(), fake.flatten(), k=1) == (precision, recall)
    # k = 2: real radii 3, 2, 3 -> balls [-3, 3], [-1, 3], [0, 6]: every fake point but 7 is in one
    # fake radii 5.5, 4.5, 4.5, 5.5 -> balls [-5, 6], [-3, 6], [1.5, 10.5], [1.5, 12.5]: all real
    assert precision_recall(real, fake, k=2) == (0.75, 1.0)


def test_precision_recall_balls_are_closed() -> None:
    # k = 1: real 0, 2 have radius 2; fake 4 lies exactly on the ball of 2, fake 10 far outside
    real = torch.tensor([[0.0], [2.0]])
    assert precision_recall(real, torch.tensor([[4.0], [10.0]]), k=1) == (0.5, 1.0)
    assert precision_recall(real, torch.tensor([[4.5], [10.0]]), k=1) == (0.0, 1.0)
    # and the same for recall: fake 0, 1 have radius 1; real 2 lies on the ball of 1, real -5
    # on none (the real radii are 7, so both fake points are precise)
    fake = torch.tensor([[0.0], [1.0]])
    assert precision_recall(torch.tensor([[2.0], [-5.0]]), fake, k=1) == (1.0, 0.5)


def test_precision_recall_matches_brute_force_in_small_chunks(monkeypatch) -> None:
    real = randn(230, 3, 45).numpy()
    fake = (randn(170, 3, 46) * 1.5 + 0.3).numpy()
    expected = _precision_recall_reference(real, fake, 3)
    assert 0.1 < expected[0] < 0.95 and 0.1 < expected[1] < 1.0  # a non-trivial case
    assert precision_recall(real, fake) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(metrics_mod, "_CHUNK_ELEMS", 7)  # several rows per chunk, and one
    assert precision_recall(real, fake) == pytest.approx(expected, abs=1e-12)
    monkeypatch.setattr(metrics_mod, "_CHUNK_ELEMS", 1)
    assert precision_recall(real, fake, k=5) == pytest.approx(
        _precision_recall_reference(real, fake, 5), abs=1e-12
    )


def test_precision_recall_in_many_features_matches_brute_force() -> None:
    # 128 features: float32 distances through matrix products, as for classifier features
    real = (randn(300, 128, 47) + 3.0).numpy()
    fake = (randn(250, 128, 48) * 1.1 + 3.05).numpy()
    expected = _precision_recall_reference(real, fake, 3)
    assert precision_recall(real, fake) == pytest.approx(expected, abs=1 / 250 + 1e-12)


@pytest.mark.parametrize(
    ("real", "fake", "k", "match"),
    [
        (torch.zeros(5, 2), torch.zeros(5, 2), 0, "k must be a positive integer"),
        (torch.zeros(5, 2), torch.zeros(5, 2), True, "k must be a positive integer"),
        (torch.zeros(5, 2), torch.zeros(5, 2), 1.5, "k must be a positive integer"),
        (torch.zeros(5, 2), torch.zeros(5, 3), 1, "different feature sizes"),
        (torch.zeros(3, 2), torch.zeros(5, 2), 3, "real needs more than k = 3 points, got 3"),
        (torch.zeros(5, 2), torch.zeros(2, 2), 3, "fake needs more than k = 3 points, got 2"),
        (torch.zeros(0, 2), torch.zeros(5, 2), 1, "real needs more than"),
        (torch.tensor([[0.0, math.nan], [1.0, 1.0]]), torch.zeros(5, 2), 1, "real contains NaN or Inf"),
        (torch.zeros(5, 2), torch.full((5, 2), math.inf), 1, "fake contains NaN or Inf"),
        (torch.tensor(1.0), torch.zeros(5, 1), 1, "real must have shape"),
    ],
)
def test_precision_recall_bad_inputs(real, fake, k, match) -> None:
    with pytest.raises(BadInput, match=match):
        precision_recall(real, fake, k=k)
