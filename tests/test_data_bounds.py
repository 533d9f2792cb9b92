"""Bounded work and no tracebacks for every data file AutoBot reads (issue 26, issue 27's load_bars).

* bars (``load_bars``): at most ~3x the file's size in memory (measured in a child process,
  ``os.wait4``), errors in large files still positioned;
* text feeds (``load_texts``): every hostile timestamp, an over-long field and deep JSON are
  errors naming the file and line; memory ~3x the file;
* book captures: out-of-range times, deep JSON, a truncated DBN file and two instruments in one
  book are ``BookFileError``s; exchange times going backwards keep the update-id order, with a note.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autobot.data.bars import load_bars
from autobot.diagnostics import UserError
from tests.helpers import ROOT, SHARED_DATA

HEADER = "timestamp,open,high,low,close,volume\n"
DBN = SHARED_DATA / "raw" / "databento" / "esh4-glbx-mdp3-20231225.mbo.dbn.zst"

CHILD = r"""
import json, sys


def hwm():  # this interpreter's peak RSS in KiB: VmHWM is its own address space's, where
    # ru_maxrss starts at the parent's size (inherited across fork and exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

kind, path = sys.argv[1], sys.argv[2]
if kind == "bars":
    from autobot.data.bars import load_bars as load
    import pyarrow, pyarrow.csv, pyarrow.compute  # noqa: F401  (imports are not the load's cost;
    import pandas  # noqa: F401  pyarrow imports pandas on its first cast: 42 MiB, once a process)
else:
    from autobot.data.text import load_texts as load
base = hwm()
try:
    n = len(load(path).ts)
except Exception as exc:          # a UserError: its first diagnostic
    d = exc.diagnostics[0]
    n = f"{d.line}:{d.column} {d.message}"
print(json.dumps({"n": n, "base_kib": base, "peak_kib": hwm()}))
"""


def _load_in_child(kind: str, path: Path) -> tuple[object, float]:
    """(rows or the error, MiB the load added to the child's peak RSS after its imports). The peak
    is the child's own VmHWM, checked against ``os.wait4``'s (which also counts what the child
    inherited from this process)."""
    proc = subprocess.Popen([sys.executable, "-c", CHILD, kind, str(path)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err.decode()[-2000:]
    got = json.loads(out)
    assert usage.ru_maxrss >= got["peak_kib"]
    return got["n"], (got["peak_kib"] - got["base_kib"]) / 1024


def _bar_file(path: Path, rows: int) -> Path:
    """``rows`` one-minute bars with ISO timestamps (about 60 bytes a row)."""
    rng = np.random.default_rng(5)
    close = np.round(40000 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows))), 1)
    stamps = np.datetime_as_string(np.datetime64("2020-01-01T00:00") + np.arange(rows), unit="s")
    high, low, vol = np.round(close * 1.001, 1), np.round(close * 0.999, 1), np.round(rng.uniform(0, 1e6, rows), 4)
    with open(path, "w") as fh:
        fh.write(HEADER)
        fh.writelines(f"{t}Z,{c},{h},{lo},{c},{v}\n"
                      for t, c, h, lo, v in zip(stamps.tolist(), close.tolist(), high.tolist(), low.tolist(),
                                                vol.tolist()))
    return path


# --------------------------------------------------------------------------------------------
# Bars
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bar_file(tmp_path_factory.mktemp("bars") / "big.csv", 600_000)


def test_load_bars_holds_at_most_about_three_times_the_file(big_bars: Path) -> None:
    size = big_bars.stat().st_size / 2**20
    rows, added = _load_in_child("bars", big_bars)
    assert rows == 600_000
    # 3x the file, plus pyarrow's reading buffers (a few 4 MiB blocks): was 12x (+470 MiB here)
    assert added < 3 * size + 64, f"load_bars added {added:.0f} MiB for a {size:.0f} MiB file"


def test_a_bad_row_at_the_end_of_a_large_file_is_positioned_within_the_same_bound(big_bars: Path,
                                                                                   tmp_path: Path) -> None:
    text = big_bars.read_bytes()
    cut = text.rfind(b"\n", 0, len(text) - 1) + 1
    lines = text.count(b"\n")
    short = tmp_path / "short.csv"                  # the last row loses its volume: a field-count error
    short.write_bytes(text[:text.rfind(b",")] + b"\n")
    error, added = _load_in_child("bars", short)
    assert isinstance(error, str) and error.startswith(f"{lines}:") and "row has 5 fields" in error, error
    assert added < 3 * len(text) / 2**20 + 64
    blank = tmp_path / "blank.csv"                  # a blank line before the last row
    blank.write_bytes(text[:cut] + b"\n" + text[cut:])
    with pytest.raises(UserError) as info:
        load_bars(blank)
    d = info.value.diagnostics[0]
    assert (d.line, d.code) == (lines, "data-row") and "blank line" in d.message


def test_a_row_problem_in_a_later_block_names_its_line_and_the_line_before(tmp_path: Path) -> None:
    path = _bar_file(tmp_path / "b.csv", 200_000)    # ~12 MiB: several of the reader's blocks
    lines = path.read_text().splitlines(keepends=True)
    lines[150_001] = lines[150_000]                  # a duplicate far from the first block
    path.write_text("".join(lines))
    with pytest.raises(UserError) as info:
        load_bars(path)
    d = info.value.diagnostics[0]
    assert d.line == 150_002 and "line 150001 has the same one" in d.message


# --------------------------------------------------------------------------------------------
# Text feeds
# --------------------------------------------------------------------------------------------

def _texts(tmp_path: Path, body: str, name: str = "t.csv") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_epoch_units_of_text_timestamps_come_from_their_magnitude(tmp_path: Path) -> None:
    from autobot.data.text import load_texts
    s = 1640995200
    for value in (s, s * 10**3, s * 10**6, s * 10**9):
        t = load_texts(_texts(tmp_path, f"timestamp,text\n{value},hello\n"))
        assert t.ts.tolist() == [s * 10**9], value


@pytest.mark.parametrize("stamp,words", [
    ("3000-01-01T00:00:00Z", "outside 1677-09-22..2262-04-11"),
    ("0001-01-01T00:00:00Z", "outside 1677-09-22..2262-04-11"),
    ("1e300", "neither ISO 8601"),
    ("-99999999999999999999999", "outside 1677-09-22..2262-04-11"),
    ("99999999999999999999", "outside 1677-09-22..2262-04-11"),
])
def test_hostile_text_timestamps_are_positioned_errors(tmp_path: Path, stamp: str, words: str) -> None:
    from autobot.data.text import load_texts
    path = _texts(tmp_path, f"timestamp,text\n2024-01-01T00:00:00Z,fine\n{stamp},hi\n")
    with pytest.raises(UserError) as info:
        load_texts(path)
    d = info.value.diagnostics[0]
    assert (d.file, d.line) == (str(path), 3) and words in d.message, d.message


@pytest.mark.parametrize("value", [1e300, -1e30, 10**25])
def test_hostile_json_timestamps_are_positioned_errors(tmp_path: Path, value: float) -> None:
    from autobot.data.text import load_texts
    path = _texts(tmp_path, json.dumps({"timestamp": 1, "text": "a"}) + "\n"
                  + json.dumps({"timestamp": value, "text": "b"}) + "\n", "t.jsonl")
    with pytest.raises(UserError) as info:
        load_texts(path)
    assert info.value.diagnostics[0].line == 2 and "outside 1677" in info.value.diagnostics[0].message


def test_a_text_field_over_128_kib_and_deep_json_are_positioned_errors(tmp_path: Path) -> None:
    from autobot.data.text import TextTail, load_texts
    long = _texts(tmp_path, "timestamp,text\n2024-01-01T00:00:00Z,ok\n2024-01-01T00:00:01Z," + "x" * 200_000 + "\n")
    with pytest.raises(UserError) as info:
        load_texts(long)
    assert info.value.diagnostics[0].line == 3 and "longer than 131072 characters" in info.value.diagnostics[0].message
    deep = _texts(tmp_path, json.dumps({"timestamp": 1, "text": "a"}) + "\n" + "[" * 60_000 + "]" * 60_000 + "\n",
                  "d.jsonl")
    with pytest.raises(UserError) as info:
        load_texts(deep)
    assert info.value.diagnostics[0].line == 2 and "nested too deep" in info.value.diagnostics[0].message
    feed = _texts(tmp_path, "timestamp,symbol,text\n2024-01-01T00:00:00Z,BTCUSDT,hello\n", "feed.csv")
    tail = TextTail(feed)
    with open(feed, "a") as fh:                      # a live feed: skipped with a warning, never a traceback
        fh.write("2024-01-01T01:00:00Z,BTCUSDT," + "y" * 200_000 + "\n3000-01-01T00:00:00Z,BTCUSDT,x\n"
                 "2024-01-01T02:00:00Z,BTCUSDT,fine\n")
    assert tail.read().text == ["fine"] and len(tail.errors) == 2


def test_load_texts_holds_about_three_times_the_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    words = np.array("bitcoin rally crash good bad great awful moon dump pump hold sell buy news".split())
    n = 250_000
    picks = words[rng.integers(0, len(words), (n, 10))]
    path = tmp_path / "feed.csv"
    with open(path, "w") as fh:
        fh.write("timestamp,symbol,text\n")
        fh.writelines(f"{1_600_000_000 + k},BTCUSDT,{' '.join(row)}\n" for k, row in enumerate(picks.tolist()))
    size = path.stat().st_size / 2**20
    rows, added = _load_in_child("texts", path)
    assert rows == n
    assert added < 3 * size + 16, f"load_texts added {added:.0f} MiB for a {size:.0f} MiB file"   # was ~10x


# --------------------------------------------------------------------------------------------
# Book captures
# --------------------------------------------------------------------------------------------

def _line(recv: int, obj: dict) -> str:
    return f"{recv} {json.dumps(obj)}"


def _diff(big_u: int, u: int, e_ms: int, bids=(), asks=(), pu: int | None = None, symbol: str = "BTCUSDT") -> dict:
    d = {"e": "depthUpdate", "E": e_ms, "s": symbol, "U": big_u, "u": u, "b": list(bids), "a": list(asks)}
    if pu is not None:
        d["pu"] = pu
    return {"stream": f"{symbol.lower()}@depth", "data": d}


def _trade(t_ms: int, tid: int, symbol: str = "BTCUSDT") -> dict:
    return {"stream": f"{symbol.lower()}@trade", "data": {"e": "trade", "E": t_ms, "s": symbol, "t": tid,
                                                          "p": "100.00", "q": "1", "T": t_ms, "m": False}}


SNAPSHOT = {"lastUpdateId": 100, "bids": [["100.00", "5"]], "asks": [["100.01", "2"]]}


def _capture(tmp_path: Path, lines: list[str], name: str = "cap.txt") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_out_of_range_book_times_and_deep_json_are_book_file_errors(tmp_path: Path) -> None:
    from autobot.data.book_binance import BookFileError
    from autobot.data.book_files import load_book
    base = [_line(1, SNAPSHOT), _line(2, _diff(96, 104, 1100, bids=[["100.00", "4"]]))]
    cases = {
        "trade": _line(3, _trade(10**16, 7)),
        "event": _line(3, _diff(105, 106, 10**16)),
        "receive": _line(10**20, _diff(105, 106, 1200)),
        "deep": "3 " + "[" * 100_000 + "]" * 100_000,
    }
    for what, bad in cases.items():
        path = _capture(tmp_path, base + [bad], f"{what}.txt")
        with pytest.raises(BookFileError) as info:
            load_book([path])
        assert info.value.line == 3 and str(path) in str(info.value), (what, str(info.value))


def test_two_instruments_in_one_book_are_refused(tmp_path: Path) -> None:
    from autobot.data.book_binance import BookFileError
    from autobot.data.book_files import load_book
    spot = _capture(tmp_path, [_line(1, SNAPSHOT), _line(2, _diff(96, 104, 1100))], "btc_spot.txt")
    perp = _capture(tmp_path, [_line(5, {**SNAPSHOT, "E": 1000, "T": 1000}),
                               _line(6, _diff(98, 103, 1200, pu=97, symbol="ETHUSDT"))], "eth_perp.txt")
    with pytest.raises(BookFileError) as info:
        load_book([spot, perp])
    assert "two instruments in one book" in str(info.value) and info.value.line == 2
    btc_perp = _capture(tmp_path, [_line(5, {**SNAPSHOT, "E": 1000, "T": 1000}),
                                   _line(6, _diff(98, 103, 1200, pu=97))], "btc_perp.txt")
    with pytest.raises(BookFileError) as info:                         # same symbol, another market
        load_book([spot, btc_perp])
    assert "usdm depth update in a spot capture" in str(info.value)


def test_exchange_times_going_back_keep_the_update_order_with_a_note(tmp_path: Path) -> None:
    from autobot.data.book_files import load_book
    lines = [_line(1, SNAPSHOT), _line(2, _diff(96, 104, 1100, bids=[["100.00", "4"]])),
             _line(3, _diff(105, 106, 1300, asks=[["100.02", "1"]])),
             _line(4, _diff(107, 108, 1200, asks=[["100.03", "1"]])),     # 100 ms back
             _line(5, _diff(109, 110, 1250, asks=[["100.04", "1"]])),
             _line(6, _trade(1300, 1)), _line(7, _trade(1290, 2)), _line(8, _trade(1400, 3))]
    book = load_book([_capture(tmp_path, lines)])
    assert np.all(np.diff(book.ts) >= 0) and np.all(np.diff(book.trade_ts) >= 0)
    assert list(book.sequence[-3:]) == [106, 108, 110]                  # the update-id order is kept
    assert list(book.price[-3:]) == [100.02, 100.03, 100.04]
    assert book.trade_id == ["1", "2", "3"]
    assert any("2 book updates carry an exchange time earlier" in n and "100 ms" in n for n in book.notes)
    assert any("1 trades carry an exchange time earlier" in n for n in book.notes)


@pytest.mark.skipif(not DBN.exists(), reason=f"SKIPPED LOUDLY: {DBN} is not there (CI has ../shared/data)")
def test_a_dbn_file_cut_short_is_an_error(tmp_path: Path) -> None:
    from autobot.data.book_binance import BookFileError
    from autobot.data.book_files import load_book
    data = DBN.read_bytes()
    cut = tmp_path / "cut.mbo.dbn.zst"
    cut.write_bytes(data[:int(len(data) * 0.4)])
    with pytest.raises(BookFileError) as info:
        load_book([cut])
    assert "truncated" in str(info.value)
    import pyarrow as pa
    plain = pa.CompressedInputStream(pa.OSFile(str(DBN)), "zstd").read()
    cut_plain = tmp_path / "cut.mbo.dbn"                # not compressed: a record cut in two
    cut_plain.write_bytes(plain[:int(len(plain) * 0.4) + 3])
    with pytest.raises(BookFileError) as info:
        load_book([cut_plain])
    assert "last record is cut short" in str(info.value)
