"""Self-contained, offline HTML reports of a backtest (``write_report``) and of a portfolio
backtest (``write_portfolio_report``).

A strategy's page holds a header, the metrics of the strategy and of buy-and-hold, the success bar
with PASS/FAIL marks, one plotly figure (price with trades and overlay indicators, other
indicators, equity against buy-and-hold, drawdown) and the trade table. A portfolio's page adds the
per-strategy and per-regime tables and the circuit-breaker trips; its figure shows the regime
timeline behind the price, every strategy's trades, the portfolio equity against buy-and-hold,
each strategy's own PnL curve and the drawdown. plotly.js is embedded in the file; nothing is
loaded from the network. All user text is HTML-escaped.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import pathlib
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from autobot.backtest import metrics as M

if TYPE_CHECKING:
    from autobot.backtest.engine import BacktestResult
    from autobot.language.compile import CompiledStrategy
    from autobot.portfolio.engine import PortfolioResult
    from autobot.workspace import CompiledPolicy

NS = 1_000_000_000
MAX_POINTS = 20_000          # most points per line; more bars than this draw a close line, not candles
COLOURS = ["#ff9800", "#7e57c2", "#1e88e5", "#8d6e63", "#ec407a", "#00acc1", "#c0ca33", "#5c6bc0"]
PERCENT = {"total_return", "annual_return", "max_drawdown", "win_rate", "exposure"}
METRICS = ["total_return", "annual_return", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor",
           "trades", "exposure", "final_equity", "fees"]
LABELS = {"total_return": "Total return", "annual_return": "Annual return", "sharpe": "Sharpe",
          "sortino": "Sortino", "max_drawdown": "Max drawdown", "win_rate": "Win rate",
          "profit_factor": "Profit factor", "trades": "Trades (closed)", "exposure": "Exposure",
          "final_equity": "Final equity", "fees": "Fees"}

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1f2933;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 8px}
.sub{color:#52606d;font-size:13px;margin-bottom:14px}
.row{display:flex;flex-wrap:wrap;gap:28px;align-items:flex-start}
table{border-collapse:collapse;font-size:13px}
th,td{padding:4px 10px;border-bottom:1px solid #e4e7eb;text-align:right;white-space:nowrap}
th{background:#f5f7fa;font-weight:600}
td.l,th.l{text-align:left}
td.why{text-align:left;white-space:normal;max-width:560px;color:#3e4c59}
.pass{color:#1b7f3b;font-weight:700}.fail{color:#c62828;font-weight:700}.na{color:#9aa5b1}
.pos{color:#1b7f3b}.neg{color:#c62828}
.notes{font-size:13px;color:#7b4f00}
.trades{max-height:640px;overflow:auto;border:1px solid #e4e7eb}
.trades th{position:sticky;top:0}
"""


def write_report(result: BacktestResult, compiled: CompiledStrategy, path: pathlib.Path) -> None:
    """Write the HTML report of ``result`` (a backtest of ``compiled``) to ``path``."""
    fig = _figure(result, compiled)
    plot = fig.to_html(full_html=False, include_plotlyjs=True,
                       config={"displaylogo": False, "responsive": True})
    e = html.escape
    start = time_text(int(result.bars.ts[0])) if len(result.bars) else "-"
    end = time_text(int(result.bars.ts[-1]) + result.bar_seconds * NS) if len(result.bars) else "-"
    notes = "".join(f"<div>{e(n)}</div>" for n in result.notes)
    params = ", ".join(f"{e(k)}={v:g}" for k, v in compiled.params.items()) or "none"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(result.strategy)} - AutoBot backtest</title>
<style>{CSS}</style></head><body>
<h1>Backtest: {e(result.strategy)}</h1>
<div class="sub">{e(result.document)} &middot; {e(result.instrument)} &middot; {e(result.bar)} &middot;
{start} to {end} UTC &middot; {len(result.bars)} bars &middot; capital {result.capital:,.2f} {e(result.currency)}
&middot; params: {params}</div>
<div class="notes">{notes}</div>
<div class="row">
<div><h2>Metrics</h2>{metrics_table(result)}</div>
<div><h2>Success bar</h2>{success_table(result.metrics)}</div>
</div>
<h2>Chart</h2>
{plot}
<h2>Trades ({_trade_count(result.trades)})</h2>
<div class="trades">{_trade_table(result.trades, digits=_price_digits(result.trades, result.bars))}</div>
</body></html>
"""
    from autobot.safeio import write_text_out
    write_text_out(path, page)    # a pipe without a reader fails at once; a full disk raises OSError


# ---------------------------------------------------------------- tables


def time_text(ns: int | None) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ns / NS, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def fmt(name: str, v: Any) -> str:
    """A metric for display: fractions as percentages, money with two decimals."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">n/a</span>'
    if name in PERCENT:
        return f"{100 * v:.2f}%"
    if name == "trades":
        return f"{int(v):,}"
    if name in ("final_equity", "fees"):
        return f"{v:,.2f}"
    return f"{v:.2f}"


def metrics_table(result: BacktestResult | PortfolioResult, label: str = "Strategy") -> str:
    """The metrics against buy-and-hold; a demoted portfolio's paper track in its own labelled
    column beside the capital's (the headline)."""
    paper = getattr(result, "paper_track", None) or {}
    extra = (lambda m: f"<td>{fmt(m, paper.get(m))}</td>") if paper else (lambda m: "")
    rows = "".join(f'<tr><td class="l">{LABELS[m]}</td><td>{fmt(m, result.metrics.get(m))}</td>{extra(m)}'
                   f"<td>{fmt(m, result.buy_and_hold.get(m))}</td></tr>" for m in METRICS)
    head = f"{label} (capital)</th><th>Paper track (no capital)" if paper else label
    bh = "Buy &amp; hold (equal weight)" if str(result.buy_and_hold.get("method", "")).startswith("equal weight") \
        else "Buy &amp; hold"
    return (f'<table class="metrics"><tr><th class="l">Metric</th><th>{head}</th><th>{bh}</th></tr>'
            f"{rows}</table>")


def success_table(metrics: dict[str, Any]) -> str:
    marks = M.success_marks(metrics)
    rows = []
    for name, (op, target) in M.SUCCESS_BAR.items():
        ok = marks.get(name)
        mark = ('<span class="na">n/a</span>' if ok is None else
                '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>')
        rows.append(f'<tr><td class="l">{LABELS[name]}</td><td>{html.escape(op)} {fmt(name, target)}</td>'
                    f"<td>{fmt(name, metrics.get(name))}</td><td>{mark}</td></tr>")
    return ('<table class="success"><tr><th class="l">Metric</th><th>Target</th><th>Value</th><th>Result</th></tr>'
            + "".join(rows) + "</table>")


def _num(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _trade_count(trades: Sequence[dict[str, Any]]) -> str:
    """The trade table's count as the metrics count trades: closed ones, and the open one apart
    (``26 closed, 1 open``); the metric ``trades`` counts the closed ones only."""
    n_open = sum(1 for t in trades if t.get("exit_reason") == "open")
    closed = len(trades) - n_open
    return f"{closed:,} closed" + (f", {n_open:,} open" if n_open else "")


def _prices(trades: Sequence[dict[str, Any]]) -> np.ndarray:
    values = [t.get(k) for t in trades for k in ("entry_price", "exit_price")]
    return np.array([v for v in values if isinstance(v, (int, float)) and math.isfinite(v)], dtype=np.float64)


def _price_digits(trades: Sequence[dict[str, Any]], bars: Any = None) -> int:
    """Decimals for the trades' prices: the instrument's price precision (inferred from the bars, as
    the instrument is built from them), or more when the fills need it (an FX fill moved by half a
    spread, 1.322285 on a 5-decimal pair), at most two more; without bars, from the prices."""
    from autobot.venue.instruments import infer_price_precision
    base = 0
    if bars is not None and len(bars):
        base = infer_price_precision(bars.open, bars.high, bars.low, bars.close)
    fills = _prices(trades)
    need = infer_price_precision(fills, limit=base + 2 if bars is not None and len(bars) else 9) if len(fills) else 0
    return max(base, need)


def _portfolio_digits(result: Any, policy: Any) -> dict[str, int]:
    """Per strategy: the price decimals of its instrument's trades (one instrument's trades together)."""
    by_instrument: dict[str | None, list[dict[str, Any]]] = {}
    for t in result.trades:
        by_instrument.setdefault(_strategy_instrument(policy, str(t.get("strategy"))), []).append(t)
    primary = _primary_instrument(result, policy)
    digits = {iid: _price_digits(trades, result.bars if iid == primary else None)
              for iid, trades in by_instrument.items()}
    return {str(t.get("strategy")): digits[_strategy_instrument(policy, str(t.get("strategy")))]
            for t in result.trades}


def _qty_digits(trades: Sequence[dict[str, Any]]) -> int:
    from autobot.venue.instruments import infer_price_precision
    q = np.array([t["qty"] for t in trades if isinstance(t.get("qty"), (int, float))], dtype=np.float64)
    return infer_price_precision(np.abs(q), limit=8) if len(q) else 0


def _trade_table(trades: Sequence[dict[str, Any]], strategy: bool = False,
                 digits: int | dict[str, int] | None = None) -> str:
    """The trade list; ``strategy`` adds a column with each trade's strategy (the portfolio report).
    ``digits``: the price decimals (one for every trade, or per strategy); default: from the prices."""
    e = html.escape
    if digits is None:
        digits = _price_digits(trades)
    qd = _qty_digits(trades)
    head = ("<tr><th>#</th>" + ("<th class='l'>Strategy</th>" if strategy else "") +
            "<th class='l'>Side</th><th class='l'>Entry time</th><th>Entry price</th>"
            "<th class='l'>Exit time</th><th>Exit price</th><th class='l'>Exit reason</th><th>Qty</th>"
            "<th>PnL</th><th>Return</th><th class='l'>Why</th></tr>")
    rows = []
    for i, t in enumerate(trades, 1):
        d = digits if isinstance(digits, int) else digits.get(str(t.get("strategy")), 2)
        sid = f'<td class="l">{e(str(t.get("strategy", "")))}</td>' if strategy else ""
        pnl, ret = t.get("pnl"), t.get("return")
        cls = "pos" if (pnl or 0) > 0 else "neg" if (pnl or 0) < 0 else ""
        why = e(str(t.get("entry_why") or ""))
        if t.get("exit_why"):
            why += f"<br><i>exit:</i> {e(str(t['exit_why']))}"
        reason = "open (at the last close)" if t.get("exit_reason") == "open" else str(t.get("exit_reason") or "")
        rows.append(
            f'<tr class="trade"><td>{i}</td>{sid}<td class="l">{e(str(t.get("side", "")))}</td>'
            f'<td class="l">{time_text(t.get("entry_ts"))}</td><td>{_num(t.get("entry_price"), f",.{d}f")}</td>'
            f'<td class="l">{time_text(t.get("exit_ts"))}</td><td>{_num(t.get("exit_price"), f",.{d}f")}</td>'
            f'<td class="l">{e(reason)}</td><td>{_num(t.get("qty"), f",.{qd}f")}</td>'
            f'<td class="{cls}">{_num(pnl, ",.2f")}</td>'
            f'<td class="{cls}">{"-" if ret is None else f"{100 * ret:.2f}%"}</td>'
            f'<td class="why">{why}</td></tr>')
    return f'<table class="trade-list"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


# ---------------------------------------------------------------- figure


def thin(y: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ~``limit`` points of ``y`` keeping each bucket's min and max (shape-preserving)."""
    n = len(y)
    if n <= limit:
        return np.arange(n)
    k = math.ceil(n / (limit // 2))
    m = n // k * k
    block = np.asarray(y[:m], dtype=np.float64).reshape(-1, k)
    base = np.arange(0, m, k)
    lo = np.argmin(np.where(np.isnan(block), np.inf, block), axis=1) + base
    hi = np.argmax(np.where(np.isnan(block), -np.inf, block), axis=1) + base
    return np.unique(np.concatenate([lo, hi, np.arange(m, n), [0, n - 1]]))


def ms_axis(ns: np.ndarray) -> np.ndarray:
    """ns timestamps as float ms since the epoch (a plotly date axis reads numbers as ms)."""
    return np.asarray(ns, dtype=np.int64) / 1e6


def _indicators(result: BacktestResult, compiled: CompiledStrategy) -> dict[str, np.ndarray]:
    """Number-typed named indicators of the plan, evaluated over the backtest's bars."""
    from autobot.evaluate.batch import evaluate
    from autobot.evaluate.semantics import flat_externals

    plan = compiled.plan
    wanted = {name: i for name, i in plan.named.items() if plan.types[i] == "number"}
    if not wanted or len(result.bars) == 0:
        return {}
    values = evaluate(plan, result.bars, flat_externals(result.capital))
    n = len(result.bars)
    out = {}
    for name, i in wanted.items():
        v = np.broadcast_to(np.asarray(values[i], dtype=np.float64), (n,))
        if np.isfinite(v).any():
            out[name] = v
    return out


def _hover(*parts: Any) -> str:
    """Hover text: escaped (plotly reads hover text as HTML), one part a line, long lines cut."""
    lines = [str(p) for p in parts if p not in (None, "")]
    return "<br>".join(html.escape(s if len(s) <= 160 else s[:157] + "...") for s in lines)


def _figure(result: BacktestResult, compiled: CompiledStrategy) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    bars = result.bars
    close_ns = np.asarray(bars.ts, dtype=np.int64) + result.bar_seconds * NS
    x = ms_axis(close_ns)
    med_close = float(np.median(bars.close)) if len(bars) else 0.0
    overlays, panel = {}, {}
    for name, v in _indicators(result, compiled).items():
        med = float(np.nanmedian(v[np.isfinite(v)]))
        (overlays if med_close > 0 and 0.5 * med_close <= med <= 2.0 * med_close else panel)[name] = v

    titles = ["Price", *(["Indicators"] if panel else []), "Equity", "Drawdown"]
    heights = [0.45, *([0.17] if panel else []), 0.23, 0.15]
    fig = make_subplots(rows=len(titles), cols=1, shared_xaxes=True, vertical_spacing=0.035,
                        row_heights=heights, subplot_titles=titles)
    eq_row, dd_row = len(titles) - 1, len(titles)

    _price(fig, go, bars, x, result.instrument)
    colours = iter(COLOURS * (1 + (len(overlays) + len(panel)) // len(COLOURS)))
    for name, v in overlays.items():
        k = thin(v)
        fig.add_trace(go.Scatter(x=x[k], y=v[k], mode="lines", name=name, line=dict(width=1.3, color=next(colours))),
                      row=1, col=1)
    _trade_markers(fig, go, result.trades)
    for name, v in panel.items():
        k = thin(v)
        fig.add_trace(go.Scatter(x=x[k], y=v[k], mode="lines", name=name, line=dict(width=1.2, color=next(colours))),
                      row=2, col=1)

    eq = np.asarray(result.equity, dtype=np.float64)
    ex = ms_axis(result.equity_ts)
    k = thin(eq)
    fig.add_trace(go.Scatter(x=ex[k], y=eq[k], mode="lines", name="Strategy equity",
                             line=dict(color="#1f5fbf", width=1.5)), row=eq_row, col=1)
    if len(bars):
        fee = float(result.buy_and_hold.get("fees") or 0.0) / result.capital if result.capital else 0.0
        bh = result.capital * (1.0 - fee) / float(bars.close[0]) * np.asarray(bars.close, dtype=np.float64)
        k = thin(bh)
        fig.add_trace(go.Scatter(x=x[k], y=bh[k], mode="lines", name="Buy & hold equity",
                                 line=dict(color="#9aa5b1", width=1.2, dash="dot")), row=eq_row, col=1)
    if len(eq):
        dd = 100.0 * (1.0 - eq / np.maximum.accumulate(eq))        # positive, drawn downwards
        k = thin(dd)
        fig.add_trace(go.Scatter(x=ex[k], y=dd[k], mode="lines", name="Drawdown %", fill="tozeroy",
                                 line=dict(color="#c62828", width=1), fillcolor="rgba(198,40,40,0.18)"),
                      row=dd_row, col=1)
    log = log_axis(eq, bh if len(bars) else np.array([]))

    fig.update_layout(height=1100, margin=dict(l=60, r=20, t=60, b=40), template="plotly_white",
                      hovermode="x unified", legend=dict(orientation="h", yanchor="bottom", y=1.025, x=0),
                      xaxis_rangeslider_visible=False)
    fig.update_xaxes(type="date", showspikes=True, spikemode="across", spikethickness=1,
                     range=_x_range(x[:1], x[-1:], ex[:1], ex[-1:]))
    fig.update_yaxes(title_text=result.currency, row=1, col=1)
    _equity_axis(fig, result.currency, eq_row, log)
    _drawdown_axis(fig, dd_row)
    return fig


def log_axis(*curves: np.ndarray) -> bool:
    """Whether the equity curves go on a log axis: when every value is above 0 (an account that
    went to 0 or below cannot be drawn on one)."""
    values = np.concatenate([np.asarray(c, dtype=np.float64).ravel() for c in curves]) if curves else np.array([])
    values = values[np.isfinite(values)]
    return bool(len(values)) and bool(np.all(values > 0))


def _equity_axis(fig: Any, currency: str, row: int, log: bool) -> None:
    """Equity on a log axis: the same percent move is the same height at any level, so a strategy
    that grew to 178k beside a buy-and-hold at 803k is not drawn flat (a linear axis of equity or of
    percent returns is one curve shifted: it flattens the smaller one alike)."""
    if log:
        fig.update_yaxes(type="log", title_text=f"{html.escape(currency)} (log scale)", tickformat=",.3~s",
                         row=row, col=1)
    else:
        fig.update_yaxes(title_text=f"{html.escape(currency)} (linear: equity reached 0)", row=row, col=1)


def _drawdown_axis(fig: Any, row: int) -> None:
    """Drawdown as a positive percent below the peak (the sign of every report's max drawdown),
    drawn downwards from 0."""
    fig.update_yaxes(title_text="% below peak", autorange="reversed", rangemode="tozero", row=row, col=1)


def _x_range(*ends: np.ndarray) -> list[str] | None:
    """The time axis from the first to the last series point (ms), as UTC date strings.

    Set explicitly: plotly pads an autoranged axis by 5% where trade markers are the outermost
    points, leaving empty bands at the ends of the chart."""
    values = np.concatenate([np.asarray(v, dtype=np.float64) for v in ends]) if ends else np.array([])
    values = values[np.isfinite(values)]
    if len(values) == 0 or values.min() == values.max():
        return None
    iso = [dt.datetime.fromtimestamp(v / 1000.0, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
           for v in (values.min(), values.max())]
    return iso


def _price(fig: Any, go: Any, bars: Any, x: np.ndarray, name: str) -> None:
    """The price in row 1: candles, or a thinned close line when there are too many bars for candles."""
    if len(bars) <= MAX_POINTS:
        fig.add_trace(go.Candlestick(x=x, open=bars.open, high=bars.high, low=bars.low, close=bars.close,
                                     name=name, increasing_line_color="#26a69a",
                                     decreasing_line_color="#ef5350", line_width=1), row=1, col=1)
    else:
        k = thin(bars.close)
        fig.add_trace(go.Scattergl(x=x[k], y=bars.close[k], mode="lines", name=f"{name} close",
                                   line=dict(color="#52606d", width=1)), row=1, col=1)


def _trade_markers(fig: Any, go: Any, trades: Sequence[dict[str, Any]]) -> None:
    """Entry and exit markers on the price chart: triangle up = buy, triangle down = sell."""
    size = 11 if len(trades) <= 300 else 7
    ent = [t for t in trades if t.get("entry_ts") is not None]
    ext = [t for t in trades if t.get("exit_ts") is not None and t.get("exit_price") is not None]
    if ent:
        fig.add_trace(go.Scatter(
            x=ms_axis(np.array([t["entry_ts"] for t in ent])), y=[t["entry_price"] for t in ent], mode="markers",
            name="Entries",
            marker=dict(symbol=["triangle-up" if t["side"] == "long" else "triangle-down" for t in ent], size=size,
                        color=["#1b7f3b" if t["side"] == "long" else "#c62828" for t in ent],
                        line=dict(color="#1f2933", width=0.8)),
            hovertext=[_hover(f"enter {t['side']} ({t.get('entry_rule', '')})", t.get("entry_why")) for t in ent],
            hoverinfo="text"), row=1, col=1)
    if ext:
        fig.add_trace(go.Scatter(
            x=ms_axis(np.array([t["exit_ts"] for t in ext])), y=[t["exit_price"] for t in ext], mode="markers",
            name="Exits",
            marker=dict(symbol=["triangle-down-open" if t["side"] == "long" else "triangle-up-open" for t in ext],
                        size=size, color="#1f2933", line=dict(width=1.6)),
            hovertext=[_hover(f"exit {t['side']}: {t.get('exit_reason', '')}", t.get("exit_why"),
                              f"PnL {t.get('pnl', 0.0):,.2f}") for t in ext],
            hoverinfo="text"), row=1, col=1)


# ---------------------------------------------------------------- portfolio report

# lighter than the strategies' COLOURS, none alike, no plain red or green (loss and gain here)
REGIME_COLOURS = ["#64b5f6", "#ffd54f", "#ba68c8", "#4db6ac", "#f48fb1", "#a1887f", "#dce775", "#9fa8da",
                  "#ffab91", "#80deea"]
UNDEFINED = "undefined"               # the name of "no regime confirmed yet", as in PortfolioResult.per_regime
UNDEFINED_COLOUR = "#b0bec5"
MAX_BAND_SHAPES = 300                 # most background rectangles behind the price
MAX_BAND_CELLS = 4000                 # most cells of the regime strip
MAX_TRIP_LINES = 50                   # most breaker-trip lines across the chart
MAX_SWITCH_ROWS = 2000                # most rows of the regime switch list

PORTFOLIO_CSS = """
.sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;vertical-align:-1px}
.trip td{color:#c62828}
details summary{cursor:pointer;font-size:15px;font-weight:600;margin:18px 0 8px}
.switches{max-height:420px;overflow:auto;border:1px solid #e4e7eb}
.switches th{position:sticky;top:0}
"""


def _series_notes(notes: list[str]) -> list[str]:
    """The run's notes, its 'ID: N bars of S s' lines as one when there are more than three."""
    import re
    counts = [n for n in notes if re.fullmatch(r"\S+: [\d,]+ bars of \d+ s", n)]
    if len(counts) <= 3:
        return list(notes)
    short = [n.replace(" bars of ", " x ").replace(" s", "s") for n in counts]
    return [f"{len(counts)} series (bars x size): " + ", ".join(short)] + [n for n in notes if n not in counts]


def write_portfolio_report(result: PortfolioResult, policy: CompiledPolicy, path: pathlib.Path) -> None:
    """Write the HTML report of the portfolio backtest ``result`` (of ``policy``) to ``path``."""
    e = html.escape
    primary = _primary_instrument(result, policy)
    colours = _regime_colours(result, policy)
    strategy_colours = {sid: COLOURS[k % len(COLOURS)] for k, sid in enumerate(_strategy_ids(result))}
    fig, fig_notes = _portfolio_figure(result, policy, primary, colours, strategy_colours)
    plot = fig.to_html(full_html=False, include_plotlyjs=True,
                       config={"displaylogo": False, "responsive": True})
    bars = result.bars
    start = time_text(int(bars.ts[0])) if len(bars) else "-"
    end = time_text(int(bars.ts[-1]) + result.bar_seconds * NS) if len(bars) else "-"
    notes = "".join(f"<div>{e(n)}</div>" for n in [*_series_notes(result.notes), *fig_notes])
    source = e(str(getattr(policy, "path", "") or ""))
    method = e(str(getattr(policy.document, "allocation_method", "") or "-"))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(result.policy)} - AutoBot portfolio backtest</title>
<style>{CSS}{PORTFOLIO_CSS}</style></head><body>
<h1>Portfolio backtest: {e(result.policy)}</h1>
<div class="sub">{source} &middot; {e(", ".join(result.instruments))} &middot; {e(result.bar)} &middot;
{start} to {end} UTC &middot; {len(bars):,} bars &middot; capital {result.capital:,.2f} {e(result.currency)}
&middot; allocation: {method} &middot; {sum(s.get("kind", "switch") == "switch" for s in result.switches):,} regime switches
&middot; {len(result.trips)} breaker trips</div>
<div class="notes">{notes}</div>
<div class="row">
<div><h2>Metrics</h2>{metrics_table(result, "Portfolio")}</div>
<div><h2>Success bar</h2>{success_table(result.metrics)}</div>
</div>
<h2>Strategies</h2>
{_strategy_table(result, policy, strategy_colours)}
<h2>Regimes</h2>
{_regime_table(result, policy, colours)}
<h2>Circuit breakers</h2>
{_trip_table(result.trips)}
<h2>Chart</h2>
{plot}
{_universe_section(result, policy)}
{_switch_list(result.switches)}
<h2>Trades ({_trade_count(result.trades)})</h2>
<div class="trades">{_trade_table(result.trades, strategy=True, digits=_portfolio_digits(result, policy))}</div>
</body></html>
"""
    from autobot.safeio import write_text_out
    write_text_out(path, page)    # a pipe without a reader fails at once; a full disk raises OSError


def _primary_instrument(result: PortfolioResult, policy: CompiledPolicy) -> str:
    """The instrument of ``result.bars``: that of the first strategy the policy allocates to."""
    for sid in policy.used:
        cs = policy.strategies.get(sid)
        if cs is not None and cs.document.market is not None and cs.document.market.instrument:
            return str(cs.document.market.instrument)
    return result.instruments[0] if result.instruments else ""


def _strategy_ids(result: PortfolioResult) -> list[str]:
    out = list(result.per_strategy)
    out.extend(s for s in result.strategy_pnl if s not in out)
    out.extend(t["strategy"] for t in result.trades if t.get("strategy") and t["strategy"] not in out)
    return out


def _strategy_instrument(policy: CompiledPolicy, sid: str) -> str | None:
    cs = policy.strategies.get(sid)
    market = cs.document.market if cs is not None else None
    return str(market.instrument) if market is not None and market.instrument else None


def _regime_names(result: PortfolioResult, policy: CompiledPolicy) -> list[str]:
    """Regime names in the regimes file's order, then any others met, then ``undefined``."""
    names = [n for n in policy.regimes.names]
    seen = {r for r in result.regimes if r is not None} | set(result.per_regime)
    names.extend(sorted(n for n in seen - set(names) - {UNDEFINED}))
    return names


def _regime_colours(result: PortfolioResult, policy: CompiledPolicy) -> dict[str, str]:
    colours = {n: REGIME_COLOURS[k % len(REGIME_COLOURS)] for k, n in enumerate(_regime_names(result, policy))}
    colours[UNDEFINED] = UNDEFINED_COLOUR
    return colours


def _swatch(colour: str) -> str:
    return f'<span class="sw" style="background:{colour}"></span>'


def _pct(v: Any) -> str:
    return fmt("total_return", v)


def _money(v: Any) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">n/a</span>'
    cls = "pos" if v > 0 else "neg" if v < 0 else ""
    return f'<span class="{cls}">{v:,.2f}</span>'


def _strategy_table(result: PortfolioResult, policy: CompiledPolicy, colours: dict[str, str]) -> str:
    e = html.escape
    head = ("<tr><th class='l'>Strategy</th><th class='l'>Instrument</th><th>Trades</th><th>PnL</th><th>Fees</th>"
            "<th>Share of PnL</th><th>Sharpe</th><th>Alone: annual return</th><th>Alone: Sharpe</th>"
            "<th>Alone: max drawdown</th></tr>")
    rows = []
    for sid in _strategy_ids(result):
        row = result.per_strategy.get(sid, {})
        alone = result.alone.get(sid, {})
        rows.append(
            f'<tr class="strategy"><td class="l">{_swatch(colours[sid])}{e(sid)}</td>'
            f'<td class="l">{e(_strategy_instrument(policy, sid) or "-")}</td>'
            f'<td>{fmt("trades", row.get("trades"))}</td><td>{_money(row.get("pnl"))}</td>'
            f'<td>{fmt("fees", row.get("fees"))}</td><td>{_pct(row.get("share_of_pnl"))}</td>'
            f'<td>{fmt("sharpe", row.get("sharpe"))}</td><td>{_pct(alone.get("annual_return"))}</td>'
            f'<td>{fmt("sharpe", alone.get("sharpe"))}</td><td>{_pct(alone.get("max_drawdown"))}</td></tr>')
    note = ("" if result.alone else
            '<div class="sub">The alone runs (each strategy by itself with the full capital) were not computed.</div>')
    return f'<table class="strategies">{head}{"".join(rows)}</table>{note}'


def _universe_section(result: PortfolioResult, policy: CompiledPolicy) -> str:
    """A universe run's markets: per instrument (PnL, trades, exposure), per sleeve (allocated
    weight now and on average), the cash left unallocated, realised against target volatility,
    and a stacked chart of the sleeves' allocated weights over time."""
    if not result.universe or not policy.document.universe:
        return ""
    e = html.escape
    per_instrument = (result.exposure_report or {}).get("per_instrument", {})
    by: dict[str, dict[str, float]] = {}
    for sleeve in result.sleeves.values():
        row = by.setdefault(sleeve.instrument, {"pnl": 0.0, "trades": 0.0, "weight": 0.0})
        row["pnl"] += sleeve.pnl
        row["trades"] += sleeve.trades
        row["weight"] += sleeve.mean_weight
    markets = "".join(
        f'<tr><td class="l">{e(u["instrument"])}</td><td class="l">{e(u["asset_class"])}</td>'
        f'<td>{u["bars"]:,}</td><td>{time_text(u["first"])}</td><td>{_money(by.get(u["instrument"], {}).get("pnl"))}</td>'
        f'<td>{int(by.get(u["instrument"], {}).get("trades", 0)):,}</td>'
        f'<td>{_pct(by.get(u["instrument"], {}).get("weight"))}</td>'
        f'<td>{_pct(per_instrument.get(u["instrument"], {}).get("mean_gross"))}</td></tr>'
        for u in result.universe)
    sleeves = "".join(
        f'<tr><td class="l">{e(s.name)}</td><td>{s.trades:,}</td><td>{_money(s.pnl)}</td>'
        f'<td>{fmt("sharpe", s.sharpe)}</td><td>{_pct(s.mean_weight)}</td><td>{_pct(s.last_weight)}</td></tr>'
        for s in result.sleeves.values())
    curve = np.asarray(result.equity, dtype=np.float64)
    rets = np.diff(curve) / curve[:-1] if len(curve) > 2 and np.all(curve[:-1] > 0) else np.zeros(0)
    per_year = M.periods_per_year(result.bars.ts, result.bar_seconds * NS) if len(result.bars) > 1 else 0.0
    realised = float(np.std(rets, ddof=1) * math.sqrt(per_year)) if len(rets) > 2 and per_year > 0 else None
    target = policy.document.risk.target_volatility
    return f"""<h2>Universe: {len(result.universe)} markets</h2>
<div class="sub">Cash (the equity no sleeve was allocated) {_pct(result.cash_share)} on average &middot; realised
volatility {_pct(realised)} a year against a target of {e(str(target)) if target else "none set"} &middot; buy-and-hold
is the universe's equal-weight portfolio, rebalanced at every close</div>
<div class="row"><div><table class="universe"><tr><th class='l'>Instrument</th><th class='l'>Class</th><th>Bars</th>
<th>First bar</th><th>PnL</th><th>Trades</th><th>Mean weight</th><th>Mean exposure</th></tr>{markets}</table></div>
<div><table class="sleeves"><tr><th class='l'>Sleeve</th><th>Trades</th><th>PnL</th><th>Sharpe</th>
<th>Mean weight</th><th>Weight now</th></tr>{sleeves}</table></div></div>
{_weights_figure(result)}"""


def _weights_figure(result: PortfolioResult) -> str:
    """The sleeves' allocated weights over time, stacked, and the cash above them."""
    import plotly.graph_objects as go
    ts = np.asarray(result.equity_ts, dtype=np.int64)
    if not len(ts) or not result.sleeves:
        return ""
    x = ms_axis(ts)
    fig = go.Figure()
    total = np.zeros(len(ts))
    for k, sleeve in enumerate(result.sleeves.values()):
        at = np.searchsorted(np.array([t for t, _ in sleeve.weights], dtype=np.int64), ts, side="right") - 1
        w = np.where(at >= 0, np.array([v for _, v in sleeve.weights] or [0.0])[np.maximum(at, 0)], 0.0)
        total += w
        fig.add_trace(go.Scatter(x=x, y=w * 100, name=sleeve.name, stackgroup="w", mode="lines",
                                 line={"width": 0.5, "color": COLOURS[k % len(COLOURS)]}))
    fig.add_trace(go.Scatter(x=x, y=np.maximum(0.0, 1.0 - total) * 100, name="cash", stackgroup="w", mode="lines",
                             line={"width": 0.5, "color": "#cfd8dc"}))
    fig.update_layout(height=300, margin={"l": 50, "r": 20, "t": 30, "b": 30}, yaxis={"title": "weight %"},
                      xaxis={"type": "date"},
                      title={"text": "Allocated weights over time (and cash)", "font": {"size": 13}})
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"displaylogo": False, "responsive": True})


def _listed(items: list[str], most: int = 4) -> str:
    """``a, b, c and 6 more``."""
    return ", ".join(items[:most]) + (f" and {len(items) - most} more" if len(items) > most else "")


def _allocation_text(shares: dict[str, float] | None) -> str:
    """A regime's shares, rounded; a universe's members (``tsmom@SPY.SIM``) by their strategy:
    ``tsmom 100% over 9 markets``."""
    if shares is None:
        return "-"
    if not shares:
        return "stand aside"
    grouped: dict[str, list[float]] = {}
    for sid, v in shares.items():
        grouped.setdefault(sid.partition("@")[0] if "@" in sid else sid, []).append(v)
    return ", ".join(f"{sid} {100 * sum(v):.4g}%" + (f" over {len(v)} markets" if len(v) > 1 else "")
                     for sid, v in grouped.items())


def _regime_table(result: PortfolioResult, policy: CompiledPolicy, colours: dict[str, str]) -> str:
    e = html.escape
    total = sum(int(r.get("bars", 0)) for r in result.per_regime.values()) or 1
    order = [n for n in [*_regime_names(result, policy), UNDEFINED] if n in result.per_regime]
    order.extend(n for n in result.per_regime if n not in order)
    head = ("<tr><th class='l'>Regime</th><th>Bars</th><th>Share of bars</th><th>PnL while in it</th>"
            "<th class='l'>Allocation</th></tr>")
    rows = []
    for name in order:
        row = result.per_regime[name]
        shares = policy.allocations.get(name)
        rows.append(f'<tr class="regime"><td class="l">{_swatch(colours.get(name, UNDEFINED_COLOUR))}{e(name)}</td>'
                    f'<td>{int(row.get("bars", 0)):,}</td><td>{_pct(row.get("bars", 0) / total)}</td>'
                    f'<td>{_money(row.get("pnl"))}</td><td class="l">{e(_allocation_text(shares))}</td></tr>')
    for name in _regime_names(result, policy):                    # regimes of the policy never in force
        if name not in result.per_regime:
            rows.append(f'<tr class="regime"><td class="l">{_swatch(colours[name])}{e(name)}</td><td>0</td>'
                        f'<td>{_pct(0.0)}</td><td>-</td>'
                        f'<td class="l">{e(_allocation_text(policy.allocations.get(name)))}</td></tr>')
    return f'<table class="regimes">{head}{"".join(rows)}</table>'


def _trip_table(trips: Sequence[dict[str, Any]]) -> str:
    if not trips:
        return '<div class="sub">None tripped.</div>'
    e = html.escape
    rows = "".join(f'<tr class="trip"><td class="l">{time_text(t.get("ts"))}</td>'
                   f'<td class="l">{e(str(t.get("reason", "")))}</td><td>{_num(t.get("equity"), ",.2f")}</td>'
                   f'<td class="why">{e(str(t.get("detail", "")))}</td></tr>' for t in trips)
    return ("<table class='trips'><tr><th class='l'>Time (UTC)</th><th class='l'>Breaker</th><th>Equity</th>"
            f"<th class='l'>Detail</th></tr>{rows}</table>")


def _switch_list(switches: Sequence[dict[str, Any]]) -> str:
    e = html.escape
    shown = switches[:MAX_SWITCH_ROWS]
    rows = "".join(f'<tr><td class="l">{time_text(s.get("ts"))}</td><td class="l">{e(str(s.get("old") or UNDEFINED))}</td>'
                   f'<td class="l">{e(str(s.get("new") or UNDEFINED))}</td>'
                   f'<td class="l">{e(_allocation_text(s.get("shares")))}</td></tr>' for s in shown)
    more = (f'<div class="sub">The first {MAX_SWITCH_ROWS:,} of {len(switches):,} switches.</div>'
            if len(switches) > len(shown) else "")
    return (f"<details><summary>Regime switches ({len(switches):,})</summary>{more}<div class='switches'>"
            "<table><thead><tr><th class='l'>Time (UTC)</th><th class='l'>From</th><th class='l'>To</th>"
            f"<th class='l'>Allocation</th></tr></thead><tbody>{rows}</tbody></table></div></details>")


def _runs(labels: Sequence[str | None]) -> list[tuple[int, int, str]]:
    """Runs of equal regimes: (first bar, bar after the last, name); ``None`` is ``undefined``."""
    n = len(labels)
    if n == 0:
        return []
    index: dict[str, int] = {}
    codes = np.fromiter((index.setdefault(UNDEFINED if s is None else s, len(index)) for s in labels),
                        dtype=np.int64, count=n)
    names = list(index)
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
    stops = np.append(starts[1:], n)
    return [(int(a), int(b), names[codes[a]]) for a, b in zip(starts, stops)]


def _merge_runs(runs: list[tuple[int, int, str]], cap: int) -> tuple[list[tuple[int, int, str]], int]:
    """At most ``cap`` runs for drawing: runs shorter than a minimum length (doubled until they fit) are
    drawn as part of the run before them. Returns the runs and that minimum (1: nothing merged)."""
    shortest = 1
    while len(runs) > cap:
        shortest *= 2
        out: list[tuple[int, int, str]] = []
        for a, b, name in runs:
            if out and (b - a < shortest or out[-1][2] == name):
                out[-1] = (out[-1][0], b, out[-1][2])
            else:
                out.append((a, b, name))
        runs = out
    return runs, shortest


def _portfolio_figure(result: PortfolioResult, policy: CompiledPolicy, primary: str,
                      regime_colours: dict[str, str], strategy_colours: dict[str, str]) -> tuple[Any, list[str]]:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    e = html.escape
    notes: list[str] = []
    bars = result.bars
    bar_ms = result.bar_seconds * 1000.0
    x = ms_axis(np.asarray(bars.ts, dtype=np.int64) + result.bar_seconds * NS)
    eq = np.asarray(result.equity, dtype=np.float64)
    ex = ms_axis(result.equity_ts)
    titles = [f"Price: {e(primary)} (background: regime)", "Regime", "Portfolio equity",
              "Strategy PnL (own realised + unrealised)", "Drawdown"]
    fig = make_subplots(rows=5, cols=1, shared_xaxes=True, vertical_spacing=0.03,
                        row_heights=[0.40, 0.035, 0.22, 0.2, 0.145], subplot_titles=titles)

    # price, with the regime behind it and every strategy's trades on it
    _price(fig, go, bars, x, e(primary))
    _regime_band(fig, go, result, regime_colours, ex, bar_ms, notes)
    size = 10 if len(result.trades) <= 300 else 7
    elsewhere: list[str] = []
    for sid, colour in strategy_colours.items():
        trades = [t for t in result.trades if t.get("strategy") == sid]
        instrument = _strategy_instrument(policy, sid)
        if trades and instrument is not None and instrument != primary:
            elsewhere.append(f"{sid} trades {instrument}")
            continue
        _strategy_markers(fig, go, sid, colour, trades, size)
    if elsewhere:
        notes.append(f"{_listed(elsewhere)}: {'its' if len(elsewhere) == 1 else 'their'} trades are not marked on "
                     f"the {primary} price chart (the trade list has them).")

    # portfolio equity against buy-and-hold, with the breaker trips
    k = thin(eq)
    paper = (getattr(result, "paper_track", None) or {}).get("equity")
    fig.add_trace(go.Scatter(x=ex[k], y=eq[k], mode="lines",
                             name="Portfolio equity (capital)" if paper else "Portfolio equity",
                             legendgroup="portfolio", line=dict(color="#1f5fbf", width=1.5)), row=3, col=1)
    if paper:
        pe = np.asarray(paper, dtype=np.float64)
        k = thin(pe)
        fig.add_trace(go.Scatter(x=ex[k], y=pe[k], mode="lines", name="Paper track (no capital)",
                                 legendgroup="portfolio", line=dict(color="#1f5fbf", width=1.0, dash="dash")),
                      row=3, col=1)
    if len(bars):
        fee = float(result.buy_and_hold.get("fees") or 0.0) / result.capital if result.capital else 0.0
        bh = result.capital * (1.0 - fee) / float(bars.close[0]) * np.asarray(bars.close, dtype=np.float64)
        k = thin(bh)
        universe = str(result.buy_and_hold.get("method", "")).startswith("equal weight")
        fig.add_trace(go.Scatter(x=x[k], y=bh[k], mode="lines", legendgroup="portfolio",
                                 name=f"Buy & hold {e(primary)} alone" if universe else "Buy & hold equity",
                                 line=dict(color="#9aa5b1", width=1.2, dash="dot")), row=3, col=1)
    trips = [t for t in result.trips if t.get("ts") is not None]
    if trips:
        fig.add_trace(go.Scatter(
            x=ms_axis(np.array([t["ts"] for t in trips])), y=[t.get("equity") for t in trips], mode="markers",
            name="Breaker trips", legendgroup="portfolio",
            marker=dict(symbol="x", size=12, color="#c62828", line=dict(width=1)),
            hovertext=[_hover(f"breaker: {t.get('reason', '')}", t.get("detail")) for t in trips],
            hoverinfo="text"), row=3, col=1)
        for t in trips[:MAX_TRIP_LINES]:
            for row in (1, 3, 4, 5):
                fig.add_vline(x=float(t["ts"]) / 1e6, line=dict(color="#c62828", width=1, dash="dash"),
                              opacity=0.6, row=row, col=1, exclude_empty_subplots=False)

    # each strategy's own PnL on the primary bars
    n = len(ex)
    undrawn: list[str] = []
    for sid, colour in strategy_colours.items():
        pnl = result.strategy_pnl.get(sid)
        if pnl is None:
            continue
        pnl = np.asarray(pnl, dtype=np.float64)
        if len(pnl) not in (n, n + 1) or n == 0:
            undrawn.append(f"{sid} ({len(pnl):,} points)")
            continue
        y = pnl[:n]
        k = thin(y)
        fig.add_trace(go.Scatter(x=ex[k], y=y[k], mode="lines", name=f"{e(sid)} PnL", legendgroup=e(sid),
                                 line=dict(color=colour, width=1.4)), row=4, col=1)
    fig.add_hline(y=0, line=dict(color="#9aa5b1", width=1), row=4, col=1, exclude_empty_subplots=False)
    if undrawn:
        notes.append(f"PnL curves on their own markets' bars, not one per {result.bar} bar of {primary}, are not "
                     f"drawn: {_listed(undrawn)} (the strategy and universe tables have their PnL).")

    if len(eq):
        dd = 100.0 * (1.0 - eq / np.maximum.accumulate(eq))        # positive, drawn downwards
        k = thin(dd)
        fig.add_trace(go.Scatter(x=ex[k], y=dd[k], mode="lines", name="Drawdown %", fill="tozeroy",
                                 legendgroup="portfolio", line=dict(color="#c62828", width=1),
                                 fillcolor="rgba(198,40,40,0.18)"), row=5, col=1)
    log = log_axis(eq, np.asarray(paper if paper else [], dtype=np.float64), bh if len(bars) else np.array([]))

    # legend: one column per group (price, regimes, each strategy, portfolio); a click toggles one item
    fig.update_layout(height=1350, margin=dict(l=70, r=20, t=60, b=40), template="plotly_white",
                      hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0, groupclick="toggleitem"),
                      xaxis_rangeslider_visible=False)
    fig.update_xaxes(type="date", showspikes=True, spikemode="across", spikethickness=1,
                     range=_x_range(x[:1], x[-1:], ex[:1], ex[-1:] + bar_ms))
    fig.update_yaxes(title_text=e(result.currency), row=1, col=1)
    fig.update_yaxes(showticklabels=False, showgrid=False, zeroline=False, fixedrange=True, row=2, col=1)
    _equity_axis(fig, result.currency, 3, log)
    fig.update_yaxes(title_text=e(result.currency), row=4, col=1)
    _drawdown_axis(fig, 5)
    return fig, notes


def _regime_band(fig: Any, go: Any, result: PortfolioResult, colours: dict[str, str], ex: np.ndarray,
                 bar_ms: float, notes: list[str]) -> None:
    """The regime timeline: tinted rectangles behind the price (merged runs, at most MAX_BAND_SHAPES) and a
    strip of coloured cells in row 2 (at most MAX_BAND_CELLS), with one legend entry per regime.

    The regime of bar k (confirmed at its close) is in force until the next bar closes, so a run of
    bars i..j is drawn from the close of bar i to the close of bar j + 1.
    """
    e = html.escape
    n = min(len(result.regimes), len(ex))
    runs = _runs(result.regimes[:n])
    if not runs:
        return
    edges = np.append(ex[:n], ex[n - 1] + bar_ms)
    names = list(colours)
    present = [name for name in names if any(r[2] == name for r in runs)]

    cells, shortest = _merge_runs(runs, MAX_BAND_CELLS)
    k = len(names)
    scale = []
    for i, name in enumerate(names):
        scale += [[i / k, colours[name]], [(i + 1) / k, colours[name]]]
    fig.add_trace(go.Heatmap(
        x=[float(edges[a]) for a, _, _ in cells] + [float(edges[cells[-1][1]])], y=[0.0],
        z=[[names.index(name) for _, _, name in cells]], text=[[e(name) for _, _, name in cells]],
        zmin=-0.5, zmax=k - 0.5, colorscale=scale, showscale=False, name="Regime",
        hovertemplate="%{text}<extra>regime</extra>", xgap=0, ygap=0), row=2, col=1)

    shapes, wide = _merge_runs(runs, MAX_BAND_SHAPES)
    fig.update_layout(shapes=[dict(type="rect", xref="x", yref="y domain", x0=float(edges[a]), x1=float(edges[b]),
                                   y0=0, y1=1, fillcolor=colours[name], opacity=0.2, line_width=0, layer="below")
                              for a, b, name in shapes if name != UNDEFINED])
    if shortest > 1 or wide > 1:
        notes.append(f"Regime timeline: {len(runs):,} runs of bars; runs shorter than {shortest:,} bars are drawn "
                     f"as part of the run before them in the strip, shorter than {wide:,} bars behind the price.")
    for name in present:
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=f"regime: {e(name)}",
                                 legendgroup="regime", hoverinfo="skip",
                                 marker=dict(symbol="square", size=12, color=colours[name])), row=2, col=1)


def _strategy_markers(fig: Any, go: Any, sid: str, colour: str, trades: Sequence[dict[str, Any]], size: int) -> None:
    """One strategy's entries (filled, up = long, down = short) and exits (open) in its colour."""
    ent = [t for t in trades if t.get("entry_ts") is not None and t.get("entry_price") is not None]
    ext = [t for t in trades if t.get("exit_ts") is not None and t.get("exit_price") is not None]
    group = html.escape(sid)
    if ent:
        fig.add_trace(go.Scatter(
            x=ms_axis(np.array([t["entry_ts"] for t in ent])), y=[t["entry_price"] for t in ent], mode="markers",
            name=f"{group} entries", legendgroup=group,
            marker=dict(symbol=["triangle-up" if t.get("side") == "long" else "triangle-down" for t in ent],
                        size=size, color=colour, line=dict(color="#1f2933", width=0.8)),
            hovertext=[_hover(f"{sid}: enter {t.get('side', '')} {time_text(t['entry_ts'])} ({t.get('entry_rule', '')})",
                              t.get("entry_why")) for t in ent],
            hoverinfo="text"), row=1, col=1)
    if ext:
        fig.add_trace(go.Scatter(
            x=ms_axis(np.array([t["exit_ts"] for t in ext])), y=[t["exit_price"] for t in ext], mode="markers",
            name=f"{group} exits", legendgroup=group,
            marker=dict(symbol=["triangle-down-open" if t.get("side") == "long" else "triangle-up-open" for t in ext],
                        size=size, color=colour, line=dict(width=1.8)),
            hovertext=[_hover(f"{sid}: exit {t.get('side', '')} {time_text(t['exit_ts'])}: {t.get('exit_reason', '')}",
                              t.get("exit_why"),
                              f"PnL {t.get('pnl', 0.0):,.2f}") for t in ext],
            hoverinfo="text"), row=1, col=1)
