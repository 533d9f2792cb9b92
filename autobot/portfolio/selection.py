"""Selection: the shares of capital the strategies get when the regime changes (or a reloaded
policy reallocates). Plain Python: the NautilusTrader controller applies the result to its
strategies; a test computes it alone.

The regime's strategies (the policy's ``allocations`` for it) share the capital by the policy's
``allocation_method`` (:func:`autobot.portfolio.allocation.allocate`) over each one's recent
per-bar returns; with ``risk.target_volatility`` the shares are scaled down (never up) so the
portfolio's estimated volatility meets the target. No regime yet, or a regime with no strategy:
no shares (stand aside).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autobot.portfolio.allocation import allocate, target_scale


@dataclass(frozen=True)
class Selection:
    """The shares of a regime (fractions of equity, by strategy) and the volatility target's factor."""

    regime: str | None
    shares: dict[str, float] = field(default_factory=dict)
    vol_scale: float = 1.0


def select(regime: str | None, allocations: dict[str, dict[str, float]], method: str,
           returns: dict[str, list[float]], target_volatility: float | None = None,
           bars_per_year: float = 0.0, priors: dict[str, Any] | None = None) -> Selection:
    """The shares for ``regime`` (``returns``: recent per-bar returns of the regime's strategies)."""
    base = allocations.get(regime, {}) if regime is not None else {}
    if not base:
        return Selection(regime)
    shares = allocate(method, base, {k: v for k, v in returns.items() if k in base}, priors, bars_per_year)
    vol_scale = 1.0
    if target_volatility is not None and shares:
        vol_scale = target_scale(shares, returns, target_volatility, bars_per_year)
        shares = {k: v * vol_scale for k, v in shares.items()}
    return Selection(regime, shares, vol_scale)
