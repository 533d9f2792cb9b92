"""The HTML report of a market-making backtest: both queue models side by side (the band), the
PnL decomposition, the book's mid with the strategy's quotes and fills over time, and the
inventory. Self-contained (plotly.js embedded), all user text escaped."""

from __future__ import annotations

import html
import math
import pathlib
from typing import Any

import numpy as np

from autobot.report.html import CSS, ms_axis, time_text

PARTS = ("spread_capture", "adverse_selection", "inventory", "fees")
MAX_STEPS = 20_000


def _thin_idx(n: int, limit: int = MAX_STEPS) -> np.ndarray:
    return np.arange(n) if n <= limit else np.linspace(0, n - 1, limit).astype(np.int64)


def _figure(results: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    cons = results["conservative"]
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.06, row_heights=[0.55, 0.2, 0.25],
                        specs=[[{}], [{}], [{"type": "bar"}]],
                        subplot_titles=("Book mid, quotes and fills (conservative queue)", "Inventory",
                                        "PnL decomposition"))
    steps = cons.steps
    k = _thin_idx(len(steps.ts))
    x = ms_axis(np.asarray(steps.ts, dtype=np.int64)[k]).astype("datetime64[ms]")
    mid = np.asarray(steps.mid)[k]
    fig.add_trace(go.Scattergl(x=x, y=mid, name="mid", line=dict(color="#1f2933", width=1)), row=1, col=1)
    fig.add_trace(go.Scattergl(x=x, y=np.asarray(steps.bid)[k], name="bid quote", mode="lines",
                               line=dict(color="#1b7f3b", width=1)), row=1, col=1)
    fig.add_trace(go.Scattergl(x=x, y=np.asarray(steps.ask)[k], name="ask quote", mode="lines",
                               line=dict(color="#c62828", width=1)), row=1, col=1)
    for side, colour, symbol, label in ((1, "#1b7f3b", "triangle-up", "buy fill"),
                                        (-1, "#c62828", "triangle-down", "sell fill")):
        fs = [f for f in cons.fills if f.side == side]
        if fs:
            fig.add_trace(go.Scattergl(x=ms_axis(np.array([f.ts for f in fs], dtype=np.int64)).astype("datetime64[ms]"),
                                       y=[f.price for f in fs], mode="markers", name=label,
                                       marker=dict(color=colour, symbol=symbol, size=8)), row=1, col=1)
    fig.add_trace(go.Scattergl(x=x, y=np.asarray(steps.inventory)[k], name="inventory", mode="lines",
                               line=dict(color="#7e57c2", width=1, shape="hv")), row=2, col=1)
    names = [p.replace("_", " ") for p in PARTS] + ["total PnL"]
    for q, colour in (("conservative", "#1e88e5"), ("optimistic", "#ff9800")):
        m = results[q].metrics
        fig.add_trace(go.Bar(x=names, y=[m["pnl_breakdown"][p] for p in PARTS] + [m["pnl"]], name=f"{q} queue",
                             marker_color=colour), row=3, col=1)
    fig.update_xaxes(type="category", row=3, col=1)
    fig.update_layout(height=1000, template="plotly_white", margin=dict(l=60, r=20, t=90, b=40),
                      legend=dict(orientation="h", y=1.08), barmode="group")
    return fig


def _table(results: dict[str, Any]) -> str:
    cons, opt = results["conservative"].metrics, results["optimistic"].metrics
    rows = [("PnL", "pnl", ".4f")] + [(f"&nbsp;&nbsp;{p.replace('_', ' ')}", p, ".4f") for p in PARTS] + [
        ("fills", "fills", ",d"), ("orders", "orders", ",d"), ("fill ratio", "fill_ratio", ".1%"),
        ("order-to-trade", "order_to_trade", ".1f"), ("quote uptime (both sides)", "quote_uptime", ".1%"),
        ("inventory max", "inventory_max", ".6g"), ("inventory time-weighted", "inventory_time_weighted", ".4g"),
        ("time at inventory limit", "time_at_limit", ".1%")]
    out = ["<table><tr><th class='l'></th><th>conservative queue</th><th>optimistic (on touch)</th></tr>"]
    for label, key, spec in rows:
        cells = []
        for m in (cons, opt):
            v = m["pnl_breakdown"][key] if key in PARTS else m[key]
            cells.append("-" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v + 0, spec))
        out.append(f"<tr><td class='l'>{label}</td><td>{cells[0]}</td><td>{cells[1]}</td></tr>")
    for h in ("1s", "5s", "30s", "60s"):
        vals = [m["markouts_bp"][h] for m in (cons, opt)]
        out.append(f"<tr><td class='l'>markout {h} (bp per fill)</td>" +
                   "".join(f"<td>{'-' if v is None else format(v, '.2f')}</td>" for v in vals) + "</tr>")
    out.append("</table>")
    return "".join(out)


def write_book_report(results: dict[str, Any], compiled: Any, book: Any, path: pathlib.Path) -> None:
    e = html.escape
    cons = results["conservative"]
    plot = _figure(results).to_html(full_html=False, include_plotlyjs=True,
                                    config={"displaylogo": False, "responsive": True})
    notes = "".join(f"<div>{e(n)}</div>" for n in cons.notes)
    params = ", ".join(f"{e(k)}={v:g}" for k, v in compiled.params.items()) or "none"
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(cons.strategy)} - AutoBot market-making backtest</title>
<style>{CSS}</style></head><body>
<h1>Market-making backtest: {e(cons.strategy)}</h1>
<div class="sub">{e(compiled.source.path)} &middot; {e(cons.instrument)} ({e(book.book_type)} book) &middot;
{time_text(book.start_ns)} to {time_text(book.end_ns)} UTC &middot; {cons.book_events:,} book updates,
{cons.trades:,} trades &middot; data: {e(book.source)} &middot; params: {params}</div>
<div class="notes">{notes}</div>
<h2>Results under both queue models</h2>
<div class="sub">Conservative: a resting quote fills only after the volume ahead of it when it was placed has
traded. Optimistic: it fills on any trade at its price. The truth lies between. PnL is marked at the last mid;
its parts add up to it (adverse selection over {cons.metrics['markout_horizon_s']:g} s after each fill).</div>
{_table(results)}
<h2>Chart</h2>
{plot}
</body></html>
"""
    from autobot.safeio import write_text_out
    write_text_out(path, page)    # a pipe without a reader fails at once; a full disk raises OSError
