"""``autobot report daily|weekly``: a period of a node's run, from its journal (the SQLite state
store), with the whole run's risk statistics (:mod:`autobot.report.analytics`): equity and PnL
for the portfolio and per strategy (realised by average cost from the journal's fills, before
fees), risk figures, regimes, breaker trips and cooldowns, reloads; for a node trading more than
one instrument, its universe (:mod:`autobot.report.universe_view`): PnL per instrument and per
sleeve over the period, weights and cash at its end, realised volatility. Read-only: a running
node's store is read beside it."""

from __future__ import annotations

import datetime as dt
import html
import pathlib
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from autobot.backtest.data import iso
from autobot.persistence.journal import open_readonly, read_equity, read_events, read_fills, read_run
from autobot.report.analytics import DAY_NS, daily_returns, days_per_year, exposed_at, fill_stats, risk_metrics
from autobot.report.universe_view import UniverseRecords, period_rows, read_universe, universe_view

PERIOD_DAYS = {"daily": 1, "weekly": 7}
CONTEXT_DAYS = {"daily": 6, "weekly": 21}       # drawn before the period, for context
EVENT_KINDS = ("breaker", "breaker_resume", "reload", "reload_rejected", "rollback", "apply", "regime_switch", "command",
               "start", "stop", "recovery")


@dataclass
class Journal:
    run: int
    ts: np.ndarray
    equity: np.ndarray
    regimes: list[str | None]
    fills: list[tuple]          # (strategy, ts, side, qty, price)
    events: list[dict[str, Any]]
    challenge: dict[str, Any]   # the challenge's stages as the node last recorded them
    universe: UniverseRecords | None = None     # what the universe view reads (None: not read)


def read(path: pathlib.Path) -> Journal:
    db = open_readonly(path)
    try:
        run = read_run(db)
        eq = read_equity(db, run)
        fills = [f[:5] for f in read_fills(db, run)]
        events = read_events(db, run)
        import json
        saved = db.execute("SELECT value FROM meta WHERE key = 'challenge'").fetchone()
        universe = read_universe(db, run)
    finally:
        db.close()
    ts = np.array([r[0] for r in eq], dtype=np.int64)
    equity = np.array([r[1] for r in eq], dtype=np.float64)
    return Journal(run, ts, equity, [r[2] for r in eq], fills, events, json.loads(saved[0]) if saved else {},
                   universe)


def regime_share(names: list[Any]) -> dict[str, float]:
    """The share of bars in each regime, in the order regimes first appear."""
    return {("undefined" if g is None else str(g)): names.count(g) / len(names) for g in dict.fromkeys(names)} \
        if names else {}


def day_text(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.timezone.utc).strftime("%Y-%m-%d")


def last_complete_day(ts: np.ndarray) -> int:
    """The UTC day number of the journal's last complete day: the last day when the journal goes on
    to the next day's last snapshot of it (a snapshot stamped at or after that day's end minus one
    bar), else the day before it. A replay whose last bar closes at 00:00 leaves a one-bar last day:
    the default report is then the day before. A journal of a single incomplete day: that day."""
    ts = np.asarray(ts, dtype=np.int64)
    last = int(ts[-1]) // DAY_NS
    step = int(np.median(np.diff(ts))) if len(ts) > 1 else DAY_NS
    if int(ts[-1]) >= (last + 1) * DAY_NS - step or int(ts[0]) // DAY_NS == last:
        return last
    return last - 1


def _timed(e: dict[str, Any]) -> dict[str, Any]:
    """A journal row with its epoch-ns ``ts`` kept and an ISO 8601 UTC ``time`` beside it."""
    if e.get("ts") is None:
        return e
    out: dict[str, Any] = {}
    for k, v in e.items():
        out[k] = v
        if k == "ts":
            out["time"] = iso(int(v))
    return out


def build(j: Journal, period: str, day: str | None = None, year_days: float | None = None,
          parity: Any = None) -> dict[str, Any]:
    """The report's numbers: the period ending on ``day`` (default: the journal's last complete
    day, :func:`last_complete_day`); ``parity``: the node's :class:`~autobot.live.parity.Ledger`,
    when its policy is at hand. ``drawdown_now`` is the drawdown at the period's end (below the
    run's peak up to then), ``period_max_drawdown`` the deepest fall below a peak inside the period
    (from the equity before it); drawdowns are positive fractions."""
    if len(j.ts) == 0:
        raise ValueError("the journal has no equity yet (no bar handled)")
    last_day = last_complete_day(j.ts) if day is None else \
        int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp()) // 86_400
    first_day = last_day - PERIOD_DAYS[period] + 1
    lo, hi = first_day * DAY_NS, (last_day + 1) * DAY_NS
    inside = (j.ts >= lo) & (j.ts < hi)
    if not inside.any():
        raise ValueError(f"the journal has no bar between {day_text(lo)} and {day_text(hi - 1)}")
    before = j.equity[j.ts < lo]
    start = float(before[-1]) if len(before) else float(j.equity[inside][0])
    end = float(j.equity[inside][-1])
    days, r = daily_returns(j.ts, j.equity)
    per_year = year_days or days_per_year(days)      # the backtests' rule unless a convention is asked for
    share = regime_share([g for g, k in zip(j.regimes, inside) if k])
    fills_in = [f for f in j.fills if lo <= int(f[1]) < hi]
    events = [_timed(e) for e in j.events
              if e.get("ts") is not None and lo <= int(e["ts"]) < hi and e["kind"] in EVENT_KINDS]
    end_at = int(np.flatnonzero(inside)[-1])
    peak_then = float(np.max(j.equity[:end_at + 1]))
    own = np.r_[start, j.equity[inside]]
    own_dd = 1.0 - own / np.maximum.accumulate(own)
    per_period, portfolio_period = fill_stats(fills_in)
    per_run, portfolio_run = fill_stats(j.fills)
    held = exposed_at(j.fills, j.ts)              # from every fill of the run: positions opened before count
    risk_period = short_period(risk_metrics(r[(days >= first_day) & (days <= last_day)], per_year))
    return {
        "period": period, "from": day_text(lo), "to": day_text(hi - 1), "run": j.run,
        "first_bar": iso(int(j.ts[inside][0])), "last_bar": iso(int(j.ts[end_at])),
        "equity_start": start, "equity_end": end, "pnl": end - start, "return": end / start - 1 if start else None,
        "fills": len(fills_in), "regimes": share,
        "drawdown_now": float(1 - end / peak_then) if peak_then > 0 else 0.0,
        "period_max_drawdown": float(np.nanmax(own_dd)) if len(own) else 0.0,
        "strategies_period": per_period,
        "strategies_run": per_run,
        "portfolio_period": {"exposure": float(held[inside].mean()), **portfolio_period},
        "portfolio_run": {"exposure": float(held.mean()), **portfolio_run},
        "risk": risk_metrics(r, per_year),
        "risk_period": risk_period,
        "year_days": "given" if year_days else "measured",
        "events": events,
        "trips": [e for e in events if e["kind"] == "breaker"],
        "daily": [{"day": day_text(int(d) * DAY_NS), "return": float(x)} for d, x in zip(days, r)],
        "challenge": {"stages": j.challenge,
                      "moves": [_timed(e) for e in j.events if e["kind"] == "challenge" and e.get("ts") is not None
                                and lo <= int(e["ts"]) < hi]},
        "parity": None if parity is None else {
            **parity.numbers("portfolio", lo - 1, hi - 1),
            "days": [row for row in parity.days if day_text(lo) <= row["day"] <= day_text(hi - 1)],
            "differences": [_timed(d) for d in parity.differences if lo <= d["ts"] < hi][:200],
            "notes": parity.notes},
        "universe": universe_period(j.universe, lo, hi, risk_period["annual_volatility"]),
    }


ANNUALISED = ("annual_return", "sharpe", "sortino", "calmar")


def short_period(risk: dict[str, Any]) -> dict[str, Any]:
    """A period's risk figures with the backtests' rule (:data:`autobot.backtest.metrics.MIN_ANNUAL_DAYS`):
    annualised returns and ratios over fewer than 30 days are not meaningful (a good week is not a
    Sharpe of 6), so they are None, said in ``annualised_note``; the volatility stays (a daily
    spread scaled to a year, labelled so)."""
    from autobot.backtest.metrics import MIN_ANNUAL_DAYS
    days = risk.get("days") or 0
    if days >= MIN_ANNUAL_DAYS:
        return risk
    return {**risk, **{k: None for k in ANNUALISED},
            "annualised_note": f"annual return, Sharpe, Sortino and Calmar need {MIN_ANNUAL_DAYS:g} days or more; "
                               f"the period has {days}: not shown"}


def universe_period(rec: UniverseRecords | None, lo: int, hi: int, volatility: float | None) -> dict[str, Any] | None:
    """The universe view of the period [lo, hi) (its PnL between the equity rows the report's own
    PnL is measured between; weights and cash at its end; risk shares over its days, or over the
    run's up to its end when it has under 3; ``realised_volatility_period``: the period's daily
    returns' ``volatility``, as the risk table's), or None for a node trading one instrument."""
    rows = period_rows(rec.ts, lo, hi) if rec is not None and rec.is_universe else None
    if rec is None or rows is None:
        return None
    view = universe_view(rec, *rows, points=200, risk_start=rows[0])      # risk shares: the period's days,
    if view.risk_days < 3:                                                # or the run's up to its end
        view = universe_view(rec, *rows, points=200)
    return {**view.to_json(), "realised_volatility_period": volatility}


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return '<span class="na">n/a</span>'
    if pct:
        return f"{100 * v:.2f}%"
    return f"{v:,.2f}" if isinstance(v, float) else str(v)


def _view(j: Journal, rep: dict[str, Any]) -> tuple[int, int, np.ndarray]:
    """The chart's time range (ns): the period and CONTEXT_DAYS before it, and the journal's rows
    in it (with the row before it, so the first line segment starts at the left edge)."""
    lo = _day_ns(rep["from"])
    hi = _day_ns(rep["to"]) + DAY_NS
    left = lo - CONTEXT_DAYS[rep["period"]] * DAY_NS
    rows = np.flatnonzero((j.ts >= left) & (j.ts < hi))
    if len(rows) and rows[0] > 0:
        rows = np.r_[rows[0] - 1, rows]
    return max(left, int(j.ts[0])) if len(j.ts) else left, hi, rows


def _day_ns(day: str) -> int:
    return int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp()) * 1_000_000_000


def readable(text: str) -> str:
    """A sentence with any epoch-nanosecond time in it (a 19-digit number, 2001-2096) written as
    ISO 8601 UTC, as a person reads it."""
    return _EPOCH_NS.sub(lambda m: iso(int(m.group(0))), text)


_EPOCH_NS = re.compile(r"(?<!\d)[1-3]\d{18}(?!\d)")


def write_html(j: Journal, rep: dict[str, Any], path: pathlib.Path) -> None:
    """The report's page. The chart draws the period with CONTEXT_DAYS before it (shaded: the
    period), not the whole run; the drawdown is below the run's peak, drawn downwards from 0 with
    positive values (as every figure of the report gives it)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from autobot.report.events import describe
    from autobot.report.html import CSS, ms_axis, thin
    from autobot.report.universe_render import universe_html
    e = html.escape
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, row_heights=[0.5, 0.25, 0.25], vertical_spacing=0.06,
                        subplot_titles=("equity", "drawdown (% below the run's peak)", "daily return (%)"))
    left, right, rows = _view(j, rep)
    peak = np.maximum.accumulate(j.equity)
    ts, eq, dd = j.ts[rows], j.equity[rows], 100.0 * (1.0 - j.equity[rows] / peak[rows])
    keep = thin(eq)
    x = ms_axis(ts[keep])
    fig.add_trace(go.Scatter(x=x, y=eq[keep], name="equity", line=dict(color="#1e88e5", shape="hv")), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=dd[keep], name="drawdown %", fill="tozeroy", line=dict(color="#c62828")), 2, 1)
    shown = [d for d in rep["daily"] if left // DAY_NS <= _day_ns(d["day"]) // DAY_NS < right // DAY_NS]
    fig.add_trace(go.Bar(x=[_day_ns(d["day"]) / 1e6 + 43_200_000 for d in shown],
                         y=[100 * d["return"] for d in shown], name="daily return %", width=0.8 * 86_400_000,
                         marker_color=["#1b7f3b" if d["return"] >= 0 else "#c62828" for d in shown]), 3, 1)
    for t in rep["trips"]:
        fig.add_vline(x=t["ts"] / 1e6, line=dict(color="#c62828", dash="dot", width=1))
    lo = _day_ns(rep["from"])
    for row in (1, 2, 3):
        fig.add_vrect(x0=lo / 1e6, x1=min(right, int(j.ts[-1])) / 1e6, fillcolor="#ffe0b2", opacity=0.45,
                      line_width=0, layer="below", row=row, col=1)
    fig.update_layout(height=760, template="plotly_white", showlegend=False, margin=dict(l=60, r=20, t=40, b=40))
    fig.update_xaxes(type="date", range=[left / 1e6, right / 1e6])
    fig.update_yaxes(autorange="reversed", rangemode="tozero", ticksuffix="%", row=2, col=1)
    fig.update_yaxes(ticksuffix="%", row=3, col=1)
    plot = fig.to_html(full_html=False, include_plotlyjs=True, config={"displaylogo": False})
    context = CONTEXT_DAYS[rep["period"]]
    risk, rp = rep["risk"], rep["risk_period"]
    names = [("total_return", True), ("annual_return", True), ("annual_volatility", True), ("sharpe", False),
             ("sortino", False), ("calmar", False), ("max_drawdown", True), ("max_drawdown_days", False),
             ("var_95", True), ("cvar_95", True), ("positive_days", True), ("days", False)]
    risk_rows = "".join(f'<tr><td class="l">{n}</td><td>{_fmt(rp.get(n), p)}</td><td>{_fmt(risk.get(n), p)}</td></tr>'
                        for n, p in names)
    pp, pr = rep["portfolio_period"], rep["portfolio_run"]      # from the fills: exposure, turnover, trips
    risk_rows += "".join(f'<tr><td class="l">{n}</td><td>{_fmt(pp.get(n), p)}</td><td>{_fmt(pr.get(n), p)}</td></tr>'
                         for n, p in (("exposure", True), ("turnover", False), ("round_trips", False),
                                      ("win_rate", True), ("profit_factor", False)))
    strat_rows = "".join(
        f'<tr><td class="l">{e(str(sid))}</td><td>{_fmt(rep["strategies_period"].get(sid, {}).get("realized"))}</td>'
        f'<td>{_fmt(s["realized"])}</td><td>{_fmt(s["turnover"])}</td><td>{s["fills"]}</td><td>{s["round_trips"]}</td>'
        f'<td>{_fmt(s["win_rate"], True)}</td><td>{_fmt(s["profit_factor"])}</td></tr>'
        for sid, s in rep["strategies_run"].items())
    ev_rows = "".join(f'<tr><td>{_when(v["ts"])}</td><td class="l">{e(v["kind"].replace("_", " "))}</td>'
                      f'<td class="why">{e(readable(describe(v)))}</td></tr>' for v in rep["events"][-200:])
    regimes = ", ".join(f"{e(str(k))} {v:.0%}" for k, v in rep["regimes"].items()) or "-"
    challenge_html = _challenge_html(rep["challenge"])
    parity_html = _parity_html(rep["parity"])
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>AutoBot {e(rep['period'])} report {e(rep['to'])}</title>
<style>{CSS}</style></head><body>
<h1>AutoBot {e(rep['period'])} report: {e(rep['from'])}{'' if rep['from'] == rep['to'] else ' to ' + e(rep['to'])}</h1>
<div class="sub">run {rep['run']} &middot; equity {rep['equity_start']:,.2f} &rarr; {rep['equity_end']:,.2f}
(<span class="{'pos' if rep['pnl'] >= 0 else 'neg'}">{rep['pnl']:+,.2f}, {_fmt(rep['return'], True)}</span>)
&middot; {rep['fills']:,} fills &middot; drawdown at the period's end {rep['drawdown_now']:.2%} below the run's peak
(deepest in the period {rep['period_max_drawdown']:.2%}) &middot; regimes: {regimes}
&middot; {len(rep['trips'])} breaker trip(s) &middot; bars {e(rep['first_bar'])} to {e(rep['last_bar'])}</div>
<div class="row"><div><h2>Risk</h2><table><tr><th class="l">Metric</th><th>This period</th><th>Whole run</th></tr>
{risk_rows}</table><div class="sub">daily returns, {risk['periods_per_year']:g}-day years{
    ' (the UTC days with equity a year)' if rep.get('year_days') == 'measured' else ''}{
    '; ' + e(rp['annualised_note']) if rp.get('annualised_note') else ''}</div></div>
<div><h2>Strategies</h2><table><tr><th class="l">Strategy</th><th>PnL (period)</th><th>PnL (run)</th><th>Turnover</th>
<th>Fills</th><th>Round trips</th><th>Win rate</th><th>Profit factor</th></tr>{strat_rows}</table>
<div class="sub">realised by average cost from the journal's fills, before fees</div></div></div>
{universe_html(rep.get("universe"))}
<h2>Chart</h2><div class="sub">the period (shaded) and the {context} days before it; drawdowns are positive
fractions below a peak, drawn downwards</div>{plot}
<div class="row"><div><h2>Paper challenge</h2>{challenge_html}</div><div><h2>Parity ledger</h2>{parity_html}</div></div>
<h2>Events in the period ({len(rep['events']):,})</h2><div class="trades"><table><tr><th>Time (UTC)</th><th class="l">Event</th>
<th class="l">Detail</th></tr>{ev_rows}</table></div>
</body></html>
"""
    from autobot.safeio import write_text_out
    write_text_out(path, page)    # a pipe without a reader fails at once; a full disk raises OSError


def _when(ns: Any) -> str:
    return "-" if ns is None else dt.datetime.fromtimestamp(int(ns) / 1e9, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _challenge_html(ch: dict[str, Any]) -> str:
    e = html.escape
    if not ch["stages"]:
        return '<div class="sub">no challenge recorded yet</div>'
    rows = "".join(f'<tr><td class="l">{e(str(s))}</td><td class="l">{e(str(t["stage"]))}</td>'
                   f'<td>{_when(t["since"])}</td><td>{100 * float(t["capital"]):.0f}%</td></tr>'
                   for s, t in ch["stages"].items())
    moves = "".join(f'<tr><td>{_when(m["ts"])}</td><td class="l">{e(str(m["strategy"]))}</td>'
                    f'<td class="l">{e(str(m["from"]))} &rarr; {e(str(m["to"]))}</td>'
                    f'<td class="why">{e(str(m.get("reason", "")))[:200]}</td></tr>' for m in ch["moves"])
    return (f'<table><tr><th class="l">Subject</th><th class="l">Stage</th><th>Since</th><th>Capital</th></tr>{rows}'
            f'</table><h3>Moves in the period</h3><table><tr><th>Time</th><th class="l">Subject</th>'
            f'<th class="l">Move</th><th class="l">Why</th></tr>{moves or "<tr><td>none</td></tr>"}</table>')


def _parity_html(p: dict[str, Any] | None) -> str:
    e = html.escape
    if p is None:
        return '<div class="sub">pass --policy (the node\'s policy) to re-run its bars in the backtest engine</div>'
    causes = ("match", "fill price", "latency", "missing bar", "warm-up", "reload", "unexplained")
    head = "".join(f"<th>{c}</th>" for c in causes)
    rows = "".join(f'<tr><td>{e(r["day"])}</td><td>{r["live_fills"]}</td><td>{r["backtest_fills"]}</td>'
                   + "".join(f"<td>{r[c]}</td>" for c in causes)
                   + f'<td>{_fmt(r["live_pnl"])}</td><td>{_fmt(r["backtest_pnl"])}</td></tr>' for r in p["days"])
    return (f'<div class="sub">tracking error {100 * p["tracking_error"]:.3f}% &middot; fill ratio '
            f'{100 * p["fill_ratio"]:.1f}% &middot; slippage {p["slippage_bps"]:.2f} bps</div>'
            f'<table><tr><th>Day</th><th>Node fills</th><th>Backtest fills</th>{head}<th>Node PnL</th>'
            f'<th>Backtest PnL</th></tr>{rows}</table>')
