"""Book data files as they are: the format detected from the first bytes, several files of one
instrument joined in time order.

* Binance websocket captures (``<receive ns> <JSON>`` lines, gzip or plain) and Binance depth
  CSVs: :mod:`autobot.data.book_binance` (update-id synchronisation, gaps reported);
* Databento DBN files (market by order, zstd or plain): NautilusTrader's ``DatabentoDataLoader``
  (L3: every order's add, modify, cancel; trades from the same file).

Every read is bounded (:data:`MAX_BOOK_FILE`); a file that is none of these is an error naming
it and the formats accepted.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from autobot.data.book import ADD, CLEAR, DELETE, UPDATE, BookData, decimals, join
from autobot.data.book_binance import BookFileError, is_capture, is_depth_csv, load_capture, load_depth_csv

MAX_BOOK_FILE = 512 * 1024 * 1024
ZSTD = b"\x28\xb5\x2f\xfd"


def _check(path: Path) -> bytes:
    name = str(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise BookFileError(name, 1, f"cannot read {name}: {exc.strerror or exc}", "pass an existing file") from None
    if not stat.S_ISREG(st.st_mode):
        raise BookFileError(name, 1, f"{name} is not a regular file", "pass a regular file")
    if st.st_size > MAX_BOOK_FILE:
        raise BookFileError(name, 1, f"{name} is {st.st_size / 2**20:.0f} MiB, above the limit of "
                            f"{MAX_BOOK_FILE // 2**20} MiB", "split the capture")
    with open(path, "rb") as fh:
        return fh.read(4096)


def detect(path: Path) -> str:
    """``capture``, ``depth_csv`` or ``dbn``; an error for anything else."""
    head = _check(path)
    if head[:4] == ZSTD or head[:3] == b"DBN":
        return "dbn"
    if head[:2] == b"\x1f\x8b":
        import gzip
        import io
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(head)).read(2048)
        except (OSError, EOFError):
            head = b""
        except Exception:  # noqa: BLE001 - a truncated member inside the first 4 KiB
            head = b""
    first = head.decode("utf-8", errors="replace").splitlines()[0] if head else ""
    if is_capture(first):
        return "capture"
    if is_depth_csv(first):
        return "depth_csv"
    raise BookFileError(str(path), 1, "not a book file AutoBot reads",
                        "pass a Binance websocket capture (<receive ns> <JSON> lines), a Binance depth CSV "
                        "(symbol,timestamp,first_update_id,...) or a Databento DBN file (MBO)")


def is_book_file(path: Path) -> bool:
    try:
        detect(path)
        return True
    except BookFileError:
        return False


def load_book(paths: list[str | Path]) -> BookData:
    """The book data of ``paths`` (one instrument), in time order."""
    files = [Path(p) for p in paths]
    kinds = {p: detect(p) for p in files}
    if len(set(kinds.values())) > 1:
        raise BookFileError(str(files[0]), 1, "book files of different formats: "
                            + ", ".join(f"{p.name} ({k})" for p, k in kinds.items()), "pass one capture at a time")
    kind = kinds[files[0]]
    if kind == "capture":
        return load_capture(files)
    if kind == "depth_csv":
        return load_depth_csv(files)
    parts = [load_dbn(p) for p in files]
    ids = {p.instrument: path for p, path in zip(parts, files)}
    if len(ids) > 1:
        raise BookFileError(str(files[0]), 1, "book files of different instruments: "
                            + ", ".join(f"{path.name} ({iid})" for iid, path in ids.items()),
                            "one book is one instrument: pass the files of one instrument")
    return join(parts)


def _dbn_problem(path: Path) -> str | None:
    """Why a DBN file is not whole (a zstd stream cut short, a record cut in two), or None.

    The file is streamed (decompressed a MiB at a time when it is zstd) and its records walked by
    their length bytes: the metadata header (``DBN``, version, u32 length), then records whose
    first byte is their length in 4-byte words."""
    import struct

    import pyarrow as pa
    try:
        raw = pa.OSFile(str(path))
        zstd = raw.read(4) == ZSTD
        raw.seek(0)
        stream = pa.CompressedInputStream(raw, "zstd") if zstd else raw
        head = stream.read(8)
        if len(head) < 8 or head[:3] != b"DBN":
            return "it has no DBN header"
        skip = struct.unpack("<I", head[4:8])[0]          # the metadata, then the records
        carry = b""
        while True:
            block = stream.read(1 << 20)
            if not block:
                break
            if skip >= len(block):
                skip -= len(block)
                continue
            data = carry + block[skip:]
            skip = 0
            pos = 0
            while pos < len(data):
                length = data[pos] * 4
                if length == 0:
                    return f"a record of length 0 at byte {pos}"
                if pos + length > len(data):
                    break
                pos += length
            carry = data[pos:]
        if skip or carry:
            return "its last record is cut short"
        return None
    except (OSError, pa.ArrowException) as exc:
        return str(exc)


def load_dbn(path: Path) -> BookData:
    """A Databento MBO file through NautilusTrader's loader, as columns. A file that is not whole
    (cut short while downloading or copying) is an error: its book would stop without a word."""
    from nautilus_trader.adapters.databento.loaders import DatabentoDataLoader
    from nautilus_trader.model.data import OrderBookDelta, TradeTick
    problem = _dbn_problem(path)
    if problem is not None:
        raise BookFileError(str(path), 1, f"the DBN file is truncated or damaged: {problem}",
                            "download the file again (its zstd stream and records must be complete)")
    try:
        items = DatabentoDataLoader().from_dbn_file(str(path), price_precision=9, include_trades=True)
    except Exception as exc:  # noqa: BLE001 - the loader's own error, named with the file
        raise BookFileError(str(path), 1, f"NautilusTrader's Databento loader cannot read it: {exc}",
                            "pass a Databento DBN file of the mbo schema") from None
    deltas = [d for d in items if isinstance(d, OrderBookDelta)]
    trades = [t for t in items if isinstance(t, TradeTick)]
    if not deltas:
        raise BookFileError(str(path), 1, "the file has no book records (market by order)",
                            "pass a Databento file of the mbo schema")
    actions = {1: ADD, 2: UPDATE, 3: DELETE, 4: CLEAR}
    price = np.array([d.order.price.as_double() for d in deltas])
    size = np.array([d.order.size.as_double() for d in deltas])
    t_price = np.array([t.price.as_double() for t in trades])
    t_size = np.array([t.size.as_double() for t in trades])
    iid = deltas[0].instrument_id.value
    notes = []
    flags = np.array([d.flags for d in deltas], dtype=np.uint8)
    data = BookData(
        iid, "L3", decimals(np.concatenate([price, t_price]), 9), decimals(np.concatenate([size, t_size]), 9),
        np.array([d.ts_event for d in deltas], dtype=np.int64),
        np.array([actions[int(d.action)] for d in deltas], dtype=np.int8),
        np.array([int(d.order.side) for d in deltas], dtype=np.int8), price, size,
        np.array([d.order.order_id for d in deltas], dtype=np.uint64), flags,
        np.array([d.sequence for d in deltas], dtype=np.uint64),
        np.array([t.ts_event for t in trades], dtype=np.int64), t_price, t_size,
        np.array([int(t.aggressor_side) for t in trades], dtype=np.int8), [t.trade_id.value for t in trades],
        ts_init=np.array([d.ts_init for d in deltas], dtype=np.int64),
        trade_ts_init=np.array([t.ts_init for t in trades], dtype=np.int64), notes=tuple(notes), source=path.name)
    return data
