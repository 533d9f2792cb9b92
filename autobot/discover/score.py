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
    oos_returns: np.ndarray | None    # per bar, the series' out-of-sample parts one after another
                                      # (None: not kept; the search computes the top ones' again)
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


class SearchRun:
    """One series' search segment [0, search_end) made ready once for every candidate: the bars as
    a strategy sees them, the instrument, the prices as Nautilus doubles, the TA-Lib cache and the
    kernel's output arrays, so a candidate costs its compile, its own nodes and the kernel loop.

    :meth:`run` gives what :func:`score` reads of :func:`run` (:func:`autobot.fast.engine.run_fast`):
    the equity curve and the trades closed by the in-sample cut, the same numbers (a test compares
    them on random candidates) without building the trades' records, traces and metrics a score
    never reads. Anything out of the ordinary (a ``quote:`` document, externals other than the flat
    ones, a run the engine stops) goes through ``run_fast`` itself, which also raises its errors."""

    def __init__(self, series: Series, capital: float) -> None:
        self.series, self.capital = series, capital
        self.bars = series.bars.slice(0, series.search_end)
        self.cache: dict[Any, Any] = {}                  # TA-Lib results, shared by every candidate
        self.cut_ts = int(series.bars.ts[series.is_end])
        self._ready: dict[Any, Any] = {}

    def _prepare(self, compiled: Any) -> Any:
        from autobot.backtest.data import strategy_bars
        from autobot.evaluate.semantics import flat_externals
        from autobot.fast.engine import nautilus_doubles
        from autobot.venue.instruments import InstrumentSettings, account_currency, make_instrument, quote_currency
        want = compiled.bar.seconds if compiled.bar is not None else None
        if want not in self._ready:
            bars, seconds, _ = strategy_bars(compiled, self.bars)
            inst = make_instrument(self.series.instrument, [bars.open, bars.high, bars.low, bars.close],
                                   InstrumentSettings())
            pp, sp = inst.price_precision, inst.size_precision
            currency = account_currency(quote_currency(self.series.instrument, InstrumentSettings()), inst)
            base = getattr(inst, "base_currency", None)
            o, h, lo, c = (nautilus_doubles(x, pp) for x in (bars.open, bars.high, bars.low, bars.close))
            seen = Bars(bars.path, bars.ts, o, h, lo, c, nautilus_doubles(bars.volume, sp), bars.format)
            self._ready[want] = _Ready(bars, seconds, inst, int(currency.precision),
                                       int(base.precision) if base is not None else -1, seen,
                                       dict(flat_externals()), bars.ts + seconds * NS,
                                       M.periods_per_year(bars.ts, seconds * NS))
        return self._ready[want]

    def run(self, compiled: Any) -> tuple[np.ndarray, int, float]:
        """(equity at each close, trades closed by the in-sample cut, bars a year) of ``compiled``."""
        from autobot.backtest.data import TEXT_NAMES
        from autobot.diagnostics import UserError
        from autobot.evaluate.batch import evaluate
        from autobot.fast import kernel as K
        from autobot.fast import program as G
        from autobot.fast.engine import Outputs, kernel_params
        from autobot.venue.settings import VenueSettings
        if compiled.document.quote is not None or compiled.plan.externals & ({"regime"} | set(TEXT_NAMES)):
            return self._reference(compiled)
        ready = self._prepare(compiled)
        n = len(ready.bars)
        short = compiled.short_data(n) if n else []
        if short:
            raise UserError(short)
        values = evaluate(compiled.plan, ready.seen, ready.ext, cache=self.cache)
        prog = G.build(compiled, values)
        pi, pf = kernel_params(compiled, ready.inst, VenueSettings(capital=self.capital), ready.cp, ready.bp,
                               self.capital)
        out = Outputs(n)
        seen = ready.seen
        K.simulate(seen.open, seen.high, seen.low, seen.close, prog.vals, prog.ext_slots, prog.ops, prog.rule_slots,
                   prog.rule_warmup, prog.level_kind, prog.level_value, prog.level_slot, pi, pf, out.rec, out.fl,
                   out.tr, out.status)
        if int(out.status[0]) != K.OK:
            return self._reference(compiled)              # run_fast raises the engine's own error
        n_t = int(out.status[3])
        exits = out.t_exit_bar[:n_t]
        exits = exits[exits >= 0].astype(np.int64)
        closed = int(np.count_nonzero(ready.ts_event[exits] <= self.cut_ts))
        return out.equity, closed, ready.per_year

    def _reference(self, compiled: Any) -> tuple[np.ndarray, int, float]:
        result = run(compiled, self.series, self.series.search_end, self.cache, self.capital)
        closed = sum(1 for t in result.trades if t["exit_reason"] != "open" and t["exit_ts"] is not None
                     and int(t["exit_ts"]) <= self.cut_ts)
        return result.equity, closed, M.periods_per_year(result.bars.ts, result.bar_seconds * NS)


@dataclass(frozen=True)
class _Ready:
    bars: Bars
    seconds: int
    inst: Any
    cp: int
    bp: int
    seen: Bars
    ext: dict[str, Any]
    ts_event: np.ndarray
    per_year: float


def score(candidate_key: str, text: str, complexity: int, runs: list[SearchRun], min_trades: int, penalty: float,
          origin: str, keep_returns: bool = True) -> Scored:
    """Compile the candidate's document and run it on every series' search segment. Without
    ``keep_returns`` the per-bar returns are left out (a worker's answer: the search keeps the
    top candidates' and computes them again where it needs them)."""
    from autobot.diagnostics import RunError, UserError
    from autobot.fast.program import Unsupported
    from autobot.language.compile import compile_strategy_text
    try:
        compiled = compile_strategy_text(text, "candidate.yaml")
        is_sharpes, is_per_bar, trades, oos, search = [], [], 0, [], []
        for sr in runs:
            s = sr.series
            equity, closed, per_year = sr.run(compiled)
            r = returns_of(equity, sr.capital)
            is_r = r[: s.is_end]
            is_sharpes.append(annualised_sharpe(is_r, per_year))
            sd = float(np.std(is_r, ddof=1)) if len(is_r) > 1 else 0.0
            is_per_bar.append(float(np.mean(is_r)) / sd if sd > 0 else 0.0)
            trades += closed
            oos.append(r[s.is_end:])
            search.append(r)
    except (UserError, RunError, Unsupported, ValueError) as err:
        return Scored(candidate_key, complexity, 0.0, 0.0, 0, None, np.zeros(0), [], origin, str(err)[:300])
    sharpe = float(np.mean(is_sharpes))
    fitness = sharpe - penalty * complexity if trades >= min_trades else None
    if not keep_returns:
        return Scored(candidate_key, complexity, sharpe, float(np.mean(is_per_bar)), trades, fitness, None, [], origin)
    return Scored(candidate_key, complexity, sharpe, float(np.mean(is_per_bar)), trades, fitness,
                  np.concatenate(oos) if oos else np.zeros(0), search, origin)
