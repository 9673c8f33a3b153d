"""Small-sample statistics for the word-translation experiment: ROC AUC, Pearson r, bootstrap CIs.

Everything returns plain floats. Statistics that are undefined on the data at hand (AUC with one
class, r with zero variance) return NaN rather than raising, because per-language-pair subsets are
small and one-class or constant subsets are an expected outcome, not a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import numpy.typing as npt

# Resamples are drawn in chunks of about this many elements so that a large sample times
# n_resamples does not have to fit in memory at once.
_CHUNK_ELEMENTS = 1 << 22


def auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """ROC AUC of `scores` for binary `labels`, via the Mann–Whitney U statistic.

    Equals the probability that a random positive scores above a random negative, ties counting
    1/2 (average ranks). Labels may be bool or 0/1. Returns NaN when either class is absent
    (including empty input). Raises ValueError on mismatched lengths, non-binary labels or
    non-finite scores.
    """
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise ValueError(f"auc: {s.size} scores but {y.size} labels")
    if y.dtype != np.bool_:
        if not np.all((y == 0) | (y == 1)):
            raise ValueError("auc: labels must be bool or 0/1")
        y = y.astype(np.bool_)
    if not np.all(np.isfinite(s)):
        raise ValueError("auc: scores contain NaN or inf")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    # Average ranks (1-based) of each distinct value: tied scores share the mean of their ranks.
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse]
    u = ranks[y].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def pearson_r(x: npt.ArrayLike, y: npt.ArrayLike) -> float:
    """Pearson correlation of two equal-length samples; NaN with < 2 points or zero variance."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    if a.shape != b.shape:
        raise ValueError(f"pearson_r: x has {a.size} values but y has {b.size}")
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    r = (a @ b) / np.sqrt((a @ a) * (b @ b))
    # Rounding can push |r| a hair past 1 for (anti)collinear data.
    return float(np.clip(r, -1.0, 1.0))


def pearson_ci(
    x: npt.ArrayLike, y: npt.ArrayLike, confidence: float = 0.95
) -> tuple[float, float, float, float]:
    """Pearson r with its Fisher-z confidence interval and two-sided p-value (scipy):
    (r, low, high, p). All NaN with < 3 points or zero variance (r is undefined there)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    b = np.asarray(y, dtype=np.float64).ravel()
    r = pearson_r(a, b)
    if a.size < 3 or np.isnan(r):
        return (float("nan"),) * 4
    from scipy.stats import pearsonr

    res = pearsonr(a, b)
    ci = res.confidence_interval(confidence)
    return r, float(ci.low), float(ci.high), float(res.pvalue)


def _check_ci_args(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _percentile_bounds(stats: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(stats, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _resampled_statistic(values: np.ndarray, statistic: Callable[..., object], idx: np.ndarray) -> np.ndarray:
    """statistic over each row of values[idx]; uses `axis=-1` when the statistic supports it."""
    samples = values[idx]
    try:
        out = np.asarray(statistic(samples, axis=-1), dtype=np.float64)
        if out.shape == (idx.shape[0],):
            return out
    except TypeError:
        pass
    # A statistic without an axis argument (or one that ignored it): one call per resample.
    return np.array([float(statistic(row)) for row in samples], dtype=np.float64)


def bootstrap_ci(
    values: npt.ArrayLike,
    statistic: Callable[..., object] = np.mean,
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    nan_policy: Literal["raise", "omit"] = "raise",
) -> tuple[float, float, float]:
    """Percentile-bootstrap CI of `statistic` over a 1-D sample: (point estimate, low, high).

    The statistic is called as `statistic(samples, axis=-1)` on a (resamples, n) block when it
    accepts `axis` (numpy reductions do), and once per resample otherwise.

    NaN handling: with nan_policy="raise" (the default) a NaN in `values` is a ValueError, since a
    silently shrunk sample would give a too-narrow interval; "omit" drops NaNs first. Empty input
    (or all-NaN with "omit") is a ValueError. Deterministic for a given seed.
    """
    _check_ci_args(n_resamples, confidence)
    data = np.asarray(values, dtype=np.float64).ravel()
    nan = np.isnan(data)
    if nan.any():
        if nan_policy == "raise":
            raise ValueError(
                f"bootstrap_ci: {int(nan.sum())} NaN value(s); pass nan_policy='omit' to drop them"
            )
        if nan_policy != "omit":
            raise ValueError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}")
        data = data[~nan]
    n = data.size
    if n == 0:
        raise ValueError("bootstrap_ci: no values")
    point = float(statistic(data))
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ELEMENTS // n)
    parts = []
    for start in range(0, n_resamples, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_resamples - start), n))
        parts.append(_resampled_statistic(data, statistic, idx))
    low, high = _percentile_bounds(np.concatenate(parts), confidence)
    return point, low, high


def bootstrap_ci_paired(
    x: npt.ArrayLike,
    y: npt.ArrayLike,
    statistic: Callable[[np.ndarray, np.ndarray], float],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    max_undefined: float = 0.5,
) -> tuple[float, float, float]:
    """Percentile-bootstrap CI of a two-sample statistic such as `auc(scores, labels)`.

    Rows (x[i], y[i]) are resampled jointly. A resample on which the statistic is not finite (an
    AUC resample with one class, an r resample with zero variance) is dropped, so the interval is
    conditional on the statistic being defined. If more than `max_undefined` of the resamples are
    dropped the interval is not trustworthy and the bounds are NaN; if the statistic is undefined
    on the full sample, all three values are NaN. Empty input is a ValueError.
    """
    _check_ci_args(n_resamples, confidence)
    if not 0.0 <= max_undefined <= 1.0:
        raise ValueError(f"max_undefined must be in [0, 1], got {max_undefined}")
    a = np.asarray(x)
    b = np.asarray(y)
    if a.shape[:1] != b.shape[:1]:
        raise ValueError(f"bootstrap_ci_paired: x has {len(a)} rows but y has {len(b)}")
    n = len(a)
    if n == 0:
        raise ValueError("bootstrap_ci_paired: no values")
    nan = float("nan")
    point = float(statistic(a, b))
    if not np.isfinite(point):
        return nan, nan, nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_resamples, n))
    stats = np.array([float(statistic(a[i], b[i])) for i in idx], dtype=np.float64)
    stats = stats[np.isfinite(stats)]
    if stats.size == 0 or (n_resamples - stats.size) > max_undefined * n_resamples:
        return point, nan, nan
    low, high = _percentile_bounds(stats, confidence)
    return point, low, high
