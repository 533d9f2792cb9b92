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

import codecs
import csv
import io
import mmap
import os
import re
import stat
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
# Loading: file -> bytes, and where its lines are
# --------------------------------------------------------------------------------------------

_CHUNK = 4 * 1024 * 1024


def _read_raw(path: Path, name: str) -> "bytes | mmap.mmap":
    """The file's bytes, checked to be UTF-8 text, or a ``data-file`` error: a plain file is
    mapped read-only (its pages are dropped from memory once read, see :func:`_release`), a
    ``.gz`` file decompressed in memory. The text is never decoded whole."""
    def fail(message: str, hint: str, line: int = 1) -> UserError:
        return UserError([Diagnostic.at(name, Position(line, 1), None, "data-file", message, hint)])

    from autobot.safeio import ReadRefused, gunzip_bounded, read_bounded
    try:
        if path.suffix == ".gz":
            raw = gunzip_bounded(read_bounded(path, MAX_DATA_BYTES), MAX_DATA_BYTES, name)
        else:
            raw = _map_bounded(path, MAX_DATA_BYTES)
    except ReadRefused as exc:
        raise fail(exc.reason, exc.hint) from None
    except FileNotFoundError:
        raise fail(f"data file not found: {name}",
                   "check the path (relative paths start at the current directory)") from None
    except IsADirectoryError:
        raise fail(f"{name} is a directory, not a data file",
                   "pass a CSV file; pass a NautilusTrader catalog directory with --catalog"
                   ) from None
    except (OSError, EOFError, ValueError) as exc:
        raise fail(f"cannot read {name}: {exc}",
                   "check the file's permissions and contents") from None
    if raw[:4] == b"PAR1":
        raise fail(f"{name} is a Parquet file, not a CSV of bars",
                   "convert it to CSV, or pass a NautilusTrader catalog directory with --catalog")
    bad = first_bad_utf8(raw)
    if bad is not None:
        line = _count_breaks(raw, 0, bad, newline_only=True) + 1
        raise fail(f"{name} is not UTF-8 text (bad byte at offset {bad})",
                   "save the file as plain UTF-8 CSV", line)
    return raw


def _map_bounded(path: Path, limit: int) -> "bytes | mmap.mmap":
    """A regular file of at most ``limit`` bytes, mapped read-only (the checks of
    :func:`autobot.safeio.read_bounded`: a FIFO or a device is refused before it is opened)."""
    from autobot.safeio import ReadRefused, read_bounded
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode) or st.st_size > limit or st.st_size == 0:
        return read_bounded(path, limit)        # raises its own error (or reads an empty file)
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if len(mapped) > limit:                     # it grew since stat
        raise ReadRefused(f"{path} is larger than the limit of {limit / 2**20:g} MiB",
                          "trim or split the file")
    return mapped


def _release(raw: "bytes | mmap.mmap") -> None:
    """Drop the pages of a mapped file from this process (they stay in the page cache and come
    back on the next read): reading it never holds more than a few blocks of it."""
    if isinstance(raw, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        raw.madvise(mmap.MADV_DONTNEED)


def _count_breaks(raw: "bytes | mmap.mmap", start: int, end: int, newline_only: bool = False) -> int:
    """The number of line ends in ``raw[start:end]`` (``\\r\\n`` once, a lone ``\\r`` too)."""
    total = 0
    for pos in range(start, end, _CHUNK):
        stop = min(pos + _CHUNK, end)
        chunk = np.frombuffer(raw, np.uint8, count=stop - pos, offset=pos)
        if newline_only:
            total += int(np.count_nonzero(chunk == 10))
        else:
            total += len(_line_breaks(chunk, raw[stop] if stop < end else -1))
        del chunk
    return total


def first_bad_utf8(raw: "bytes | mmap.mmap") -> int | None:
    """The offset of the first byte that is not UTF-8, decoding a few MiB at a time."""
    if isinstance(raw, bytes) and raw.isascii():
        return None
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(raw)
    for start in range(0, len(raw), _CHUNK):
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(view[start:start + _CHUNK], final=start + _CHUNK >= len(raw))
        except UnicodeDecodeError as exc:
            return start - pending + exc.start
        finally:
            _release(raw)
    del view
    return None


def _line_breaks(chunk: np.ndarray, next_byte: int) -> np.ndarray:
    """Offsets of the line ends in ``chunk`` (``\\n``, ``\\r\\n`` counted once, a lone ``\\r``)."""
    nl = chunk == 10
    cr = chunk == 13
    if cr.any():
        followed = np.empty_like(nl)
        followed[:-1] = nl[1:]
        followed[-1] = next_byte == 10
        nl |= cr & ~followed
    return np.flatnonzero(nl)


def _line_start(raw: "bytes | mmap.mmap", start: int, end: int, n: int) -> int:
    """The offset of the ``n``-th (0-based) line of ``raw[start:end]`` (``end`` past the last)."""
    pos = start
    if n <= 0:
        return start
    while pos < end:
        stop = min(pos + _CHUNK, end)
        chunk = np.frombuffer(raw, np.uint8, count=stop - pos, offset=pos)
        breaks = _line_breaks(chunk, raw[stop] if stop < end else -1)
        del chunk
        if len(breaks) >= n:
            return pos + int(breaks[n - 1]) + 1
        n -= len(breaks)
        pos = stop
    return end


def _line_text(raw: "bytes | mmap.mmap", start: int, end: int) -> str:
    """The line starting at ``start`` (without its line end)."""
    stop = end
    for sep in (b"\n", b"\r"):
        k = raw.find(sep, start, stop)
        if k >= 0:
            stop = k
    return raw[start:stop].decode("utf-8")


def _split_row(line: str) -> list[str]:
    """The fields of one line, as the csv module reads them (quotes removed)."""
    if '"' not in line:
        return line.split(",")
    return next(csv.reader([line]), None) or [""]


class _Source:
    """The data rows of a file (``raw[start:end]``), for the diagnostics of a bad row."""

    def __init__(self, raw: bytes, start: int, end: int, first_line: int):
        self.raw, self.start, self.end, self.first_line = raw, start, end, first_line

    def line(self, k: int) -> int:
        return self.first_line + k

    def row(self, k: int) -> list[str]:
        return _split_row(_line_text(self.raw, _line_start(self.raw, self.start, self.end, k), self.end))


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

    def shifted(self, offset: int) -> "_RowProblem":
        other = None if self.other is None else self.other + offset
        return _RowProblem(self.index + offset, self.field, self.message, self.hint, other)


class _Structure(Exception):
    """pyarrow's reader met a row with the wrong number of fields (or bad quoting) at ``line``
    (a physical line number counted from the start of the data, or None when not known)."""

    def __init__(self, line: int | None):
        super().__init__(line)
        self.line = line


class _Changed(Exception):
    """The file has more rows than it had line ends when it was counted (written meanwhile)."""


@dataclass
class _Context:
    """What the rows of one batch need from the rows before it."""

    layout: _Layout
    first_ts: str = ""              # the file's first timestamp field (the epoch unit's source)
    offset: int = 0                 # global index of the batch's first row
    previous_ts: int | None = None  # the last timestamp of the rows before the batch


_BLOCK = 4 * 1024 * 1024


def load_bars(path: str | Path) -> Bars:
    """Load a contract CSV or Binance kline CSV; raises ``UserError`` on any bad input.

    The bytes are parsed by pyarrow's CSV reader a block at a time (every field as a string), each
    block's columns converted and checked with vectorised code and written into the result:
    besides the file's bytes, memory holds the result (48 bytes a bar) and one block.
    """
    path = Path(path)
    name = str(path)
    raw = _read_raw(path, name)
    start = 3 if raw[:3] == codecs.BOM_UTF8 else 0
    end = len(raw)
    while end > start and raw[end - 1] in (10, 13):       # trailing blank lines are not rows
        end -= 1
    if end == start:
        raise _empty_error(name, "the file is empty")
    first = _split_row(_line_text(raw, start, end))
    layout = _detect_layout(first, name)
    data_start, first_line = (_line_start(raw, start, end, 1), 2) if layout.has_header else (start, 1)
    if data_start >= end:
        raise _empty_error(name, "the file has a header but no data rows")
    source = _Source(raw, data_start, end, first_line)
    try:
        arrays = _load_rows(raw, data_start, end, layout)
    except _RowProblem as problem:
        raise UserError([_row_diagnostic(name, source, layout, problem)]) from None
    except _Changed:
        raise UserError([Diagnostic.at(name, Position(1, 1), None, "data-file",
                                       f"{name} changed while it was read",
                                       "load a file that no program is writing")]) from None
    return Bars(name, *arrays, format=layout.format)


def _empty_error(name: str, message: str) -> UserError:
    hint = f"add bars below the header '{','.join(CONTRACT_COLUMNS)}'"
    return UserError([Diagnostic.at(name, Position(1, 1), None, "data-empty", message, hint)])


def _load_rows(raw: bytes, start: int, end: int, layout: _Layout) -> tuple[np.ndarray, ...]:
    """The six columns of the rows in ``raw[start:end]``, or the earliest bad row's problem."""
    try:
        return _read_blocks(raw, start, end, layout, use_threads=True)
    except _Structure:
        pass
    line: int | None = None
    try:                            # again on one thread, which numbers the bad line
        _read_blocks(raw, start, end, layout, use_threads=False, convert=False)
    except _Structure as bad:
        line = bad.line
    if line is None:
        line = _first_bad_structure(raw, start, end, len(layout.names))
    prefix_end = _line_start(raw, start, end, line)
    if prefix_end > start:          # a bad value before the bad line is reported first
        _load_rows(raw, start, prefix_end, layout)
    raise _field_count_problem(line, _Source(raw, start, end, 0).row(line), layout)


def _first_bad_structure(raw: bytes, start: int, end: int, width: int) -> int:
    """The 0-based line of the first row without ``width`` fields, by the csv module."""
    text = io.TextIOWrapper(io.BytesIO(raw[start:end]), encoding="utf-8", newline="")  # rare: once
    reader = csv.reader(text)
    previous = 0
    try:
        for row in reader:
            if len(row) != width:
                return previous
            previous = reader.line_num
    except csv.Error:
        return previous
    return previous


def _read_blocks(raw: bytes, start: int, end: int, layout: _Layout, use_threads: bool,
                 convert: bool = True) -> tuple[np.ndarray, ...]:
    """The converted rows; with ``convert`` False only the structure is read (for its errors)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bound = _count_breaks(raw, start, end) + 1 if convert else 0
    _release(raw)
    out = [np.empty(bound, dtype=np.int64)] + [np.empty(bound, dtype=np.float64) for _ in range(5)]
    bad_lines: list[int | None] = []

    def invalid(row: object) -> str:
        bad_lines.append(getattr(row, "number", None))
        return "error"

    def structure() -> _Structure:
        return _Structure(bad_lines[0] - 1 if bad_lines and bad_lines[0] is not None else None)

    names = list(layout.names)
    try:
        reader = pacsv.open_csv(
            pa.BufferReader(pa.py_buffer(memoryview(raw)[start:end])),
            read_options=pacsv.ReadOptions(column_names=names, use_threads=use_threads,
                                           block_size=_BLOCK),
            parse_options=pacsv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, include_columns=names[:6],
                null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False))
    except pa.ArrowInvalid:
        raise structure() from None
    context = _Context(layout)
    n = 0
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid:
            raise structure() from None
        if not batch.num_rows or not convert:
            _release(raw)
            continue
        columns = [batch.column(j) for j in range(6)]
        if n == 0:
            context.first_ts = columns[0][0].as_py().strip()
        context.offset = n
        try:
            arrays = _convert_earliest(columns, context)
        except _RowProblem as problem:
            raise problem.shifted(n) from None
        k = len(arrays[0])
        if n + k > bound:
            raise _Changed()
        for target, values in zip(out, arrays):
            target[n:n + k] = values
        n += k
        context.previous_ts = int(arrays[0][-1])
        _release(raw)
    result = tuple(a[:n] for a in out)
    for a in result:
        a.setflags(write=False)       # Bars keeps them as they are (no copy)
    return result


def _convert_earliest(columns: list, context: _Context) -> tuple[np.ndarray, ...]:
    """Convert every row; on failure re-check the rows before it so the earliest is reported.

    Each check finds its own first bad row in O(n); re-running on the prefix before a problem
    can only surface problems of other checks, so this costs at most O(n * checks).
    """
    try:
        return _convert(columns, context, len(columns[0]))
    except _RowProblem as problem:
        while True:
            try:
                _convert(columns, context, problem.index)
            except _RowProblem as earlier:
                problem = earlier
                continue
            raise problem from None


def _convert(columns: list, context: _Context, stop: int) -> tuple[np.ndarray, ...]:
    """(ts, open, high, low, close, volume) for rows ``[0, stop)``, or raise ``_RowProblem``."""
    import pyarrow.compute as pc

    if stop == 0:
        return tuple(np.empty(0) for _ in range(6))
    layout = context.layout
    texts = [pc.utf8_trim_whitespace(c.slice(0, stop)) for c in columns]
    prices = [_parse_floats(texts[j], j, layout.names[j]) for j in range(1, 6)]
    for j, values in enumerate(prices, start=1):
        _check_finite(values, texts[j], j, layout.names[j])
    if layout.format == "binance":
        ts = _parse_epoch(texts[0], {"ms": 0, "us": 10**14}, context)
    else:
        ts = _parse_timestamps(texts[0], context)
    _check_prices(texts, *prices)
    _check_order(ts, context.previous_ts)
    return (ts, *prices)


def _field_count_problem(k: int, row: list[str], layout: _Layout) -> _RowProblem:
    width = len(layout.names)
    what = "Binance kline CSV needs 12 fields" if layout.format == "binance" else \
        "needs 6 fields: " + ",".join(CONTRACT_COLUMNS)
    if not any(f.strip() for f in row):
        return _RowProblem(k, None, "blank line among the bars",
                           "delete the blank line: rows are never skipped")
    hint = ("delete the extra fields (no extra columns are allowed)" if len(row) > width else
            "fill in the missing fields or delete the row")
    return _RowProblem(k, min(len(row), width), f"row has {len(row)} fields; {what}", hint)


def _parse_floats(column, j: int, name: str) -> np.ndarray:
    """A float64 array, or a problem naming the first field that is not a number."""
    import pyarrow as pa
    import pyarrow.compute as pc
    try:
        return pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        pass
    values = np.empty(len(column), dtype=np.float64)
    for k, text in enumerate(column.to_pylist()):      # the reference: Python's own float()
        try:
            values[k] = float(text)
        except ValueError:
            shown = "empty" if not text else f"'{text}', not a number"
            raise _RowProblem(k, j, f"{name} is {shown}",
                              "write a plain decimal number such as 1234.5 (no thousands "
                              "separators or units)") from None
    return values


def _check_finite(values: np.ndarray, column, j: int, name: str) -> None:
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, j, f"{name} is '{column[k].as_py()}', not a finite number",
                          "fill in the real value or delete the bar; missing values are "
                          "not allowed")


def _check_prices(columns: list, o: np.ndarray, h: np.ndarray, lo: np.ndarray,
                  c: np.ndarray, v: np.ndarray) -> None:
    """Positive prices, non-negative volume and a consistent high/low; earliest row wins."""
    def raw(k: int, j: int) -> str:
        return columns[j][k].as_py()

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


def _check_order(ts: np.ndarray, previous: int | None = None) -> None:
    """Strictly increasing times; ``previous`` is the time of the row before ``ts[0]``."""
    full = ts if previous is None else np.concatenate([[previous], ts])
    bad = np.flatnonzero(np.diff(full) <= 0)
    if not bad.size:
        return
    k = int(bad[0]) + 1
    now, before = _iso_strings(full[[k, k - 1]])
    shift = 0 if previous is None else 1
    if full[k] == full[k - 1]:
        raise _RowProblem(k - shift, 0, f"duplicate timestamp {now}: line {{other_line}} has the same one",
                          "each bar needs its own timestamp; delete one of the two rows", k - 1 - shift)
    raise _RowProblem(k - shift, 0, f"timestamp {now} is earlier than {before} on line {{other_line}}: "
                      "bars must be in strictly increasing time order",
                      "sort the file by timestamp, oldest first", k - 1 - shift)


# --------------------------------------------------------------------------------------------
# Timestamps
# --------------------------------------------------------------------------------------------

_EPOCH_UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}
_EPOCH_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}
_EPOCH_BANDS = {"s": 0, "ms": 10**11, "us": 10**14, "ns": 10**17}


def _parse_timestamps(column, context: _Context) -> np.ndarray:
    """ISO 8601 or integer epoch (unit from the file's first row) -> int64 UTC nanoseconds."""
    if _is_int_text(context.first_ts):
        return _parse_epoch(column, _EPOCH_BANDS, context)
    return _parse_iso(column)


def _fixed_bytes(column, most: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """The (already stripped) strings of a pyarrow column as a numpy ``S`` array, padded with
    NULs, and the mask of rows it holds exactly (ASCII and at most ``most`` bytes; the others
    are empty there and read one by one from the column)."""
    import pyarrow.compute as pc

    n = len(column)
    lengths = pc.binary_length(column).to_numpy(zero_copy_only=False)
    ok = pc.string_is_ascii(column).to_numpy(zero_copy_only=False) & (lengths <= most)
    if not ok.all():
        import pyarrow as pa
        column = pc.if_else(pa.array(ok), column, "")
    width = max(int(lengths[ok].max()) if ok.any() else 0, 1)
    padded = pc.utf8_rpad(column, width=width, padding="\x00")
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32, count=n + 1, offset=4 * padded.offset)
    data = np.frombuffer(padded.buffers()[2], dtype=np.uint8, count=int(offsets[-1]), offset=int(offsets[0]))
    return data.view(f"S{width}"), ok


def _parse_epoch(column, bands: dict[str, int], context: _Context) -> np.ndarray:
    """Integer epochs; the file's first row's magnitude picks the unit from ``bands`` (lower
    bounds)."""
    arr, exact = _fixed_bytes(column)
    digits = _all_digits(arr) & exact
    bad = np.flatnonzero(~digits)
    if bad.size:
        k = int(bad[0])
        text = column[k].as_py()
        if _is_int_text(text):
            raise _RowProblem(k, 0, f"epoch timestamp {text} is too large", _TS_HINT)
        shown = f"'{text}'" if text else "empty"
        like = " like the first row's" if k + context.offset else ""
        raise _RowProblem(k, 0, f"timestamp is {shown}, not an integer epoch{like}", _TS_HINT)
    values = arr.astype(np.int64)
    first = context.first_ts
    unit, low, high = _epoch_band(int(first) if _is_int_text(first) else 0, bands)
    factor = _EPOCH_UNITS[unit]
    bad = np.flatnonzero((values < low) | (values >= high))
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, 0, f"timestamp {column[k].as_py()} does not look like epoch "
                          f"{_EPOCH_NAMES[unit]} (the unit detected from the first row's {first})",
                          "use one epoch unit for the whole file; the first row's magnitude "
                          "sets it " + _band_text(bands))
    bad = np.flatnonzero(values > _INT64_MAX // factor)
    if bad.size:
        k = int(bad[0])
        raise _RowProblem(k, 0, f"epoch {_EPOCH_NAMES[unit]} {column[k].as_py()} is after "
                          "2262-04-11, the latest supported time", "check the timestamp and its unit")
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
    """Rows of 1 to 19 ASCII digits that fit in an int64 (``arr``: an ``S`` array)."""
    lengths = np.strings.str_len(arr)
    codes = _codes(arr)
    pad = np.arange(codes.shape[1])[None, :] >= lengths[:, None]
    ok = np.all(((codes >= 48) & (codes <= 57)) | pad, axis=1) & (lengths >= 1) & (lengths <= 19)
    return ok & ~((lengths == 19) & (arr > str(_INT64_MAX).encode()))


def _codes(arr: np.ndarray) -> np.ndarray:
    """The bytes of an ``S`` array as an (n, width) uint8 matrix (0-padded)."""
    arr = np.ascontiguousarray(arr)
    if arr.dtype.itemsize == 0:
        return np.zeros((arr.shape[0], 1), dtype=np.uint8)
    return arr.view(np.uint8).reshape(arr.shape[0], arr.dtype.itemsize)


# Character classes of the ISO shapes YYYY-MM-DD[(T| )HH:MM[:SS[.f{1,9}]]].
_FIXED = {4: "-", 7: "-", 10: "T ", 13: ":", 16: ":", 19: "."}
_CORE_LENGTHS = [10, 16, 19] + list(range(21, 30))


def _parse_iso(column) -> np.ndarray:
    """ISO 8601 timestamps: a vectorised fast path for UTC shapes, per-row parsing for the rest."""
    arr, exact = _fixed_bytes(column)
    core, fast = _iso_fast_mask(arr)
    fast &= exact
    out = np.empty(arr.shape[0], dtype=np.int64)
    if fast.any():
        try:
            out[fast] = core[fast].astype("datetime64[ns]").view(np.int64)
        except ValueError:  # an impossible date such as 02-30: find it row by row
            fast[:] = False
    for k in np.flatnonzero(~fast):
        out[k] = _parse_iso_one(column[int(k)].as_py(), int(k))
    return out


def _iso_fast_mask(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strings without a ``Z``/``+00:00`` suffix, mask of rows numpy can parse safely)."""
    n = arr.shape[0]
    codes = _codes(arr)
    lengths = np.strings.str_len(arr)
    last = codes[np.arange(n), np.maximum(lengths - 1, 0)]
    core_len = lengths - (last == ord("Z")) - 6 * np.strings.endswith(arr, b"+00:00")
    ok = np.isin(core_len, _CORE_LENGTHS)
    for p in range(29):
        chars = codes[:, p] if p < codes.shape[1] else np.zeros(n, dtype=np.uint8)
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

def _row_diagnostic(name: str, source: _Source, layout: _Layout, problem: _RowProblem) -> Diagnostic:
    """A ``data-row`` diagnostic at the problem's line and field (a row with the wrong number of
    fields, such as a blank line, is reported as that)."""
    row = source.row(problem.index)
    if len(row) != len(layout.names):
        problem = _field_count_problem(problem.index, row, layout)
    line = source.line(problem.index)
    message = problem.message
    if problem.other is not None:
        message = message.replace("{other_line}", str(source.line(problem.other)))
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
