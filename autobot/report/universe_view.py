"""What a node's state store says about its universe (issue 28): per instrument and per sleeve
(strategy x instrument) the PnL, the position and its weight in the equity, the allocated weight,
the share of the portfolio's risk, the cash, and the realised volatility against the policy's
target. ``autobot serve`` (``/api/v1/universe`` and the dashboard) and ``autobot report
daily|weekly`` read it. Read-only, from what the store records:

* a sleeve's PnL is its value change, marked exactly as the node marked the equity it recorded:
  its fills strictly before the equity's time, each instrument at the last close the node had
  handled then (the bars table, in the order the node handled them: at a time several
  instruments close, the node writes the equity at the first bar of that time, before the others
  arrive). The store records no fee per fill, so the sleeves' PnL is before fees; the rest of the
  portfolio's PnL (fees, and anything else the equity holds) is ``fees_and_other``;
* a weight is a position's value over the equity (units x close, in the instrument's quote
  currency, multiplier 1: the store records neither a conversion nor a multiplier); the cash is
  the rest of the equity, so the weights and the cash add up to 1;
* the allocated weight is the allocation's share at the last regime switch or rebalance (the
  drawdown scaling's factor is not recorded, so it is the share before that scaling);
* the risk share of an instrument is its daily PnL's covariance with the portfolio's daily return
  over the portfolio's variance (Euler's split: the shares and the fees' add up to 1);
* the realised volatility is the daily returns' standard deviation a year, annualised by the one
  rule (:func:`autobot.report.analytics.days_per_year`, on
  :func:`autobot.backtest.metrics.periods_per_year`), as the reports' risk tables.
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from autobot.backtest.data import stub_groups
from autobot.persistence.journal import read_equity, read_fills, read_policy
from autobot.report.analytics import DAY_NS, days_per_year, risk_metrics

SWITCH_KINDS = ("regime_switch", "rebalance")
NOTES = (
    "PnL before fees: the store records no fee per fill; fees and other costs are the difference to the "
    "portfolio's PnL",
    "positions marked as the node marked its equity: at the last close it had handled then",
    "weights: a position's value over the equity (in its quote currency); cash is the rest",
    "allocated: the allocation's share at the last regime switch or rebalance, before the drawdown scaling "
    "(not recorded)",
)


# ---------------------------------------------------------------------------------------- records
@dataclass(frozen=True)
class SleeveFills:
    """One sleeve's fills in time order, as running totals after each fill."""

    ts: np.ndarray          # fill times (ns)
    qty: np.ndarray         # signed quantity held after the fill
    cash: np.ndarray        # cash paid in (sells) and out (buys) up to the fill


@dataclass(frozen=True)
class Closes:
    """Every close the node journaled, in the order it handled the bars."""

    times: np.ndarray                               # the distinct bar times, ascending
    first: np.ndarray                               # the position of the first bar handled at each
    handled_before: np.ndarray                      # the last position handled at or before each time
    by_instrument: dict[str, tuple[np.ndarray, np.ndarray]]     # id -> (positions, closes)


@dataclass(frozen=True)
class UniverseRecords:
    """What the store holds for the universe view of a run."""

    run: int
    ts: np.ndarray                                  # the equity's times (ns)
    equity: np.ndarray
    sleeves: dict[str, str]                         # sleeve -> instrument
    fills: dict[str, SleeveFills]
    closes: Closes
    allocations: list[tuple[int, dict[str, float]]]     # (time, shares) of each switch or rebalance
    target_volatility: float | None
    target_text: str | None                         # as the policy writes it

    @property
    def instruments(self) -> list[str]:
        """The instruments the sleeves trade, in the order they first appear."""
        return list(dict.fromkeys(self.sleeves.values()))

    @property
    def is_universe(self) -> bool:
        """More than one instrument traded: the view has something to show."""
        return len(self.instruments) > 1


# ---------------------------------------------------------------------------------------- reading
def read_universe(db: sqlite3.Connection, run: int) -> UniverseRecords:
    """The records of ``run`` in the store ``db`` (a read-only connection)."""
    eq = read_equity(db, run)
    fills = read_fills(db, run)
    closes = _read_closes(db, run)
    allocations = _read_allocations(db, run)          # the policy's order first, then any other sleeve
    names = list(dict.fromkeys([s for _, shares in allocations for s in shares] + [f[0] for f in fills]))
    sleeves = _sleeve_instruments(names, _strategy_markets(db), list(closes.by_instrument))
    target_text = _target_text(db)
    return UniverseRecords(run, np.array([r[0] for r in eq], dtype=np.int64),
                           np.array([r[1] for r in eq], dtype=np.float64), sleeves, _sleeve_fills(fills, sleeves),
                           closes, allocations, _share(target_text), target_text)


def _read_closes(db: sqlite3.Connection, run: int) -> Closes:
    try:
        rows = db.execute("SELECT bar_type, ts, close FROM bars WHERE run = ? ORDER BY rowid", (run,)).fetchall()
    except sqlite3.OperationalError:           # a store written before bars were journaled
        rows = []
    ts = np.array([r[1] for r in rows], dtype=np.int64)
    times, first = np.unique(ts, return_index=True)
    last = np.zeros(len(times), dtype=np.int64)
    np.maximum.at(last, np.searchsorted(times, ts), np.arange(len(ts)))
    by: dict[str, tuple[list[int], list[float]]] = {}
    for k, (bar_type, _, close) in enumerate(rows):
        pos, val = by.setdefault(bar_instrument(bar_type), ([], []))
        pos.append(k)
        val.append(close)
    return Closes(times, first, np.maximum.accumulate(last) if len(last) else last,
                  {i: (np.array(p, dtype=np.int64), np.array(v, dtype=np.float64)) for i, (p, v) in by.items()})


def bar_instrument(bar_type: str) -> str:
    """The instrument of a Nautilus bar type (``SPY.SIM-1-DAY-LAST-EXTERNAL`` -> ``SPY.SIM``)."""
    parts = bar_type.rsplit("-", 4)
    return parts[0] if len(parts) == 5 else bar_type


def _read_allocations(db: sqlite3.Connection, run: int) -> list[tuple[int, dict[str, float]]]:
    marks = ", ".join("?" * len(SWITCH_KINDS))              # fixed kinds, no user text
    rows = db.execute(f"SELECT ts, payload FROM events WHERE run = ? AND kind IN ({marks}) AND ts IS NOT NULL "
                      "ORDER BY ts, id", (run, *SWITCH_KINDS)).fetchall()
    out = []
    for ts, payload in rows:
        shares = json.loads(payload or "{}").get("shares") or {}
        out.append((int(ts), {str(k): float(v) for k, v in shares.items()}))
    return out


def _strategy_markets(db: sqlite3.Connection) -> dict[str, str]:
    """strategy id -> its market's instrument, from the strategy documents the node applied (the
    last version of each)."""
    import yaml
    out: dict[str, str] = {}
    for (text,) in db.execute("SELECT text FROM versions ORDER BY id"):
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError:
            continue
        market = doc.get("market") if isinstance(doc, dict) else None
        if isinstance(market, dict) and doc.get("strategy") and market.get("instrument"):
            out[str(doc["strategy"])] = str(market["instrument"])
    return out


def _sleeve_instruments(names: list[str], markets: dict[str, str], traded: list[str]) -> dict[str, str]:
    """Each sleeve's instrument: a universe member's from its id (``tsmom@SPY.SIM``), another
    strategy's from its document's market, else the one instrument the node handled bars of."""
    out = {}
    for name in names:
        strategy, at, iid = name.partition("@")
        if at:
            out[name] = iid
        elif markets.get(strategy) in traded or (strategy in markets and not traded):
            out[name] = markets[strategy]
        elif len(traded) == 1:
            out[name] = traded[0]
        else:
            out[name] = markets.get(strategy, "?")
    return out


def _sleeve_fills(fills: list[tuple], sleeves: dict[str, str]) -> dict[str, SleeveFills]:
    rows: dict[str, list[tuple[int, float, float]]] = {s: [] for s in sleeves}
    for strategy, ts, side, qty, price, _reason in fills:
        signed = float(qty) if side == "BUY" else -float(qty)
        rows.setdefault(strategy, []).append((int(ts), signed, -signed * float(price)))
    return {s: SleeveFills(np.array([r[0] for r in r_], dtype=np.int64), np.cumsum([r[1] for r in r_]),
                           np.cumsum([r[2] for r in r_])) for s, r_ in rows.items()}


def _target_text(db: sqlite3.Connection) -> str | None:
    import yaml
    recorded = read_policy(db)
    try:
        doc = yaml.safe_load(recorded[1]) if recorded else None
    except yaml.YAMLError:
        return None
    risk = doc.get("risk") if isinstance(doc, dict) else None
    value = risk.get("target_volatility") if isinstance(risk, dict) else None
    return None if value is None else str(value)


def _share(text: str | None) -> float | None:
    """``10%`` or ``0.1`` as 0.1 (None when unset or not a plain number)."""
    if text is None:
        return None
    t = text.strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------- valuing
def handled_at(closes: Closes, ts: np.ndarray) -> np.ndarray:
    """For each equity time: the position (in the order the node handled bars) of the last bar
    the node had handled when it wrote that equity, the first bar of that time (-1: none yet)."""
    ts = np.asarray(ts, dtype=np.int64)
    if not len(closes.times):
        return np.full(len(ts), -1, dtype=np.int64)
    k = np.searchsorted(closes.times, ts)
    inside = np.minimum(k, len(closes.times) - 1)
    exact = (k < len(closes.times)) & (closes.times[inside] == ts)
    before = np.where(k > 0, closes.handled_before[np.maximum(k - 1, 0)], -1)
    return np.where(exact, closes.first[inside], before)


def close_at(closes: Closes, instrument: str, handled: np.ndarray) -> np.ndarray:
    """The instrument's last close handled up to each position (NaN before its first bar)."""
    pos, close = closes.by_instrument.get(instrument, (np.zeros(0, dtype=np.int64), np.zeros(0)))
    j = np.searchsorted(pos, handled, side="right") - 1
    return np.where(j >= 0, close[np.maximum(j, 0)] if len(close) else np.nan, np.nan)


def held_at(f: SleeveFills, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(quantity, cash) of the sleeve from its fills strictly before each time."""
    j = np.searchsorted(f.ts, np.asarray(ts, dtype=np.int64), side="left") - 1
    take = np.maximum(j, 0)
    qty = np.where(j >= 0, f.qty[take] if len(f.qty) else 0.0, 0.0)
    cash = np.where(j >= 0, f.cash[take] if len(f.cash) else 0.0, 0.0)
    return qty, cash


@dataclass(frozen=True)
class Marks:
    """The sleeves at chosen equity rows: quantity, position value and PnL since the run began."""

    rows: np.ndarray                # equity row indices
    qty: np.ndarray                 # (rows, sleeves)
    value: np.ndarray
    pnl: np.ndarray


def mark(rec: UniverseRecords, rows: np.ndarray) -> Marks:
    """Each sleeve's quantity, value and PnL at the equity rows ``rows``, marked as the node
    marked its equity (module docstring)."""
    rows = np.asarray(rows, dtype=np.int64)
    ts = rec.ts[rows]
    handled = handled_at(rec.closes, ts)
    shape = (len(rows), len(rec.sleeves))
    qty, value, pnl = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    price = {iid: close_at(rec.closes, iid, handled) for iid in rec.instruments}
    for k, (sleeve, iid) in enumerate(rec.sleeves.items()):
        q, cash = held_at(rec.fills[sleeve], ts)
        c = np.where(np.isfinite(price[iid]), price[iid], 0.0)
        qty[:, k], value[:, k], pnl[:, k] = q, q * c, cash + q * c
    return Marks(rows, qty, value, pnl)


# ---------------------------------------------------------------------------------------- the view
@dataclass(frozen=True)
class InstrumentRow:
    instrument: str
    asset_class: str
    pnl: float                      # over the view's span, before fees
    position: float                 # units held at its end (every sleeve's, net)
    value: float                    # their value at the last close the node had then
    weight: float                   # value / equity
    allocated: float                # the allocation's share (its sleeves')
    risk_share: float | None        # of the portfolio's daily variance over the risk days
    fills: int                      # in the span


@dataclass(frozen=True)
class SleeveRow:
    sleeve: str
    strategy: str
    instrument: str
    pnl: float
    position: float
    value: float
    weight: float
    allocated: float
    fills: int


@dataclass(frozen=True)
class WeightSeries:
    """Each instrument's weight and the cash at equity rows (thinned for a chart)."""

    ts: list[int]
    instruments: dict[str, list[float]]
    cash: list[float]


@dataclass(frozen=True)
class UniverseView:
    run: int
    start_ts: int                   # the equity row the PnL is measured from
    end_ts: int                     # ... and to
    equity_start: float
    equity_end: float
    portfolio_pnl: float
    sleeves_pnl: float              # the sum of the sleeves' (and of the instruments')
    fees_and_other: float           # portfolio_pnl - sleeves_pnl
    instruments: list[InstrumentRow]
    sleeves: list[SleeveRow]
    cash: float                     # the equity in no position at the end: 1 - sum of the weights
    unallocated: float              # 1 - sum of the allocated weights
    realised_volatility: float | None   # a year, daily returns up to the end
    periods_per_year: float
    volatility_days: int
    risk_days: int                  # the days the risk shares are measured over ...
    risk_from_ts: int               # ... those ending after this equity time, up to the end
    target_volatility: float | None
    target_text: str | None
    weights: WeightSeries
    allocations: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    @property
    def is_universe(self) -> bool:
        return len(self.instruments) > 1

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["universe"] = self.is_universe
        return _finite(out)


def _finite(v: Any) -> Any:
    """NaN and infinities as None (JSON has neither)."""
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_finite(x) for x in v]
    return v


def universe_view(rec: UniverseRecords, start: int = 0, end: int | None = None, points: int = 400,
                  risk_start: int = 0) -> UniverseView:
    """The view from equity row ``start`` to row ``end`` (default: the last): PnL between them,
    positions, weights and cash at ``end``, the volatility over the days up to ``end``, the risk
    shares over the days ending after row ``risk_start`` up to ``end``, the weights at about
    ``points`` rows between ``start`` and ``end``. Raises ValueError without equity."""
    if not len(rec.ts):
        raise ValueError("the journal has no equity yet (no bar handled)")
    end = len(rec.ts) - 1 if end is None else int(end)
    start = min(max(0, int(start)), end)
    risk_start = min(max(0, int(risk_start)), end)
    days, day_rows = day_ends(rec.ts[:end + 1])
    chart = _chart_rows(start, end, points)
    marks = mark(rec, np.unique(np.r_[0, start, end, day_rows, chart]))
    at = {int(r): k for k, r in enumerate(marks.rows)}
    a, b = at[start], at[end]
    equity_end = float(rec.equity[end])
    pnl = marks.pnl[b] - marks.pnl[a]
    allocated = _allocated(rec, int(rec.ts[end]))
    risky = day_rows > risk_start if risk_start > 0 else np.ones(len(day_rows), dtype=bool)
    risk = _risk_shares(rec, marks, [at[int(r)] for r in day_rows], at[0], risky)
    fills = _fill_counts(rec, int(rec.ts[start]), int(rec.ts[end]))
    sleeves = [SleeveRow(s, s.partition("@")[0], iid, float(pnl[k]), float(marks.qty[b, k]),
                         float(marks.value[b, k]), _over(marks.value[b, k], equity_end), allocated.get(s, 0.0),
                         fills[s]) for k, (s, iid) in enumerate(rec.sleeves.items())]
    per_year, vol, n_days = _volatility(rec, days, day_rows)
    portfolio = equity_end - float(rec.equity[start])
    total = float(pnl.sum())
    return UniverseView(
        run=rec.run, start_ts=int(rec.ts[start]), end_ts=int(rec.ts[end]), equity_start=float(rec.equity[start]),
        equity_end=equity_end, portfolio_pnl=portfolio, sleeves_pnl=total, fees_and_other=portfolio - total,
        instruments=_instrument_rows(rec, sleeves, risk), sleeves=sleeves,
        cash=1.0 - sum((s.weight for s in sleeves), 0.0), unallocated=1.0 - sum(allocated.values()),
        realised_volatility=vol, periods_per_year=per_year, volatility_days=n_days, risk_days=int(risky.sum()),
        risk_from_ts=int(rec.ts[risk_start]), target_volatility=rec.target_volatility, target_text=rec.target_text,
        weights=_weight_series(rec, marks, [at[int(r)] for r in chart]),
        allocations=[{"ts": ts, "shares": shares} for ts, shares in rec.allocations], notes=list(NOTES))


def _over(value: float, equity: float) -> float:
    return float(value / equity) if equity else 0.0


def _chart_rows(start: int, end: int, points: int) -> np.ndarray:
    step = max(1, (end - start) // max(10, min(points, 5_000)))
    return np.unique(np.r_[np.arange(start, end + 1, step), end])


def day_ends(ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(UTC day numbers, the equity row ending each), the days of
    :func:`autobot.report.analytics.daily_equity` (a stub day folded into the next)."""
    ts = np.asarray(ts, dtype=np.int64)
    if not len(ts):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    days = ts // DAY_NS
    last = np.flatnonzero(np.r_[days[1:] != days[:-1], True])
    stub = stub_groups(days[last], np.diff(np.r_[-1, last]))
    if stub.any():
        last = last[~stub]
    return days[last], last


def _daily_returns(rec: UniverseRecords, day_rows: np.ndarray) -> np.ndarray:
    eq = rec.equity[day_rows]
    return eq / np.r_[rec.equity[0], eq[:-1]] - 1.0


def _volatility(rec: UniverseRecords, days: np.ndarray, day_rows: np.ndarray) -> tuple[float, float | None, int]:
    per_year = days_per_year(days)
    r = _daily_returns(rec, day_rows)
    return per_year, risk_metrics(r, per_year)["annual_volatility"], len(r)


def _risk_shares(rec: UniverseRecords, marks: Marks, day_at: list[int], first_at: int,
                 days: np.ndarray) -> dict[str, float | None]:
    """Each instrument's share of the portfolio's daily variance over the ``days`` (a mask of
    ``day_at``): cov(its daily PnL over the equity before, the portfolio's daily return) /
    var(the portfolio's daily return); None under 3 days."""
    instruments = rec.instruments
    if int(np.sum(days)) < 3:
        return {i: None for i in instruments}
    rows = marks.rows[day_at]
    prev_equity = np.r_[rec.equity[0], rec.equity[rows[:-1]]]
    pnl = marks.pnl[day_at]                                   # (days, sleeves), since the run began
    daily = (np.diff(np.vstack([marks.pnl[first_at], pnl]), axis=0) / prev_equity[:, None])[days]
    r_p = (rec.equity[rows] / prev_equity - 1.0)[days]
    var = float(np.var(r_p, ddof=1))
    out: dict[str, float | None] = {}
    for iid in instruments:
        cols = [k for k, s in enumerate(rec.sleeves) if rec.sleeves[s] == iid]
        r_i = daily[:, cols].sum(axis=1)
        out[iid] = float(np.cov(r_i, r_p, ddof=1)[0, 1] / var) if var > 0 else None
    return out


def _allocated(rec: UniverseRecords, ts: int) -> dict[str, float]:
    """The allocation's shares at the last switch or rebalance at or before ``ts``."""
    shares: dict[str, float] = {}
    for at, s in rec.allocations:
        if at > ts:
            break
        shares = s
    return shares


def _fill_counts(rec: UniverseRecords, start_ts: int, end_ts: int) -> dict[str, int]:
    """Fills of each sleeve in [start_ts, end_ts): those between the two equity figures."""
    return {s: int(np.searchsorted(f.ts, end_ts, "left") - np.searchsorted(f.ts, start_ts, "left"))
            for s, f in rec.fills.items()}


def _instrument_rows(rec: UniverseRecords, sleeves: list[SleeveRow],
                     risk: dict[str, float | None]) -> list[InstrumentRow]:
    out = []
    for iid in rec.instruments:
        own = [s for s in sleeves if s.instrument == iid]
        out.append(InstrumentRow(iid, asset_class_of(iid), sum(s.pnl for s in own), sum(s.position for s in own),
                                 sum(s.value for s in own), sum(s.weight for s in own),
                                 sum(s.allocated for s in own), risk.get(iid), sum(s.fills for s in own)))
    return out


def asset_class_of(instrument: str) -> str:
    """``equity``, ``fx`` or ``crypto``, as the node's cost model treats the instrument."""
    from autobot.venue.instruments import asset_class
    try:
        return asset_class(instrument)
    except ValueError:
        return "?"


def _weight_series(rec: UniverseRecords, marks: Marks, chart_at: list[int]) -> WeightSeries:
    rows = marks.rows[chart_at]
    equity = rec.equity[rows]
    safe = np.where(equity != 0, equity, np.nan)
    per: dict[str, list[float]] = {}
    total = np.zeros(len(rows))
    for iid in rec.instruments:
        cols = [k for k, s in enumerate(rec.sleeves) if rec.sleeves[s] == iid]
        w = np.nan_to_num(marks.value[chart_at][:, cols].sum(axis=1) / safe)
        total += w
        per[iid] = [round(float(x), 6) for x in w]
    return WeightSeries([int(t) for t in rec.ts[rows]], per, [round(float(x), 6) for x in 1.0 - total])


def period_rows(ts: np.ndarray, lo: int, hi: int) -> tuple[int, int] | None:
    """The equity rows a period [lo, hi) is measured between, as the daily/weekly reports measure
    its PnL: the last row before it (else its first) and its last row (None: no row in it)."""
    inside = np.flatnonzero((ts >= lo) & (ts < hi))
    if not len(inside):
        return None
    before = np.flatnonzero(ts < lo)
    return (int(before[-1]) if len(before) else int(inside[0])), int(inside[-1])
