"""Binance order-book captures: a REST depth snapshot plus websocket depth diffs and trades.

Two layouts, detected from the first bytes:

* **websocket capture** (hftbacktest's collector, ``../shared/data/raw/hftbacktest/``): gzip or
  plain text, one message a line, ``<local receive ns> <JSON>``: ``depthUpdate`` and ``trade``
  messages in a ``{"stream", "data"}`` wrapper, the REST snapshot (``lastUpdateId``, ``bids``,
  ``asks``) as it was fetched, ``bookTicker`` messages (not needed: the book is rebuilt);
* **Binance depth CSV** (Binance's historical data files, as NautilusTrader's test data has them):
  ``symbol,timestamp,first_update_id,last_update_id,side,update_type,price,qty,pu`` with
  ``update_type`` ``snap`` or ``set``.

The diffs are synchronised to the snapshot by the exchange's update-id rule: a diff whose last id
``u`` is before the snapshot's ``lastUpdateId`` (``L``) is dropped; the first one applied spans it
(spot: ``U <= L + 1 <= u``; futures: ``U <= L <= u``); each next one must continue the previous
(spot: ``U == previous u + 1``; futures: ``pu == previous u``). Diffs received before the
snapshot are kept until it arrives (the collector fetches the snapshot after subscribing). A break
in the chain, or a snapshot no diff spans, is reported in ``notes`` and the book stops there: the
data after a gap is never patched over. Several files of one capture (split at midnight) are read
as one stream in order.

Event times are the exchange's (``E`` for depth, ``T`` for trades, milliseconds), and the data is
replayed in that order (the collector's clock, about 1.27 s behind the exchange's in these
captures, orders a snapshot after diffs it contains, so it is not used). Spot snapshots carry no exchange time: they take the time of the
first diff applied. Instruments: spot ``BTCUSDT.BINANCE``, USD-M futures ``BTCUSDT-PERP.BINANCE``,
COIN-M futures ``BTCUSD_PERP.BINANCE`` (sizes in contracts).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from autobot.data.book import ADD, ASK, BID, BUYER, CLEAR, DELETE, F_LAST, F_SNAPSHOT, SELLER, UPDATE, BookData, \
    decimals

MAX_BOOK_BYTES = 1024 * 1024 * 1024      # decompressed, per file
MAX_LINE = 4 * 1024 * 1024


class BookFileError(ValueError):
    """A book file that cannot be read: the file, the line and what to do."""

    def __init__(self, path: str, line: int, message: str, hint: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path, self.line, self.message, self.hint = path, line, message, hint


#: the latest exchange time in milliseconds that int64 nanoseconds hold (2262-04-11)
_MAX_MS = (2**63 - 1) // 1_000_000


def _ms(value: Any, what: str) -> int:
    """An exchange time in milliseconds as nanoseconds, or a ``ValueError`` naming it."""
    ms = int(value)
    if not 0 <= ms <= _MAX_MS:
        raise ValueError(f"{what} {value} ms is outside 1970..2262-04-11")
    return ms * 1_000_000


def read_lines(path: str | Path) -> list[str]:
    from autobot.safeio import ReadRefused, gunzip_bounded, read_bounded
    name = str(path)
    try:
        raw = read_bounded(path, MAX_BOOK_BYTES)
        if raw[:2] == b"\x1f\x8b":
            raw = gunzip_bounded(raw, MAX_BOOK_BYTES, name)
    except ReadRefused as exc:
        raise BookFileError(name, 1, exc.reason, exc.hint) from None
    except OSError as exc:
        raise BookFileError(name, 1, f"cannot read {name}: {exc.strerror or exc}", "pass an existing file") from None
    try:
        return raw.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise BookFileError(name, raw[: exc.start].count(b"\n") + 1, "the file is not UTF-8 text",
                            "pass the capture as it was recorded") from None


def is_capture(first_line: str) -> bool:
    head, _, rest = first_line.partition(" ")
    return head.isdigit() and rest.lstrip().startswith("{")


def is_depth_csv(first_line: str) -> bool:
    return first_line.strip().lower().startswith("symbol,timestamp,first_update_id,last_update_id")


class _Book:
    """The loader's own price levels: ADD, UPDATE or DELETE for each change, as Nautilus wants."""

    def __init__(self) -> None:
        self.levels: dict[int, dict[float, float]] = {BID: {}, ASK: {}}

    def change(self, side: int, price: float, qty: float) -> int | None:
        have = self.levels[side]
        if qty == 0.0:
            if price not in have:
                return None                 # removing a level the book never had: nothing to do
            del have[price]
            return DELETE
        action = UPDATE if price in have else ADD
        have[price] = qty
        return action


class _Out:
    def __init__(self) -> None:
        self.rows: list[tuple[int, int, int, float, float, int, int, int]] = []  # ts, act, side, px, qty, flags, seq, recv
        self.trades: list[tuple[int, float, float, int, str, int]] = []
        self.book = _Book()

    def message(self, ts: int, recv: int, seq: int, changes: list[tuple[int, float, float]], snapshot: bool) -> None:
        start = len(self.rows)
        if snapshot:
            self.book = _Book()
            self.rows.append((ts, CLEAR, 0, 0.0, 0.0, F_SNAPSHOT, seq, recv))
        for side, price, qty in changes:
            action = self.book.change(side, price, qty)
            if action is not None:
                self.rows.append((ts, action, side, price, qty, F_SNAPSHOT if snapshot else 0, seq, recv))
        if len(self.rows) > start:
            r = self.rows[-1]
            self.rows[-1] = (*r[:5], r[5] | F_LAST, *r[6:])

    def data(self, instrument: str, notes: list[str], source: str) -> BookData:
        a = self.rows
        t = self.trades
        prices = np.array([r[3] for r in a] + [r[1] for r in t], dtype=np.float64)
        sizes = np.array([r[4] for r in a] + [r[2] for r in t], dtype=np.float64)
        ts = np.array([r[0] for r in a], dtype=np.int64)
        t_ts = np.array([r[0] for r in t], dtype=np.int64)
        ts = _in_order(ts, "book updates", notes)
        t_ts = _in_order(t_ts, "trades", notes)
        return BookData(
            instrument, "L2", decimals(prices, 8), decimals(sizes, 8),
            ts, np.array([r[1] for r in a], dtype=np.int8),
            np.array([r[2] for r in a], dtype=np.int8), np.array([r[3] for r in a], dtype=np.float64),
            np.array([r[4] for r in a], dtype=np.float64), np.zeros(len(a), dtype=np.uint64),
            np.array([r[5] for r in a], dtype=np.uint8), np.array([r[6] for r in a], dtype=np.uint64),
            t_ts, np.array([r[1] for r in t], dtype=np.float64),
            np.array([r[2] for r in t], dtype=np.float64), np.array([r[3] for r in t], dtype=np.int8),
            [r[4] for r in t], notes=tuple(notes), source=source)


def _in_order(ts: np.ndarray, what: str, notes: list[str]) -> np.ndarray:
    """Times that never go back. The exchange's update ids order the book (an update applied out
    of that order corrupts it), so the events keep the capture's order; an event stamped earlier
    than one before it takes that latest time, and a note says how many and by how much (a replay
    sorted by time would otherwise apply them out of order, silently)."""
    if len(ts) < 2:
        return ts
    latest = np.maximum.accumulate(ts)
    back = latest > ts
    if back.any():
        worst = int((latest - ts).max()) / 1e6
        notes.append(f"{int(back.sum())} {what} carry an exchange time earlier than one before them (by up to "
                     f"{worst:g} ms): kept in the capture's (update-id) order, their times raised to the "
                     "latest time before them")
    return latest


def _levels(entries: Any, side: int) -> list[tuple[int, float, float]]:
    return [(side, float(p), float(q)) for p, q in entries]


def load_capture(paths: list[str | Path]) -> BookData:
    """One instrument's websocket capture, from one or more files in order (module docstring)."""
    notes: list[str] = []
    out = _Out()
    snapshot: dict | None = None
    snapshot_recv = 0
    pending: list[tuple[int, dict]] = []          # diffs received before the snapshot
    prev_u: int | None = None
    futures = False
    symbol = ""
    market_seen = ""
    coin = False
    stopped = False
    dropped = 0
    ordered = sorted(paths, key=lambda p: _first_recv(p))
    for path in ordered:
        name = str(path)
        for k, line in enumerate(read_lines(path), 1):
            if not line.strip():
                continue
            if len(line) > MAX_LINE:
                raise BookFileError(name, k, "a line longer than 4 MiB", "pass the capture as it was recorded")
            head, _, body = line.partition(" ")
            try:
                recv = int(head)
                if recv >= 2**63:
                    raise ValueError(f"receive time {head} ns is after 2262-04-11")
                msg = json.loads(body)
            except RecursionError:
                raise BookFileError(name, k, "the message is JSON nested too deep",
                                    "pass the capture as it was recorded") from None
            except ValueError as exc:
                raise BookFileError(name, k, f"not '<receive ns> <JSON>': {exc}",
                                    "each line: the receive time in nanoseconds, a space, the message") from None
            if not isinstance(msg, dict):
                raise BookFileError(name, k, "the message is not a JSON object", "pass the capture as it was recorded")
            data = msg.get("data", msg)
            if not isinstance(data, dict):
                continue
            try:
                if "lastUpdateId" in data:             # the REST snapshot
                    if snapshot is None:
                        snapshot, snapshot_recv = data, recv
                        futures = futures or "E" in data or "T" in data
                        work, pending = pending, []
                        for r, d in work:
                            if stopped:
                                dropped += 1
                                continue
                            prev_u, stopped = _apply(out, r, d, snapshot, snapshot_recv, prev_u, futures, notes,
                                                     name, k)
                    continue
                kind = data.get("e")
                if kind in ("depthUpdate", "trade"):
                    market = _market(data) if kind == "depthUpdate" else None
                    symbol, market_seen = _same_instrument(symbol, market_seen, str(data.get("s", "")), market,
                                                           name, k)
                if kind == "depthUpdate":
                    futures = futures or "pu" in data
                    coin = coin or "ps" in data
                    if stopped:
                        dropped += 1
                    elif snapshot is None:
                        pending.append((recv, data))
                    else:
                        prev_u, stopped = _apply(out, recv, data, snapshot, snapshot_recv, prev_u, futures, notes,
                                                 name, k)
                elif kind == "trade":
                    if prev_u is not None and not stopped:     # trades while the book is known
                        aggressor = SELLER if data.get("m") else BUYER
                        out.trades.append((_ms(data["T"], "trade time"), float(data["p"]), float(data["q"]), aggressor,
                                           str(data["t"]), recv))
            except BookFileError:
                raise
            except (KeyError, TypeError, ValueError) as exc:
                raise BookFileError(name, k, f"a {data.get('e', 'snapshot')} message is missing a field or has a "
                                    f"bad value ({exc!r})", "pass the capture as it was recorded") from None
    if snapshot is None:
        notes.append("no depth snapshot in the capture: the book cannot be rebuilt from diffs alone")
    elif prev_u is None:
        notes.append(f"no diff spans the snapshot's lastUpdateId {snapshot['lastUpdateId']}: the diffs cannot be "
                     "synchronised to it")
    if dropped:
        notes.append(f"{dropped} diffs after the gap were not applied")
    instrument = _instrument(symbol, futures, coin)
    return out.data(instrument, notes, " + ".join(Path(p).name for p in ordered))


def _first_recv(path: str | Path) -> int:
    from autobot.safeio import read_prefix
    import gzip
    import io
    head = read_prefix(path, 65536)
    if head[:2] == b"\x1f\x8b":
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(head)).read(4096)
        except (OSError, EOFError):
            return 0
    first = head.split(b" ", 1)[0]
    return int(first) if first.isdigit() else 0


def _apply(out: _Out, recv: int, d: dict, snapshot: dict, snapshot_recv: int, prev_u: int | None, futures: bool,
           notes: list[str], name: str, line: int) -> tuple[int | None, bool]:
    """Apply one diff (or skip it before the sync point); (the new previous u, stopped at a gap)."""
    big_u, u = int(d["U"]), int(d["u"])
    last = int(snapshot["lastUpdateId"])
    ts = _ms(d["E"], "event time")
    if prev_u is None:
        if u < last or (not futures and u == last):
            return None, False                         # before the snapshot: already in it
        spans = big_u <= last <= u if futures else big_u <= last + 1 <= u
        if not spans:
            notes.append(f"{name}:{line}: the first diff after the snapshot starts at update id {big_u}, beyond the "
                         f"snapshot's {last}: the book stops here (a gap, not patched)")
            return None, True
        snap_ts = _ms(snapshot.get("E", 0), "snapshot time") or ts
        out.message(snap_ts, snapshot_recv or recv, last,
                    _levels(snapshot["bids"], BID) + _levels(snapshot["asks"], ASK), snapshot=True)
    else:
        ok = int(d["pu"]) == prev_u if futures else big_u == prev_u + 1
        if not ok:
            notes.append(f"{name}:{line}: update ids break at {prev_u} -> {d.get('pu', big_u)} (at "
                         f"{np.datetime64(ts, 'ns')}): the book stops here (a gap, not patched)")
            return prev_u, True
    out.message(ts, recv, u, _levels(d.get("b", []), BID) + _levels(d.get("a", []), ASK), snapshot=False)
    return u, False


def _market(diff: dict) -> str:
    """``spot``, ``usdm`` or ``coinm`` from a depth diff's fields (futures diffs carry ``pu``)."""
    return "coinm" if "ps" in diff else "usdm" if "pu" in diff else "spot"


def _same_instrument(symbol: str, market: str, new_symbol: str, new_market: str | None, name: str,
                     line: int) -> tuple[str, str]:
    """The capture's symbol and market, or an error when a message is of another instrument."""
    new_symbol = new_symbol.upper()
    if symbol and new_symbol and new_symbol != symbol:
        raise BookFileError(name, line, f"a message of {new_symbol} in a capture of {symbol}: two instruments "
                            "in one book", "pass the files of one instrument (one symbol, one market)")
    if market and new_market and new_market != market:
        raise BookFileError(name, line, f"a {new_market} depth update in a {market} capture of {symbol or new_symbol}: "
                            "two instruments in one book", "pass the files of one market (spot or futures)")
    return symbol or new_symbol, market or (new_market or "")


def _instrument(symbol: str, futures: bool, coin: bool) -> str:
    s = symbol.upper() or "UNKNOWN"
    if coin:
        return f"{s}.BINANCE"                            # BTCUSD_PERP.BINANCE
    return f"{s}-PERP.BINANCE" if futures else f"{s}.BINANCE"


def load_depth_csv(paths: list[str | Path]) -> BookData:
    """Binance depth CSVs (module docstring; a snapshot file and an update file are read together):
    the ``snap`` rows a snapshot, each ``set`` message a diff, synchronised by the same rule
    (futures rows carry ``pu``; spot rows have ``pu`` -1)."""
    snap_rows: list[list[str]] = []
    messages: dict[tuple[int, int], dict] = {}
    symbol = ""
    for path in paths:
        got = _depth_rows(path, snap_rows, messages)
        if symbol and got and got.upper() != symbol.upper():
            raise BookFileError(str(path), 2, f"a depth file of {got} with one of {symbol}: two instruments in "
                                "one book", "pass the files of one instrument")
        symbol = got or symbol
    name = " + ".join(Path(p).name for p in paths)
    notes: list[str] = []
    out = _Out()
    futures = any(m["pu"] != -1 for m in messages.values())
    snapshot = None
    if snap_rows:
        last = int(snap_rows[0][3])
        _ms(snap_rows[0][1], "snapshot timestamp")
        snapshot = {"lastUpdateId": last, "E": int(snap_rows[0][1]),
                    "bids": [(r[6], r[7]) for r in snap_rows if r[4] == "b"],
                    "asks": [(r[6], r[7]) for r in snap_rows if r[4] == "a"]}
        if not snapshot["asks"] or not snapshot["bids"]:
            notes.append(f"{name}: the snapshot has no {'asks' if not snapshot['asks'] else 'bids'}: one side of "
                         "the book is unknown")
    prev_u: int | None = None
    stopped = False
    for key in sorted(messages):
        d = messages[key]
        if snapshot is None or stopped:
            break
        prev_u, stopped = _apply(out, d["E"] * 1_000_000, d, snapshot, 0, prev_u, futures, notes, d["file"],
                                 d["line"])
    if snapshot is None:
        notes.append(f"{name}: no snapshot rows: the book cannot be rebuilt from diffs alone")
    elif prev_u is None and not stopped:
        notes.append(f"{name}: no diff spans the snapshot's update id {snapshot['lastUpdateId']}")
    if snapshot is not None and prev_u is None:     # the snapshot alone is still a book
        out.message(snapshot["E"] * 1_000_000, snapshot["E"] * 1_000_000, snapshot["lastUpdateId"],
                    _levels(snapshot["bids"], BID) + _levels(snapshot["asks"], ASK), snapshot=True)
    return out.data(_instrument(symbol, futures, False), notes, name)


def _depth_rows(path: str | Path, snap_rows: list[list[str]], messages: dict[tuple[int, int], dict]) -> str:
    import csv
    import io
    name = str(path)
    reader = csv.reader(io.StringIO("\n".join(read_lines(path))))
    header = [h.strip().lower() for h in next(reader, [])]
    need = ["symbol", "timestamp", "first_update_id", "last_update_id", "side", "update_type", "price", "qty"]
    if header[: len(need)] != need:
        raise BookFileError(name, 1, "not a Binance depth CSV header", ",".join(need) + ",pu")
    symbol = ""
    for row in reader:
        k = reader.line_num
        if not row:
            continue
        try:
            if symbol and row[0] and row[0] != symbol:
                raise BookFileError(name, k, f"a row of {row[0]} in a depth file of {symbol}: two instruments "
                                    "in one book", "pass the rows of one instrument")
            symbol = symbol or row[0]
            kind = row[5].strip().lower()
            if kind == "snap":
                snap_rows.append(row)
            elif kind == "set":
                key = (int(row[2]), int(row[3]))
                _ms(row[1], "timestamp")
                m = messages.setdefault(key, {"U": key[0], "u": key[1], "E": int(row[1]), "b": [], "a": [],
                                              "pu": int(row[8]) if len(row) > 8 and row[8] else -1,
                                              "file": name, "line": k})
                m["b" if row[4] == "b" else "a"].append((row[6], row[7]))
            else:
                raise ValueError(f"update_type {kind!r} (snap or set)")
        except BookFileError:
            raise
        except (ValueError, IndexError) as exc:
            raise BookFileError(name, k, f"bad depth row: {exc}", "symbol,timestamp,first_update_id,"
                                "last_update_id,side,update_type,price,qty,pu") from None
    return symbol
