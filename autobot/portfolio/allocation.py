"""Capital shares of the strategies a regime runs, by the policy's ``allocation_method``.

Every method starts from the shares the policy writes for the regime (``base``) and keeps their
total: a regime written at 100% stays at 100%, ``volatile: {}`` stays at 0%. Shares never sum
above 100% (the compiler refuses policies that do).

* ``fixed``: the written shares.
* ``inverse_volatility`` (risk parity): share_i proportional to 1 / sd_i, the standard deviation
  of strategy i's recent per-bar returns. A strategy with too little history (fewer than
  ``min_history`` returns) or no variation gets the average of the others' weights (all
  equal when none has history).
* ``performance``: the written shares tilted toward recent risk-adjusted performance: weight_i =
  base_i * exp(clip(sharpe_i, -2, 2) / 2), sharpe_i being mean / sd of recent returns (0 without
  history), then normalised to the total and kept between a floor of half and a cap of twice the
  written share, never above 80% of the total when there are several strategies, and never so
  much that another strategy falls below its floor: no strategy takes everything. The total is
  always kept: when the caps of twice the written share cannot all hold together (95% and 5%
  written, the first capped at 80%, the second at 10%), those caps give way (80% and 20%).
* ``hrp``: hierarchical risk parity (López de Prado, 2016) over the strategies' recent returns:
  PyPortfolioOpt's ``HRPOpt`` (single-linkage clustering, recursive bisection) on a Ledoit-Wolf
  shrunk covariance (``risk_models.CovarianceShrinkage``), keeping the written total; a strategy
  with too little history gets the average of the others' weights, and with fewer than two
  strategies with history it is ``inverse_volatility``. A library rather than a hand-written
  optimiser: PyPortfolioOpt is the well-kept reference implementation of both (the ``portfolio``
  extra; skfolio and riskfolio-lib were heavier for the same two functions).

* ``evidence``: capital only where a strategy's own recent record (its per-bar returns in this
  run: the paper track's, or the backtest's before it) shows an edge beyond noise: its t-statistic
  (Sharpe per bar x sqrt(n)) above ``EVIDENCE_T`` (1.645, one-sided 5%). Those strategies get
  weights proportional to their Sharpe shrunk toward zero by how much evidence there is
  (x n / (n + ``EVIDENCE_N0``), 250 returns), within their written shares; the others get nothing,
  and what they would have had stays in cash, which is always a legitimate answer.

Two scalings apply after any method (``risk:`` in the policy; both only ever lower the shares,
the rest stays in cash):

* ``target_volatility`` v: the shares are scaled by min(1, v / sigma), sigma the portfolio's
  annualised volatility from the same shrunk covariance (``target_scale``);
* ``drawdown_scaling``: at every bar, by 1 - (drawdown / max_drawdown)^2 (``drawdown_scale``):
  full risk at the peak, 75% at half the limit, 0 at the limit, where the breaker trips anyway:
  the breaker is the last line, not the only one.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

MIN_HISTORY = 20
FLOOR, CAP, MAX_OF_TOTAL = 0.5, 2.0, 0.8


def _sd(xs: Sequence[float]) -> float:
    n = len(xs)
    if n < 2:
        return 0.0
    mean = sum(xs) / n
    return math.sqrt(sum((x - mean) ** 2 for x in xs) / (n - 1))


def fixed(base: Mapping[str, float]) -> dict[str, float]:
    """The written shares."""
    return dict(base)


def inverse_volatility(base: Mapping[str, float], returns: Mapping[str, Sequence[float]],
                       min_history: int = MIN_HISTORY) -> dict[str, float]:
    """Risk parity over recent return volatility, keeping the written total."""
    total = sum(base.values())
    if not base or total <= 0:
        return {k: 0.0 for k in base}
    weights: dict[str, float | None] = {}
    for name in base:
        xs = returns.get(name, ())
        sd = _sd(xs) if len(xs) >= min_history else 0.0
        weights[name] = 1.0 / sd if sd > 0 else None
    known = [w for w in weights.values() if w is not None]
    fill = sum(known) / len(known) if known else 1.0
    raw = {k: (w if w is not None else fill) for k, w in weights.items()}
    s = sum(raw.values())
    return {k: total * w / s for k, w in raw.items()}


def performance(base: Mapping[str, float], returns: Mapping[str, Sequence[float]],
                min_history: int = MIN_HISTORY) -> dict[str, float]:
    """Written shares tilted toward recent risk-adjusted returns, with floors and caps."""
    total = sum(base.values())
    if not base or total <= 0:
        return {k: 0.0 for k in base}
    raw: dict[str, float] = {}
    for name, b in base.items():
        xs = returns.get(name, ())
        sd = _sd(xs) if len(xs) >= min_history else 0.0
        sharpe = (sum(xs) / len(xs)) / sd if sd > 0 else 0.0
        raw[name] = b * math.exp(max(-2.0, min(2.0, sharpe)) / 2.0)
    lo = {k: FLOOR * b for k, b in base.items()}
    floors = sum(lo.values())
    most = MAX_OF_TOTAL * total if len(base) > 1 else total
    hi = {k: min(CAP * b, most, total - (floors - lo[k])) for k, b in base.items()}
    if sum(hi.values()) < total - 1e-12:     # the caps of twice the written share cannot all hold: they give way
        hi = {k: min(most, total - (floors - lo[k])) for k in base}
    return _fit(raw, total, lo, hi)


def _fit(raw: Mapping[str, float], total: float, lo: Mapping[str, float], hi: Mapping[str, float]) -> dict[str, float]:
    """Scale ``raw`` to sum to ``total`` with every value kept in [lo, hi] (water filling)."""
    fixed_: dict[str, float] = {}
    free = dict(raw)
    for _ in range(len(raw) + 1):
        budget = total - sum(fixed_.values())
        s = sum(free.values())
        scaled = {k: (budget * v / s if s > 0 else budget / max(1, len(free))) for k, v in free.items()}
        # fix the values above their cap first; only then those under their floor (fixing both at
        # once would leave budget unspent)
        clipped = {k: v for k, v in scaled.items() if v > hi[k]} or \
            {k: v for k, v in scaled.items() if v < lo[k]}
        if not clipped:
            return {**fixed_, **scaled}
        for k, v in clipped.items():
            fixed_[k] = lo[k] if v < lo[k] else hi[k]
            del free[k]
        if not free:
            break
    return {k: fixed_.get(k, 0.0) for k in raw}


class PortfolioExtraMissing(RuntimeError):
    """PyPortfolioOpt (the ``portfolio`` extra) is not installed."""


def _pypfopt() -> tuple[object, object]:
    try:
        from pypfopt import HRPOpt, risk_models
    except ImportError:
        raise PortfolioExtraMissing("allocation_method hrp and risk.target_volatility use PyPortfolioOpt, which is "
                                    "not installed: pip install -e \".[portfolio]\"") from None
    import scipy.cluster.hierarchy as sch
    if not hasattr(sch, "_LINKAGE_METHODS"):
        # PyPortfolioOpt 1.6.0 checks the linkage name against a private SciPy table that SciPy 1.18
        # moved (PyPortfolio/PyPortfolioOpt#754, fixes not released): the same table, where it is now
        from scipy.cluster.hierarchy import _hierarchy_impl
        sch._LINKAGE_METHODS = _hierarchy_impl._LINKAGE_METHODS   # type: ignore[attr-defined]
    return HRPOpt, risk_models


def _frame(names: Sequence[str], returns: Mapping[str, Sequence[float]]) -> object:
    import pandas as pd
    n = min(len(returns[k]) for k in names)
    return pd.DataFrame({k: list(returns[k])[-n:] for k in names})


def _shrunk_cov(frame: object) -> object:
    _, risk_models = _pypfopt()
    return risk_models.CovarianceShrinkage(frame, returns_data=True, frequency=1).ledoit_wolf()  # type: ignore


def hrp(base: Mapping[str, float], returns: Mapping[str, Sequence[float]],
        min_history: int = MIN_HISTORY) -> dict[str, float]:
    """Hierarchical risk parity over recent returns, keeping the written total."""
    total = sum(base.values())
    if not base or total <= 0:
        return {k: 0.0 for k in base}
    have = [k for k in base if base[k] > 0 and len(returns.get(k, ())) >= min_history and _sd(returns[k]) > 0]
    if len(have) < 2:
        return inverse_volatility(base, returns, min_history)
    HRPOpt, _ = _pypfopt()
    frame = _frame(have, returns)
    # the shrunk covariance alone (given returns, HRPOpt would use their sample covariance instead)
    weights = dict(HRPOpt(cov_matrix=_shrunk_cov(frame)).optimize())  # type: ignore[operator]
    fill = sum(weights.values()) / len(weights)
    raw = {k: (float(weights[k]) if k in weights else (fill if base[k] > 0 else 0.0)) for k in base}
    s = sum(raw.values())
    return {k: total * w / s for k, w in raw.items()} if s > 0 else {k: 0.0 for k in base}


def target_scale(shares: Mapping[str, float], returns: Mapping[str, Sequence[float]], target: float,
                 bars_per_year: float, min_history: int = MIN_HISTORY) -> float:
    """min(1, target / the portfolio's annualised volatility) for ``shares`` (1 without enough history)."""
    names = [k for k, w in shares.items() if w > 0 and len(returns.get(k, ())) >= min_history]
    if not names or not target > 0 or not bars_per_year > 0:
        return 1.0
    if len(names) == 1:
        sd = _sd(list(returns[names[0]])) * shares[names[0]]
        sigma = sd * math.sqrt(bars_per_year)
    else:
        frame = _frame(names, returns)
        cov = _shrunk_cov(frame)
        w = [shares[k] for k in names]
        var = sum(w[i] * w[j] * float(cov.iloc[i, j]) for i in range(len(w)) for j in range(len(w)))  # type: ignore
        sigma = math.sqrt(max(var, 0.0) * bars_per_year)
    return min(1.0, target / sigma) if sigma > 0 else 1.0


def drawdown_scale(drawdown: float, limit: float) -> float:
    """1 - (drawdown / limit)^2, between 0 and 1 (the documented curve)."""
    if not limit > 0 or not drawdown > 0:
        return 1.0
    return max(0.0, 1.0 - (drawdown / limit) ** 2)


EVIDENCE_T = 1.645
EVIDENCE_N0 = 250


def evidence(base: Mapping[str, float], returns: Mapping[str, Sequence[float]],
             min_history: int = MIN_HISTORY, priors: Mapping[str, Any] | None = None,
             bars_per_year: float = 0.0) -> dict[str, float]:
    """Written shares given only to strategies whose record beats noise, by their shrunk Sharpe.
    ``priors``: a strategy's out-of-sample record from ``optimize`` (:mod:`autobot.portfolio.evidence`),
    counted with its own record in the run, each by the time it covers."""
    from autobot.portfolio.evidence import combine
    total = sum(base.values())
    scores: dict[str, float] = {}
    for name, b in base.items():
        xs = list(returns.get(name, ()))
        sd = _sd(xs) if len(xs) >= min_history else 0.0
        own = (sum(xs) / len(xs)) / sd if sd > 0 else None
        sharpe, n = combine((priors or {}).get(name), own, len(xs), bars_per_year)
        if not (b > 0 and n > 0):
            continue
        if sharpe * math.sqrt(n) > EVIDENCE_T:
            scores[name] = sharpe * n / (n + EVIDENCE_N0)
    if not scores or total <= 0:
        return {k: 0.0 for k in base}
    top = max(scores.values())
    return {k: (base[k] * scores[k] / top if k in scores else 0.0) for k in base}


METHODS = {"fixed": lambda base, returns: fixed(base), "inverse_volatility": inverse_volatility,
           "performance": performance, "hrp": hrp, "evidence": evidence}


def allocate(method: str, base: Mapping[str, float], returns: Mapping[str, Sequence[float]],
             priors: Mapping[str, Any] | None = None, bars_per_year: float = 0.0) -> dict[str, float]:
    """Shares by ``method`` (``fixed``, ``inverse_volatility``, ``performance``, ``hrp`` or
    ``evidence``, which also reads ``priors``)."""
    shares = evidence(base, returns, priors=priors, bars_per_year=bars_per_year) if method == "evidence" and priors \
        else METHODS[method](base, returns)
    total = sum(shares.values())
    if total > 1.0 + 1e-12:   # never more than all the capital
        shares = {k: v / total for k, v in shares.items()}
    return shares
