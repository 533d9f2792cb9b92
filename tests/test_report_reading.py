"""Issue 30: what a person reads in the reports and the CLI. Every test runs the real command or
builds the real report and reads what it shows: one drawdown sign, prices at the instrument's
precision, equity on a log axis, the trade count the metrics use, thousands separators, events as
sentences, ISO times, the optimiser's plain verdict, and daily reports drawn on their period."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT

DAY = 86_400_000_000_000
BTC = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
runner = CliRunner()


def _outside_scripts(text: str) -> str:
    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S | re.I)


def _figure(text: str) -> dict:
    """The plotly figure's layout of a report page (the JSON passed to Plotly.newPlot)."""
    m = re.search(r'Plotly\.newPlot\(\s*"[^"]+",\s*(\[.*?\]),\s*(\{.*?\}),\s*\{"displaylogo"', text, re.S)
    assert m, "no plotly figure in the page"
    return {"data": json.loads(m.group(1)), "layout": json.loads(m.group(2))}


def _array(v: object) -> np.ndarray:
    """A plotly trace's values: a list, or plotly's typed-array encoding (dtype + base64 bytes)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.asarray(v, dtype=float)


# ---------------------------------------------------------------- a 5-decimal FX pair


@pytest.fixture(scope="module")
def fx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example series scaled to a EUR/USD-like 5-decimal price (40,000 -> 1.2)."""
    tmp = tmp_path_factory.mktemp("fx")
    lines = BTC.read_text().splitlines()
    out = [lines[0]]
    for line in lines[1:1500]:
        ts, *prices, volume = line.split(",")
        out.append(",".join([ts, *(f"{float(p) / 33_333.0:.5f}" for p in prices), volume]))
    path = tmp / "eurusd.csv"
    path.write_text("\n".join(out) + "\n")
    return path


@pytest.fixture(scope="module")
def fx_run(fx: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, str]:
    tmp = tmp_path_factory.mktemp("fxrun")
    js, page = tmp / "r.json", tmp / "r.html"
    r = runner.invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--data", str(fx),
                            "--instrument", "EURUSD.OANDA", "--json", str(js), "--report", str(page)])
    assert r.exit_code == 0, r.output
    return json.loads(js.read_text()), page.read_text(encoding="utf-8"), r.output


def test_trade_prices_use_the_instruments_precision(fx_run: tuple[dict, str, str]) -> None:
    """Every EUR/USD price read 1.12 or 1.13: two decimals whatever the instrument."""
    doc, text, _ = fx_run
    trades = doc["trade_list"]
    assert trades
    page = _outside_scripts(text)
    cells = re.findall(r'<tr class="trade"><td>\d+</td><td class="l">[^<]*</td><td class="l">[^<]*</td><td>([^<]*)</td>',
                       page)
    assert len(cells) == len(trades)
    for cell, t in zip(cells, trades):
        decimals = len(cell.split(".")[1])
        assert decimals >= 5, cell                                 # the pair's 5 decimals (6: half a spread)
        assert float(cell.replace(",", "")) == pytest.approx(t["entry_price"], abs=10 ** -decimals)


def test_equity_is_on_a_log_axis_and_drawdown_positive(fx_run: tuple[dict, str, str]) -> None:
    doc, text, _ = fx_run
    fig = _figure(text)
    layout = fig["layout"]
    equity_axes = [v for k, v in layout.items() if k.startswith("yaxis") and "log scale" in
                   str(v.get("title", {}).get("text", ""))]
    assert equity_axes and all(a["type"] == "log" for a in equity_axes)
    dd = next(t for t in fig["data"] if t.get("name") == "Drawdown %")
    values = _array(dd["y"])
    assert values.min() >= 0 and values.max() == pytest.approx(100 * doc["max_drawdown"], rel=1e-6)
    dd_axis = [v for k, v in layout.items() if k.startswith("yaxis") and v.get("autorange") == "reversed"]
    assert dd_axis, "the drawdown is drawn downwards from 0"


def test_the_trade_heading_counts_what_the_metrics_count(fx_run: tuple[dict, str, str]) -> None:
    """'Trades (27)' beside 'trades 26': the heading counted the open trade too."""
    doc, text, output = fx_run
    n_open = sum(t["exit_reason"] == "open" for t in doc["trade_list"])
    closed = len(doc["trade_list"]) - n_open
    assert closed == doc["trades"]
    heading = f"Trades ({closed:,} closed" + (f", {n_open} open)" if n_open else ")")
    assert heading in text
    assert "<td class=\"l\">Trades (closed)</td>" in text
    assert re.search(rf"trades \(closed\)\s+│\s+{doc['trades']:,}\s", output)


def test_backtest_json_has_iso_times_beside_the_epoch_fields(fx_run: tuple[dict, str, str]) -> None:
    doc, _, output = fx_run
    for t in doc["trade_list"]:
        assert isinstance(t["entry_ts"], int) and ISO.match(t["entry_time"])
        assert t["entry_time"] == dt.datetime.fromtimestamp(t["entry_ts"] / 1e9, dt.timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ")
        assert (t["exit_time"] is None) == (t["exit_ts"] is None)
    assert re.search(r"last trade: \w+ entry\.\w+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", output)


def test_cli_numbers_have_thousands_separators() -> None:
    from autobot.cli.output import count, num, pct
    assert num(87654450.64) == "87,654,450.64" and num(-1234.5) == "-1,234.50" and num(None) == "-"
    assert pct(12.3456) == "1,234.56%" and count(2301) == "2,301"


def test_risk_metrics_drawdown_is_positive_as_in_backtests() -> None:
    from autobot.report.analytics import risk_metrics
    r = np.array([0.10, -0.10, 0.05, -0.20, 0.30])
    m = risk_metrics(r)
    curve = np.cumprod(1 + r)
    expect = float(np.max(1 - curve / np.maximum.accumulate(np.r_[1.0, curve])[1:]))
    assert m["max_drawdown"] == pytest.approx(expect) and m["max_drawdown"] > 0
    assert m["calmar"] == pytest.approx(m["annual_return"] / m["max_drawdown"])


# ---------------------------------------------------------------- daily and weekly reports of a node


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("node")
    for name in ("regimes", "strategies"):
        shutil.copytree(ROOT / name, tmp / name)
    (tmp / "policy.yaml").write_text((ROOT / "policy.yaml").read_text())
    live = runner.invoke(app, ["live", "--policy", str(tmp / "policy.yaml"), "--replay", str(BTC), "--speed", "max",
                               "--state", str(tmp / "s.sqlite")])
    assert live.exit_code == 0, live.output
    return tmp / "s.sqlite"


def _equity(state: Path) -> tuple[np.ndarray, np.ndarray]:
    db = sqlite3.connect(state)
    run = json.loads(db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()[0])
    rows = db.execute("SELECT ts, equity FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()
    db.close()
    return np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows])


def test_the_default_daily_report_is_the_last_complete_day(node: Path, tmp_path: Path) -> None:
    """The replay's last bar closes at 00:00: its last 'day' holds one bar. The default is the day before."""
    ts, eq = _equity(node)
    last_day = int(ts[-1]) // DAY
    assert (ts // DAY == last_day).sum() == 1                 # the one-bar last day
    js, out = tmp_path / "d.json", tmp_path / "d.html"
    r = runner.invoke(app, ["report", "daily", "--state", str(node), "--json", str(js), "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads(js.read_text())
    day = dt.datetime.fromtimestamp((last_day - 1) * 86_400, dt.timezone.utc).strftime("%Y-%m-%d")
    assert rep["from"] == rep["to"] == day
    inside = (ts >= (last_day - 1) * DAY) & (ts < last_day * DAY)
    end = eq[inside][-1]
    assert rep["equity_end"] == pytest.approx(end)
    peak = eq[: np.flatnonzero(inside)[-1] + 1].max()
    assert rep["drawdown_now"] == pytest.approx(1 - end / peak)          # at the period's end, not the run's
    assert rep["risk"]["max_drawdown"] > 0                                # positive, as the backtest's
    assert ISO.match(rep["first_bar"]) and ISO.match(rep["last_bar"]) and rep["last_bar"].startswith(day)
    assert f"bars {rep['first_bar']} to {rep['last_bar']}" in r.output.replace("\n", " ")
    for e in rep["events"]:
        assert isinstance(e["ts"], int) and ISO.match(e["time"])

    # the chart: the period and six days before it, the band over the period only
    layout = _figure(out.read_text(encoding="utf-8"))["layout"]
    lo_ms, hi_ms = (last_day - 1) * 86_400_000, last_day * 86_400_000
    x_range = layout["xaxis"]["range"]
    assert x_range == [pytest.approx(lo_ms - 6 * 86_400_000), pytest.approx(hi_ms)]
    bands = [s for s in layout["shapes"] if s.get("type") == "rect"]
    assert bands and all(s["x0"] == pytest.approx(lo_ms) and s["x1"] <= hi_ms for s in bands)


def test_report_events_read_as_sentences_and_turnover_has_separators(node: Path, tmp_path: Path) -> None:
    from autobot.report.events import describe
    from autobot.report.journal_report import readable
    ts, _ = _equity(node)
    first = dt.datetime.fromtimestamp(int(ts[0]) // 10**9, dt.timezone.utc)
    week_end = (first + dt.timedelta(days=13)).strftime("%Y-%m-%d")
    js, out = tmp_path / "w.json", tmp_path / "w.html"
    r = runner.invoke(app, ["report", "weekly", "--state", str(node), "--date", week_end, "--json", str(js),
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    rep = json.loads(js.read_text())
    assert rep["events"], "the week holds regime switches"
    page = _outside_scripts(out.read_text(encoding="utf-8"))
    assert "strategy=None" not in page and "\\n" not in page and "=None" not in page
    for e in rep["events"][-200:]:
        assert html.escape(readable(describe(e))) in page
    turnovers = [s["turnover"] for s in rep["strategies_run"].values()]
    assert max(turnovers) > 1e6
    for t in turnovers:                 # whole, with separators (a narrow terminal wraps the name, not the number)
        assert f"{t:,.2f}" in r.output


def test_epoch_nanoseconds_in_sentences_are_written_as_iso() -> None:
    from autobot.report.journal_report import readable
    assert readable("3 bars decide differently (first: bar 1243335600000000000, entry.long)") == \
        "3 bars decide differently (first: bar 2009-05-26T11:00:00Z, entry.long)"
    assert readable("equity 100,000.00, qty 12345678901") == "equity 100,000.00, qty 12345678901"


# ---------------------------------------------------------------- the optimiser


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str, str]:
    tmp = tmp_path_factory.mktemp("study")
    js, page = tmp / "o.json", tmp / "o.html"
    r = runner.invoke(app, ["optimize", str(ROOT / "strategies" / "trend.yaml"), "--trials", "8", "--workers", "1",
                            "--json", str(js), "--report", str(page), "--journal", str(tmp / "o.journal")])
    assert r.exit_code == 0, r.output
    return json.loads(js.read_text()), page.read_text(encoding="utf-8"), r.output


def test_the_study_opens_with_one_plain_sentence(study: tuple[dict, str, str]) -> None:
    doc, text, _ = study
    page = _outside_scripts(text)
    assert doc["verdict"] != "significant"                     # 8 trials on 3,000 bars: not a deployable edge
    assert doc["headline"].startswith("Do not deploy: ") and doc["headline"].endswith(".")
    head = page.index('class="headline')
    assert page.index("<h1>") < head < page.index("<h2>Verdict</h2>")
    assert "Deploy params" not in page
    not_recommended = page.index("not recommended")
    assert not_recommended > page.index("<h2>Walk-forward windows</h2>")       # moved down, under the evidence
    assert "{'" not in page                                                     # params read fast=5, not a dict


def test_importance_is_said_to_be_noise_with_few_trials(study: tuple[dict, str, str]) -> None:
    doc, text, _ = study
    assert doc["importance"] and "not meaningful" in doc["importance_note"] and "8 trials" in doc["importance_note"]
    assert doc["importance_note"] in _outside_scripts(text).replace("&#x27;", "'")


def test_window_params_wrap_and_a_losing_choice_is_commented(study: tuple[dict, str, str]) -> None:
    from rich.console import Console

    from autobot.cli.optimize import print_study
    from autobot.optimize.output import window_comment
    doc, text, _ = study
    page = _outside_scripts(text)
    assert len(re.findall(r'<tr class="window">.*?<td class="why">', page, re.S)) == len(doc["windows"]) + 1
    for w in doc["windows"]:
        sharpe = w["in_sample"]["sharpe"] if w["in_sample"] else None
        assert (w["comment"] is not None) == (w["chosen"] is not None and sharpe is not None and sharpe < 0)
    lost = dict(doc["windows"][0], in_sample=dict(doc["windows"][0]["in_sample"], sharpe=-1.24))
    assert "-1.24" in window_comment(lost) and "least bad" in window_comment(lost)

    console = Console(width=80, record=True, highlight=False)
    print_study(dict(doc, windows=[lost, *doc["windows"][1:]]), console)
    shown = console.export_text()
    assert all(len(line) <= 80 for line in shown.splitlines())
    assert "…" not in shown                                                    # wrapped, never cut
    for w in doc["windows"]:
        for k, v in (w["chosen"] or {}).items():
            assert f"{k}={v}" in shown
    assert "window-0: the best of its trials had an in-sample Sharpe of -1.24" in shown.replace("\n", " ")
    lines = shown.splitlines()
    verdict = next(i for i, s in enumerate(lines) if s.startswith("verdict: "))
    assert "Do not deploy" in lines[verdict]
    params = next(i for i, s in enumerate(lines) if "NOT RECOMMENDED" in s)
    assert params > verdict and not any(s.startswith("deploy params") for s in lines)
