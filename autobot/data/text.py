"""Timestamped texts (``--text FILE``) and the ``sentiment`` series they give, with no lookahead.

A text file is CSV with a header naming ``timestamp``, ``symbol`` (optional) and ``text``, or JSON
lines with those keys (``created_at`` is accepted for the timestamp). Timestamps are ISO 8601
(UTC when no zone is given) or epoch seconds / milliseconds / microseconds / nanoseconds (the unit
from the number's magnitude, as for bars), between 1677-09-22 and 2262-04-11. Reads are bounded
(:data:`MAX_TEXT_BYTES`, :data:`MAX_TEXT_FIELD`); a bad row is an error naming the file and line.

Each text is scored with VADER (the ``vaderSentiment`` package, its lexicon shipped in the
package: nothing is downloaded), the compound score in [-1, 1]. Per bar:

* a text counts from the **first bar closing after its timestamp** (a text written at 10:00:00
  counts in the bar closing after 10:00:00, never in the bar closing at 10:00:00);
* ``sentiment``: the exponentially decayed mean of the scores counted so far (weights halve every
  ``half_life`` bars, 24 by default), undefined before the first text;
* ``sentiment_mean``: the plain mean of the scores counted in the bar, undefined in a bar with none;
* ``sentiment_count``: the number of texts counted in the bar.

All three depend only on texts before the bar's close: cutting the texts or the bars after bar t
changes nothing up to t (``tests/test_sentiment.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autobot.diagnostics import Diagnostic, UserError

#: the largest text file read: VADER scores about 15,000-20,000 texts a second, so a file of 64 MiB
#: (some 600,000 tweet-sized rows) costs up to about a minute and ~3x its size in memory
MAX_TEXT_BYTES = 64 * 1024 * 1024
#: the longest field (a text) of a CSV feed, and the longest JSON line: the csv module's own limit
MAX_TEXT_FIELD = 128 * 1024
HALF_LIFE_BARS = 24.0


@dataclass(frozen=True)
class Texts:
    ts: np.ndarray         # int64 ns, sorted
    symbol: list[str]
    text: list[str]

    def for_symbol(self, symbols: set[str] | None) -> "Texts":
        if not symbols:
            return self
        keep = [k for k, s in enumerate(self.symbol) if not s or s.upper() in symbols]
        return Texts(self.ts[keep], [self.symbol[k] for k in keep], [self.text[k] for k in keep])


def _error(path: str, line: int, message: str, hint: str) -> UserError:
    return UserError([Diagnostic(path, line, 1, line, 2, "bad-text-row", message, hint)])


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_NS_MAX = 2**63 - 1
#: the unit of an epoch number from its magnitude, as for bar files (``autobot.data.bars``)
_EPOCH_UNITS = ((1e11, 10**9, "seconds"), (1e14, 10**6, "milliseconds"), (1e17, 10**3, "microseconds"),
                (math.inf, 1, "nanoseconds"))
_RANGE = "outside 1677-09-22..2262-04-11, the times a timestamp in nanoseconds can hold"


def _when(value: object) -> int:
    """UTC nanoseconds of an ISO 8601 time, Twitter's ``created_at`` or an epoch number (unit
    from its magnitude: seconds below 1e11, milliseconds below 1e14, microseconds below 1e17, else
    nanoseconds); a ``ValueError`` for anything else, or a time outside what int64 nanoseconds
    hold (years 1677-2262)."""
    if isinstance(value, bool):
        raise ValueError(f"timestamp {value!r} is not a time")
    number: int | float | None = None
    if isinstance(value, (int, float)):
        number = value
    elif isinstance(value, str):
        t = value.strip()
        if t.lstrip("-").isdigit() and t.isascii():
            number = int(t)
        elif t.lstrip("-").replace(".", "", 1).isdigit() and t.isascii():
            number = float(t)
    if number is not None:
        if not math.isfinite(number):
            raise ValueError("the timestamp is not a finite number")
        for bound, factor, _unit in _EPOCH_UNITS:
            if abs(number) < bound:
                break
        ns = number * factor if isinstance(number, int) else round(number * factor)
        if not -_NS_MAX <= ns <= _NS_MAX:
            raise ValueError(f"epoch timestamp {value} is {_RANGE}")
        return int(ns)
    text = str(value).strip()
    if len(text) > 64:
        raise ValueError(f"timestamp '{text[:40]}...' is not a time")
    text = text.replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        try:
            t = dt.datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")      # Twitter's created_at
        except ValueError:
            raise ValueError(f"timestamp '{value}' is neither ISO 8601, Twitter's created_at nor an epoch "
                             "number") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    try:
        ns = (t - _EPOCH) // dt.timedelta(microseconds=1) * 1000
    except OverflowError:          # a zone offset pushing year 1 or 9999 out of datetime's range
        raise ValueError(f"timestamp '{value}' is {_RANGE}") from None
    if not -_NS_MAX <= ns <= _NS_MAX:
        raise ValueError(f"timestamp '{value}' is {_RANGE}")
    return ns


def _line_too_long(line: str) -> bool:
    return len(line) > MAX_TEXT_FIELD


def load_texts(path: str | Path) -> Texts:
    """The texts of a CSV or JSON-lines file (module docstring), sorted by time.

    The bytes are read once (at most :data:`MAX_TEXT_BYTES`) and parsed a line at a time, never
    decoded whole: memory holds the file's bytes, each text once as a string and 8 bytes of time a
    text (about 2-3x the file). A record that is not one (a bad time, a time outside 1677-2262, a
    field longer than :data:`MAX_TEXT_FIELD` characters, a JSON line nested too deep) is an error
    naming the file and line.
    """
    from array import array

    from autobot.data.bars import first_bad_utf8
    from autobot.safeio import ReadRefused, read_bounded
    name = str(path)
    try:
        raw = read_bounded(path, MAX_TEXT_BYTES)
    except ReadRefused as exc:
        raise _error(name, 1, exc.reason, exc.hint) from None
    except OSError as exc:
        raise _error(name, 1, f"cannot read {name}: {exc.strerror or exc}", "pass an existing text file") from None
    bad = first_bad_utf8(raw)
    if bad is not None:
        raise _error(name, raw.count(b"\n", 0, bad) + 1, "the file is not UTF-8 text", "save it as UTF-8")
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8-sig", newline="")
    ts = array("q")
    symbols: list[str] = []
    texts: list[str] = []
    seen: dict[str, str] = {}                       # one string per distinct symbol

    def add(when: object, symbol: str, text: str) -> None:
        ts.append(_when(when))
        symbols.append(seen.setdefault(symbol, symbol))
        texts.append(text)

    first = raw.lstrip()[:1]
    if first in (b"{", b"["):
        for k, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                if _line_too_long(line):
                    raise ValueError(f"the line is longer than {MAX_TEXT_FIELD} characters")
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                when = obj.get("timestamp", obj.get("created_at"))
                text = obj.get("text")
                if isinstance(text, list) and all(isinstance(t, str) for t in text):
                    text = " ".join(text)         # a tokenised text (StockNet's preprocessed tweets)
                if when is None:
                    raise ValueError("needs 'timestamp' (or 'created_at') and 'text'")
                if text is None:
                    raise ValueError("needs 'text' (a text, or a list of its words)")
                if not isinstance(text, str):
                    raise ValueError(f"'text' is {type(text).__name__} {str(text)[:40]!r}, not a text or a list "
                                     "of words")
                add(when, str(obj.get("symbol", "") or ""), text)
            except RecursionError:
                raise _error(name, k, f"line {k} is not a text record: JSON nested too deep",
                             "one JSON object a line with timestamp, symbol and text") from None
            except (ValueError, TypeError, OverflowError) as exc:
                raise _error(name, k, f"line {k} is not a text record: {exc}",
                             "one JSON object a line with timestamp, symbol and text") from None
    else:
        reader = csv.reader(stream)
        try:
            header = [h.strip().lower() for h in next(reader, [])]
        except csv.Error as exc:
            raise _error(name, 1, f"line 1: {_csv_message(exc)}", "e.g. timestamp,symbol,text") from None
        if "text" not in header or not ({"timestamp", "created_at"} & set(header)):
            raise _error(name, 1, "the header needs 'timestamp' and 'text' columns (and optionally 'symbol')",
                         "e.g. timestamp,symbol,text")
        it = header.index("timestamp") if "timestamp" in header else header.index("created_at")
        ix, isym = header.index("text"), (header.index("symbol") if "symbol" in header else None)
        hint = "each row: an ISO or epoch timestamp, a symbol, a text"
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                raise _error(name, reader.line_num, f"line {reader.line_num}: {_csv_message(exc)}", hint) from None
            k = reader.line_num
            if not row:
                continue
            try:
                add(row[it], row[isym] if isym is not None else "", row[ix])
            except (ValueError, IndexError, OverflowError) as exc:
                raise _error(name, k, f"line {k}: {exc}", hint) from None
    del raw, stream
    when = np.frombuffer(ts, dtype=np.int64) if len(ts) else np.zeros(0, dtype=np.int64)
    order = np.argsort(when, kind="stable")
    if np.all(order == np.arange(len(order))):
        return Texts(when.copy(), symbols, texts)
    picks = order.tolist()
    return Texts(when[order], [symbols[k] for k in picks], [texts[k] for k in picks])


def _csv_message(exc: Exception) -> str:
    text = str(exc)
    if "field larger than field limit" in text:
        return f"a field is longer than {MAX_TEXT_FIELD} characters (a text that long is not read)"
    return f"not CSV ({text})"


_ANALYZER = None


def scores(texts: Texts) -> np.ndarray:
    """VADER's compound score of every text."""
    global _ANALYZER
    if _ANALYZER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
        _ANALYZER = SentimentIntensityAnalyzer()
    return np.array([_ANALYZER.polarity_scores(t)["compound"] for t in texts.text], dtype=np.float64)


def per_bar(closes: np.ndarray, ts: np.ndarray, score: np.ndarray,
            half_life: float = HALF_LIFE_BARS) -> dict[str, np.ndarray]:
    """``sentiment``, ``sentiment_mean`` and ``sentiment_count`` for bars closing at ``closes``
    (module docstring)."""
    n = len(closes)
    k = np.searchsorted(closes, ts, side="right")       # the first bar closing after each text
    inside = k < n
    count = np.bincount(k[inside], minlength=n).astype(np.float64)[:n]
    total = np.bincount(k[inside], weights=score[inside], minlength=n)[:n]
    decay = 0.5 ** (1.0 / half_life)
    out = np.full(n, np.nan)
    num = den = 0.0
    for b in range(n):
        num = num * decay + total[b]
        den = den * decay + count[b]
        if den > 0:
            out[b] = num / den
    mean = np.full(n, np.nan)
    mean[count > 0] = total[count > 0] / count[count > 0]
    return {"sentiment": out, "sentiment_mean": mean, "sentiment_count": count}


class SentimentFeed:
    """:func:`per_bar` one bar at a time (the portfolio's strategies and a live node): the same
    numbers bit for bit for the same texts and closes. ``add`` takes texts that arrive later (a
    live feed appended to while the node runs); a text counts at the first bar closing after its
    timestamp that the feed has not passed yet (a late text, at the next bar)."""

    def __init__(self, ts: np.ndarray, score: np.ndarray, half_life: float = HALF_LIFE_BARS) -> None:
        self.ts: list[int] = [int(t) for t in ts]
        self.score: list[float] = [float(s) for s in score]
        self.k = 0
        self.num = self.den = 0.0
        self.decay = 0.5 ** (1.0 / half_life)

    def add(self, ts: np.ndarray, score: np.ndarray) -> None:
        pending = sorted(list(zip(self.ts[self.k:], self.score[self.k:])) + list(zip(map(int, ts), map(float, score))),
                         key=lambda r: r[0])
        del self.ts[self.k:], self.score[self.k:]
        self.ts.extend(t for t, _ in pending)
        self.score.extend(s for _, s in pending)

    def close(self, close_ns: int) -> dict[str, float]:
        """``sentiment``, ``sentiment_mean`` and ``sentiment_count`` of the bar closing at ``close_ns``."""
        total, count = 0.0, 0
        ts, k = self.ts, self.k
        while k < len(ts) and ts[k] < close_ns:
            total += self.score[k]
            count += 1
            k += 1
        self.k = k
        self.num = self.num * self.decay + total
        self.den = self.den * self.decay + float(count)
        return {"sentiment": self.num / self.den if self.den > 0 else math.nan,
                "sentiment_mean": total / count if count else math.nan, "sentiment_count": float(count)}


def symbols_of(instrument_id: str) -> set[str]:
    """The symbols a text may carry for an instrument (``BTCUSDT.BINANCE``: BTCUSDT, $BTCUSDT)."""
    symbol = instrument_id.split(".")[0].upper()
    return {symbol, "$" + symbol}


class TextTail:
    """A text file that grows while a node runs (a live text feed): each :meth:`read` returns the
    texts of the complete lines appended since the last one, at most ``MAX_TAIL_BYTES`` a read,
    parsed as the file's first read was (its CSV header, or JSON lines). A bad line is skipped and
    reported (``errors``), never fatal to the node."""

    MAX_TAIL_BYTES = 16 * 1024 * 1024

    def __init__(self, path: str | Path) -> None:
        import os
        self.path = Path(path)
        self.offset = os.stat(self.path).st_size
        head = self.path.read_bytes()[:65536].decode("utf-8-sig", errors="replace")
        self.json = head.lstrip()[:1] in ("{", "[")
        self.header = [] if self.json else [h.strip().lower() for h in next(csv.reader(io.StringIO(head)), [])]
        self.errors: list[str] = []

    def read(self) -> Texts:
        import os
        size = os.stat(self.path).st_size
        rows: list[tuple[int, str, str]] = []
        if size > self.offset:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(min(size - self.offset, self.MAX_TAIL_BYTES))
            end = chunk.rfind(b"\n") + 1               # complete lines only
            self.offset += end
            for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
                if line.strip():
                    try:
                        rows.append(self._row(line))
                    except (ValueError, TypeError, IndexError, OverflowError, RecursionError, csv.Error) as exc:
                        self.errors.append(f"{self.path}: a bad text line was skipped: {exc}")
        rows.sort(key=lambda r: r[0])
        return Texts(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], [r[2] for r in rows])

    def _row(self, line: str) -> tuple[int, str, str]:
        if _line_too_long(line):
            raise ValueError(f"the line is longer than {MAX_TEXT_FIELD} characters")
        if self.json:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError("not a text record")
            return _when(obj.get("timestamp", obj.get("created_at"))), str(obj.get("symbol", "") or ""), obj["text"]
        row = next(csv.reader([line]))
        h = self.header
        it = h.index("timestamp") if "timestamp" in h else h.index("created_at")
        return _when(row[it]), row[h.index("symbol")] if "symbol" in h else "", row[h.index("text")]
