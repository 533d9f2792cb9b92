"""The self-contained HTML backtest report (autobot.report.html)."""

from __future__ import annotations

import dataclasses
import html
import re
import shutil
import subprocess
import zlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from autobot.backtest.engine import run_backtest
from autobot.data.bars import load_bars
from autobot.report.html import write_report
from autobot.workspace import load_strategy

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def example():
    cs = load_strategy(ROOT / "strategies" / "trend.yaml")
    r = run_backtest(cs, load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv"))
    assert r.trades, "the example strategy should trade on the example data"
    return cs, r


def _outside_scripts(text: str) -> str:
    """The page without the contents of its <script> elements (the embedded plotly.js bundle)."""
    return re.sub(r"(<script[^>]*>).*?(</script>)", r"\1\2", text, flags=re.S | re.I)


def test_report_is_self_contained_and_complete(example, tmp_path):
    cs, r = example
    out = tmp_path / "report.html"
    write_report(r, cs, out)
    text = out.read_text(encoding="utf-8")

    # offline: plotly.js embedded, nothing fetched from anywhere
    assert "Plotly.newPlot" in text
    assert len(text) > 1_000_000                          # the plotly.js bundle is inline
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    page = _outside_scripts(text)                          # plotly.js holds (unused) map attribution links
    assert not re.search(r"https?://", page)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)

    # content
    assert r.strategy in text and "trend_ema" in text
    assert len(re.findall(r'<tr class="trade">', text)) == len(r.trades)
    assert html.escape(r.trades[0]["entry_why"]) in text
    for label in ("Total return", "Annual return", "Sharpe", "Sortino", "Max drawdown", "Win rate",
                  "Profit factor", "Exposure", "Final equity", "Fees", "Buy &amp; hold", "Success bar"):
        assert label in page
    assert page.count("PASS") + page.count("FAIL") == 4
    assert f"{100 * r.metrics['total_return']:.2f}%" in page
    assert f"{100 * r.buy_and_hold['total_return']:.2f}%" in page
    for name in ("ema_fast", "ema_slow", "mom", "Entries", "Exits", "Strategy equity", "Buy & hold equity",
                 "Drawdown %"):
        assert f'"name":"{name}"' in text                # every series is in the figure


def test_user_text_is_escaped(example, tmp_path):
    cs, r = example
    evil = '<script>alert("x")</script> & rsi < 30 and close > ema'
    trade = dict(r.trades[0], entry_why=evil, exit_why=evil, exit_reason="<b>stop</b>")
    fake = dataclasses.replace(r, trades=[trade], notes=["<img src=x onerror=alert(1)>"])
    out = tmp_path / "evil.html"
    write_report(fake, cs, out)
    text = out.read_text(encoding="utf-8")
    page = _outside_scripts(text)
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "<b>stop</b>" not in page
    assert html.escape(evil) in page
    assert "&lt;b&gt;stop&lt;/b&gt;" in page
    assert len(re.findall(r'<tr class="trade">', text)) == 1


def _png_pixels(png: bytes) -> Counter[tuple[int, ...]]:
    """Pixel counts by colour of an 8-bit, non-interlaced RGB/RGBA PNG (a tiny decoder: no PIL here)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height, bpp = 8, b"", 0, 0, 3
    while pos < len(png):
        n = int.from_bytes(png[pos:pos + 4], "big")
        kind, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            width, height = int.from_bytes(data[:4], "big"), int.from_bytes(data[4:8], "big")
            assert data[8] == 8 and data[12] == 0 and data[9] in (2, 6), "expects 8-bit RGB(A), non-interlaced"
            bpp = 3 if data[9] == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + n
    raw, stride = zlib.decompress(idat), width * bpp
    prev, pixels = bytearray(stride), Counter()
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.update(tuple(line[j:j + 3]) for j in range(0, stride, bpp))
        prev = line
    return pixels


@pytest.mark.slow
def test_report_renders_in_headless_chromium(example, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    cs, r = example
    page, png = tmp_path / "report.html", tmp_path / "report.png"
    write_report(r, cs, page)
    profile = tmp_path / "profile"
    profile.mkdir()
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--window-size=1400,2000", f"--screenshot={png}",
                    f"file://{page}"], check=True, timeout=180, capture_output=True)
    assert png.exists() and png.stat().st_size > 10_000
    pixels = _png_pixels(png.read_bytes())
    assert len(pixels) > 50                                          # not a blank page
    # the chart was drawn: candle bodies, the first overlay (ema_fast) and the equity line, in the
    # report's colours #26a69a, #ef5350, #ff9800, #1f5fbf
    for colour in ((38, 166, 154), (239, 83, 80), (255, 152, 0), (31, 95, 191)):
        assert pixels[colour] > 20, colour
    shutil.rmtree(profile, ignore_errors=True)


# ---------------------------------------------------------------- portfolio report


@pytest.fixture(scope="module")
def portfolio():
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_policy

    policy = load_policy(ROOT / "policy.yaml")
    result = run_portfolio(policy, {"BTCUSDT.BINANCE": load_bars(ROOT / "examples/data/example_btcusdt_1h.csv")},
                           compare=False)
    assert result.trades and result.trips, "the example policy should trade and trip a breaker on the example data"
    assert len({r for r in result.regimes if r is not None}) >= 2
    return policy, result


def _assert_offline(text: str) -> str:
    """Assert the page loads nothing from the network; return it without its script contents."""
    assert "Plotly.newPlot" in text
    assert len(text) > 1_000_000
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    page = _outside_scripts(text)
    assert not re.search(r"https?://", page)
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    return page


def test_portfolio_report_is_self_contained_and_complete(portfolio, tmp_path):
    from autobot.report.html import write_portfolio_report

    policy, r = portfolio
    out = tmp_path / "portfolio.html"
    write_portfolio_report(r, policy, out)
    text = out.read_text(encoding="utf-8")
    page = _assert_offline(text)

    assert r.policy in page
    for sid in policy.used:                                       # every strategy: table row and curve
        assert sid in r.per_strategy
        assert re.search(rf'<tr class="strategy"><td class="l">.*?{re.escape(sid)}</td>', page)
        assert f'"name":"{sid} PnL"' in text
        assert f'"name":"{sid} entries"' in text or not any(t["strategy"] == sid for t in r.trades)
    for regime in {x for x in r.regimes if x is not None}:         # every regime met: table row and legend
        assert re.search(rf'<tr class="regime"><td class="l">.*?{re.escape(regime)}</td>', page)
        assert f'"name":"regime: {regime}"' in text
    assert '"type":"heatmap"' in text                             # the regime strip
    assert len(re.findall(r'<tr class="trade">', text)) == len(r.trades)
    assert len(re.findall(r'<tr class="strategy">', text)) == len(r.per_strategy)
    for trip in r.trips:
        assert trip["reason"] in page and html.escape(trip["detail"]) in page
    assert '"name":"Breaker trips"' in text
    equity_line = "Portfolio equity (capital)" if r.paper_track else "Portfolio equity"
    for name in (equity_line, "Buy & hold equity", "Drawdown %"):
        assert f'"name":"{name}"' in text
    if r.paper_track:                  # a demoted run: the paper track beside the capital, labelled
        assert '"name":"Paper track (no capital)"' in text and "Paper track (no capital)</th>" in page
        assert f"{100 * r.paper_track['total_return']:.2f}%" in page
    for label in ("Strategies", "Regimes", "Circuit breakers", "Share of PnL", "Alone: annual return",
                  "Alone: Sharpe", "Alone: max drawdown", "Share of bars", "PnL while in it", "Success bar",
                  f"Regime switches ({len(r.switches):,})"):
        assert label in page
    assert page.count("PASS") + page.count("FAIL") == 4
    assert f"{100 * r.metrics['total_return']:.2f}%" in page
    assert f"{100 * r.buy_and_hold['total_return']:.2f}%" in page
    assert html.escape(r.trades[0]["entry_why"]) in page
    # the trade table has the strategy column, in the order of the trades
    shown = re.findall(r'<tr class="trade"><td>\d+</td><td class="l">([^<]*)</td>', text)
    assert shown == [t["strategy"] for t in r.trades]
    # regime band: merged runs behind the price, never one shape per bar
    shapes = len(re.findall(r'"type":"rect"', text))
    assert 0 < shapes <= len(r.switches) + 1


def test_portfolio_report_escapes_user_text(portfolio, tmp_path):
    from autobot.report.html import write_portfolio_report

    policy, r = portfolio
    evil = '<script>alert("x")</script> & rsi < 30'
    trade = dict(r.trades[0], entry_why=evil, exit_why=evil, exit_reason="<b>stop</b>")
    regimes = [evil if x == "calm" else x for x in r.regimes]
    per_regime = {(evil if k == "calm" else k): v for k, v in r.per_regime.items()}
    trips = [dict(r.trips[0], reason="<i>dd</i>", detail=evil)]
    fake = dataclasses.replace(r, trades=[trade], notes=["<img src=x onerror=alert(1)>"], regimes=regimes,
                               per_regime=per_regime, trips=trips, policy="<u>p</u>")
    out = tmp_path / "evil.html"
    write_portfolio_report(fake, policy, out)
    text = out.read_text(encoding="utf-8")
    page = _outside_scripts(text)
    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "<b>stop</b>" not in page and "<i>dd</i>" not in text and "<u>p</u>" not in text
    assert html.escape(evil) in page
    assert "&lt;i&gt;dd&lt;/i&gt;" in page and "&lt;u&gt;p&lt;/u&gt;" in page
    assert len(re.findall(r'<tr class="trade">', text)) == 1


def test_portfolio_report_skips_curves_on_other_bars(portfolio, tmp_path):
    from autobot.report.html import write_portfolio_report

    policy, r = portfolio
    sid = policy.used[-1]
    curves = dict(r.strategy_pnl, **{sid: r.strategy_pnl[sid][::4]})      # as if on 4-times longer bars
    out = tmp_path / "skip.html"
    write_portfolio_report(dataclasses.replace(r, strategy_pnl=curves), policy, out)
    text = out.read_text(encoding="utf-8")
    assert f'"name":"{sid} PnL"' not in text
    shown = _outside_scripts(text)          # one note names every curve not drawn, with its points
    assert "are not drawn: " in shown and f"{sid} ({len(curves[sid]):,} points)" in shown
    for other in policy.used[:-1]:
        assert f'"name":"{other} PnL"' in text


def test_regime_runs_are_merged_for_drawing():
    from autobot.report.html import _merge_runs, _runs

    assert _runs([]) == []
    assert _runs([None, None, "a", "a", "b", "a"]) == [(0, 2, "undefined"), (2, 4, "a"), (4, 5, "b"), (5, 6, "a")]
    labels = (["a"] * 50 + ["b"]) * 40 + ["c"] * 100                   # 81 runs, the "b" ones 1 bar long
    runs = _runs(labels)
    assert len(runs) == 81
    same, shortest = _merge_runs(runs, 100)
    assert same == runs and shortest == 1
    merged, shortest = _merge_runs(runs, 10)
    assert len(merged) <= 10 and shortest > 1
    assert merged[0][0] == 0 and merged[-1][1] == len(labels)           # still covers every bar, in order
    assert all(a[1] == b[0] for a, b in zip(merged, merged[1:]))
    assert merged[-1][2] == "c" and all(name != "b" for _, _, name in merged)


def test_portfolio_report_size_is_bounded_for_long_runs(portfolio, tmp_path):
    """200,000 bars with a regime switch every ~20 bars: thinned lines, merged regime runs, a sane file."""
    from autobot.data.bars import Bars
    from autobot.report.html import MAX_BAND_CELLS, MAX_BAND_SHAPES, MAX_POINTS, write_portfolio_report

    policy, r = portfolio
    n = 200_000
    rng = np.random.default_rng(7)
    ts = np.int64(1_700_000_000) * 10**9 + np.arange(n, dtype=np.int64) * 60 * 10**9
    close = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    bars = Bars("synthetic", ts, close, close * 1.001, close * 0.999, close, np.ones(n), "csv")
    names = sorted({x for x in r.regimes if x is not None})
    regimes = [names[(k // 20 + k // 7) % len(names)] for k in range(n)]
    curves = {sid: np.append(np.cumsum(rng.normal(0, 1, n)), 0.0) for sid in policy.used}
    equity = 100_000 + np.cumsum(rng.normal(0, 3, n))
    big = dataclasses.replace(r, bars=bars, bar_seconds=60, bar="1-MINUTE-LAST", equity_ts=ts + 60 * 10**9,
                              equity=equity, regimes=regimes, strategy_pnl=curves, trades=r.trades[:5],
                              trips=[dict(r.trips[0], ts=int(ts[n // 2]))])
    out = tmp_path / "big.html"
    write_portfolio_report(big, policy, out)
    text = out.read_text(encoding="utf-8")
    assert len(text) < 12_000_000
    assert len(re.findall(r'"type":"rect"', text)) <= MAX_BAND_SHAPES
    assert "Regime timeline:" in _outside_scripts(text)                 # the merging is noted on the page
    assert '"type":"scattergl"' in text                                  # a close line, not 200,000 candles
    for sid in policy.used:
        assert f'"name":"{sid} PnL"' in text
    assert MAX_BAND_CELLS < n and MAX_POINTS < n


@pytest.mark.slow
def test_portfolio_report_renders_in_headless_chromium(portfolio, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is not installed")
    from autobot.report.html import COLOURS, REGIME_COLOURS, _regime_colours, write_portfolio_report

    policy, r = portfolio
    page, png = tmp_path / "portfolio.html", tmp_path / "portfolio.png"
    write_portfolio_report(r, policy, page)
    profile = tmp_path / "profile"
    profile.mkdir()
    subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--window-size=1400,2600", f"--screenshot={png}",
                    f"file://{page}"], check=True, timeout=180, capture_output=True)
    assert png.exists() and png.stat().st_size > 10_000
    pixels = _png_pixels(png.read_bytes())
    assert len(pixels) > 50
    rgb = lambda c: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))      # noqa: E731
    # candles, the portfolio equity line, the first strategy's PnL curve
    for colour in ((38, 166, 154), (239, 83, 80), (31, 95, 191), rgb(COLOURS[0])):
        assert pixels[colour] > 20, colour
    # the regime strip: a block of each regime's colour for every regime that was in force
    colours = _regime_colours(r, policy)
    met = {x for x in r.regimes if x is not None}
    for name in met:
        assert colours[name] in REGIME_COLOURS and colours[name] not in COLOURS
        assert pixels[rgb(colours[name])] > 100, name                  # swatches, legend, strip
    longest = max(met, key=lambda name: r.per_regime[name]["bars"])
    assert pixels[rgb(colours[longest])] > 2000, longest               # the strip itself
    shutil.rmtree(profile, ignore_errors=True)
