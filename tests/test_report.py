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
