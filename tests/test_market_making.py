"""Market making: the quote: language is checked like everything else; on a hand-made book the
two queue models fill exactly when they say; PnL parts add up to the PnL, which is Nautilus'
account; inventory limits hold; cutting the book data after t changes nothing before t; every
example quotes on the synthetic book and the real captures; the CLI writes the JSON and report."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.backtest.book import run_book_backtest
from autobot.cli.main import app
from autobot.data.book import ADD, ASK, BID, CLEAR, DELETE, F_LAST, F_SNAPSHOT, SELLER, UPDATE, BookData, cut
from autobot.data.book_synthetic import BookModel, synthetic_book
from autobot.language.compile import compile_strategy_text
from autobot.venue.instruments import InstrumentSettings
from tests.helpers import ROOT, SHARED_DATA, quote_strategy_files

SPOT = sorted((SHARED_DATA / "raw" / "hftbacktest" / "spot").glob("btcusdt_*.gz"))
needs_capture = pytest.mark.skipif(not SPOT, reason=f"SKIPPED LOUDLY: no Binance capture in {SHARED_DATA}/raw "
                                                    "(CI has ../shared/data)")
NO_FEES = InstrumentSettings(maker_fee=0.0, taker_fee=0.0)
S = 1_000_000_000


@pytest.fixture(scope="module")
def synthetic() -> BookData:
    return synthetic_book(BookModel(seconds=900, lot=0.001), seed=3)[0]


def _validate(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    doc = tmp_path / "mm.yaml"
    doc.write_text(text)
    out = CliRunner().invoke(app, ["validate", str(doc), "--format", "json"])
    return [(d["line"], d["column"], d["code"]) for d in json.loads(out.output)]


MM = """strategy: mm
market: {instrument: BTCUSDT.BINANCE, bar: 1s}
quote:
  bid_price: book.bid
  ask_price: book.ask
  bid_size: 0.001
  ask_size: 0.001
  max_inventory: 0.01
"""


@pytest.mark.parametrize("edit, where", [
    (("bid_price: book.bid", "bid_price: book.bidd"), (4, 19, "unknown-field")),
    (("bid_price: book.bid", "bid_price: book.imbalance(0)"), (4, 29, "out-of-range")),
    (("bid_price: book.bid", "bid_price: book.depth(mid, 5)"), (4, 25, "bad-argument")),
    (("bid_price: book.bid", "bid_price: book.bid - inventory.share"), (4, 35, "needs-limit")),
    (("bid_price: book.bid", "bid_price: trades.flow(10, 2)"), (4, 14, "arity")),
    (("bid_price: book.bid", "bid_price: book.imbalanse(3)"), (4, 14, "unknown-function")),
    (("  bid_size: 0.001\n", ""), (4, 3, "missing-key")),
    (("quote:\n", "entry: {long: close > 0}\nquote:\n"), (4, 1, "quote-and-entry")),
])
def test_quote_documents_are_checked_with_positioned_errors(tmp_path: Path, edit: tuple[str, str],
                                                            where: tuple[int, int, str]) -> None:
    text = MM.replace(edit[0], edit[1])
    if where[2] == "needs-limit":
        text = text.replace("  max_inventory: 0.01\n", "")
    assert where in _validate(tmp_path, text)


def test_book_names_exist_only_in_quote_documents(tmp_path: Path) -> None:
    doc = "strategy: s\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: book.imbalance(3) > 0\n"
    assert _validate(tmp_path, doc) == [(4, 9, "not-available")]
    assert _validate(tmp_path, MM) == []


def _hand_book() -> BookData:
    """Bid 100.00 x 5 / ask 100.10 x 5; sellers take 2 then 4 at 100.00 (the level then gone)."""
    rows = [  # ts, action, side, price, size, flags
        (0, CLEAR, 0, 0.0, 0.0, F_SNAPSHOT), (0, ADD, BID, 100.0, 5.0, F_SNAPSHOT),
        (0, ADD, ASK, 100.1, 5.0, F_SNAPSHOT | F_LAST),
        (1 * S, UPDATE, ASK, 100.1, 6.0, F_LAST),                # the first quoting step: the bid joins 100.00
        (2 * S + 1, UPDATE, BID, 100.0, 3.0, F_LAST),
        (3 * S + 1, DELETE, BID, 100.0, 0.0, F_LAST),
        (4 * S, ADD, BID, 99.9, 4.0, F_LAST),
        (5 * S, UPDATE, ASK, 100.1, 7.0, F_LAST)]
    t0 = 1_700_000_000 * S
    a = np.array([r[0] for r in rows], dtype=np.int64) + t0
    trades = [(2 * S, 100.0, 2.0), (3 * S, 100.0, 4.0)]
    return BookData("TESTUSDT.SIM", "L2", 2, 0, a, np.array([r[1] for r in rows], dtype=np.int8),
                    np.array([r[2] for r in rows], dtype=np.int8), np.array([r[3] for r in rows]),
                    np.array([r[4] for r in rows]), np.zeros(len(rows), dtype=np.uint64),
                    np.array([r[5] for r in rows], dtype=np.uint8), np.arange(len(rows), dtype=np.uint64),
                    np.array([t[0] for t in trades], dtype=np.int64) + t0, np.array([t[1] for t in trades]),
                    np.array([t[2] for t in trades]), np.array([SELLER, SELLER], dtype=np.int8), ["1", "2"])


JOIN = """strategy: joiner
market: {instrument: TESTUSDT.SIM, bar: 1s}
quote:
  bid_price: book.bid
  bid_size: 1
  max_inventory: 1
  refresh: 1h
"""


def test_the_queue_models_fill_when_they_say_on_a_hand_made_book() -> None:
    """Optimistic: the resting bid fills on the first sell at its price. Conservative: only once
    the 5 ahead of it when it was placed have traded (2, then 4: on the second trade)."""
    cs = compile_strategy_text(JOIN, "joiner.yaml")
    book = _hand_book()
    t0 = int(book.ts[0])
    got = {q: run_book_backtest(cs, book, queue=q, instrument=NO_FEES) for q in ("optimistic", "conservative")}
    assert [(f.ts - t0, f.price, f.qty, f.side) for f in got["optimistic"].fills] == [(2 * S, 100.0, 1.0, 1)]
    assert [(f.ts - t0, f.price, f.qty, f.side) for f in got["conservative"].fills] == [(3 * S, 100.0, 1.0, 1)]
    for r in got.values():
        assert r.metrics["orders"] == 1 and r.metrics["fill_ratio"] == 1.0 and r.steps.inventory[-1] == 1.0


def _parts_add_up(r) -> None:
    m = r.metrics
    parts = m["pnl_breakdown"]
    assert set(parts) == {"spread_capture", "adverse_selection", "inventory", "fees"}
    scale = max(1.0, abs(m["pnl"]), *(abs(v) for v in parts.values()))
    assert abs(math.fsum(parts.values()) - m["pnl"]) <= 1e-9 * scale
    # the same money as Nautilus' account, which rounds each realised PnL to the currency's precision
    assert abs(m["pnl"] - r.account_pnl) <= 1e-6 * scale + 0.005 * m["fills"] * 10 ** (2 - r.currency_precision)


def test_pnl_parts_add_up_to_nautilus_pnl_and_the_band_orders_the_fills(synthetic: BookData) -> None:
    cs = compile_strategy_text((ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml").read_text(), "mm.yaml")
    fees = InstrumentSettings(maker_fee=0.0002, taker_fee=0.0005)
    cons = run_book_backtest(cs, synthetic, queue="conservative", instrument=fees)
    opt = run_book_backtest(cs, synthetic, queue="optimistic", instrument=fees)
    for r in (cons, opt):
        _parts_add_up(r)
        assert r.metrics["pnl_breakdown"]["fees"] < 0
        inv = np.abs(np.array(r.steps.inventory))
        assert inv.max() <= 0.01 + 1e-12 and r.metrics["inventory_max"] <= 0.01 + 1e-12
    assert 50 < cons.metrics["fills"] < opt.metrics["fills"]          # first in the queue fills more
    assert cons.metrics["quote_uptime"] > 0.5


#: the synthetic book is a $100 instrument with thin levels: parameters that trade on it
ON_SYNTHETIC = {"mm_avellaneda": {"gamma": 0.5, "k": 50.0}, "ob_imbalance_taker": {"min_size": 0.002, "trigger": 0.5}}


def test_cutting_the_book_after_t_changes_nothing_before_t(synthetic: BookData) -> None:
    cs = compile_strategy_text((ROOT / "examples" / "strategies" / "mm_avellaneda.yaml").read_text(), "as.yaml",
                               ON_SYNTHETIC["mm_avellaneda"])
    whole = run_book_backtest(cs, synthetic, queue="conservative", instrument=NO_FEES)
    t = synthetic.start_ns + 500 * S + 123_456_789
    part = run_book_backtest(cs, cut(synthetic, t), queue="conservative", instrument=NO_FEES)
    before = [f for f in whole.fills if f.ts < t]
    assert len(before) > 10 and [f for f in part.fills if f.ts < t] == before
    k = sum(1 for x in whole.steps.ts if x < t)
    for name in ("ts", "mid", "bid", "ask", "inventory"):
        assert np.array_equal(np.array(getattr(whole.steps, name)[:k]), np.array(getattr(part.steps, name)[:k]),
                              equal_nan=True), name


@pytest.mark.parametrize("doc", quote_strategy_files(), ids=lambda p: p.stem)
def test_every_quote_example_trades_on_the_synthetic_book(doc: Path, synthetic: BookData) -> None:
    cs = compile_strategy_text(doc.read_text(), doc.name, ON_SYNTHETIC.get(doc.stem))
    r = run_book_backtest(cs, synthetic, queue="conservative", instrument=NO_FEES)
    assert r.metrics["fills"] > 0
    _parts_add_up(r)
    assert np.abs(np.array(r.steps.inventory)).max() <= cs.document.quote.max_inventory + 1e-12


@needs_capture
@pytest.mark.parametrize("doc", quote_strategy_files(), ids=lambda p: p.stem)
def test_every_quote_example_trades_on_the_real_capture(doc: Path, spot) -> None:
    cs = compile_strategy_text(doc.read_text(), doc.name)
    r = run_book_backtest(cs, spot, queue="conservative")      # Binance's own fees
    assert r.metrics["fills"] > 0 and r.metrics["pnl_breakdown"]["fees"] < 0
    _parts_add_up(r)


@pytest.fixture(scope="module")
def spot() -> BookData:
    from autobot.data.book_files import load_book
    return load_book(SPOT)


@needs_capture
def test_the_cli_backtests_a_real_capture_into_json_and_a_report(tmp_path: Path) -> None:
    out, report = tmp_path / "mm.json", tmp_path / "mm.html"
    args = ["backtest", str(ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml"), *sum((["--data", str(p)]
            for p in SPOT), []), "--maker-fee", "0", "--json", str(out), "--report", str(report)]
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    doc = json.loads(out.read_text())
    assert doc["queue_model"] == "conservative" and doc["fills"] > 100 and 0 < doc["fill_ratio"] <= 1
    assert abs(math.fsum(doc["pnl_breakdown"].values()) - doc["pnl"]) < 1e-9 * max(1.0, abs(doc["pnl"]))
    assert doc["band"]["fills"][0] < doc["band"]["fills"][1] == doc["queue_models"]["optimistic"]["fills"]
    assert doc["book_events"] == 6492 and doc["notes"] == []
    page = report.read_text()
    assert "PnL decomposition" in page and "Inventory" in page and "conservative queue" in page


@needs_capture
def test_an_l3_book_runs_on_an_l3_venue(tmp_path: Path) -> None:
    from autobot.data.book_files import load_book
    book = load_book([SHARED_DATA / "raw" / "databento" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"])
    doc = JOIN.replace("TESTUSDT.SIM", "ESH4.GLBX").replace("max_inventory: 1\n", "ask_price: book.ask\n"
                                                                        "  ask_size: 1\n  max_inventory: 5\n")
    cs = compile_strategy_text(doc, "es.yaml")
    r = run_book_backtest(cs, book, queue="conservative")
    assert r.metrics["fills"] > 5 and r.instrument == "ESH4.GLBX"
    _parts_add_up(r)                                  # in USD: points x the contract's multiplier of 50
    assert all(f.price * 4 == round(f.price * 4) for f in r.fills)   # on ES' 0.25 grid


def test_quote_strategies_are_refused_where_only_bars_run(tmp_path: Path) -> None:
    doc = ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml"
    data = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    done = CliRunner().invoke(app, ["signals", str(doc), "--data", str(data)])
    assert done.exit_code == 1 and "not on bars" in done.output
    done = CliRunner().invoke(app, ["backtest", str(doc), "--data", str(data)])
    assert done.exit_code == 1 and "not a book file" in done.output
    done = CliRunner().invoke(app, ["backtest", str(doc), "--engine", "fast", "--data", str(data)])
    assert done.exit_code == 2 and "order book" in done.output


# ---------------------------------------------------------------------- live: a node on a replayed book
def test_a_replayed_paper_node_fills_as_the_backtest_fill_for_fill(synthetic: BookData) -> None:
    from autobot.live.book import run_book_replay
    doc = ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml"
    fees = InstrumentSettings(maker_fee=0.0002, taker_fee=0.0005)
    part = cut(synthetic, synthetic.start_ns + 300 * S)
    for queue in ("conservative", "optimistic"):
        backtest = run_book_backtest(compile_strategy_text(doc.read_text(), str(doc)), part, queue=queue,
                                     instrument=fees)
        live = run_book_replay(doc, part, instrument=fees, queue=queue).result
        assert len(backtest.fills) > 50 and list(map(_fill, live.fills)) == list(map(_fill, backtest.fills)), queue
        assert live.metrics == backtest.metrics


def _fill(f) -> tuple:
    return (f.ts, f.side, f.price, f.qty, f.fee, f.mid, f.maker)      # order ids carry the node's wall time


def test_a_live_edit_is_taken_between_book_updates_and_a_bad_one_keeps_the_running_version(
        tmp_path: Path, synthetic: BookData) -> None:
    """A bad edit is reported and quoting goes on; a good one lowers max_inventory below what is
    held: the inventory breaker cancels, flattens and halts."""
    from autobot.data.book import to_nautilus
    from autobot.live.book import run_book_replay
    text = (ROOT / "examples" / "strategies" / "mm_inventory_skew.yaml").read_text()
    doc = tmp_path / "mm.yaml"
    doc.write_text(text)
    part = cut(synthetic, synthetic.start_ns + 300 * S)
    before = run_book_backtest(compile_strategy_text(text, str(doc)), part, queue="conservative", instrument=NO_FEES)
    inv = np.abs(np.array(before.steps.inventory))
    k = next(i for i in range(60, len(inv) - 5) if np.all(inv[i:i + 5] >= 0.002))   # a stretch held
    deltas, trades = to_nautilus(part, __import__("nautilus_trader.model.identifiers", fromlist=["x"]).InstrumentId
                                 .from_str("BTCUSDT.BINANCE"))
    from autobot.backtest.book import batches
    times = sorted(d.ts_init for d in batches(part, deltas) + trades)
    bad_at = int(np.searchsorted(times, before.steps.ts[k // 2]))
    good_at = int(np.searchsorted(times, before.steps.ts[k + 1]))

    def edit(n: int) -> None:
        if n == bad_at:
            doc.write_text(text.replace("bid_size: size", "bid_size: size +"))
        if n == good_at:
            doc.write_text(text.replace("max_inventory: 0.01", "max_inventory: 0.001"))
    run = run_book_replay(doc, part, instrument=NO_FEES, on_item=edit)
    reloads = run.strategy.reloads
    assert [ok for _, ok, _ in reloads] == [False, True]
    assert "mm.yaml:" in reloads[0][2] and reloads[0][2].count(":") >= 3          # file:line:col: message
    first_bad, first_good = reloads[0][0], reloads[1][0]
    fills = run.result.fills
    assert [_fill(f) for f in fills if f.ts < first_good] == [_fill(f) for f in before.fills if f.ts < first_good]
    assert any(first_bad < f.ts < first_good for f in fills)
    assert len(run.strategy.breaker_trips) == 1 and run.strategy.breaker_trips[0][0] >= first_good
    assert run.result.steps.inventory[-1] == 0.0                                   # flattened
    after = [i for i, t in enumerate(run.result.steps.ts) if t > run.strategy.breaker_trips[0][0]]
    assert after and all(math.isnan(run.result.steps.bid[i]) for i in after)      # and halted
