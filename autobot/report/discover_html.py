"""The HTML report of ``autobot discover``: the verdict in one sentence first, its reasons, the
top candidates and each survivor's document with its out-of-sample and holdout figures.
Self-contained (no script, no network); every user or data text escaped."""

from __future__ import annotations

import html
from typing import Any


def _f(v: Any, digits: int = 2, percent: bool = False) -> str:
    if v is None:
        return "-"
    return f"{v * 100:,.{digits}f}%" if percent else f"{v:,.{digits}f}"


def render(doc: dict[str, Any], result: Any) -> str:
    e = html.escape
    verdict = doc["verdict"]
    lead = {"discovered": "Candidates survived out of sample, the snooping tests and the untouched holdout: paper-"
                          "trade them through the challenge before any capital.",
            "not significant": "Do not deploy: nothing beat cash once the number of candidates tried is counted.",
            "likely overfit": "Do not deploy: what looked good in sample fell apart out of sample."}[verdict]
    rows = "".join(f"<tr><td>{t['rank']}</td><td><code>{e(t['rules'])}</code></td><td>{_f(t['is_sharpe'])}</td>"
                   f"<td>{t['is_trades']}</td><td>{t['complexity']}</td><td>{_f(t['dsr'])}</td>"
                   f"<td>{'yes' if t['superior'] else ''}</td></tr>" for t in doc["top"])
    survivors = ""
    for v, s in zip(doc["survivors"], result.survivors):
        survivors += (f"<h3>{e(v['name'])}</h3><p>out of sample: Sharpe {_f(v['oos'].get('sharpe'))}, return "
                      f"{_f(v['oos'].get('total_return'), percent=True)}, {v['oos'].get('trades')} trades; holdout: "
                      f"Sharpe {_f(v['holdout_metrics'].get('sharpe'))}, return "
                      f"{_f(v['holdout_metrics'].get('total_return'), percent=True)}; DSR {_f(v['dsr'])}; "
                      f"{v['complexity']} nodes; lineage: {e(v['lineage'])}</p><pre>{e(s.document_text)}</pre>")
    reasons = "".join(f"<li>{e(r)}</li>" for r in doc["reasons"])
    hold = doc["holdout"]
    spa = "-" if doc["spa_pvalue"] is None else f"{doc['spa_pvalue']:.3f}"
    pbo = "-" if doc["pbo"] is None else f"{doc['pbo']:.2f}"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>AutoBot discover</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}}td:nth-child(2){{text-align:left}}
.v{{font-size:1.4em;font-weight:bold}} pre{{background:#f6f6f6;padding:8px}}</style></head><body>
<h1>AutoBot discover</h1><p class="v">{e(verdict.upper())}</p><p>{e(lead)}</p><ul>{reasons}</ul>
<p>{doc['candidates']:,} candidates evaluated (all counted in the statistics); SPA p-value {spa}; PBO {pbo};
holdout {e(hold['start'])} to {e(hold['end'])} ({hold['bars']:,} bars, never seen by the search).</p>
<h2>Top candidates by in-sample fitness (in-sample figures, labelled)</h2>
<table><tr><th>#</th><th>rules</th><th>in-sample Sharpe</th><th>in-sample trades</th><th>nodes</th><th>DSR (OOS)</th>
<th>beats cash (StepM)</th></tr>{rows}</table>
<h2>Survivors</h2>{survivors or '<p>None: cash is the answer.</p>'}
</body></html>
"""
