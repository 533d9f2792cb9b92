"""The parity ledger: a node's bars re-run in the backtest engine, and every difference explained.

The node journals every bar it handles. The ledger loads them (per instrument, its finest bar
type), runs ``backtest --policy`` on them (NautilusTrader's BacktestEngine, the same classes), and
compares, per strategy, the journal's fills with the backtest's, matched by bar and side:

* ``fill price``: the same bar and side at another price (slippage in basis points);
* ``latency``: the same side a few bars later (the node saw the bar late, or its order waited);
* ``missing bar``: the difference follows a hole in the node's bars;
* ``warm-up``: before the node's first decision could use full indicator history (a venue node
  warms up from requested history the backtest does not have);
* ``reload``: after a document was hot-reloaded (the backtest runs today's documents throughout);
* ``unexplained``: anything else (a bug, or a venue that does not fill like the bar model).

Per UTC day: fills on each side, matches, differences by cause, PnL of the node and of the
backtest; the tracking error is the root mean square of the daily return differences (node minus
backtest) over a window. It feeds the challenge (:class:`ParityProvider`) and the reports.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DAY_NS = 86_400_000_000_000
LATENCY_BARS = 3
CAUSES = ("fill price", "latency", "missing bar", "warm-up", "reload", "unexplained")


@dataclass
class Ledger:
    """What :func:`ledger` found (module docstring). ``pairs``: every fill of either side, with
    its counterpart and cause (``match`` when the node filled exactly as the backtest)."""

    days: list[dict[str, Any]]
    pairs: list[dict[str, Any]]
    day_returns: dict[int, tuple[float, float]]       # day -> (node, backtest) portfolio return
    until: int = 0                                     # the last bar compared (ns)
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[dict[str, Any]]:
        return [p for p in self.pairs if p["cause"] != "match"]

    def numbers(self, subject: str, start: int, end: int) -> dict[str, float]:
        """``tracking_error`` (the portfolio's, for every subject), ``slippage_bps`` and
        ``fill_ratio`` (the subject's fills: all of them for the portfolio) over [start, end]."""
        d0, d1 = start // DAY_NS, end // DAY_NS
        gaps = [a - b for d, (a, b) in self.day_returns.items() if d0 <= d <= d1]
        te = math.sqrt(sum(g * g for g in gaps) / len(gaps)) if gaps else 0.0
        rows = [p for p in self.pairs if (subject == "portfolio" or p["strategy"] == subject)
                and start < p["ts"] <= end]
        expected = [p for p in rows if p["backtest"] is not None]
        made = [p for p in expected if p["live"] is not None]
        slip = [abs(p["bps"]) for p in made]
        return {"tracking_error": te, "slippage_bps": float(np.mean(slip)) if slip else 0.0,
                "fill_ratio": len(made) / len(expected) if expected else 1.0}

    def to_json(self) -> dict[str, Any]:
        by_cause = {c: sum(1 for d in self.pairs if d["cause"] == c) for c in ("match", *CAUSES)}
        return {"until": self.until, "days": self.days, "differences": self.differences, "by_cause": by_cause,
                "notes": self.notes, **self.numbers("portfolio", 0, self.until)}


def journal_bars(rows: dict[str, list[tuple]]) -> dict[str, Any]:
    """instrument id -> Bars from the journaled bars (the finest bar type of each instrument;
    ``Bars.ts`` is the open time, a Nautilus bar's ``ts_event`` its close)."""
    from nautilus_trader.model.data import BarType

    from autobot.data.bars import Bars
    best: dict[str, tuple[int, str]] = {}
    for bar_type in rows:
        bt = BarType.from_str(bar_type)
        step = int(bt.spec.timedelta.total_seconds() * 1e9)
        iid = str(bt.instrument_id)
        if iid not in best or step < best[iid][0]:
            best[iid] = (step, bar_type)
    out = {}
    for iid, (step, bar_type) in best.items():
        a = np.array(rows[bar_type], dtype=np.float64)
        ts = np.array([r[0] for r in rows[bar_type]], dtype=np.int64) - step
        out[iid] = Bars(f"journal:{bar_type}", ts, a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5], "journal")
    return out


def _fills_of(trades: list[dict[str, Any]]) -> dict[str, list[tuple[int, str, float, float]]]:
    """strategy -> (ts, side, qty, price) of every fill a trade list implies."""
    out: dict[str, list[tuple[int, str, float, float]]] = {}
    for t in trades:
        rows = out.setdefault(t["strategy"], [])
        opening = "BUY" if t["side"] == "long" else "SELL"
        rows.append((int(t["entry_ts"]), opening, float(t["qty"]), float(t["entry_price"])))
        if t.get("exit_ts") is not None and t.get("exit_reason") != "open":
            rows.append((int(t["exit_ts"]), "SELL" if opening == "BUY" else "BUY", float(t["qty"]),
                         float(t["exit_price"])))
    return {k: _merged(rows) for k, rows in out.items()}


def _merged(rows: list[tuple[int, str, float, float]]) -> list[tuple[int, str, float, float]]:
    """Fills at one bar, on one side, at one price, as one (the node journals an order's partial
    fills apiece, and a reversal's close and open can fill as one; the backtest's trade list
    splits them): both sides of the ledger are compared merged the same way."""
    out: list[tuple[int, str, float, float]] = []
    # one order: both sides sorted by bar, side and price (two fills of a bar at two prices pair by price)
    for ts, side, qty, price in sorted(rows, key=lambda r: (r[0], r[1], r[3], r[2])):
        if out and out[-1][0] == ts and out[-1][1] == side and out[-1][3] == price:
            out[-1] = (ts, side, out[-1][2] + qty, price)
        else:
            out.append((int(ts), str(side), float(qty), float(price)))
    return out


def ledger(policy_path: Path, state: Path, progress: Any = None) -> Ledger:
    """Re-run the journal's bars in the backtest engine and compare (module docstring)."""
    from autobot.persistence.journal import (open_readonly, read_bars, read_equity, read_events, read_fills,
                                             read_meta, read_run)
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_runtime_policy

    db = open_readonly(state)
    try:
        run = read_run(db)
        rows, equity, fills, events = read_bars(db, run), read_equity(db, run), read_fills(db, run), read_events(db, run)
        universe = read_meta(db, "universe")          # a node's --universe
    finally:
        db.close()
    if not rows:
        return Ledger([], [], {}, 0, ["the journal holds no bars (written before bars were journaled)"])
    data = journal_bars(rows)
    policy = load_runtime_policy(policy_path, universe=universe if isinstance(universe, dict) else None)
    from autobot.venue.settings import VenueSettings
    bt = run_portfolio(policy, data, VenueSettings(account=policy.document.account), progress=progress, compare=False)
    journaled: dict[str, list[tuple[int, str, float, float]]] = {}
    for strategy, ts, side, qty, price, _ in fills:
        journaled.setdefault(strategy, []).append((int(ts), str(side), float(qty), float(price)))
    live = {k: _merged(rows) for k, rows in journaled.items()}
    back = _fills_of(bt.trades)
    primary = next(iter(sorted(data.items(), key=lambda kv: float(np.median(np.diff(kv[1].ts))) if len(kv[1]) > 1
                                else 0)))[1]
    step = int(np.median(np.diff(primary.ts))) if len(primary) > 1 else 0
    closes = primary.ts + step
    holes = closes[1:][np.diff(closes) > step] if len(closes) > 1 else np.zeros(0, dtype=np.int64)
    reloads = sorted(int(e["ts"]) for e in events if e["kind"] == "reload" and e.get("ts") is not None)
    from autobot.optimize.trial import policy_warmup
    warm_until = int(closes[0]) + policy_warmup(policy) * step if len(closes) else 0
    pairs: list[dict[str, Any]] = []
    for strategy in sorted(set(live) | set(back)):
        a, b = list(live.get(strategy, [])), list(back.get(strategy, []))
        used = [False] * len(a)
        for fb in b:
            k = next((i for i, fa in enumerate(a) if not used[i] and fa[0] == fb[0] and fa[1] == fb[1]), None)
            if k is not None:
                used[k] = True
                bps = (a[k][3] - fb[3]) / fb[3] * 1e4 if fb[3] else 0.0
                same = abs(bps) <= 1e-6 and abs(a[k][2] - fb[2]) <= 1e-9
                pairs.append({"strategy": strategy, "ts": fb[0], "cause": "match" if same else "fill price",
                              "bps": bps, "live": a[k], "backtest": fb})
                continue
            late = next((i for i, fa in enumerate(a) if not used[i] and fa[1] == fb[1]
                         and 0 < fa[0] - fb[0] <= LATENCY_BARS * step), None)
            if late is not None:
                used[late] = True
                pairs.append({"strategy": strategy, "ts": fb[0], "cause": "latency",
                              "bars": (a[late][0] - fb[0]) / step if step else None,
                              "bps": (a[late][3] - fb[3]) / fb[3] * 1e4 if fb[3] else 0.0,
                              "live": a[late], "backtest": fb})
                continue
            pairs.append({"strategy": strategy, "ts": fb[0], "live": None, "backtest": fb, "bps": None,
                          "cause": _cause(fb[0], holes, reloads, warm_until, step)})
        for i, fa in enumerate(a):
            if not used[i]:
                pairs.append({"strategy": strategy, "ts": fa[0], "live": fa, "backtest": None, "bps": None,
                              "cause": _cause(fa[0], holes, reloads, warm_until, step)})
    pairs.sort(key=lambda d: (d["ts"], d["strategy"]))
    returns = _day_returns(equity, bt)
    return Ledger(_days(equity, bt, pairs), pairs, returns, int(closes[-1]) if len(closes) else 0)


def _cause(ts: int, holes: np.ndarray, reloads: list[int], warm_until: int, step: int) -> str:
    if ts <= warm_until:
        return "warm-up"
    if any(r <= ts for r in reloads):
        return "reload"
    if len(holes) and np.any((holes <= ts) & (holes > ts - (LATENCY_BARS + 1) * step)):
        return "missing bar"
    return "unexplained"


def _daily(ts: np.ndarray, values: np.ndarray) -> dict[int, float]:
    """day -> the last value of the day."""
    out: dict[int, float] = {}
    for t, v in zip(ts.tolist(), values.tolist()):
        out[int(t) // DAY_NS] = float(v)
    return out


def traded_equity(bt: Any) -> np.ndarray:
    """The equity the node's account follows: the backtest's paper track when a breaker demoted
    the portfolio (its headline equity is then the capital's, flat), else its equity."""
    paper = getattr(bt, "paper_track", None) or {}
    return np.asarray(paper["equity"] if "equity" in paper else bt.equity, dtype=np.float64)


def _day_returns(equity: list[tuple], bt: Any) -> dict[int, tuple[float, float]]:
    """day -> (node return, backtest return) of the day, close to close."""
    node = _daily(np.array([e[0] for e in equity], dtype=np.int64), np.array([e[1] for e in equity]))
    back = _daily(np.asarray(bt.equity_ts), traded_equity(bt))
    days = sorted(set(node) & set(back))
    return {day: (node[day] / node[prev] - 1, back[day] / back[prev] - 1) for prev, day in zip(days, days[1:])}


def _days(equity: list[tuple], bt: Any, pairs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per UTC day: fills on each side, matches, differences by cause, PnL of each side."""
    import datetime as dt
    node = _daily(np.array([e[0] for e in equity], dtype=np.int64), np.array([e[1] for e in equity]))
    back = _daily(np.asarray(bt.equity_ts), traded_equity(bt))
    rows = []
    prev_n = prev_b = None
    for day in sorted(set(node) | set(back)):
        n, b = node.get(day), back.get(day)
        mine = [p for p in pairs if p["ts"] // DAY_NS == day]
        row = {"day": dt.datetime.fromtimestamp(day * 86_400, tz=dt.timezone.utc).strftime("%Y-%m-%d"),
               "live_fills": sum(p["live"] is not None for p in mine),
               "backtest_fills": sum(p["backtest"] is not None for p in mine),
               "live_pnl": (n - prev_n) if n is not None and prev_n is not None else None,
               "backtest_pnl": (b - prev_b) if b is not None and prev_b is not None else None}
        for cause in ("match", *CAUSES):
            row[cause] = sum(p["cause"] == cause for p in mine)
        rows.append(row)
        prev_n, prev_b = n if n is not None else prev_n, b if b is not None else prev_b
    return rows


class ParityProvider:
    """The ledger for a venue node's challenge, computed in another process so the trading loop
    never waits: a check asks for a window's numbers; until a ledger covering it is ready the
    answer is None (the controller asks again at the next bar)."""

    def __init__(self, policy_path: Path, state: Path) -> None:
        self.policy_path, self.state = Path(policy_path), Path(state)
        self.current: Ledger | None = None
        self._job: Any = None
        self._pool: Any = None

    def __call__(self, subject: str, start: int, end: int) -> dict[str, float] | None:
        if self.current is not None and self.current.until >= end:
            return self.current.numbers(subject, start, end)
        if self._job is None:
            import concurrent.futures
            import multiprocessing
            if self._pool is None:
                self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            self._job = self._pool.submit(ledger, self.policy_path, self.state)
            return None
        if not self._job.done():
            return None
        job, self._job = self._job, None
        try:
            self.current = job.result()
        except Exception as exc:         # a ledger that fails says so in the numbers: no promotion on it
            return {"tracking_error": math.inf, "slippage_bps": math.inf, "fill_ratio": 0.0, "parity_error": str(exc)}
        return self.current.numbers(subject, start, end) if self.current.until >= end else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
