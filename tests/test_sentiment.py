"""sentiment: texts scored with VADER, counted from the first bar closing after them, decayed; the
same in the fast engine and Nautilus; text files read safely with positioned errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.data.bars import load_bars
from autobot.data.text import Texts, load_texts, per_bar, scores
from autobot.language.compile import compile_strategy_text
from tests.helpers import ROOT, SHARED_DATA

GROUND = SHARED_DATA / "text" / "vader" / "groundtruth" / "hutto_ICWSM_2014" / "tweets_GroundTruth.txt"
STRATEGY = """strategy: sentiment_swing
market: {instrument: BTCUSDT.BINANCE, bar: 1h}
entry:
  long: sentiment > 0.05 and sentiment_count >= 1
exit:
  long: sentiment < 0 or sentiment_mean < -0.3 or position.bars_held >= 12
"""
WORDS = ["great rally, buying", "terrible crash, selling everything", "bullish breakout", "bearish, awful news",
         "meh", "love this coin", "scam, hate it"]


def test_vader_agrees_with_the_human_ratings_of_tweets() -> None:
    if not GROUND.exists():
        pytest.skip(f"shared data not present: {GROUND}")
    human, text = [], []
    for line in GROUND.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3:
            human.append(float(parts[1]))
            text.append(parts[2])
    got = scores(Texts(np.zeros(len(text), dtype=np.int64), [""] * len(text), text))
    assert len(human) == 4200 and np.corrcoef(human, got)[0, 1] > 0.85       # VADER's paper: 0.88 on tweets


def test_a_text_counts_from_the_first_bar_closing_after_it() -> None:
    closes = np.array([10, 20, 30, 40], dtype=np.int64)
    ts = np.array([10, 15, 31], dtype=np.int64)               # 10: at a close, so in the bar closing at 20
    s = np.array([0.5, -0.1, 0.8])
    out = per_bar(closes, ts, s, half_life=1.0)
    assert out["sentiment_count"].tolist() == [0, 2, 0, 1]
    d = 0.5
    assert np.isnan(out["sentiment"][0])
    assert out["sentiment"][1] == pytest.approx(0.2)
    assert out["sentiment"][2] == pytest.approx((0.4 * d) / (2 * d))
    assert out["sentiment"][3] == pytest.approx((0.4 * d * d + 0.8) / (2 * d * d + 1))
    assert np.array_equal(out["sentiment_mean"], [np.nan, 0.2, np.nan, 0.8], equal_nan=True)   # this bar's texts
    for cut in range(1, 4):                                      # cutting bars and texts changes nothing before
        part = per_bar(closes[:cut], ts[ts < closes[cut - 1]], s[ts < closes[cut - 1]], half_life=1.0)
        for name in out:
            assert np.array_equal(part[name], out[name][:cut], equal_nan=True), name


@pytest.fixture
def texts_file(tmp_path: Path) -> Path:
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    rng = np.random.default_rng(3)
    path = tmp_path / "texts.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["timestamp", "symbol", "text"])
        for k in range(0, len(bars), 3):
            w.writerow([int(bars.ts[k]) // 10**9 + int(rng.integers(0, 3600)), "BTCUSDT",
                        WORDS[int(rng.integers(0, len(WORDS)))]])
        w.writerow([int(bars.ts[5]) // 10**9, "ETHUSDT", "terrible, awful, hate"])   # another symbol: left out
    return path


def test_the_fast_engine_and_nautilus_trade_the_same_on_sentiment(texts_file: Path) -> None:
    from autobot.backtest.engine import run_backtest
    from autobot.fast.engine import run_fast
    cs = compile_strategy_text(STRATEGY, "s.yaml")
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    texts = load_texts(texts_file)
    a, f = run_backtest(cs, bars, texts=texts), run_fast(cs, bars, texts=texts)
    assert len(a.fills) > 10 and a.fills == f.fills and a.final_equity == f.final_equity


def test_text_files_csv_and_json_lines_and_their_errors(tmp_path: Path) -> None:
    jl = tmp_path / "t.jsonl"
    jl.write_text(json.dumps({"created_at": "Wed Jan 01 10:00:00 +0000 2014", "text": "good", "symbol": "AAPL"}) + "\n"
                  + json.dumps({"timestamp": 1388570400000, "text": "bad"}) + "\n")
    t = load_texts(jl)
    assert t.ts.tolist() == [1388570400 * 10**9, 1388570400 * 10**9] and t.for_symbol({"AAPL"}).text == ["good", "bad"]
    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp,symbol,text\n2024-01-01T00:00:00Z,BTC,fine\nyesterday,BTC,oops\n")
    out = CliRunner().invoke(app, ["backtest", str(_doc(tmp_path)), "--text", str(bad)])
    assert out.exit_code == 1 and "bad.csv:3:1" in out.output
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("when,words\n1,x\n")
    out = CliRunner().invoke(app, ["backtest", str(_doc(tmp_path)), "--text", str(nohead)])
    assert out.exit_code == 1 and "needs 'timestamp' and 'text'" in out.output
    missing = CliRunner().invoke(app, ["backtest", str(_doc(tmp_path))])
    assert missing.exit_code == 1 and "pass --text FILE" in missing.output


def _doc(tmp_path: Path) -> Path:
    doc = tmp_path / "s.yaml"
    doc.write_text(STRATEGY)
    return doc


def test_signals_shows_the_sentiment_with_the_feed(tmp_path: Path, texts_file: Path) -> None:
    out = tmp_path / "sig.csv"
    done = CliRunner().invoke(app, ["signals", str(ROOT / "examples" / "strategies" / "sentiment_swing.yaml"),
                                    "--data", str(ROOT / "examples" / "data" / "example_btcusdt_1h.csv"),
                                    "--text", str(texts_file), "--out", str(out)])
    assert done.exit_code == 0, done.output
    rows = out.read_text().splitlines()
    assert rows[0].split(",")[:2] == ["timestamp", "mood"]
    assert any(r.split(",")[1] not in ("", "nan") for r in rows[10:])


def test_the_streaming_feed_is_per_bar_bit_for_bit_and_late_texts_count_at_the_next_bar(texts_file: Path) -> None:
    from autobot.data.text import SentimentFeed
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    texts = load_texts(texts_file).for_symbol({"BTCUSDT"})
    closes = bars.ts.astype(np.int64) + 3600 * 10**9
    batch = per_bar(closes, texts.ts, scores(texts))
    feed = SentimentFeed(texts.ts, scores(texts))
    stream = [feed.close(int(c)) for c in closes]
    for name in ("sentiment", "sentiment_mean", "sentiment_count"):
        assert np.array_equal(np.array([v[name] for v in stream]), batch[name], equal_nan=True), name
    half = len(texts.ts) // 2                      # the second half arrives while running, before its bars
    feed = SentimentFeed(texts.ts[:half], scores(texts)[:half])
    cut = int(np.searchsorted(closes, texts.ts[half], side="right"))
    got = [feed.close(int(c)) for c in closes[:cut]]
    feed.add(texts.ts[half:], scores(texts)[half:])
    got += [feed.close(int(c)) for c in closes[cut:]]
    for name in ("sentiment", "sentiment_mean", "sentiment_count"):
        assert np.array_equal(np.array([v[name] for v in got]), batch[name], equal_nan=True), name
    late = SentimentFeed(np.zeros(0, dtype=np.int64), np.zeros(0))
    late.close(100)
    late.add(np.array([50]), np.array([0.5]))      # written before a bar already closed: counts at the next
    assert late.close(200) == {"sentiment": 0.5, "sentiment_mean": 0.5, "sentiment_count": 1.0}


def test_a_live_text_file_is_tailed_by_complete_lines_and_bad_lines_are_skipped(tmp_path: Path) -> None:
    from autobot.data.text import TextTail
    path = tmp_path / "feed.csv"
    path.write_text("timestamp,symbol,text\n2024-01-01T00:00:00Z,BTCUSDT,hello\n")
    tail = TextTail(path)
    assert len(tail.read().ts) == 0                 # what was there is the initial load's
    with open(path, "a") as f:
        f.write("2024-01-01T01:00:00Z,BTCUSDT,great rally\nnot a time,BTCUSDT,x\n2024-01-01T02:00:00Z,BTC")
    got = tail.read()
    assert got.text == ["great rally"] and len(tail.errors) == 1   # the partial line waits for its end
    with open(path, "a") as f:
        f.write("USDT,awful crash\n")
    assert tail.read().text == ["awful crash"]


def test_a_policy_feeds_its_sentiment_strategies_and_a_replayed_node_trades_as_its_backtest(
        tmp_path: Path, texts_file: Path) -> None:
    from autobot.live.node import run_replay
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import load_policy
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "s.yaml").write_text(STRATEGY)
    (tmp_path / "regimes.yaml").write_text("regimes:\n  always: true\n")
    policy = tmp_path / "policy.yaml"
    policy.write_text("policy: p\nregimes: regimes.yaml\nallocations:\n  always: {sentiment_swing: 100%}\n")
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    out = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--data", f"BTCUSDT.BINANCE={data}"])
    # the error points at the first read of sentiment
    assert out.exit_code == 1 and "s.yaml:4:9" in out.output and "needs a text feed" in out.output, out.output
    out = CliRunner().invoke(app, ["backtest", "--policy", str(policy), "--data", f"BTCUSDT.BINANCE={data}",
                                   "--text", str(texts_file)])
    assert out.exit_code == 0, out.output
    bars = {"BTCUSDT.BINANCE": load_bars(data)}
    backtest = run_portfolio(load_policy(policy), bars, compare=False, text=texts_file)
    live = run_replay(policy, bars, state=tmp_path / "state.sqlite", text=texts_file)
    assert len(backtest.trades) > 10 and live.result.trades == backtest.trades
    assert live.result.final_equity == backtest.final_equity
    alone = CliRunner().invoke(app, ["backtest", str(tmp_path / "strategies" / "s.yaml"), "--data", str(data),
                                     "--text", str(texts_file), "--json", str(tmp_path / "alone.json")])
    assert alone.exit_code == 0, alone.output
    entries = [t["entry_ts"] for t in json.loads((tmp_path / "alone.json").read_text())["trade_list"]]
    assert [t["entry_ts"] for t in backtest.trades] == entries   # the same sentiment, the same entries
