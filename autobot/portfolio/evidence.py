"""The ``evidence`` allocation's prior: a strategy's out-of-sample record from ``optimize``
(:class:`autobot.documents.priors.Prior`) combined with its own record in the run."""

from __future__ import annotations

import math

from autobot.documents.priors import Prior


def combine(prior: Prior | None, bar_sharpe: float | None, bars: int, bars_per_year: float) -> tuple[float, float]:
    """The prior and the run's own record (``bar_sharpe`` over ``bars`` per-bar returns) as one
    record: (Sharpe per bar, its length in bars), each weighted by the time it covers. Without a
    prior (or without a bar rate to put them on one scale) the run's own record alone."""
    own = bar_sharpe if bar_sharpe is not None else 0.0
    n = bars if bar_sharpe is not None else 0
    if prior is None or bars_per_year <= 0:
        return own, float(n)
    prior_bars = prior.years * bars_per_year
    total = prior_bars + n
    if total <= 0:
        return 0.0, 0.0
    return (prior.sharpe / math.sqrt(bars_per_year) * prior_bars + own * n) / total, total
