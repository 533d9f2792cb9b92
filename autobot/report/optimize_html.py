"""The study's self-contained HTML report (``optimize --report``): the verdict and the numbers
behind it first, then the out-of-sample equity against the in-sample curve of the chosen
params and buy-and-hold, the walk-forward windows and their params, param importance, the
stability heatmap and neighbourhoods, and the NautilusTrader confirmation. plotly.js is
embedded; nothing is loaded from the network; all user text is HTML-escaped."""

from __future__ import annotations

import html
import pathlib
from types import SimpleNamespace
from typing import Any

import numpy as np

from autobot.backtest.metrics import MIN_ANNUAL_DAYS
from autobot.optimize.output import headline, importance_note, window_comment
from autobot.report.html import CSS, fmt, log_axis, metrics_table, ms_axis, success_table

VERDICT_CLASS = {"significant": "pass", "not significant": "na", "likely overfit": "fail"}
STUDY_CSS = """
.headline{font-size:17px;margin:6px 0 14px;padding:10px 14px;border-left:5px solid #9aa5b1;background:#f5f7fa}
.headline.fail{border-color:#c62828;color:#1f2933;font-weight:600}.headline.pass{border-color:#1b7f3b;color:#1f2933}
.headline.na{border-color:#e09a00;color:#1f2933;font-weight:600}
.muted{color:#7b8794}.muted h2{color:#7b8794}
td.why code{font-size:12px}
"""


def _g(v: Any, spec: str = ".3f") -> str:
    return '<span class="na">n/a</span>' if v is None else format(v, spec)


def _equity_figure(res: Any, extra: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    fig = go.Figure()
    capital = res.plan.options.venue.capital
    if len(res.oos_returns):
        x = ms_axis(res.oos_ts)
        fig.add_trace(go.Scatter(x=x, y=capital * np.cumprod(1 + res.oos_returns), name="out of sample (walk-forward)",
                                 line=dict(color="#1e88e5", width=2)))
        p = res.plan
        pos = np.searchsorted(p.bars.ts + p.seconds * 1_000_000_000, res.oos_ts)
        close = p.bars.close[pos]
        fig.add_trace(go.Scatter(x=x, y=capital * close / close[0], name="buy & hold (same bars)",
                                 line=dict(color="#9aa5b1", width=1)))
    curve = extra.get("in_sample_curve")
    if curve is not None:
        fig.add_trace(go.Scatter(x=ms_axis(curve["ts"]), y=capital * np.cumprod(1 + curve["returns"]),
                                 name="IN SAMPLE: the final window's params on every bar", line=dict(color="#ff9800", dash="dot")))
    for w in res.windows:
        if w.window.test is not None:
            t0 = int(res.plan.bars.ts[w.window.test[0]])
            fig.add_vline(x=t0 / 1e6, line=dict(color="#e4e7eb", width=1))
    ys = [np.asarray(t.y, dtype=float) for t in fig.data if t.y is not None]
    log = log_axis(*ys)
    fig.update_layout(height=420, template="plotly_white", margin=dict(l=60, r=20, t=30, b=40),
                      xaxis=dict(type="date"), legend=dict(orientation="h"),
                      yaxis=dict(title="equity (log scale)" if log else "equity", type="log" if log else "linear",
                                 tickformat=",.3~s"))
    return fig


def _importance_figure(imp: dict[str, float]) -> Any | None:
    if not imp:
        return None
    import plotly.graph_objects as go
    names = sorted(imp, key=lambda k: imp[k])
    fig = go.Figure(go.Bar(x=[imp[n] for n in names], y=names, orientation="h", marker_color="#7e57c2"))
    fig.update_layout(height=160 + 30 * len(names), width=460, template="plotly_white",
                      margin=dict(l=120, r=20, t=20, b=50),
                      xaxis=dict(title="importance (PED-ANOVA, final window)"))
    return fig


def _heatmap_figure(hm: dict[str, Any] | None, objective: str) -> Any | None:
    if not hm:
        return None
    import plotly.graph_objects as go
    fig = go.Figure(go.Heatmap(x=hm["x_values"], y=hm["y_values"], z=hm["scores"], colorscale="RdYlGn",
                               colorbar=dict(title=objective), hoverongaps=False))
    fig.add_trace(go.Scatter(x=[hm["chosen"][0]], y=[hm["chosen"][1]], mode="markers", name="chosen",
                             marker=dict(symbol="x", size=14, color="black")))
    fig.update_layout(height=420, width=560, template="plotly_white", margin=dict(l=60, r=20, t=30, b=50),
                      xaxis=dict(title=html.escape(hm["x"])), yaxis=dict(title=html.escape(hm["y"])))
    return fig


def _params_text(params: Any) -> str:
    """Params as ``fast=5, slow=46`` (not a Python dict)."""
    if isinstance(params, dict):
        return ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())
    return str(params)


def _windows_table(doc: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for w in doc["windows"] + [doc["final_window"]]:
        oos = w.get("out_of_sample") or {}
        params = ", ".join(f"{e(str(k))}={v}" for k, v in (w["chosen"] or {}).items()) or "none scored"
        comment = w.get("comment") or window_comment(w)
        note = f'<br><span class="fail">{e(comment)}</span>' if comment else ""
        rows.append(f'<tr class="window"><td class="l">{e(w["window"])}</td><td>{e(w["train_start"][:10])} .. '
                    f'{e(w["train_end"][:10])}</td><td>{e(w.get("test_start", "-")[:10])} .. '
                    f'{e(w.get("test_end", "-")[:10])}</td><td class="why">{params}{note}</td>'
                    f'<td>{_g(w["in_sample_score"], ".2f")}</td><td>{_g(w.get("oos_score"), ".2f")}</td>'
                    f'<td>{fmt("total_return", oos["total_return"]) if oos.get("total_return") is not None else "-"}'
                    f'</td><td>{oos.get("trades", "-")}</td><td>{w["pruned"]}/{w["trials"]}</td></tr>')
    short = any(w.get("oos_score") is None and (w.get("out_of_sample") or {}).get("span_days") is not None
                and w["out_of_sample"]["span_days"] < MIN_ANNUAL_DAYS for w in doc["windows"])
    note = (f'<p class="sub">OOS score n/a: a test window shorter than {MIN_ANNUAL_DAYS:g} days has no annualised '
            'figures (docs/backtest.md); its return is shown, and the headline is the stitched out-of-sample '
            'run.</p>' if short else "")
    return ('<table><tr><th class="l">Window</th><th>Train</th><th>Test</th><th class="l">Chosen params</th>'
            '<th>IS score</th><th>OOS score</th><th>OOS return</th><th>OOS trades</th><th>Pruned</th></tr>'
            + "".join(rows) + "</table>" + note)


def _stability_table(st: dict[str, Any]) -> str:
    e = html.escape
    rows = []
    for name, points in (st.get("neighbours") or {}).items():
        cells = "".join(f'<td>{p["value"]:g}: {_g(p["score"], ".2f")}</td>' if "breaks" not in p else
                        f'<td title="{e("; ".join(p["breaks"]))}">{p["value"]:g}: not run (constraint)</td>'
                        for p in points)
        flag = '<span class="fail">cliff</span>' if name in st["cliff"] else '<span class="pass">plateau</span>'
        rows.append(f'<tr><td class="l">{e(name)}</td>{cells}<td>{flag}</td></tr>')
    return "<table>" + "".join(rows) + "</table>" if rows else "<p>no neighbourhood (no trial scored)</p>"


def write_study_report(res: Any, doc: dict[str, Any], extra: dict[str, Any], path: pathlib.Path) -> None:
    e = html.escape
    figs = [f for f in (_equity_figure(res, extra), _importance_figure(doc["importance"]),
                        _heatmap_figure(doc["heatmap"], doc["objective"])) if f is not None]
    parts = [f.to_html(full_html=False, include_plotlyjs=(k == 0), config={"displaylogo": False})
             for k, f in enumerate(figs)]
    equity, rest = parts[0], parts[1:]
    verdict = doc["verdict"]
    reasons = "".join(f"<li>{e(r)}</li>" for r in doc["reasons"])
    oos_block = ""
    if doc["oos"] is not None:
        table = metrics_table(SimpleNamespace(metrics=doc["oos"], buy_and_hold=doc["oos_buy_and_hold"] or {}),
                               "Out of sample")
        oos_block = (f'<div class="row"><div><h2>Out of sample (the headline)</h2>{table}</div>'
                     f'<div><h2>Success bar, out of sample</h2>{success_table(doc["oos"])}</div></div>')
    else:
        oos_block = '<h2 class="fail">IN SAMPLE ONLY (--no-walk-forward): no out-of-sample evidence</h2>'
    ins = doc["in_sample"]["metrics"] or {}
    ins_rows = "".join(f'<tr><td class="l">{k}</td><td>{fmt(k, ins.get(k))}</td></tr>'
                       for k in ("annual_return", "sharpe", "max_drawdown", "win_rate", "trades"))
    conf = doc["confirmation"]["finalists"]
    conf_rows = "".join(f'<tr><td>{c["trial"]}</td><td class="l">{e(_params_text(c["params"]))}</td><td>{c["runs"]}</td>'
                        f'<td>{c["fills"]}</td><td class="pass">identical</td></tr>' for c in conf)
    best = ", ".join(f"{e(str(k))}={v}" for k, v in (doc["best_params"] or {}).items()) or "none"
    heat = rest[1] if len(rest) > 1 else (rest[0] if rest and doc["heatmap"] and not doc["importance"] else "")
    imp = rest[0] if rest and doc["importance"] else ""
    why_not = doc.get("importance_note", importance_note(doc))
    imp_note = f'<p class="notes">{e(why_not)}</p>' if why_not else ""
    deployable = verdict == "significant"
    deploy = (f'<div><h2>Deploy params (final window)</h2><p>{best}</p>'
              f'<h3>IN SAMPLE: final window\'s best on its own train bars</h3><table>{ins_rows}</table></div>'
              if deployable else
              f'<div class="muted"><h2>Final window\'s params: not recommended ({e(verdict)})</h2>'
              f'<p>{best}</p><p class="sub">the best trial of the last train window; the verdict above says why '
              f'it should not trade. IN SAMPLE, on its own train bars:</p><table>{ins_rows}</table></div>')
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{e(doc['strategy'])} - AutoBot study</title>
<style>{CSS}{STUDY_CSS}</style></head><body>
<h1>Study: {e(doc['strategy'])} &mdash; <span class="{VERDICT_CLASS[verdict]}">{e(verdict.upper())}</span></h1>
<div class="sub">{e(doc['document'])} &middot; objective {e(doc['objective'])} &middot; {doc['trials']} trials per
window, {doc['trials_total']} in all ({e(doc['sampler'])}, seed {doc['seed']}) &middot;
{"walk-forward, " + str(doc['windows_count']) + " windows" + (" (anchored)" if doc['anchored'] else "")
 if doc['walk_forward'] else "IN SAMPLE"} &middot; purge {doc['purge']} bars &middot; min trades {doc['min_trades']}
&middot; ran on {e(doc['ran_on'])}</div>
<p class="headline {VERDICT_CLASS[verdict]}">{e(doc.get("headline") or headline(doc))}</p>
<div class="row"><div><h2>Verdict</h2><ul>{reasons}</ul>
<table><tr><th class="l">Statistic</th><th>Value</th></tr>
<tr><td class="l">Deflated Sharpe Ratio (deployed choice, {_n_text(doc)})</td><td>{_g(doc['dsr'])}</td></tr>
<tr><td class="l">Probability of Backtest Overfitting (CSCV)</td><td>{_g(doc['pbo'])}</td></tr>
<tr><td class="l">Out-of-sample PSR (SR &gt; 0)</td><td>{_g(doc['oos_psr'])}</td></tr>
<tr><td class="l">Walk-forward efficiency (OOS / IS)</td><td>{_g(doc['wfe'], ".2f")}</td></tr>
<tr><td class="l">Minimum track record (days)</td><td>{_g(doc['min_track_record_days'], ",.0f")}</td></tr>
</table></div>
{deploy if deployable else ""}</div>
{oos_block}
<h2>{"Equity: out of sample vs in sample" if doc["oos"] is not None else "Equity (IN SAMPLE)"}</h2>
{equity}
<h2>Walk-forward windows</h2>
{_windows_table(doc)}
<div class="row"><div><h2>Param importance</h2>{imp_note}{imp}</div>
<div><h2>Stability heatmap (final window)</h2>{heat}</div></div>
<h2>Neighbourhood of the chosen point (final window, {e(doc['objective'])})</h2>
{_stability_table(doc['stability'])}
{"" if deployable else deploy}
<h2>NautilusTrader confirmation</h2>
{"<table><tr><th>Trial</th><th class='l'>Params</th><th>Runs</th><th>Fills</th><th>Fast vs Nautilus</th></tr>"
 + conf_rows + "</table>" if conf else "<p>" + e(doc["confirmation"].get("note") or "not run (--confirm 0)") + "</p>"}
</body></html>
"""
    from autobot.safeio import write_text_out
    write_text_out(path, page)    # a pipe without a reader fails at once; a full disk raises OSError


def _n_text(doc: dict[str, Any]) -> str:
    """N of the DSR in words: the trials that ran and the independent trials they amount to."""
    final = ((doc.get("statistics") or {}).get("final") or {})
    n, n_eff, rho = final.get("trials", doc.get("trials")), final.get("trials_effective"), final.get("average_correlation")
    if n_eff is None or rho is None:
        return f"N = {n}"
    return f"N = {n_eff:.1f} independent of {n} trials, average correlation {rho:.2f}"
