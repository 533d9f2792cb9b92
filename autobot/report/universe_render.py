"""The universe view (:mod:`autobot.report.universe_view`, as JSON) in ``autobot report
daily|weekly``: a section of its HTML page and its terminal tables. Both show the same rows: each
instrument, their sum, the fees and other costs, the cash and the portfolio, so the PnL and the
weights visibly add up."""

from __future__ import annotations

import html
from typing import Any

INSTRUMENT_COLUMNS = ("instrument", "class", "PnL", "position", "value", "weight", "allocated", "risk share",
                      "fills")
SLEEVE_COLUMNS = ("sleeve", "PnL", "position", "weight", "allocated", "fills")
#: what fits an 80-column terminal (the page has every column)
TERMINAL_INSTRUMENT = ("instrument", "PnL", "weight", "allocated", "risk share", "fills")
TERMINAL_SLEEVE = ("sleeve", "PnL", "position", "weight", "fills")


def money(v: Any) -> str:
    return "-" if v is None else f"{v:,.2f}"


def pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def units(v: Any) -> str:
    return "-" if v is None else f"{v:,.6g}" if abs(v) < 1e6 else f"{v:,.0f}"


def instrument_rows(u: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """(kind, column -> cell) of the instruments' table: ``one`` for each instrument, then ``sum``
    (all instruments), ``part`` (fees and other; cash) and ``sum`` (the portfolio)."""
    rows = [("one", [r["instrument"], r["asset_class"], money(r["pnl"]), units(r["position"]), money(r["value"]),
                     pct(r["weight"]), pct(r["allocated"]), pct(r["risk_share"]), f"{r['fills']:,}"])
            for r in u["instruments"]]
    total = {k: sum((r[k] or 0.0) for r in u["instruments"]) for k in ("value", "weight", "allocated", "risk_share")}
    fills = sum(r["fills"] for r in u["instruments"])
    rows += [("sum", ["all instruments", "", money(u["sleeves_pnl"]), "", money(total["value"]), pct(total["weight"]),
                      pct(total["allocated"]), pct(total["risk_share"]), f"{fills:,}"]),
             ("part", ["fees and other", "", money(u["fees_and_other"]), "", "", "", "", "", ""]),
             ("part", ["cash", "", "", "", money(u["equity_end"] - total["value"]), pct(u["cash"]),
                       pct(u["unallocated"]), "", ""]),
             ("sum", ["portfolio", "", money(u["portfolio_pnl"]), "", money(u["equity_end"]), pct(1.0), "", "", ""])]
    return [(kind, dict(zip(INSTRUMENT_COLUMNS, cells))) for kind, cells in rows]


def sleeve_rows(u: dict[str, Any]) -> list[dict[str, str]]:
    return [dict(zip(SLEEVE_COLUMNS, (r["sleeve"], money(r["pnl"]), units(r["position"]), pct(r["weight"]),
                                      pct(r["allocated"]), f"{r['fills']:,}"))) for r in u["sleeves"]]


def summary(u: dict[str, Any]) -> str:
    """One sentence: the period's PnL split, the cash at its end, the realised volatility against
    the target, the days the risk shares are measured over."""
    target = "no target volatility in the policy" if u["target_volatility"] is None else \
        f"target {pct(u['target_volatility'])}"
    period = u.get("realised_volatility_period")
    in_period = f"{pct(period)} a year in the period, " if period is not None else "n/a in the period (one day), "
    risk = f"the period's {u['risk_days']} days" if u["risk_from_ts"] == u["start_ts"] else \
        f"the run's {u['risk_days']} days to the period's end"
    return (f"PnL {money(u['portfolio_pnl'])} = instruments {money(u['sleeves_pnl'])} + fees and other "
            f"{money(u['fees_and_other'])}; at the end: cash {pct(u['cash'])} of the equity, unallocated "
            f"{pct(u['unallocated'])}; realised volatility {in_period}{pct(u['realised_volatility'])} over the "
            f"{u['volatility_days']} days to its end ({u['periods_per_year']:g}-day years; {target}); risk shares "
            f"over {risk}")


def universe_html(u: dict[str, Any] | None) -> str:
    """The report page's universe section ('' for a node trading one instrument)."""
    if not u:
        return ""
    e = html.escape
    head = "".join(f'<th{" class=l" if k < 2 else ""}>{e(c)}</th>' for k, c in enumerate(INSTRUMENT_COLUMNS))
    body = "".join(f'<tr class="u-{kind}">' + "".join(f'<td{" class=l" if k < 2 else ""}>{e(c)}</td>'
                                                      for k, c in enumerate(cells.values())) + "</tr>"
                   for kind, cells in instrument_rows(u))
    s_head = "".join(f'<th{" class=l" if k == 0 else ""}>{e(c)}</th>' for k, c in enumerate(SLEEVE_COLUMNS))
    s_body = "".join("<tr>" + "".join(f'<td{" class=l" if k == 0 else ""}>{e(c)}</td>'
                                      for k, c in enumerate(cells.values())) + "</tr>" for cells in sleeve_rows(u))
    return f"""<h2>Universe: {len(u['instruments'])} instruments, {len(u['sleeves'])} sleeves</h2>
<style>tr.u-sum td{{border-top:2px solid #cbd2d9;font-weight:600}}tr.u-part td{{color:#52606d}}</style>
<div class="sub">{e(summary(u))}</div>
<div class="row"><div><table class="universe"><tr>{head}</tr>{body}</table>
<div class="sub">PnL and fills in the period; position, value, weight and allocated at its end</div></div>
<div><table class="sleeves"><tr>{s_head}</tr>{s_body}</table></div></div>
<div class="sub">{e('; '.join(u['notes']))}</div>"""


def universe_tables(u: dict[str, Any]) -> list[Any]:
    """The terminal's universe: the summary sentence and two rich tables (:data:`TERMINAL_INSTRUMENT`,
    :data:`TERMINAL_SLEEVE`)."""
    from rich.table import Table
    instruments = Table(title=f"universe: {len(u['instruments'])} instruments (PnL in the period, before fees; "
                              "weights at its end)")
    for k, col in enumerate(TERMINAL_INSTRUMENT):
        instruments.add_column(col, justify="left" if k == 0 else "right", no_wrap=k != 0, overflow="fold")
    for k, (kind, cells) in enumerate(instrument_rows(u)):      # a rule under the last instrument
        instruments.add_row(*(cells[c] for c in TERMINAL_INSTRUMENT),
                            style="bold" if kind == "sum" else "dim" if kind == "part" else None,
                            end_section=k == len(u["instruments"]) - 1)
    sleeves = Table(title=f"sleeves: {len(u['sleeves'])} (strategy x instrument)")
    for k, col in enumerate(TERMINAL_SLEEVE):
        sleeves.add_column(col, justify="left" if k == 0 else "right", no_wrap=k != 0, overflow="fold")
    for cells in sleeve_rows(u):
        sleeves.add_row(*(cells[c] for c in TERMINAL_SLEEVE))
    return [summary(u), instruments, sleeves]


def print_universe(console: Any, u: dict[str, Any] | None) -> None:
    """Print :func:`universe_tables` (nothing for a node trading one instrument)."""
    for part in universe_tables(u) if u else []:
        console.print(part)
