"""Load OHLCV bars from CSV files into numpy column arrays (no pandas, no nautilus_trader).

Two formats are detected from the first line:

* **Contract CSV**: the header is exactly ``timestamp,open,high,low,close,volume`` (case and
  whitespace around names are ignored; no column may be missing, added or reordered).
* **Binance kline CSV**: 12 columns (open time, open, high, low, close, volume, close time,
  quote volume, trades, taker buy base, taker buy quote, ignore), with no header or with a
  header starting ``open_time,open,high,low,close,volume``. ``ts`` is the kline *open* time.

Timestamps are ISO 8601 (``2021-12-31T23:01:00Z``, ``+HH:MM`` offsets, naive = UTC, a space
instead of ``T``, fractions up to nanoseconds, plain dates ``YYYY-MM-DD``) or integer epochs.
The unit of an integer epoch comes from the first row's magnitude ``v``:

============================  ============  ======================================
first value                   unit          (contract CSV)
============================  ============  ======================================
``v < 1e11``                  seconds       up to year 5138
``1e11 <= v < 1e14``          milliseconds  from 1973-03-03
``1e14 <= v < 1e17``          microseconds  from 1973-03-03
``v >= 1e17``                 nanoseconds   from 1973-03-03
============================  ============  ======================================

Every other row must fall in the same band. Binance open times are milliseconds, or
microseconds when ``v >= 1e14`` (Binance's newer dumps).

Every bad input raises :class:`~autobot.diagnostics.UserError` with one diagnostic naming the
file, the 1-based line and column, and a hint. Codes: ``data-file`` (missing or unreadable
file), ``data-header`` (unknown header or column layout), ``data-empty`` (no bars) and
``data-row`` (a bad row: field count, number, NaN/inf, price, OHLC consistency, timestamp,
order). Rows are never dropped; the earliest bad row is reported.
"""

from __future__ import annotations

import csv
import io
import operator
import re
from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from autobot.diagnostics import Diagnostic, Position, UserError, did_you_mean

__all__ = ["Bars", "load_bars", "write_bars_csv", "CONTRACT_COLUMNS", "BINANCE_COLUMNS"]

CONTRACT_COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")
BINANCE_COLUMNS = ("open_time", "open", "high", "low", "close", "volume", "close_time",
                   "quote_volume", "trades", "taker_buy_base_volume", "taker_buy_quote_volume",
                   "ignore")
_PRICE_NAMES = ("open", "high", "low", "close")
_VALUE_FIELDS = (*_PRICE_NAMES, "volume")
_INT64_MAX = np.iinfo(np.int64).max
_TS_HINT = ("write timestamps as ISO 8601 UTC such as 2021-12-31T23:01:00Z, or as integer epoch "
            "seconds/milliseconds/microseconds/nanoseconds, the same way on every row")


# --------------------------------------------------------------------------------------------
# Bars
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Bars:
    """OHLCV bars as column arrays, oldest first.

    ``ts`` is int64 UTC nanoseconds since the epoch, as written in the file (for Binance klines
    the kline open time); prices and volume are float64. The arrays are read-only.
    """

    path: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    format: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "ts", _frozen_array(self.ts, np.int64))
        for name in _VALUE_FIELDS:
            object.__setattr__(self, name, _frozen_array(getattr(self, name), np.float64))
        lengths = {len(getattr(self, n)) for n in ("ts", *_VALUE_FIELDS)}
        if len(lengths) != 1:
            raise ValueError(f"Bars columns have different lengths: {sorted(lengths)}")

    def __len__(self) -> int:
        return int(self.ts.shape[0])

    def slice(self, start: int, stop: int) -> "Bars":
        """Bars ``start`` (inclusive) to ``stop`` (exclusive) by Python slice rules, as views."""
        s = slice(start, stop)
        return Bars(self.path, self.ts[s], self.open[s], self.high[s], self.low[s],
                    self.close[s], self.volume[s], self.format)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bars):
            return NotImplemented
        return all(_field_equal(getattr(self, f.name), getattr(other, f.name))
                   for f in fields(self))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        span = ""
        if len(self):
            first, last = _iso_strings(self.ts[[0, -1]])
            span = f", first={first}, last={last}"
        return f"Bars(path={self.path!r}, format={self.format!r}, n={len(self)}{span})"


#: NautilusTrader's largest price and quantity (PRICE_MAX, QUANTITY_MAX at 9 decimals), rounded down
MAX_PRICE = 1e13
MAX_VOLUME = 3e13
#: the largest data file read (decompressed size for .gz): larger data belongs in a NautilusTrader catalog
MAX_DATA_BYTES = 256 * 1024 * 1024


def _frozen_array(values: object, dtype: type) -> np.ndarray:
    """A 1-D read-only array of ``dtype``; copies unless ``values`` already is one."""
    arr = values if isinstance(values, np.ndarray) else np.asarray(values)
    if arr.ndim != 1:
        raise ValueError(f"Bars columns must be 1-D arrays, got shape {arr.shape}")
    if arr.dtype != dtype or arr.flags.writeable:
        arr = np.array(arr, dtype=dtype, copy=True)
        arr.setflags(write=False)
    return arr


def _field_equal(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a == b


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

def write_bars_csv(bars: Bars, path: str | Path) -> None:
    """Write ``bars`` as a contract CSV: ISO ``...Z`` timestamps and ``repr()`` floats."""
    stamps = _iso_strings(bars.ts)
    cols = [bars.open.tolist(), bars.high.tolist(), bars.low.tolist(), bars.close.tolist(),
            bars.volume.tolist()]
    lines = [",".join(CONTRACT_COLUMNS)]
    lines.extend(f"{t},{o!r},{h!r},{lo!r},{c!r},{v!r}" for t, o, h, lo, c, v in zip(stamps, *cols))
    Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8", newline="\n")


def _iso_strings(ts: np.ndarray) -> list[str]:
    """ISO 8601 UTC strings with a ``Z``, at the coarsest unit that keeps every value exact."""
    unit = "ns"
    for name, factor in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if not np.any(ts % factor):
            unit = name
            break
    text = np.datetime_as_string(np.asarray(ts, dtype=np.int64).view("datetime64[ns]"), unit=unit)
    return [s + "Z" for s in text.tolist()]


# --------------------------------------------------------------------------------------------
# Loading: file -> grid of string fields
# --------------------------------------------------------------------------------------------

class _Grid:
    """The data rows of a CSV as strings, with a way back to each row's line number."""

    def __init__(self, rows: Sequence[Sequence[str]] | None, lines: list[str] | None,
                 line_numbers: list[int] | None, first_line: int):
        self._rows, self._lines = rows, lines
        self._line_numbers, self._first_line = line_numbers, first_line

    @staticmethod
    def from_text(text: str, name: str) -> "_Grid":
        """Every row of ``text``; trailing blank lines are not rows."""
        if '"' not in text and "\r" not in text:
            lines = text.split("\n")
            while lines and lines[-1] == "":
                lines.pop()
            return _Grid(None, lines, None, 1)
        rows, numbers = _read_quoted(text, name)
        return _Grid(rows, None, numbers, 1)

    def drop_header(self) -> "_Grid":
        """The same grid without its first row."""
        if self._lines is not None:
            return _Grid(None, self._lines[1:], None, self._first_line + 1)
        assert self._rows is not None and self._line_numbers is not None
        return _Grid(self._rows[1:], None, self._line_numbers[1:], self._first_line)

    def __len__(self) -> int:
        return len(self._lines if self._lines is not None else self._rows)  # type: ignore[arg-type]

    def row(self, k: int) -> list[str]:
        if self._lines is not None:
            return self._lines[k].split(",")
        assert self._rows is not None
        return list(self._rows[k])

    def line(self, k: int) -> int:
        if self._line_numbers is not None:
            return self._line_numbers[k]
        return self._first_line + k

    def field_counts(self, stop: int) -> np.ndarray:
        if self._lines is not None:
            counts = map(operator.methodcaller("count", ","), self._lines[:stop])
            return np.fromiter(counts, dtype=np.intp, count=stop) + 1
        assert self._rows is not None
        return np.fromiter(map(len, self._rows[:stop]), dtype=np.intp, count=stop)

    def columns(self, stop: int, width: int, wanted: int) -> list[Sequence[str]]:
        """The first ``wanted`` columns of rows ``[0, stop)``; every row has ``width`` fields."""
        if self._lines is not None:
            flat = ",".join(self._lines[:stop]).split(",")
            return [flat[j::width] for j in range(wanted)]
        assert self._rows is not None
        return list(zip(*self._rows[:stop]))[:wanted]


def _read_quoted(text: str, name: str) -> tuple[list[list[str]], list[int]]:
    """Rows via the csv module (quotes, CR line ends) and each row's starting line."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[list[str]] = []
    starts: list[int] = []
    previous = 0
    try:
        for row in reader:
            rows.append(row)
            starts.append(previous + 1)
            previous = reader.line_num
    except csv.Error as exc:
        raise UserError([Diagnostic.at(name, Position(previous + 1, 1), None, "data-row",
                                       f"malformed CSV: {exc}", "check the quoting on this line")]
                        ) from None
    while rows and not rows[-1]:
        rows.pop()
        starts.pop()
    return rows, starts


def _read_text(path: Path, name: str) -> str:
    """The file's text (gzip when it ends in .gz), or a ``data-file`` error."""
    def fail(message: str, hint: str, line: int = 1) -> UserError:
        return UserError([Diagnostic.at(name, Position(line, 1), None, "data-file", message, hint)])

    from autobot.safeio import ReadRefused, gunzip_bounded, read_bounded
    try:
        raw = read_bounded(path, MAX_DATA_BYTES)
        if path.suffix == ".gz":
            raw = gunzip_bounded(raw, MAX_DATA_BYTES, name)
    except ReadRefused as exc:
        raise fail(exc.reason, exc.hint) from None
    except FileNotFoundError:
        raise fail(f"data file not found: {name}",
                   "check the path (relative paths start at the current directory)") from None
    except IsADirectoryError:
        raise fail(f"{name} is a directory, not a data file",
                   "pass a CSV file; pass a NautilusTrader catalog directory with --catalog"
                   ) from None
    except (OSError, EOFError) as exc:
        raise fail(f"cannot read {name}: {exc}",
                   "check the file's permissions and contents") from None
    if raw.startswith(b"PAR1"):
        raise fail(f"{name} is a Parquet file, not a CSV of bars",
                   "convert it to CSV, or pass a NautilusTrader catalog directory with --catalog")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise fail(f"{name} is not UTF-8 text (bad byte at offset {exc.start})",
                   "save the file as plain UTF-8 CSV", line) from None


# --------------------------------------------------------------------------------------------
# Loading: format detection
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Layout:
    """How to read the data rows of one file."""

    format: str              # "csv" or "binance"
    names: tuple[str, ...]   # every column's name, for messages
    has_header: bool


_CONTRACT = _Layout("csv", CONTRACT_COLUMNS, True)


def _detect_layout(first: list[str], name: str) -> _Layout:
    """Pick the layout from the first row, or raise a ``data-header`` error."""
    norm = [f.strip().lower() for f in first]
    if tuple(norm) == CONTRACT_COLUMNS:
        return _CONTRACT
    if len(first) == len(BINANCE_COLUMNS) and _is_int_text(first[0]):
        return _Layout("binance", BINANCE_COLUMNS, False)
    binance_head = [f.replace(" ", "_") for f in norm[:6]]
    if tuple(binance_head) == BINANCE_COLUMNS[:6]:
        if len(first) == len(BINANCE_COLUMNS):
            return _Layout("binance", BINANCE_COLUMNS, True)
        raise _header_error(name, first, 1, f"a Binance kline header needs 12 columns, got "
                            f"{len(first)}", "keep all 12 Binance kline columns as downloaded")
    head = first[0].strip()
    if _is_int_text(head) or _is_number_text(head) or _ISO_RE.fullmatch(head):
        raise _header_error(name, first, 1, "the file has no header line",
                            "add the header 'timestamp,open,high,low,close,volume' as line 1 "
                            "(headerless files must be 12-column Binance klines)")
    raise _contract_header_error(name, first, norm)


def _contract_header_error(name: str, first: list[str], norm: list[str]) -> UserError:
    """Explain how a header differs from the contract's six columns."""
    expected = ",".join(CONTRACT_COLUMNS)
    got = _shorten(",".join(f.strip() for f in first))
    if len(set(norm) & set(CONTRACT_COLUMNS)) < 3:
        return _header_error(name, first, 1, f"'{got}' is not a bar file header: expected "
                             f"'{expected}'", "convert the file to that CSV layout, or pass a "
                             "12-column Binance kline CSV")
    for j, field in enumerate(norm):
        if j >= len(CONTRACT_COLUMNS):
            extra = ", ".join(repr(f.strip()) for f in first[j:])
            return _header_error(name, first, j + 1, f"header has extra column(s) {extra}: "
                                 f"expected exactly '{expected}'", "delete the extra columns; no "
                                 "other columns are allowed, not even trailing ones")
        if field == CONTRACT_COLUMNS[j]:
            continue
        shown = first[j].strip()
        if field in CONTRACT_COLUMNS:
            return _header_error(name, first, j + 1, f"column '{shown}' is out of order in header "
                                 f"'{got}': expected '{expected}'",
                                 "reorder the columns (and their values on every row)")
        return _header_error(name, first, j + 1, f"unexpected column '{shown}'"
                             f"{did_you_mean(field, CONTRACT_COLUMNS)} in header '{got}': "
                             f"expected '{expected}'",
                             f"rename column {j + 1} '{shown}' to '{CONTRACT_COLUMNS[j]}'")
    missing = ", ".join(repr(c) for c in CONTRACT_COLUMNS[len(norm):])
    return _header_error(name, first, len(first) + 1, f"header is missing column(s) {missing}: "
                         f"expected exactly '{expected}'", "add the missing columns (a file "
                         "without volume needs a volume column of 0)")


def _header_error(name: str, first: list[str], field_no: int, message: str, hint: str) -> UserError:
    col, end = _field_span(first, field_no - 1)
    return UserError([Diagnostic.at(name, Position(1, col), Position(1, end), "data-header",
                                    message, hint)])


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _is_int_text(text: str) -> bool:
    s = text.strip()
    return s.isascii() and s.isdigit()


def _is_number_text(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Loading: rows -> arrays
# --------------------------------------------------------------------------------------------

class _RowProblem(Exception):
    """A bad data row: its 0-based index, field, message (may use ``{other_line}``) and hint."""

    def __init__(self, index: int, field: int | None, message: str, hint: str,
                 other: int | None = None):
        super().__init__(message)
        self.index, self.field, self.message, self.hint = index, field, message, hint
        self.other = other


def load_bars(path: str | Path) -> Bars:
    """Load a contract CSV or Binance kline CSV; raises ``UserError`` on any bad input."""
    path = Path(path)
    name = str(path)
    grid = _Grid.from_text(_read_text(path, name), name)
    if len(grid) == 0:
        raise _empty_error(name, "the file is empty")
    layout = _detect_layout(grid.row(0), name)
    if layout.has_header:
        grid = grid.drop_header()
    if len(grid) == 0:
        raise _empty_error(name, "the file has a header but no data rows")
    try:
        arrays = _convert_earliest(grid, layout)
    except _RowProblem as problem:
        raise UserError([_row_diagnostic(name, grid, layout, problem)]) from None
    return Bars(name, *arrays, format=layout.format)


def _empty_error(name: str, message: str) -> UserError:
    hint = f"add bars below the header '{','.join(CONTRACT_COLUMNS)}'"
    return UserError([Diagnostic.at(name, Position(1, 1), None, "data-empty", message, hint)])


def _convert_earliest(grid: _Grid, layout: _Layout) -> tuple[np.ndarray, ...]:
    """Convert every row; on failure re-check the rows before it so the earliest is reported.

    Each check finds its own first bad row in O(n); re-running on the prefix before a problem
    can only surface problems of other checks, so this costs at most O(n * checks).
    """
    try:
        return _convert(grid, layout, len(grid))
    except _RowProblem as problem:
        while True:
            try:
                _convert(grid, layout, problem.index)
            except _RowProblem as earlier:
                problem = earlier
                continue
            raise problem from None


def _convert(grid: _Grid, layout: _Layout, stop: int) -> tuple[np.ndarray, ...]:
    """(ts, open, high, low, close, volume) for rows ``[0, stop)``, or raise ``_RowProblem``."""
    if stop == 0:
        return tuple(np.empty(0) for _ in range(6))
    width = len(layout.names)
    _check_field_counts(grid, layout, stop)
    columns = grid.columns(stop, width, 6)
    prices = [_parse_floats(columns[j], j, layout.names[j]) for j in range(1, 6)]
    for j, values in enumerate(prices, start=1):
        _check_finite(values, columns[j], j, layout.names[j])
    if layout.format == "binance":
        ts = _parse_epoch(columns[0], {"ms": 0, "us": 10**14})
    else:
        ts = _parse_timestamps(columns[0])
    _check_prices(columns, *prices)
    _check_order(ts)
    return (ts, *prices)


def _check_field_counts(grid: _Grid, layout: _Layout, stop: int) -> None:
    width = len(layout.names)
    bad = np.flatnonzero(grid.field_counts(stop) != width)
    if not bad.size:
        return
    k = int(bad[0])
    row = grid.row(k)
    what = "Binance kline CSV needs 12 fields" if layout.format == "binance" else \
        "needs 6 fields: " + ",".join(CONTRACT_COLUMNS)
    if not any(f.strip() for f in row):
        raise _RowProblem(k, None, "blank line among the bars",
                          "delete the blank line: rows are never skipped")
    hint = ("delete the extra fields (no extra columns are allowed)" if len(row) > width else
            "fill in the missing fields or delete the row")
    raise _RowProblem(k, min(len(row), width), f"row has {len(row)} fields; {what}", hint)


def _parse_floats(column: Sequence[str], j: int, name: str) -> np.ndarray:
    """A float64 array, or a problem naming the first field that is not a number."""
    try:
        return np.array(column, dtype=np.float64)
    except ValueError:
        pass
    for k, text in enumerate(column):
        try:
            np.float64(text)
        except ValueError:
            shown = "empty" if not text.strip() else f"'{text.strip()}', not a number"
            raise _RowProblem(k, j, f"{name} is {shown}",
                              "write a plain decimal number such as 1234.5 (no thousands "
                              "separators or units)") from None
    raise AssertionError("numpy rejected a column that every element parses")  # pragma: no cover


def _check_finite(values: np.ndarray, column: Sequence[str], j: int, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, j, f"{name} is '{column[k].strip()}', not a finite number",
                          "fill in the real value or delete the bar; missing values are "
                          "not allowed")


def _check_prices(columns: list[Sequence[str]], o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                  c: np.ndarray, v: np.ndarray) -> None:
    """Positive prices, non-negative volume and a consistent high/low; earliest row wins."""
    def raw(k: int, j: int) -> str:
        return columns[j][k].strip()

    checks: list[tuple[np.ndarray, Callable[[int], _RowProblem]]] = []
    for j, (name, values) in enumerate(zip(_PRICE_NAMES, (o, h, lo, c)), start=1):
        checks.append((values <= 0, lambda k, j=j, name=name: _RowProblem(
            k, j, f"{name} price must be positive, got {raw(k, j)}",
            "prices must be greater than 0; fix or delete the bar")))
        checks.append((values > MAX_PRICE, lambda k, j=j, name=name: _RowProblem(
            k, j, f"{name} price {raw(k, j)} is above the largest price a backtest can hold ({MAX_PRICE:g})",
            "fix the bar, or rescale the series")))
    checks.append((v < 0, lambda k: _RowProblem(
        k, 5, f"volume must not be negative, got {raw(k, 5)}", "use 0 when volume is unknown")))
    checks.append((v > MAX_VOLUME, lambda k: _RowProblem(
        k, 5, f"volume {raw(k, 5)} is above the largest quantity a backtest can hold ({MAX_VOLUME:g})",
        "fix the bar, or rescale the volume")))
    checks.append((h < lo, lambda k: _RowProblem(
        k, 2, f"high {raw(k, 2)} is below low {raw(k, 3)}", "check the values and the column "
        "order (open, high, low, close)")))
    for j, name, values in ((1, "open", o), (4, "close", c)):
        checks.append((h < values, lambda k, j=j, name=name: _RowProblem(
            k, 2, f"high {raw(k, 2)} is below the {name} {raw(k, j)}",
            "the high must be at least max(open, close)")))
        checks.append((lo > values, lambda k, j=j, name=name: _RowProblem(
            k, 3, f"low {raw(k, 3)} is above the {name} {raw(k, j)}",
            "the low must be at most min(open, close)")))
    _raise_earliest(checks)


def _raise_earliest(checks: list[tuple[np.ndarray, Callable[[int], _RowProblem]]]) -> None:
    best: tuple[int, Callable[[int], _RowProblem]] | None = None
    for mask, make in checks:
        bad = np.flatnonzero(mask)
        if bad.size and (best is None or bad[0] < best[0]):
            best = (int(bad[0]), make)
    if best is not None:
        raise best[1](best[0])


def _check_order(ts: np.ndarray) -> None:
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if not bad.size:
        return
    k = int(bad[0]) + 1
    now, before = _iso_strings(ts[[k, k - 1]])
    if ts[k] == ts[k - 1]:
        raise _RowProblem(k, 0, f"duplicate timestamp {now}: line {{other_line}} has the same one",
                          "each bar needs its own timestamp; delete one of the two rows", k - 1)
    raise _RowProblem(k, 0, f"timestamp {now} is earlier than {before} on line {{other_line}}: "
                      "bars must be in strictly increasing time order",
                      "sort the file by timestamp, oldest first", k - 1)


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------

_EPOCH_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_EPOCH_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_EPOCH_BANDS = {"s": 0, "ms": 10**11, "us": 10**14, "ns": 10**17}


def _parse_timestamps(column: Sequence[str]) -> np.ndarray:
    """ISO 8601 or integer epoch (unit from the first row) -> int64 UTC nanoseconds."""
    if _is_int_text(column[0]):
        return _parse_epoch(column, _EPOCH_BANDS)
    return _parse_iso(column)


def _parse_epoch(column: Sequence[str], bands: dict[str, int]) -> np.ndarray:
    """Integer epochs; the first row's magnitude picks the unit from ``bands`` (lower bounds)."""
    arr = np.strings.strip(np.asarray(column, dtype=str))
    digits = _all_digits(arr)
    bad = np.flatnonzero(~digits)
    if bad.size:
        k = int(bad[0])
        text = str(arr[k])
        if _is_int_text(text):
            raise _RowProblem(k, 0, f"epoch timestamp {text} is too large", _TS_HINT)
        shown = f"'{text}'" if text else "empty"
        like = " like the first row's" if k else ""
        raise _RowProblem(k, 0, f"timestamp is {shown}, not an integer epoch{like}", _TS_HINT)
    values = arr.astype(np.int64)
    unit, low, high = _epoch_band(int(values[0]), bands)
    factor = _EPOCH_UNITS[unit]
    bad = np.flatnonzero((values < low) | (values >= high))
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, 0, f"timestamp {arr[k]} does not look like epoch {_EPOCH_NAMES[unit]}"
                          f" (the unit detected from the first row's {arr[0]})",
                          "use one epoch unit for the whole file; the first row's magnitude "
                          "sets it " + _band_text(bands))
    bad = np.flatnonzero(values > _INT64_MAX // factor)
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, 0, f"epoch {_EPOCH_NAMES[unit]} {arr[k]} is after 2262-04-11, "
                          "the latest supported time", "check the timestamp and its unit")
    return values * factor


def _epoch_band(first: int, bands: dict[str, int]) -> tuple[str, int, int]:
    """(unit, inclusive lower bound, exclusive upper bound) of the band holding ``first``."""
    order = sorted(bands.items(), key=lambda item: item[1])
    index = max(i for i, (_, low) in enumerate(order) if first >= low)
    high = order[index + 1][1] if index + 1 < len(order) else _INT64_MAX
    return order[index][0], order[index][1], high


def _band_text(bands: dict[str, int]) -> str:
    """E.g. ``(seconds < 1e11 <= milliseconds < 1e14 <= ...)``."""
    order = sorted(bands.items(), key=lambda item: item[1])
    text = _EPOCH_NAMES[order[0][0]]
    for unit, low in order[1:]:
        bound = f"{low:.0e}".replace("e+", "e")
        text += f" < {bound} <= {_EPOCH_NAMES[unit]}"
    return f"({text}; dates up to 2262)"


def _all_digits(arr: np.ndarray) -> np.ndarray:
    """Rows of 1 to 19 ASCII digits that fit in an int64."""
    lengths = np.strings.str_len(arr)
    codes = _codes(arr)
    pad = np.arange(codes.shape[1])[None, :] >= lengths[:, None]
    ok = np.all(((codes >= 48) & (codes <= 57)) | pad, axis=1) & (lengths >= 1) & (lengths <= 19)
    return ok & ~((lengths == 19) & (arr > str(_INT64_MAX)))


def _codes(arr: np.ndarray) -> np.ndarray:
    """The UCS-4 code points of a ``<U`` array as an (n, width) uint32 matrix (0-padded)."""
    arr = np.ascontiguousarray(arr)
    width = max(arr.dtype.itemsize // 4, 1)
    if arr.dtype.itemsize == 0:
        return np.zeros((arr.shape[0], 1), dtype=np.uint32)
    return arr.view(np.uint32).reshape(arr.shape[0], width)


# Character classes of the ISO shapes YYYY-MM-DD[(T| )HH:MM[:SS[.f{1,9}]]].
_FIXED = {4: "-", 7: "-", 10: "T ", 13: ":", 16: ":", 19: "."}
_CORE_LENGTHS = [10, 16, 19] + list(range(21, 30))


def _parse_iso(column: Sequence[str]) -> np.ndarray:
    """ISO 8601 timestamps: a vectorised fast path for UTC shapes, per-row parsing for the rest."""
    arr = np.strings.strip(np.asarray(column, dtype=str))
    core, fast = _iso_fast_mask(arr)
    out = np.empty(arr.shape[0], dtype=np.int64)
    if fast.any():
        try:
            out[fast] = core[fast].astype("datetime64[ns]").view(np.int64)
        except ValueError:  # an impossible date such as 02-30: find it row by row
            fast[:] = False
    for k in np.flatnonzero(~fast):
        out[k] = _parse_iso_one(str(arr[k]), int(k))
    return out


def _iso_fast_mask(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strings without a ``Z``/``+00:00`` suffix, mask of rows numpy can parse safely)."""
    n = arr.shape[0]
    codes = _codes(arr)
    lengths = np.strings.str_len(arr)
    last = codes[np.arange(n), np.maximum(lengths - 1, 0)]
    core_len = lengths - (last == ord("Z")) - 6 * np.strings.endswith(arr, "+00:00")
    ok = np.isin(core_len, _CORE_LENGTHS)
    for p in range(29):
        chars = codes[:, p] if p < codes.shape[1] else np.zeros(n, dtype=np.uint32)
        allowed = _FIXED.get(p)
        if allowed is None:
            good = (chars >= 48) & (chars <= 57)
        else:
            good = np.isin(chars, [ord(ch) for ch in allowed])
        ok &= (p >= core_len) | good
    year = sum((codes[:, p].astype(np.int64) - 48) * 10 ** (3 - p) for p in range(4)) \
        if codes.shape[1] >= 4 else np.zeros(n, dtype=np.int64)
    ok &= (year >= 1678) & (year <= 2261)
    stripped = codes.copy()
    stripped[np.arange(codes.shape[1])[None, :] >= core_len[:, None]] = 0
    return stripped.view(arr.dtype).reshape(n), ok


_ISO_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?"
                     r"(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE | re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _parse_iso_one(text: str, k: int) -> int:
    """One ISO 8601 timestamp -> UTC nanoseconds, or a problem for row ``k``."""
    m = _ISO_RE.fullmatch(text)
    if m is None:
        shown = "empty" if not text else f"'{text}', not a valid timestamp"
        raise _RowProblem(k, 0, f"timestamp is {shown}", _TS_HINT)
    year, month, day, hour, minute, second, frac, zone = m.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0),
                          int(second or 0), tzinfo=_zone(zone))
    except ValueError as exc:
        raise _RowProblem(k, 0, f"timestamp '{text}' is not a real date/time ({exc})",
                          _TS_HINT) from None
    delta = moment - _EPOCH
    ns = (delta.days * 86400 + delta.seconds) * 10**9 + int((frac or "").ljust(9, "0"))
    if not -_INT64_MAX <= ns <= _INT64_MAX:
        raise _RowProblem(k, 0, f"timestamp '{text}' is outside 1677-09-22..2262-04-11",
                          "use dates between 1678 and 2261")
    return ns


def _zone(zone: str | None) -> timezone:
    if zone is None or zone.upper() == "Z":
        return timezone.utc
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


# --------------------------------------------------------------------------------------------
# Diagnostics
# --------------------------------------------------------------------------------------------

def _row_diagnostic(name: str, grid: _Grid, layout: _Layout, problem: _RowProblem) -> Diagnostic:
    """A ``data-row`` diagnostic at the problem's line and field."""
    line = grid.line(problem.index)
    row = grid.row(problem.index)
    message = problem.message
    if problem.other is not None:
        message = message.replace("{other_line}", str(grid.line(problem.other)))
    if problem.field is None:
        start, end = 1, max(2, len(",".join(row)) + 1)
    else:
        start, end = _field_span(row, problem.field)
    field = problem.field
    if layout.format == "binance" and field is not None and field < len(layout.names):
        message = f"{message} (Binance column {field + 1}, {layout.names[field]})"
    return Diagnostic.at(name, Position(line, start), Position(line, end), "data-row", message,
                         problem.hint)


def _field_span(row: Sequence[str], j: int) -> tuple[int, int]:
    """1-based start and exclusive end column of field ``j`` (end of line when it is missing)."""
    start = 1 + sum(len(f) + 1 for f in row[:j])
    if j >= len(row):
        start = max(1, start - 1)
        return start, start + 1
    return start, start + max(1, len(row[j]))
