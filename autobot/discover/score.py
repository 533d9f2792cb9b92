"""Scoring a candidate on the fast engine, on the segments the search may see.

The data of each series is cut in three, in time order: the **search** segment's first part
(in-sample: the fitness), its last part (out-of-sample: what the snooping tests judge, never the
fitness), and the **holdout** (default the last 30%), which the search never sees and which is
run once, for the survivors, at the end. A candidate is run once over the search segment (its
indicators warm up on the bars before each part, as a live strategy would), and its per-bar
returns are cut at the in-sample / out-of-sample boundary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autobot.backtest import metrics as M
from autobot.backtest.data import NS
from autobot.data.bars import Bars


@dataclass(frozen=True)
class Series:
    """One data file, cut: bars [0, is_end) in-sample, [is_end, search_end) out-of-sample,
    [search_end, n) the holdout."""

    path: str
    instrument: str
    bars: Bars
    bar: str
    is_end: int
    search_end: int

    @property
    def holdout_span(self) -> tuple[int, int]:
        """The holdout from its first bar's open to its last bar's close (as a backtest's start/end)."""
        ts = self.bars.ts
        step = int(ts[-1]) - int(ts[-2]) if len(ts) > 1 else 0
        return int(ts[self.search_end]), int(ts[-1]) + step


def cut(path: str, instrument: str, bars: Bars, bar: str, holdout: float, oos: float) -> Series:
    n = len(bars)
    search_end = int(round(n * (1.0 - holdout)))
    is_end = int(round(search_end * (1.0 - oos)))
    return Series(path, instrument, bars, bar, is_end, search_end)


@dataclass
class Scored:
    """What one candidate did on the search segments (every series)."""

    key: str
    complexity: int
    is_sharpe: float                  # annualised, in-sample (mean over the series)
    is_sharpe_per_bar: float
    is_trades: int
    fitness: float | None             # None: too few trades, or it failed
    oos_returns: np.ndarray           # per bar, the series' out-of-sample parts one after another
    search_returns: list[np.ndarray] = field(default_factory=list)
    origin: str = "random"
    error: str = ""


def bar_text(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def returns_of(equity: np.ndarray, capital: float) -> np.ndarray:
    """Per-bar returns of an equity curve recorded at each close (the first from the capital)."""
    curve = np.concatenate(([capital], np.asarray(equity, dtype=np.float64)))
    with np.errstate(divide="ignore", invalid="ignore"):
        r = curve[1:] / curve[:-1] - 1.0
    return np.where(np.isfinite(r), r, 0.0)


def annualised_sharpe(r: np.ndarray, bars_per_year: float) -> float:
    if len(r) < 2:
        return 0.0
    sd = float(np.std(r, ddof=1))
    return float(np.mean(r)) / sd * math.sqrt(bars_per_year) if sd > 0 else 0.0


def run(compiled: Any, series: Series, stop: int, cache: dict[Any, Any], capital: float) -> Any:
    """The candidate on the series' bars [0, stop) on the fast engine."""
    from autobot.fast.engine import run_fast
    from autobot.venue.instruments import InstrumentSettings
    from autobot.venue.settings import VenueSettings
    return run_fast(compiled, series.bars.slice(0, stop), VenueSettings(capital=capital), InstrumentSettings(),
                    instrument_id=series.instrument, cache=cache, traces=False)


def segment_metrics(result: Any, start: int, stop: int) -> dict[str, Any]:
    """The backtest metrics of bars [start, stop) of a run (the same keys as a backtest's JSON)."""
    eq = np.asarray(result.equity[start:stop], dtype=np.float64)
    ts = np.asarray(result.bars.ts[start:stop], dtype=np.int64)
    before = float(result.equity[start - 1]) if start > 0 else float(result.capital)
    t0, t1 = int(ts[0]), int(ts[-1]) + result.bar_seconds * NS
    trades = [t for t in result.trades if t0 <= int(t["entry_ts"]) < t1]
    m = M.compute(np.concatenate(([before], eq)), np.concatenate(([t0 - result.bar_seconds * NS], ts)),
                  result.bar_seconds * NS, before, float(eq[-1]), trades, np.asarray(result.exposure[start:stop]))
    return m


def score(candidate_key: str, text: str, complexity: int, series: list[Series], caches: list[dict[Any, Any]],
          capital: float, min_trades: int, penalty: float, origin: str) -> Scored:
    """Compile the candidate's document and run it on every series' search segment."""
    from autobot.diagnostics import RunError, UserError
    from autobot.fast.program import Unsupported
    from autobot.language.compile import compile_strategy_text
    try:
        compiled = compile_strategy_text(text, "candidate.yaml")
        is_sharpes, is_per_bar, trades, oos, search = [], [], 0, [], []
        for s, cache in zip(series, caches):
            result = run(compiled, s, s.search_end, cache, capital)
            r = returns_of(result.equity, capital)
            per_year = M.periods_per_year(result.bars.ts, result.bar_seconds * NS)   # the run's own bars
            is_r = r[: s.is_end]
            is_sharpes.append(annualised_sharpe(is_r, per_year))
            sd = float(np.std(is_r, ddof=1)) if len(is_r) > 1 else 0.0
            is_per_bar.append(float(np.mean(is_r)) / sd if sd > 0 else 0.0)
            cut_ts = int(s.bars.ts[s.is_end])
            trades += sum(1 for t in result.trades if t["exit_reason"] != "open" and t["exit_ts"] is not None
                          and int(t["exit_ts"]) <= cut_ts)
            oos.append(r[s.is_end:])
            search.append(r)
    except (UserError, RunError, Unsupported, ValueError) as err:
        return Scored(candidate_key, complexity, 0.0, 0.0, 0, None, np.zeros(0), [], origin, str(err)[:300])
    sharpe = float(np.mean(is_sharpes))
    fitness = sharpe - penalty * complexity if trades >= min_trades else None
    return Scored(candidate_key, complexity, sharpe, float(np.mean(is_per_bar)), trades, fitness,
                  np.concatenate(oos) if oos else np.zeros(0), search, origin)
