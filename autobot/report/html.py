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
          "profit_factor": "Profit factor", "trades": "Trades", "exposure": "Exposure",
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
    start = _time(int(result.bars.ts[0])) if len(result.bars) else "-"
    end = _time(int(result.bars.ts[-1]) + result.bar_seconds * NS) if len(result.bars) else "-"
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
<div><h2>Metrics</h2>{_metrics_table(result)}</div>
<div><h2>Success bar</h2>{_success_table(result.metrics)}</div>
</div>
<h2>Chart</h2>
{plot}
<h2>Trades ({len(result.trades)})</h2>
<div class="trades">{_trade_table(result.trades)}</div>
</body></html>
"""
    pathlib.Path(path).write_text(page, encoding="utf-8")


# ---------------------------------------------------------------- tables


def _time(ns: int | None) -> str:
    if ns is None:
        return "-"
    return dt.datetime.fromtimestamp(ns / NS, tz=dt.timezone.utc).strftime("%Y-%m-%d %H:%M")


def _fmt(name: str, v: Any) -> str:
    """A metric for display: fractions as percentages, money with two decimals."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">n/a</span>'
    if name in PERCENT:
        return f"{100 * v:.2f}%"
    if name == "trades":
        return str(int(v))
    if name in ("final_equity", "fees"):
        return f"{v:,.2f}"
    return f"{v:.2f}"


def _metrics_table(result: BacktestResult | PortfolioResult, label: str = "Strategy") -> str:
    rows = "".join(f'<tr><td class="l">{LABELS[m]}</td><td>{_fmt(m, result.metrics.get(m))}</td>'
                   f"<td>{_fmt(m, result.buy_and_hold.get(m))}</td></tr>" for m in METRICS)
    return (f'<table class="metrics"><tr><th class="l">Metric</th><th>{label}</th><th>Buy &amp; hold</th></tr>'
            f"{rows}</table>")


def _success_table(metrics: dict[str, Any]) -> str:
    marks = M.success_marks(metrics)
    rows = []
    for name, (op, target) in M.SUCCESS_BAR.items():
        ok = marks.get(name)
        mark = ('<span class="na">n/a</span>' if ok is None else
                '<span class="pass">PASS</span>' if ok else '<span class="fail">FAIL</span>')
        rows.append(f'<tr><td class="l">{LABELS[name]}</td><td>{html.escape(op)} {_fmt(name, target)}</td>'
                    f"<td>{_fmt(name, metrics.get(name))}</td><td>{mark}</td></tr>")
    return ('<table class="success"><tr><th class="l">Metric</th><th>Target</th><th>Value</th><th>Result</th></tr>'
            + "".join(rows) + "</table>")


def _num(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _trade_table(trades: Sequence[dict[str, Any]], strategy: bool = False) -> str:
    """The trade list; ``strategy`` adds a column with each trade's strategy (the portfolio report)."""
    e = html.escape
    head = ("<tr><th>#</th>" + ("<th class='l'>Strategy</th>" if strategy else "") +
            "<th class='l'>Side</th><th class='l'>Entry time</th><th>Entry price</th>"
            "<th class='l'>Exit time</th><th>Exit price</th><th class='l'>Exit reason</th><th>Qty</th>"
            "<th>PnL</th><th>Return</th><th class='l'>Why</th></tr>")
    rows = []
    for i, t in enumerate(trades, 1):
        sid = f'<td class="l">{e(str(t.get("strategy", "")))}</td>' if strategy else ""
        pnl, ret = t.get("pnl"), t.get("return")
        cls = "pos" if (pnl or 0) > 0 else "neg" if (pnl or 0) < 0 else ""
        why = e(str(t.get("entry_why") or ""))
        if t.get("exit_why"):
            why += f"<br><i>exit:</i> {e(str(t['exit_why']))}"
        rows.append(
            f'<tr class="trade"><td>{i}</td>{sid}<td class="l">{e(str(t.get("side", "")))}</td>'
            f'<td class="l">{_time(t.get("entry_ts"))}</td><td>{_num(t.get("entry_price"), ",.2f")}</td>'
            f'<td class="l">{_time(t.get("exit_ts"))}</td><td>{_num(t.get("exit_price"), ",.2f")}</td>'
            f'<td class="l">{e(str(t.get("exit_reason") or ""))}</td><td>{_num(t.get("qty"), ".6g")}</td>'
            f'<td class="{cls}">{_num(pnl, ",.2f")}</td>'
            f'<td class="{cls}">{"-" if ret is None else f"{100 * ret:.2f}%"}</td>'
            f'<td class="why">{why}</td></tr>')
    return f'<table class="trade-list"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'


# ---------------------------------------------------------------- figure


def _thin(y: np.ndarray, limit: int = MAX_POINTS) -> np.ndarray:
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


def _ms(ns: np.ndarray) -> np.ndarray:
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
    x = _ms(close_ns)
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
        k = _thin(v)
        fig.add_trace(go.Scatter(x=x[k], y=v[k], mode="lines", name=name, line=dict(width=1.3, color=next(colours))),
                      row=1, col=1)
    _trade_markers(fig, go, result.trades)
    for name, v in panel.items():
        k = _thin(v)
        fig.add_trace(go.Scatter(x=x[k], y=v[k], mode="lines", name=name, line=dict(width=1.2, color=next(colours))),
                      row=2, col=1)

    eq = np.asarray(result.equity, dtype=np.float64)
    ex = _ms(result.equity_ts)
    k = _thin(eq)
    fig.add_trace(go.Scatter(x=ex[k], y=eq[k], mode="lines", name="Strategy equity",
                             line=dict(color="#1f5fbf", width=1.5)), row=eq_row, col=1)
    if len(bars):
        fee = float(result.buy_and_hold.get("fees") or 0.0) / result.capital if result.capital else 0.0
        bh = result.capital * (1.0 - fee) / float(bars.close[0]) * np.asarray(bars.close, dtype=np.float64)
        k = _thin(bh)
        fig.add_trace(go.Scatter(x=x[k], y=bh[k], mode="lines", name="Buy & hold equity",
                                 line=dict(color="#9aa5b1", width=1.2, dash="dot")), row=eq_row, col=1)
    if len(eq):
        dd = -100.0 * (1.0 - eq / np.maximum.accumulate(eq))
        k = _thin(dd)
        fig.add_trace(go.Scatter(x=ex[k], y=dd[k], mode="lines", name="Drawdown %", fill="tozeroy",
                                 line=dict(color="#c62828", width=1), fillcolor="rgba(198,40,40,0.18)"),
                      row=dd_row, col=1)

    fig.update_layout(height=1100, margin=dict(l=60, r=20, t=60, b=40), template="plotly_white",
                      hovermode="x unified", legend=dict(orientation="h", yanchor="bottom", y=1.025, x=0),
                      xaxis_rangeslider_visible=False)
    fig.update_xaxes(type="date", showspikes=True, spikemode="across", spikethickness=1)
    fig.update_yaxes(title_text=result.currency, row=1, col=1)
    fig.update_yaxes(title_text=result.currency, row=eq_row, col=1)
    fig.update_yaxes(title_text="%", row=dd_row, col=1)
    return fig


def _price(fig: Any, go: Any, bars: Any, x: np.ndarray, name: str) -> None:
    """The price in row 1: candles, or a thinned close line when there are too many bars for candles."""
    if len(bars) <= MAX_POINTS:
        fig.add_trace(go.Candlestick(x=x, open=bars.open, high=bars.high, low=bars.low, close=bars.close,
                                     name=name, increasing_line_color="#26a69a",
                                     decreasing_line_color="#ef5350", line_width=1), row=1, col=1)
    else:
        k = _thin(bars.close)
        fig.add_trace(go.Scattergl(x=x[k], y=bars.close[k], mode="lines", name=f"{name} close",
                                   line=dict(color="#52606d", width=1)), row=1, col=1)


def _trade_markers(fig: Any, go: Any, trades: Sequence[dict[str, Any]]) -> None:
    """Entry and exit markers on the price chart: triangle up = buy, triangle down = sell."""
    size = 11 if len(trades) <= 300 else 7
    ent = [t for t in trades if t.get("entry_ts") is not None]
    ext = [t for t in trades if t.get("exit_ts") is not None and t.get("exit_price") is not None]
    if ent:
        fig.add_trace(go.Scatter(
            x=_ms(np.array([t["entry_ts"] for t in ent])), y=[t["entry_price"] for t in ent], mode="markers",
            name="Entries",
            marker=dict(symbol=["triangle-up" if t["side"] == "long" else "triangle-down" for t in ent], size=size,
                        color=["#1b7f3b" if t["side"] == "long" else "#c62828" for t in ent],
                        line=dict(color="#1f2933", width=0.8)),
            hovertext=[_hover(f"enter {t['side']} ({t.get('entry_rule', '')})", t.get("entry_why")) for t in ent],
            hoverinfo="text"), row=1, col=1)
    if ext:
        fig.add_trace(go.Scatter(
            x=_ms(np.array([t["exit_ts"] for t in ext])), y=[t["exit_price"] for t in ext], mode="markers",
            name="Exits",
            marker=dict(symbol=["triangle-down-open" if t["side"] == "long" else "triangle-up-open" for t in ext],
                        size=size, color="#1f2933", line=dict(width=1.6)),
            hovertext=[_hover(f"exit {t['side']}: {t.get('exit_reason', '')}", t.get("exit_why"),
                              f"PnL {t.get('pnl', 0.0):,.2f}") for t in ext],
            hoverinfo="text"), row=1, col=1)
