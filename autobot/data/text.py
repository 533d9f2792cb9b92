"""Timestamped texts (``--text FILE``) and the ``sentiment`` series they give, with no lookahead.

A text file is CSV with a header naming ``timestamp``, ``symbol`` (optional) and ``text``, or JSON
lines with those keys (``created_at`` is accepted for the timestamp). Timestamps are ISO 8601
(UTC when no zone is given) or epoch seconds / milliseconds. Reads are bounded
(:data:`MAX_TEXT_BYTES`); a bad row is an error naming the file and line.

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

MAX_TEXT_BYTES = 512 * 1024 * 1024
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


def _when(value: object) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) or (isinstance(value, str) and
                                                                        value.strip().lstrip("-").replace(".", "", 1).isdigit()):
        x = float(value)               # type: ignore[arg-type]
        if not math.isfinite(x):
            raise ValueError("not a finite number")
        return int(x * (1e6 if x > 1e11 else 1e9))       # milliseconds or seconds since the epoch
    text = str(value).strip().replace("Z", "+00:00")
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        t = dt.datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")      # Twitter's created_at
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int(t.timestamp() * 1e9)


def load_texts(path: str | Path) -> Texts:
    """The texts of a CSV or JSON-lines file (module docstring), sorted by time."""
    from autobot.safeio import ReadRefused, read_bounded
    name = str(path)
    try:
        raw = read_bounded(path, MAX_TEXT_BYTES)
    except ReadRefused as exc:
        raise _error(name, 1, exc.reason, exc.hint) from None
    except OSError as exc:
        raise _error(name, 1, f"cannot read {name}: {exc.strerror or exc}", "pass an existing text file") from None
    try:
        body = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise _error(name, line, "the file is not UTF-8 text", "save it as UTF-8") from None
    rows: list[tuple[int, str, str]] = []
    first = body.lstrip()[:1]
    if first in ("{", "["):
        for k, line in enumerate(body.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError("not an object")
                when = obj.get("timestamp", obj.get("created_at"))
                text = obj.get("text")
                if when is None or not isinstance(text, str):
                    raise ValueError("needs 'timestamp' (or 'created_at') and 'text'")
                rows.append((_when(when), str(obj.get("symbol", "") or ""), text))
            except (ValueError, TypeError, OverflowError) as exc:
                raise _error(name, k, f"line {k} is not a text record: {exc}",
                             "one JSON object a line with timestamp, symbol and text") from None
    else:
        reader = csv.reader(io.StringIO(body))
        header = [h.strip().lower() for h in next(reader, [])]
        if "text" not in header or not ({"timestamp", "created_at"} & set(header)):
            raise _error(name, 1, "the header needs 'timestamp' and 'text' columns (and optionally 'symbol')",
                         "e.g. timestamp,symbol,text")
        it = header.index("timestamp") if "timestamp" in header else header.index("created_at")
        ix, isym = header.index("text"), (header.index("symbol") if "symbol" in header else None)
        for row in reader:
            k = reader.line_num
            if not row:
                continue
            try:
                rows.append((_when(row[it]), row[isym] if isym is not None else "", row[ix]))
            except (ValueError, IndexError, OverflowError) as exc:
                raise _error(name, k, f"line {k}: {exc}", "each row: an ISO or epoch timestamp, a symbol, a text") \
                    from None
    rows.sort(key=lambda r: r[0])
    return Texts(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], [r[2] for r in rows])


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
                    except (ValueError, TypeError, IndexError, OverflowError) as exc:
                        self.errors.append(f"{self.path}: a bad text line was skipped: {exc}")
        rows.sort(key=lambda r: r[0])
        return Texts(np.array([r[0] for r in rows], dtype=np.int64), [r[1] for r in rows], [r[2] for r in rows])

    def _row(self, line: str) -> tuple[int, str, str]:
        if self.json:
            obj = json.loads(line)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError("not a text record")
            return _when(obj.get("timestamp", obj.get("created_at"))), str(obj.get("symbol", "") or ""), obj["text"]
        row = next(csv.reader([line]))
        h = self.header
        it = h.index("timestamp") if "timestamp" in h else h.index("created_at")
        return _when(row[it]), row[h.index("symbol")] if "symbol" in h else "", row[h.index("text")]
