"""Statistics that decide the claims of a method comparison.

Pure functions on numbers (no torch, no training). Lower scores are better
everywhere (the scores are distances such as W2 or FID).

A comparison scores methods over several seeds; on each seed every method is
evaluated on the same noise against the same reference data, so the per-seed
differences ``d_i = A_i - B_i`` between a candidate ``A`` and a baseline ``B``
are *paired*. :func:`paired_difference` turns them into a mean difference with
a t confidence interval, a paired t-test p-value and, given an equivalence
margin, a TOST p-value. A claim is tested on several datasets at once (a family
of tests); :func:`verdicts` controls the family-wise error with Holm's
step-down correction (:func:`holm`) and names each outcome.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student_t

from ..errors import BadInput

__all__ = [
    "VERDICTS",
    "PairedDifference",
    "Summary",
    "holm",
    "paired_difference",
    "summary",
    "verdicts",
]

VERDICTS = ("better", "worse", "equivalent", "inconclusive")


def _fmt(x: float, small: bool) -> str:
    return f"{x:.4f}" if small else f"{x:.3f}"


def _vector(values: Sequence[float], name: str) -> np.ndarray:
    """``values`` as a finite, non-empty 1-D float64 array, else :class:`BadInput` naming ``name``."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"{name} must be a sequence of numbers ({exc})") from None
    if arr.ndim != 1:
        raise BadInput(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        raise BadInput(f"{name} must hold at least one value")
    if not np.all(np.isfinite(arr)):
        raise BadInput(f"{name} must be finite, got {arr.tolist()}")
    return arr


def _mean_sd(arr: np.ndarray) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for one value).

    When every value is the same the SD is exactly 0.0 and the mean is that value, so the
    degenerate cases below are detected exactly rather than through rounding noise.
    """
    if arr.size == 1 or np.all(arr == arr[0]):
        return float(arr[0]), 0.0
    return float(arr.mean()), float(arr.std(ddof=1))


@dataclass(frozen=True)
class Summary:
    """Mean ± sample standard deviation of a score over ``n`` seeds."""

    mean: float
    sd: float
    n: int

    def __str__(self) -> str:
        """``"0.423 ± 0.012"``; four decimals when ``|mean| < 0.1`` (``"0.0042 ± 0.0011"``); the mean
        alone when ``n == 1``."""
        small = abs(self.mean) < 0.1
        if self.n == 1:
            return _fmt(self.mean, small)
        return f"{_fmt(self.mean, small)} ± {_fmt(self.sd, small)}"


def summary(values: Sequence[float]) -> Summary:
    """Mean and sample standard deviation ``sqrt(sum (x_i - mean)^2 / (n - 1))`` of ``values``.

    The SD is 0.0 when ``n == 1``. Raises :class:`ValueError` on an empty, non-finite or
    non-1-D input.
    """
    arr = _vector(values, "values")
    mean, sd = _mean_sd(arr)
    return Summary(mean, sd, int(arr.size))


@dataclass(frozen=True)
class PairedDifference:
    """The paired difference ``d_i = a_i - b_i`` over ``n`` seeds (negative: ``a`` scores lower, i.e. better).

    ``low``/``high``: two-sided t confidence interval of the mean difference at ``level``
    (``(-inf, inf)`` when ``n < 2``). ``p``: two-sided paired t-test p-value of
    ``H0: mean difference = 0``, unadjusted (1.0 when ``n < 2``). ``p_equivalence``: TOST
    p-value against ``±margin``, unadjusted (``None`` without a margin; 1.0 when ``n < 2``).
    """

    mean: float
    sd: float
    n: int
    low: float
    high: float
    p: float
    p_equivalence: float | None
    level: float


def paired_difference(
    a: Sequence[float],
    b: Sequence[float],
    *,
    margin: float | None = None,
    level: float = 0.95,
) -> PairedDifference:
    """Paired comparison of a candidate's scores ``a`` with a baseline's ``b`` (same seeds, same order).

    With ``d_i = a_i - b_i``, ``mean = sum d_i / n``, ``sd`` the sample SD (ddof=1),
    ``se = sd / sqrt(n)`` and ``T`` the CDF of Student's t with ``n - 1`` degrees of freedom:

    * interval: ``mean ± t_{(1 + level)/2, n-1} * se``;
    * ``p = 2 * (1 - T(|mean| / se))`` (paired t-test, two-sided);
    * TOST with margin ``m > 0``: ``p_low = 1 - T((mean + m) / se)`` for ``H0: mu <= -m``,
      ``p_high = T((mean - m) / se)`` for ``H0: mu >= m``, ``p_equivalence = max(p_low, p_high)``.

    Degenerate ``sd == 0`` (every difference equal) with ``n >= 2``: the interval is
    ``[mean, mean]``, ``p = 0.0`` if ``mean != 0`` else 1.0, and ``p_equivalence = 0.0`` if
    ``|mean| < m`` else 1.0. With ``n == 1`` nothing can be inferred: the interval is
    ``(-inf, inf)`` and both p-values are 1.0.

    Raises :class:`ValueError` when ``a`` and ``b`` differ in length, are empty or not finite,
    when ``margin`` is not positive and finite, or when ``level`` is not in (0, 1).
    """
    x, y = _vector(a, "a"), _vector(b, "b")
    if x.size != y.size:
        raise BadInput(f"a and b must pair up seed by seed: got {x.size} and {y.size} values")
    if margin is not None:
        try:
            margin = float(margin)
        except (TypeError, ValueError):
            raise BadInput(f"margin must be a number, got {margin!r}") from None
        if not (math.isfinite(margin) and margin > 0):
            raise BadInput(f"margin must be positive and finite, got {margin}")
    try:
        level = float(level)
    except (TypeError, ValueError):
        raise BadInput(f"level must be a number in (0, 1), got {level!r}") from None
    if not (0.0 < level < 1.0):
        raise BadInput(f"level must be in (0, 1), got {level}")
    with np.errstate(over="ignore"):
        d = x - y
    if not np.all(np.isfinite(d)):
        raise BadInput("a - b overflows: the scores are too large to subtract")
    n = int(d.size)
    mean, sd = _mean_sd(d)
    if n < 2:
        return PairedDifference(mean, sd, n, -math.inf, math.inf, 1.0, None if margin is None else 1.0, level)
    se = sd / math.sqrt(n)
    if se == 0.0:  # every difference equal: no spread to test against
        p = 0.0 if mean != 0.0 else 1.0
        p_eq = None if margin is None else (0.0 if abs(mean) < margin else 1.0)
        return PairedDifference(mean, 0.0, n, mean, mean, p, p_eq, level)
    df = n - 1
    half = float(student_t.ppf((1.0 + level) / 2.0, df)) * se
    p = min(1.0, 2.0 * float(student_t.sf(abs(mean) / se, df)))
    p_eq = None
    if margin is not None:
        p_low = float(student_t.sf((mean + margin) / se, df))
        p_high = float(student_t.cdf((mean - margin) / se, df))
        p_eq = max(p_low, p_high)
    return PairedDifference(mean, sd, n, mean - half, mean + half, p, p_eq, level)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the input order.

    With ``p_(1) <= ... <= p_(m)`` the sorted p-values,
    ``adj_(i) = max_{j <= i} min(1, (m - j + 1) * p_(j))``: monotone in ``p`` and capped at 1.
    Rejecting where ``adj < alpha`` controls the family-wise error at ``alpha``. Ties keep their
    input order. An empty input gives ``[]``. Raises :class:`ValueError` unless every p-value is
    in [0, 1].
    """
    if len(pvalues) == 0:
        return []
    p = _vector(pvalues, "pvalues")
    if np.any((p < 0.0) | (p > 1.0)):
        raise BadInput(f"p-values must lie in [0, 1], got {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m, dtype=np.float64)
    running = 0.0
    for rank, idx in enumerate(order):  # rank = j - 1
        running = max(running, min(1.0, (m - rank) * float(p[idx])))
        adjusted[idx] = running
    return [float(v) for v in adjusted]


def verdicts(diffs: Sequence[PairedDifference], *, alpha: float = 0.05) -> list[str]:
    """Decide one claim over a family of paired differences (one per dataset), in the input order.

    * The difference p-values are Holm-adjusted across the family; where the adjusted
      ``p < alpha`` the verdict is ``"better"`` if ``mean < 0`` (the candidate scores lower)
      else ``"worse"``.
    * Otherwise, for a diff with a margin: the equivalence p-values of the diffs that have one are
      Holm-adjusted across the family, and the verdict is ``"equivalent"`` where the adjusted
      ``p_equivalence < alpha / 2``. For a single test this is exactly "the ``1 - alpha``
      interval lies inside ``(-margin, margin)``".
    * Otherwise ``"inconclusive"``; a diff with ``n < 2`` is always ``"inconclusive"``.

    Every verdict is one of :data:`VERDICTS`. Raises :class:`ValueError` on an ``alpha`` outside
    (0, 1) or an element that is not a :class:`PairedDifference`.
    """
    try:
        alpha = float(alpha)
    except (TypeError, ValueError):
        raise BadInput(f"alpha must be a number in (0, 1), got {alpha!r}") from None
    if not (0.0 < alpha < 1.0):
        raise BadInput(f"alpha must be in (0, 1), got {alpha}")
    diffs = list(diffs)
    for i, d in enumerate(diffs):
        if not isinstance(d, PairedDifference):
            raise BadInput(f"diffs[{i}] must be a PairedDifference, got {type(d).__name__}")
    if not diffs:
        return []
    p_adj = holm([d.p for d in diffs])
    with_margin = [i for i, d in enumerate(diffs) if d.p_equivalence is not None]
    eq_adj = dict(zip(with_margin, holm([diffs[i].p_equivalence for i in with_margin])))
    out = []
    for i, d in enumerate(diffs):
        if d.n < 2:
            out.append("inconclusive")
        elif p_adj[i] < alpha:
            out.append("better" if d.mean < 0 else "worse")
        elif i in eq_adj and eq_adj[i] < alpha / 2:
            out.append("equivalent")
        else:
            out.append("inconclusive")
    return out
