"""Bar loading: the shared real data, Binance klines, epoch units, malformed files, writing,
and the synthetic example data set."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot.data.bars import Bars, load_bars, write_bars_csv
from autobot.data.synthetic import EXAMPLE_PATH, generate_example_bars, main
from autobot.diagnostics import UserError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
RAW = SHARED / "raw" / "nautilus_trader"
HEADER = "timestamp,open,high,low,close,volume\n"

needs_shared = pytest.mark.skipif(not (SHARED / "README.md").exists(),
                                  reason="../shared/data is not available")


def _readme_table() -> list[tuple[str, int, str, str]]:
    """(file, rows, first, last) from every table of the data README that lists bar files
    (a header with File, Rows, First and Last columns)."""
    readme = SHARED / "README.md"
    if not readme.exists():
        return []
    out, columns = [], None
    for line in readme.read_text(encoding="utf-8").splitlines():
        if not line.strip().startswith("|"):
            columns = None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "File":
            columns = {name: k for k, name in enumerate(cells)} if {"Rows", "First", "Last"} <= set(cells) \
                else None
        elif columns is not None and cells[0].endswith(".csv"):
            out.append((cells[0], int(cells[columns["Rows"]].replace(",", "")), cells[columns["First"]],
                        cells[columns["Last"]]))
    return out


TABLE = _readme_table()


def _iso(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns").astype("datetime64[s]")) + "Z"


def _error(path: Path) -> "UserError":
    with pytest.raises(UserError) as info:
        load_bars(path)
    assert len(info.value.diagnostics) == 1
    return info.value


def _write(tmp_path: Path, text: str, name: str = "bars.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


# --------------------------------------------------------------------------------------------
# Real data in ../shared/data
# --------------------------------------------------------------------------------------------

@needs_shared
def test_readme_table_lists_every_converted_file() -> None:
    assert len(TABLE) >= 13 and len({row[0] for row in TABLE}) == len(TABLE)
    on_disk = {p.name for p in SHARED.glob("*.csv")}
    assert {row[0] for row in TABLE} == on_disk


@needs_shared
@pytest.mark.parametrize("name,rows,first,last", TABLE, ids=[row[0] for row in TABLE])
def test_shared_contract_file(name: str, rows: int, first: str, last: str) -> None:
    bars = load_bars(SHARED / name)
    assert bars.format == "csv"
    assert len(bars) == rows
    assert (_iso(bars.ts[0]), _iso(bars.ts[-1])) == (first, last)
    assert bars.ts.dtype == np.int64 and bars.close.dtype == np.float64
    assert np.all(np.diff(bars.ts) > 0)
    assert np.all(bars.high >= np.maximum(bars.open, bars.close))
    assert np.all(bars.low <= np.minimum(bars.open, bars.close))


@needs_shared
def test_shared_values_match_file_text() -> None:
    bars = load_bars(SHARED / "btc_perp_1m_20211231_20220201.csv")
    # 2021-12-31T23:01:00Z,46319.0,46385.0,46319.0,46377.0,2300413.7295
    assert bars.ts[0] == 1640991660 * 10**9
    assert (bars.open[0], bars.high[0], bars.low[0], bars.close[0]) == (46319.0, 46385.0, 46319.0,
                                                                       46377.0)
    assert bars.volume[0] == 2300413.7295
    fx = load_bars(SHARED / "fxcm_gbpusd_bid_1m_20120201_20120301.csv")
    assert not fx.volume.any()


@needs_shared
def test_raw_binance_klines_match_converted_file() -> None:
    day1 = load_bars(RAW / "ADABTC-1m-2021-11-27.csv")
    day2 = load_bars(RAW / "ADABTC-1m-2021-11-28.csv")
    converted = load_bars(SHARED / "binance_adabtc_1m_20211127_20211128.csv")
    assert (day1.format, len(day1), len(day2)) == ("binance", 10, 11)
    assert day1.ts[0] == 1637971200000 * 10**6  # the kline open time, in ms in the file
    for field in ("ts", "open", "high", "low", "close", "volume"):
        raw = np.concatenate([getattr(day1, field), getattr(day2, field)])
        np.testing.assert_array_equal(raw, getattr(converted, field)[:len(raw)], err_msg=field)


@needs_shared
def test_binance_microseconds_and_header_variants(tmp_path: Path) -> None:
    source = RAW / "ADABTC-1m-2021-11-27.csv"
    expected = load_bars(source)
    rows = source.read_text().splitlines()
    micro = [f"{int(r.split(',')[0]) * 1000},{r.split(',', 1)[1]}" for r in rows]
    assert load_bars(_write(tmp_path, "\n".join(micro) + "\n", "us.csv")).ts.tolist() == \
        expected.ts.tolist()
    header = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
              "taker_buy_volume,taker_buy_quote_volume,ignore\n")
    with_header = load_bars(_write(tmp_path, header + "\n".join(rows) + "\n", "h.csv"))
    assert with_header.format == "binance"
    np.testing.assert_array_equal(with_header.close, expected.close)


@needs_shared
def test_raw_nautilus_naive_timestamps_equal_converted_utc() -> None:
    raw = load_bars(RAW / "btc-perp-20211231-20220201_1m.csv")  # "2021-12-31 23:01:00.000000"
    converted = load_bars(SHARED / "btc_perp_1m_20211231_20220201.csv")
    assert raw == Bars(raw.path, converted.ts, converted.open, converted.high, converted.low,
                       converted.close, converted.volume, "csv")


@needs_shared
def test_raw_files_in_other_layouts_are_header_errors() -> None:
    fxcm = _error(RAW / "fxcm" / "gbpusd-m1-bid-2012.csv").diagnostics[0]
    assert (fxcm.code, fxcm.line) == ("data-header", 1)
    assert "missing column(s) 'volume'" in fxcm.message
    xcme = _error(RAW / "xcme" / "6EH4.XCME_1min_bars_20240101_20240131.csv.gz").diagnostics[0]
    assert "did you mean 'timestamp'" in xcme.message
    yahoo = _error(SHARED / "raw" / "backtrader" / "orcl-1995-2014.txt").diagnostics[0]
    assert yahoo.code == "data-header" and "'Date'" in yahoo.message


# --------------------------------------------------------------------------------------------
# Timestamp formats
# --------------------------------------------------------------------------------------------

_SECONDS = [1640991660 + 60 * k for k in range(5)]
_BODY = ["10,12,9,11,5", "11,13,10,12,6", "12,14,11,13,7", "13,15,12,14,8", "14,16,13,15,9"]


def _epoch_file(tmp_path: Path, factor: int, name: str) -> Path:
    lines = [f"{s * factor},{body}" for s, body in zip(_SECONDS, _BODY)]
    return _write(tmp_path, HEADER + "\n".join(lines) + "\n", name)


def test_epoch_units_give_identical_timestamps(tmp_path: Path) -> None:
    expected = [s * 10**9 for s in _SECONDS]
    for factor, name in ((1, "s"), (10**3, "ms"), (10**6, "us"), (10**9, "ns")):
        bars = load_bars(_epoch_file(tmp_path, factor, f"{name}.csv"))
        assert bars.ts.tolist() == expected, name
    iso = [f"{_iso(s * 10**9)},{body}" for s, body in zip(_SECONDS, _BODY)]
    assert load_bars(_write(tmp_path, HEADER + "\n".join(iso) + "\n")).ts.tolist() == expected


@pytest.mark.parametrize("stamp", ["2021-12-31T23:01:00Z", "2021-12-31T23:01:00+00:00",
                                   "2021-12-31T23:01:00", "2021-12-31 23:01:00",
                                   "2021-12-31 23:01:00.000000", "2022-01-01T00:01:00+01:00",
                                   "2021-12-31T18:01:00-05:00", " 2021-12-31T23:01:00Z "])
def test_iso_variants(tmp_path: Path, stamp: str) -> None:
    bars = load_bars(_write(tmp_path, HEADER + f"{stamp},10,12,9,11,5\n"))
    assert bars.ts.tolist() == [1640991660 * 10**9]


def test_plain_dates_and_fractions(tmp_path: Path) -> None:
    text = HEADER + ("2021-01-01,10,12,9,11,5\n2021-01-02T00:00:00.5Z,10,12,9,11,5\n"
                     "2021-01-03T00:00:00.123456789Z,10,12,9,11,5\n")
    ts = load_bars(_write(tmp_path, text)).ts.tolist()
    assert ts == [1609459200 * 10**9, 1609545600 * 10**9 + 500_000_000,
                  1609632000 * 10**9 + 123_456_789]


def test_header_case_whitespace_crlf_and_quotes(tmp_path: Path) -> None:
    text = ' Timestamp , OPEN,High,low,Close,Volume\r\n"2021-01-01T00:00:00Z","10",12,9,11,5\r\n'
    bars = load_bars(_write(tmp_path, text))
    assert len(bars) == 1 and bars.close[0] == 11.0


# --------------------------------------------------------------------------------------------
# Malformed files: every error names the line, column and what is wrong
# --------------------------------------------------------------------------------------------

R1 = "2021-01-01T00:00:00Z,10,12,9,11,5\n"
R2 = "2021-01-01T00:01:00Z,11,13,10,12,6\n"
R3 = "2021-01-01T00:02:00Z,12,14,11,13,7\n"

MALFORMED = [
    ("bad-number", HEADER + R1 + "2021-01-01T00:01:00Z,11,1a3,10,12,6\n" + R3, 3, 25,
     "high is '1a3', not a number"),
    ("empty-number", HEADER + R1 + R2 + "2021-01-01T00:02:00Z,12,14,11,13,\n", 4, 34,
     "volume is empty"),
    ("nan", HEADER + R1 + R2 + "2021-01-01T00:02:00Z,12,14,11,nan,7\n", 4, 31,
     "close is 'nan', not a finite number"),
    ("inf", HEADER + "2021-01-01T00:00:00Z,10,inf,9,11,5\n", 2, 25, "not a finite number"),
    ("negative-price", HEADER + R1 + "2021-01-01T00:01:00Z,-11,13,10,12,6\n", 3, 22,
     "open price must be positive, got -11"),
    ("zero-price", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,0,12,6\n", 3, 28,
     "low price must be positive, got 0"),
    ("negative-volume", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,10,12,-6\n", 3, 34,
     "volume must not be negative, got -6"),
    ("high-below-low", HEADER + R1 + "2021-01-01T00:01:00Z,11,9,10,10,6\n", 3, 25,
     "high 9 is below low 10"),
    ("high-below-close", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,10,14,6\n", 3, 25,
     "high 13 is below the close 14"),
    ("low-above-open", HEADER + R1 + "2021-01-01T00:01:00Z,9.5,13,10,12,6\n", 3, 29,
     "low 10 is above the open 9.5"),
    ("duplicate", HEADER + R1 + R2 + R2, 4, 1,
     "duplicate timestamp 2021-01-01T00:01:00Z: line 3 has the same one"),
    ("unsorted", HEADER + R1 + R3 + R2, 4, 1,
     "2021-01-01T00:01:00Z is earlier than 2021-01-01T00:02:00Z on line 3"),
    ("too-few-fields", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,10,12\n" + R3, 3, 33,
     "row has 5 fields; needs 6 fields"),
    ("too-many-fields", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,10,12,6,1\n" + R3, 3, 36,
     "row has 7 fields"),
    ("blank-line", HEADER + R1 + "\n" + R2, 3, 1, "blank line"),
    ("bad-timestamp", HEADER + R1 + "2021-01-01X00:01:00Z,11,13,10,12,6\n", 3, 1,
     "'2021-01-01X00:01:00Z', not a valid timestamp"),
    ("impossible-date", HEADER + R1 + "2021-02-30T00:01:00Z,11,13,10,12,6\n", 3, 1,
     "not a real date/time"),
    ("epoch-garbage", HEADER + "1609459200,10,12,9,11,5\n16094592x0,11,13,10,12,6\n", 3, 1,
     "not an integer epoch"),
    ("epoch-unit-change", HEADER + "1609459200,10,12,9,11,5\n1609459260000,11,13,10,12,6\n",
     3, 1, "does not look like epoch seconds"),
    ("quoted-bad-number", HEADER + R1 + '"2021-01-01T00:01:00Z","11","13","10","1x2","6"\n',
     3, 31, "close is '1x2'"),
    ("crlf-line-numbers", (HEADER + R1 + R2 + "2021-01-01T00:02:00Z,12,14,11,13,-7\n")
     .replace("\n", "\r\n"), 4, 34, "volume must not be negative"),
    ("earliest-row-wins", HEADER + R1 + "2021-01-01T00:01:00Z,11,13,10,12,-6\n"
     "2021-01-01T00:02:00Z,x,14,11,13,7\n", 3, 34, "volume must not be negative"),
]


@pytest.mark.parametrize("text,line,column,substring", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_row(tmp_path: Path, text: str, line: int, column: int, substring: str) -> None:
    path = _write(tmp_path, text)
    diag = _error(path).diagnostics[0]
    assert (diag.code, diag.line, diag.column) == ("data-row", line, column), diag
    assert substring in diag.message
    assert diag.file == str(path) and diag.hint


@pytest.mark.parametrize("text,code,substring", [
    ("", "data-empty", "the file is empty"),
    ("\n\n", "data-empty", "the file is empty"),
    (HEADER, "data-empty", "no data rows"),
    (R1 + R2, "data-header", "no header line"),
    ("timestamp,open,high,low,close\n" + R1, "data-header", "missing column(s) 'volume'"),
    ("timestamp,open,high,low,close,volume,adj\n" + R1, "data-header", "extra column(s) 'adj'"),
    ("timestamp,open,low,high,close,volume\n" + R1, "data-header", "out of order"),
    ("time,open,high,low,close,volume\n" + R1, "data-header", "unexpected column 'time'"),
])
def test_malformed_file(tmp_path: Path, text: str, code: str, substring: str) -> None:
    diag = _error(_write(tmp_path, text)).diagnostics[0]
    assert (diag.code, diag.line) == (code, 1)
    assert substring in diag.message


def test_missing_file(tmp_path: Path) -> None:
    diag = _error(tmp_path / "nope.csv").diagnostics[0]
    assert diag.code == "data-file" and "not found" in diag.message
    assert diag.file == str(tmp_path / "nope.csv")


def test_directory_and_binary_files(tmp_path: Path) -> None:
    assert _error(tmp_path).diagnostics[0].code == "data-file"
    binary = tmp_path / "x.csv"
    binary.write_bytes(HEADER.encode() + b"\xff\xfe\n")
    diag = _error(binary).diagnostics[0]
    assert (diag.code, diag.line) == ("data-file", 2)


def test_binance_row_error_names_column(tmp_path: Path) -> None:
    good = ("1637971200000,2.853e-05,2.854e-05,2.851e-05,2.854e-05,36304.2,1637971259999,1.0,79,"
            "1.0,0.5,0\n")
    bad = "1637971260000,2.854e-05,abc,2.854e-05,2.859e-05,89196.6,1637971319999,2.5,98,5.0,1.6,0\n"
    diag = _error(_write(tmp_path, good + bad)).diagnostics[0]
    assert (diag.line, diag.column) == (2, 25)
    assert "high is 'abc'" in diag.message and "Binance column 3" in diag.message


def test_large_file_loads_in_linear_time(tmp_path: Path) -> None:
    n = 200_000
    bars = generate_example_bars(n=n, step_seconds=60)
    path = tmp_path / "big.csv"
    write_bars_csv(bars, path)
    started = time.perf_counter()
    loaded = load_bars(path)
    assert time.perf_counter() - started < 10.0
    assert len(loaded) == n
    text = path.read_text().splitlines()
    text[n - 10] = text[n - 10].replace(",", ",-", 1)  # a negative open near the end
    path.write_text("\n".join(text) + "\n")
    started = time.perf_counter()
    assert _error(path).diagnostics[0].line == n - 9
    assert time.perf_counter() - started < 20.0


# --------------------------------------------------------------------------------------------
# Bars, writing and round trips
# --------------------------------------------------------------------------------------------

def test_bars_slice_len_and_read_only() -> None:
    bars = generate_example_bars(n=50)
    part = bars.slice(10, 20)
    assert len(part) == 10 and part.ts[0] == bars.ts[10] and part.close[-1] == bars.close[19]
    with pytest.raises(ValueError):
        bars.close[0] = 1.0
    with pytest.raises(ValueError):
        Bars("x", np.arange(3), np.ones(3), np.ones(3), np.ones(3), np.ones(3), np.ones(2), "csv")


@needs_shared
@pytest.mark.parametrize("name", ["binance_adabtc_1m_20211127_20211128.csv",
                                  "freqtrade_eth_btc_5m_20180110_20180130.csv",
                                  "orcl_1d_1995_2014.csv"])
def test_round_trip_shared(tmp_path: Path, name: str) -> None:
    bars = load_bars(SHARED / name)
    out = tmp_path / name
    write_bars_csv(bars, out)
    again = load_bars(out)
    assert again == Bars(str(out), bars.ts, bars.open, bars.high, bars.low, bars.close,
                         bars.volume, "csv")


def test_round_trip_sub_second_timestamps(tmp_path: Path) -> None:
    ts = np.array([1, 1_000, 1_000_000_000, 1_500_000_000_123], dtype=np.int64)
    ones = np.ones(4)
    bars = Bars("x", ts, ones, ones * 2, ones / 2, ones, ones * 0, "csv")
    write_bars_csv(bars, tmp_path / "x.csv")
    assert load_bars(tmp_path / "x.csv").ts.tolist() == ts.tolist()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(1e-9, 1e9), st.floats(1e-9, 1e9), st.floats(0, 1e12)),
                min_size=1, max_size=30))
def test_round_trip_arbitrary_floats(tmp_path_factory: pytest.TempPathFactory,
                                     values: list[tuple[float, float, float]]) -> None:
    o = np.array([v[0] for v in values])
    c = np.array([v[1] for v in values])
    vol = np.array([v[2] for v in values])
    ts = 1_700_000_000 * 10**9 + np.arange(len(values), dtype=np.int64) * 60 * 10**9
    bars = Bars("x", ts, o, np.maximum(o, c), np.minimum(o, c), c, vol, "csv")
    out = tmp_path_factory.mktemp("rt") / "x.csv"
    write_bars_csv(bars, out)
    again = load_bars(out)
    for field in ("ts", "open", "high", "low", "close", "volume"):
        np.testing.assert_array_equal(getattr(again, field), getattr(bars, field))


# --------------------------------------------------------------------------------------------
# Synthetic example data
# --------------------------------------------------------------------------------------------

def test_synthetic_is_deterministic_and_consistent() -> None:
    a, b = generate_example_bars(), generate_example_bars()
    assert a == b and len(a) == 3000
    assert not np.array_equal(generate_example_bars(seed=8).close, a.close)
    assert np.all(a.open[1:] == a.close[:-1])
    assert np.all(a.high >= np.maximum(a.open, a.close))
    assert np.all(a.low <= np.minimum(a.open, a.close))
    assert np.all(a.low > 0) and np.all(a.volume > 0)
    assert np.all(np.diff(a.ts) == 3600 * 10**9)
    assert np.array_equal(a.close, np.round(a.close, 2))
    assert np.array_equal(a.volume, np.round(a.volume, 4))
    surges = a.volume > 4 * np.median(a.volume)
    assert 0 < surges.sum() < 0.1 * len(a)


def test_committed_example_equals_fresh_generation(tmp_path: Path) -> None:
    fresh = tmp_path / "example.csv"
    assert main([str(fresh)]) == 0
    assert EXAMPLE_PATH == ROOT / "examples" / "data" / "example_btcusdt_1h.csv"
    assert EXAMPLE_PATH.read_bytes() == fresh.read_bytes()
    loaded = load_bars(EXAMPLE_PATH)
    assert len(loaded) == 3000 and _iso(loaded.ts[0]) == "2024-01-01T00:00:00Z"
    generated = generate_example_bars()
    np.testing.assert_array_equal(loaded.close, generated.close)
    np.testing.assert_array_equal(loaded.ts, generated.ts)
