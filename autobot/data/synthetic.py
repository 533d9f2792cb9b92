"""Deterministic synthetic OHLCV bars: the example data set shipped with the project.

The price follows a regime-switching random walk that cycles through trending-up, ranging,
volatile and trending-down phases of 100-400 bars each. The output is made by this code alone,
so it is free to redistribute. Regenerate the committed example with::

    python -m autobot.data.synthetic            # writes examples/data/example_btcusdt_1h.csv
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from autobot.data.bars import Bars, write_bars_csv

__all__ = ["generate_example_bars", "ar1_bars", "main", "EXAMPLE_PATH"]

EXAMPLE_PATH = Path(__file__).resolve().parents[2] / "examples" / "data" / "example_btcusdt_1h.csv"


@dataclass(frozen=True)
class _Regime:
    """Per-bar log-return drift and volatility, mean reversion strength and volume level."""

    name: str
    drift: float
    vol: float
    reversion: float
    volume: float


_REGIMES = (
    _Regime("trending-up", 0.0009, 0.0050, 0.0, 1.0),
    _Regime("ranging", 0.0, 0.0035, 0.05, 0.7),
    _Regime("volatile", 0.0, 0.0140, 0.0, 1.8),
    _Regime("trending-down", -0.0009, 0.0060, 0.0, 1.2),
)


def generate_example_bars(n: int = 3000, seed: int = 7, start: str = "2024-01-01T00:00:00Z",
                          step_seconds: int = 3600, start_price: float = 40000.0) -> Bars:
    """``n`` synthetic bars from ``numpy.random.default_rng(seed)``, one every ``step_seconds``.

    Each bar opens at the previous close; high/low extend past the body by a random wick;
    prices are rounded to 2 decimals and volume (with occasional surges) to 4 decimals.
    """
    if n < 1 or step_seconds < 1 or start_price <= 0:
        raise ValueError("n and step_seconds must be >= 1 and start_price > 0")
    rng = np.random.default_rng(seed)
    regime = _regime_per_bar(rng, n)
    close = _closes(rng, regime, start_price)
    open_ = np.concatenate(([round(start_price, 2)], close[:-1]))
    high, low = _wicks(rng, regime, open_, close)
    volume = _volumes(rng, regime)
    first = np.datetime64(start.rstrip("Z"), "ns").astype(np.int64)
    ts = first + np.arange(n, dtype=np.int64) * step_seconds * 10**9
    return Bars("<synthetic>", ts, open_, high, low, close, volume, "csv")


def ar1_bars(n: int, seed: int, persistence: float = 0.0, strength: float = 0.0, vol: float = 0.005,
             start: str = "2020-01-01T00:00:00Z", step_seconds: int = 3600, start_price: float = 100.0) -> Bars:
    """Bars whose log return is a hidden trend plus noise: r[t] = m[t] + vol * e[t], where the
    trend m follows an AR(1), m[t] = persistence * m[t-1] + sqrt(1 - persistence^2) * strength
    * vol * u[t] (so m's standard deviation is strength * vol), e and u standard normal from
    ``default_rng(seed)``. strength 0 is a random walk with no edge for any rule (the optimiser's
    noise benchmark); strength > 0 with persistence near 1 gives returns positive
    autocorrelation: trends a trend follower can exploit, a known planted edge. Highs and lows
    reach past the body by a random wick; prices keep 4 decimals."""
    if n < 2 or not -1 < persistence < 1 or not vol > 0 or strength < 0:
        raise ValueError("n >= 2, -1 < persistence < 1, vol > 0 and strength >= 0 are required")
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n) * vol
    u = rng.standard_normal(n) * vol * strength * np.sqrt(1.0 - persistence ** 2)
    m = np.empty(n)
    m[0] = u[0] / max(np.sqrt(1.0 - persistence ** 2), 1e-12)
    for k in range(1, n):
        m[k] = persistence * m[k - 1] + u[k]
    r = m + e
    close = np.round(start_price * np.exp(np.cumsum(r)), 4)
    open_ = np.concatenate(([round(start_price, 4)], close[:-1]))
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.round(top * np.exp(np.abs(rng.standard_normal(n)) * vol * 0.5), 4), top)
    low = np.minimum(np.round(bottom * np.exp(-np.abs(rng.standard_normal(n)) * vol * 0.5), 4), bottom)
    volume = np.round(1000.0 * rng.lognormal(0.0, 0.4, n), 4)
    first = np.datetime64(start.rstrip("Z"), "ns").astype(np.int64)
    ts = first + np.arange(n, dtype=np.int64) * step_seconds * 10**9
    return Bars(f"<trend+noise persistence={persistence:g} strength={strength:g} seed={seed}>", ts, open_, high, low, close, volume, "csv")


def _regime_per_bar(rng: np.random.Generator, n: int) -> np.ndarray:
    """Index into ``_REGIMES`` for every bar: phases of 100-400 bars in a fixed cycle."""
    out = np.empty(n, dtype=np.intp)
    pos, phase = 0, 0
    while pos < n:
        length = int(rng.integers(100, 401))
        out[pos:pos + length] = phase % len(_REGIMES)
        pos, phase = pos + length, phase + 1
    return out


def _closes(rng: np.random.Generator, regime: np.ndarray, start_price: float) -> np.ndarray:
    """Rounded closes of the random walk; ranging phases revert to their opening level."""
    shocks = rng.standard_normal(regime.shape[0])
    close = np.empty(regime.shape[0])
    log_price = float(np.log(start_price))
    anchor, previous = log_price, -1
    for k, r in enumerate(regime.tolist()):
        spec = _REGIMES[r]
        if r != previous:
            anchor, previous = log_price, r
        step = spec.drift - spec.reversion * (log_price - anchor) + spec.vol * shocks[k]
        log_price += step
        close[k] = max(round(float(np.exp(log_price)), 2), 0.01)
        log_price = float(np.log(close[k]))
    return close


def _wicks(rng: np.random.Generator, regime: np.ndarray, open_: np.ndarray,
           close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """High and low around the bar body, consistent after rounding."""
    vol = np.array([_REGIMES[r].vol for r in regime.tolist()])
    up = np.abs(rng.standard_normal(regime.shape[0])) * vol * 0.6
    down = np.abs(rng.standard_normal(regime.shape[0])) * vol * 0.6
    body_top, body_bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.round(body_top * np.exp(up), 2), body_top)
    low = np.minimum(np.maximum(np.round(body_bottom * np.exp(-down), 2), 0.01), body_bottom)
    return high, low


def _volumes(rng: np.random.Generator, regime: np.ndarray) -> np.ndarray:
    """Lognormal volume scaled by regime, with surges of 3-8x on about 2% of bars."""
    n = regime.shape[0]
    level = np.array([_REGIMES[r].volume for r in regime.tolist()])
    base = 850.0 * level * rng.lognormal(0.0, 0.45, n)
    surge = np.where(rng.random(n) < 0.02, rng.uniform(3.0, 8.0, n), 1.0)
    return np.maximum(np.round(base * surge, 4), 0.0001)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the example CSV (3000 hourly bars) to ``examples/data/`` or a given path."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(EXAMPLE_PATH), help="output CSV path")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bars_csv(generate_example_bars(), out)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
