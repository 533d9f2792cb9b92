"""Overfitting statistics of a study (definitions and references: docs/optimize.md).

Every Sharpe ratio here is per bar (mean over standard deviation of per-bar returns, ddof 1, not
annualised), as the formulas of Bailey and López de Prado expect; skew and kurtosis are the
population moments of the same returns (kurtosis raw: 3 for a normal distribution).

* :func:`psr`: Probabilistic Sharpe Ratio, P(true SR > ``benchmark``) given the estimate, its
  length, skew and kurtosis (Bailey & López de Prado 2012).
* :func:`expected_max_sharpe`: the Sharpe ratio the best of ``trials`` unskilled trials reaches
  by luck, from the trials' Sharpe variance (the False Strategy Theorem).
* :func:`dsr`: Deflated Sharpe Ratio, the PSR against that expected maximum (Bailey & López de
  Prado 2014).
* :func:`min_track_record`: bars of track record needed before an estimated Sharpe ratio is
  significantly above ``benchmark``.
* :func:`pbo`: Probability of Backtest Overfitting by combinatorially symmetric
  cross-validation, CSCV (Bailey, Borwein, López de Prado & Zhu 2015).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class Moments:
    """What the statistics need of a return series."""

    sharpe: float         # per bar
    skew: float
    kurtosis: float       # raw (3 for normal returns)
    n: int

    def to_json(self) -> dict[str, float | int]:
        return {"sharpe_per_bar": self.sharpe, "skew": self.skew, "kurtosis": self.kurtosis, "bars": self.n}


def moments(returns: np.ndarray) -> Moments:
    """Per-bar Sharpe, skew and raw kurtosis of ``returns`` (0 and normal shape when flat)."""
    r = np.asarray(returns, dtype=np.float64)
    n = len(r)
    if n < 2:
        return Moments(0.0, 0.0, 3.0, n)
    mu = float(np.mean(r))
    sd = float(np.std(r, ddof=1))
    pop = float(np.std(r))
    if not sd > 0 or not pop > 0:
        return Moments(0.0, 0.0, 3.0, n)
    z = (r - mu) / pop
    return Moments(mu / sd, float(np.mean(z ** 3)), float(np.mean(z ** 4)), n)


def _sr_variance_term(m: Moments) -> float:
    """1 - skew * SR + (kurtosis - 1) / 4 * SR^2: the non-normal inflation of the SR's variance."""
    return max(1.0 - m.skew * m.sharpe + (m.kurtosis - 1.0) / 4.0 * m.sharpe ** 2, 1e-12)


def psr(m: Moments, benchmark: float = 0.0) -> float:
    """Probability that the true per-bar Sharpe exceeds ``benchmark``."""
    if m.n < 2:
        return 0.0
    z = (m.sharpe - benchmark) * math.sqrt(m.n - 1) / math.sqrt(_sr_variance_term(m))
    return float(norm.cdf(z))


def expected_max_sharpe(trials: float, sharpe_variance: float) -> float:
    """E[max SR] of ``trials`` independent unskilled trials whose Sharpe ratios vary by
    ``sharpe_variance``: sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e)))."""
    if trials < 2 or not sharpe_variance > 0:
        return 0.0
    n = float(trials)
    return math.sqrt(sharpe_variance) * ((1.0 - EULER_GAMMA) * float(norm.ppf(1.0 - 1.0 / n)) +
                                         EULER_GAMMA * float(norm.ppf(1.0 - 1.0 / (n * math.e))))


def dsr(m: Moments, trials: float, sharpe_variance: float) -> float:
    """Deflated Sharpe Ratio: :func:`psr` against :func:`expected_max_sharpe`."""
    return psr(m, expected_max_sharpe(trials, sharpe_variance))


def min_track_record(m: Moments, benchmark: float = 0.0, confidence: float = 0.95) -> float:
    """Bars of track record for the estimated Sharpe to be above ``benchmark`` at ``confidence``
    (infinite when the estimate is not above it)."""
    if m.sharpe <= benchmark:
        return math.inf
    z = float(norm.ppf(confidence))
    return 1.0 + _sr_variance_term(m) * (z / (m.sharpe - benchmark)) ** 2


@dataclass(frozen=True)
class BlockSums:
    """Per-block sums of one trial's returns: count, sum and sum of squares over each of the S
    consecutive blocks of the scored range (the Sharpe of any union of blocks follows exactly)."""

    count: np.ndarray
    total: np.ndarray
    squares: np.ndarray


def block_sums(returns: np.ndarray, blocks: int) -> BlockSums:
    r = np.asarray(returns, dtype=np.float64)
    parts = np.array_split(r, blocks)
    return BlockSums(np.array([len(p) for p in parts], dtype=np.float64), np.array([p.sum() for p in parts]),
                     np.array([(p * p).sum() for p in parts]))


def average_correlation(sums: list[BlockSums]) -> float | None:
    """The trials' average pairwise correlation, measured on their per-block mean returns (the S
    blocks of the scored range each trial's BlockSums holds), clipped to [0, 1]; None under 3
    trials or 4 blocks, or when no trial varies."""
    if len(sums) < 3 or len(sums[0].total) < 4:
        return None
    x = np.array([s.total / np.maximum(s.count, 1.0) for s in sums], dtype=np.float64)
    x = x[np.std(x, axis=1) > 0]
    if len(x) < 3:
        return None
    c = np.corrcoef(x)
    k = len(c)
    rho = float((np.sum(c) - k) / (k * (k - 1)))
    return min(1.0, max(0.0, rho)) if math.isfinite(rho) else None


def effective_trials(trials: int, rho: float | None) -> float:
    """The number of independent trials N trials with average correlation ``rho`` amount to:
    rho + (1 - rho) N (Bailey and Lopez de Prado 2014, The Deflated Sharpe Ratio, section 4): N
    when the trials are independent, 1 when they are one strategy run N times."""
    if rho is None or trials < 2:
        return float(trials)
    return rho + (1.0 - rho) * trials


def _union_sharpe(count: np.ndarray, total: np.ndarray, squares: np.ndarray) -> np.ndarray:
    """Sharpe (ddof 1) of block unions: arrays over (combination, trial)."""
    mean = total / count
    var = (squares - count * mean ** 2) / np.maximum(count - 1.0, 1.0)
    sd = np.sqrt(np.maximum(var, 0.0))
    return np.where(sd > 0, mean / np.where(sd > 0, sd, 1.0), 0.0)


@dataclass(frozen=True)
class PBOResult:
    pbo: float
    combinations: int
    logits: np.ndarray          # lambda of every combination
    trials: int

    def to_json(self) -> dict[str, float | int]:
        return {"pbo": self.pbo, "combinations": self.combinations, "trials": self.trials,
                "median_logit": float(np.median(self.logits)) if len(self.logits) else 0.0}


def pbo(sums: list[BlockSums]) -> PBOResult:
    """CSCV over ``sums`` (one per trial, S blocks each, S even): for every way of taking half
    the blocks as in-sample, the trial with the best in-sample Sharpe is ranked among all trials
    on the other half (rank 1 = worst of N); w = rank / (N + 1), lambda = ln(w / (1 - w)); PBO is
    the share of combinations with lambda <= 0 (the in-sample best at or below the out-of-sample
    median)."""
    n = len(sums)
    if n < 2:
        return PBOResult(math.nan, 0, np.zeros(0), n)
    count = np.stack([s.count for s in sums], axis=1)       # (S, N)
    total = np.stack([s.total for s in sums], axis=1)
    squares = np.stack([s.squares for s in sums], axis=1)
    blocks = count.shape[0]
    combos = np.array(list(itertools.combinations(range(blocks), blocks // 2)), dtype=np.int64)
    mask = np.zeros((len(combos), blocks))
    mask[np.arange(len(combos))[:, None], combos] = 1.0
    inside = _union_sharpe(mask @ count, mask @ total, mask @ squares)
    rest = 1.0 - mask
    outside = _union_sharpe(rest @ count, rest @ total, rest @ squares)
    best = np.argmax(inside, axis=1)                        # first best on ties
    chosen = outside[np.arange(len(combos)), best]
    # rank of the chosen trial's OOS Sharpe among all N (ties share the average rank)
    below = (outside < chosen[:, None]).sum(axis=1)
    equal = (outside == chosen[:, None]).sum(axis=1)
    rank = below + (equal + 1) / 2.0
    w = rank / (n + 1.0)
    logits = np.log(w / (1.0 - w))
    return PBOResult(float(np.mean(logits <= 0.0)), len(combos), logits, n)
