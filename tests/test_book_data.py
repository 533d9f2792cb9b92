"""Order-book data: Binance captures synchronised by the update-id rule (gaps reported, never
patched), Binance depth CSVs, Databento MBO through NautilusTrader's loader, format detection, and
the seeded synthetic book's statistics."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from autobot.data.book import ADD, CLEAR, DELETE, F_LAST, F_SNAPSHOT, UPDATE, join, tick_size, to_nautilus
from autobot.data.book_binance import BookFileError, load_capture
from autobot.data.book_files import detect, load_book
from autobot.data.book_synthetic import BookModel, expected_rates, synthetic_book
from tests.helpers import SHARED_DATA

RAW = SHARED_DATA / "raw"
needs_raw = pytest.mark.skipif(not (RAW / "hftbacktest").exists(),
                               reason=f"SKIPPED LOUDLY: the Binance and Databento captures are not in {RAW} "
                                      "(CI has ../shared/data)")


def _line(recv: int, obj: dict) -> str:
    return f"{recv} {json.dumps(obj)}"


def _diff(big_u: int, u: int, e_ms: int, bids=(), asks=(), pu: int | None = None) -> dict:
    d = {"e": "depthUpdate", "E": e_ms, "s": "BTCUSDT", "U": big_u, "u": u, "b": list(bids), "a": list(asks)}
    if pu is not None:
        d["pu"] = pu
    return {"stream": "btcusdt@depth", "data": d}


def _crossed_points(book) -> int:
    from nautilus_trader.model.book import OrderBook
    from nautilus_trader.model.enums import BookType
    from nautilus_trader.model.identifiers import InstrumentId
    iid = InstrumentId.from_str(book.instrument)
    deltas, _ = to_nautilus(book, iid)
    ob = OrderBook(iid, BookType.L2_MBP)
    bad = 0
    for d in deltas:
        ob.apply_delta(d)
        if d.flags & F_LAST:
            b, a = ob.best_bid_price(), ob.best_ask_price()
            bad += int(b is None or a is None or b >= a)
    return bad


def test_a_capture_is_synchronised_by_update_id_with_early_diffs_kept_and_a_gap_reported(tmp_path: Path) -> None:
    snapshot = {"lastUpdateId": 100, "bids": [["100.00", "5"], ["99.99", "1"]], "asks": [["100.01", "2"]]}
    lines = [
        _line(1, _diff(90, 95, 1000, bids=[["99.98", "3"]])),          # before the snapshot: already in it
        _line(2, _diff(96, 104, 1100, bids=[["100.00", "4"]])),         # spans L + 1 = 101: the first applied
        _line(3, snapshot),                                               # fetched after those diffs arrived
        _line(4, {"stream": "btcusdt@trade", "data": {"e": "trade", "E": 1150, "s": "BTCUSDT", "t": 7,
                                                      "p": "100.00", "q": "1", "T": 1150, "m": True}}),
        _line(5, _diff(105, 110, 1200, asks=[["100.01", "0"], ["100.02", "7"]])),
        _line(6, _diff(115, 120, 1300, bids=[["100.00", "9"]])),          # 111..114 missing: a gap
        _line(7, _diff(121, 125, 1400, bids=[["100.00", "1"]])),
    ]
    f = tmp_path / "cap.txt"
    f.write_text("\n".join(lines) + "\n")
    assert detect(f) == "capture"
    book = load_capture([f])
    assert book.instrument == "BTCUSDT.BINANCE"
    assert [int(a) for a in book.action] == [CLEAR, ADD, ADD, ADD, UPDATE, DELETE, ADD]
    assert list(book.price[1:]) == [100.0, 99.99, 100.01, 100.0, 100.01, 100.02]
    assert list(book.size[1:5]) == [5.0, 1.0, 2.0, 4.0]
    assert all(book.flags[:4] & F_SNAPSHOT) and book.flags[3] & F_LAST and book.flags[4] & F_LAST
    assert list(book.ts) == [1_100_000_000] * 5 + [1_200_000_000] * 2   # exchange times; the snapshot: its first diff's
    assert list(book.trade_side) == [2] and book.trade_id == ["7"]        # m: the buyer was the maker -> a seller took
    assert len(book.notes) == 2 and "break at 110" in book.notes[0] and "1 diffs after the gap" in book.notes[1]


def test_futures_captures_chain_by_pu_and_a_snapshot_no_diff_spans_is_reported(tmp_path: Path) -> None:
    snapshot = {"lastUpdateId": 100, "E": 900, "T": 900, "bids": [["10.0", "1"]], "asks": [["10.1", "1"]]}
    good = [_line(1, snapshot), _line(2, _diff(98, 103, 1000, bids=[["10.0", "2"]], pu=97)),
            _line(3, _diff(110, 111, 1100, asks=[["10.2", "1"]], pu=103))]   # U jumps but pu continues: fine
    f = tmp_path / "fut.txt"
    f.write_text("\n".join(good))
    book = load_capture([f])
    assert book.instrument == "BTCUSDT-PERP.BINANCE" and not book.notes and len(book.ts) == 5
    assert book.ts[0] == 900_000_000                                      # futures snapshots carry their time
    late = [_line(1, snapshot), _line(2, _diff(102, 103, 1000, pu=101))]  # starts after L: nothing spans it
    f.write_text("\n".join(late))
    book = load_capture([f])
    assert len(book.ts) == 0 and any("beyond the snapshot's 100" in n for n in book.notes)


def test_bad_book_files_are_errors_naming_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "x.txt"
    f.write_text("hello\n")
    with pytest.raises(BookFileError) as err:
        detect(f)
    assert "Binance websocket capture" in err.value.hint
    f.write_text(_line(1, {"lastUpdateId": 1, "bids": [], "asks": []}) + "\n123 {not json\n")
    with pytest.raises(BookFileError) as err:
        load_capture([f])
    assert err.value.line == 2 and str(f) in str(err.value)


@needs_raw
def test_the_spot_capture_joins_its_two_files_without_a_gap_and_rebuilds_an_uncrossed_book() -> None:
    files = sorted((RAW / "hftbacktest" / "spot").glob("btcusdt_*.gz"))
    book = load_book(list(reversed(files)))                 # the order given does not matter
    assert book.instrument == "BTCUSDT.BINANCE" and book.notes == ()
    assert int(book.action[0]) == CLEAR and np.all(np.diff(book.ts) >= 0)
    assert len(book.ts) > 250_000 and len(book.trade_ts) > 19_000
    assert 640 < (book.end_ns - book.start_ns) / 1e9 < 660   # the whole capture, both files
    assert tick_size(book) == 0.01
    assert _crossed_points(book) == 0


@needs_raw
def test_the_nautilus_binance_depth_files_load_and_say_they_cannot_be_synchronised() -> None:
    files = sorted((RAW / "nautilus_trader" / "binance").glob("btcusdt-depth-*.csv"))
    assert [detect(f) for f in files] == ["depth_csv", "depth_csv"]
    book = load_book(files)
    assert any("no asks" in n for n in book.notes)
    assert any("beyond the snapshot's 2098021528332" in n for n in book.notes)   # the gap, reported
    assert int(book.action[0]) == CLEAR and int(np.sum(book.action == ADD)) == 100


@needs_raw
def test_databento_mbo_loads_through_nautilus_as_an_l3_book() -> None:
    path = RAW / "databento" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"
    book = load_book([path])
    assert book.book_type == "L3" and book.instrument == "ESH4.GLBX"
    assert len(book.ts) == 59_448 and len(book.trade_ts) == 2_973
    assert tick_size(book) == 0.25 and book.size_precision == 0
    assert np.all(book.order_id[book.action == ADD] > 0)


def test_the_synthetic_book_has_the_statistics_it_is_built_with() -> None:
    model = BookModel(seconds=1800)
    book, counts = synthetic_book(model, seed=11)
    again, _ = synthetic_book(model, seed=11)
    other, _ = synthetic_book(model, seed=12)
    assert np.array_equal(book.price, again.price) and np.array_equal(book.ts, again.ts)
    assert not (len(other.ts) == len(book.ts) and np.array_equal(other.price, book.price))
    want = expected_rates(model)
    for name in ("limits", "markets"):                     # Poisson counts: within 4 standard deviations
        assert abs(getattr(counts, name) - want[name]) < 4 * math.sqrt(want[name]), name
    per = counts.market_lots / counts.markets              # geometric sizes: mean market_lots
    assert abs(per - model.market_lots) < 4 * math.sqrt(model.market_lots * (model.market_lots - 1) / counts.markets)
    assert math.isclose(float(np.sum(book.trade_size)), counts.market_lots * model.lot, rel_tol=0.02)
    assert _crossed_points(book) == 0
    assert np.all(np.diff(book.ts) >= 0) and np.all(np.diff(book.trade_ts) >= 0)


def test_joined_parts_are_in_time_order() -> None:
    a, _ = synthetic_book(BookModel(seconds=60), seed=1)
    b, _ = synthetic_book(BookModel(seconds=60, start_ns=BookModel().start_ns + 60 * 10**9), seed=2)
    j = join([b, a])
    assert len(j.ts) == len(a.ts) + len(b.ts) and np.all(np.diff(j.ts) >= 0)
    assert j.trade_id[: len(a.trade_id)] == a.trade_id


@needs_raw
@pytest.mark.parametrize("glob, instrument, tick", [("usdm/btcusdt_*.gz", "BTCUSDT-PERP.BINANCE", 0.1),
                                                    ("cm/ethusd_perp_*.gz", "ETHUSD_PERP.BINANCE", 0.01)])
def test_the_futures_captures_chain_by_pu_without_a_gap(glob: str, instrument: str, tick: float) -> None:
    book = load_book(sorted((RAW / "hftbacktest").glob(glob)))
    assert book.instrument == instrument and book.notes == () and tick_size(book) == tick
    assert int(book.action[0]) == CLEAR and len(book.trade_ts) > 1000
