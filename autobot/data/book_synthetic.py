"""A seeded synthetic order book with known statistics, for long tests and benchmarks.

The zero-intelligence model of the Santa Fe institute (Daniels, Farmer et al. 2003; Smith et al.
2003) on a price grid of ``tick``, event by event (a Poisson process, simulated exactly):

* limit orders of one ``lot`` arrive on each side at ``limit_rate`` per second, at a price
  uniform over the ``window`` ticks behind the opposite best (a bid at ask - 1 .. ask - window
  ticks), so some improve the spread and most join the book;
* each resting lot is cancelled at ``cancel_rate`` per second (so the book's depth settles near
  ``(2 * limit_rate - 2 * market_rate * market_lots) / cancel_rate`` lots);
* market orders arrive on each side at ``market_rate`` per second, of a geometric number of lots
  with mean ``market_lots``, and trade through the opposite side from its best level outward,
  one trade print per level they take.

The book starts with ``depth`` lots on each of the ``window`` levels around ``price``. The output
is L2 (price-level) deltas, one UPDATE/ADD/DELETE per changed level, the first batch a snapshot,
and the trades with their aggressor: a :class:`~autobot.data.book.BookData` like the loaders'.
``tests/test_book_data.py`` checks the event rates and sizes against the parameters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from autobot.data.book import ADD, ASK, BID, BUYER, CLEAR, DELETE, F_LAST, F_SNAPSHOT, SELLER, UPDATE, BookData


@dataclass(frozen=True)
class BookModel:
    seconds: float = 3600.0
    price: float = 100.0
    tick: float = 0.01
    lot: float = 0.1
    limit_rate: float = 10.0      # per second per side
    cancel_rate: float = 0.05     # per resting lot per second
    market_rate: float = 1.0      # per second per side
    market_lots: float = 3.0      # mean lots of a market order (geometric)
    window: int = 20              # ticks behind the opposite best where limit orders land
    depth: int = 5                # starting lots per level
    start_ns: int = 1_700_000_000_000_000_000
    instrument: str = "SYNTHUSDT.SIM"


@dataclass
class Counts:
    limits: int = 0
    cancels: int = 0
    markets: int = 0
    market_lots: int = 0


def synthetic_book(model: BookModel = BookModel(), seed: int = 7) -> tuple[BookData, Counts]:
    """The book's deltas and trades (module docstring) and the events behind them."""
    rng = np.random.default_rng(seed)
    p0 = int(round(model.price / model.tick))
    books: dict[int, dict[int, int]] = {BID: {}, ASK: {}}         # side -> tick price -> lots
    for k in range(1, model.window + 1):
        books[BID][p0 - k] = model.depth
        books[ASK][p0 + k - 1 + 1] = model.depth
    rows: list[tuple[int, int, int, int, int, int]] = []          # ts, action, side, tick price, lots, flags
    trades: list[tuple[int, int, int, int]] = []                  # ts, tick price, lots, aggressor
    t_ns = model.start_ns
    rows.append((t_ns, CLEAR, 0, 0, 0, F_SNAPSHOT))
    snap = [(s, p, q) for s in (BID, ASK) for p, q in sorted(books[s].items())]
    for j, (s, p, q) in enumerate(snap):
        rows.append((t_ns, ADD, s, p, q, F_SNAPSHOT | (F_LAST if j == len(snap) - 1 else 0)))
    counts = Counts()
    t = 0.0
    lots_total = sum(books[BID].values()) + sum(books[ASK].values())
    p_geo = 1.0 / model.market_lots
    last_mid = p0
    while True:
        rate = 2 * model.limit_rate + 2 * model.market_rate + model.cancel_rate * lots_total
        t += rng.exponential(1.0 / rate)
        if t >= model.seconds:
            break
        now = model.start_ns + int(t * 1e9)
        u = rng.random() * rate
        changed: list[tuple[int, int]] = []
        if u < 2 * model.limit_rate:                              # a limit order
            side = BID if u < model.limit_rate else ASK
            other = books[ASK if side == BID else BID]
            ref = (min(other) if side == BID else max(other)) if other else last_mid
            k = int(rng.integers(1, model.window + 1))
            p = ref - k if side == BID else ref + k
            books[side][p] = books[side].get(p, 0) + 1
            lots_total += 1
            counts.limits += 1
            changed.append((side, p))
        elif u < 2 * model.limit_rate + 2 * model.market_rate:    # a market order
            buy = u < 2 * model.limit_rate + model.market_rate
            book = books[ASK if buy else BID]
            want = int(rng.geometric(p_geo))
            counts.markets += 1
            counts.market_lots += want
            while want > 0 and book:
                p = min(book) if buy else max(book)
                take = min(want, book[p])
                trades.append((now, p, take, BUYER if buy else SELLER))
                book[p] -= take
                want -= take
                lots_total -= take
                if book[p] == 0:
                    del book[p]
                changed.append((ASK if buy else BID, p))
        else:                                                     # a cancel of one resting lot
            pick = int(rng.integers(0, lots_total))
            side = BID if pick < sum(books[BID].values()) else ASK
            if side == ASK:
                pick -= sum(books[BID].values())
            for p in sorted(books[side]):
                if pick < books[side][p]:
                    break
                pick -= books[side][p]
            books[side][p] -= 1
            lots_total -= 1
            if books[side][p] == 0:
                del books[side][p]
            counts.cancels += 1
            changed.append((side, p))
        seen = []
        for key in changed:
            if key not in seen:
                seen.append(key)
        for j, (side, p) in enumerate(seen):
            q = books[side].get(p, 0)
            action = DELETE if q == 0 else UPDATE
            rows.append((now, action, side, p, q, F_LAST if j == len(seen) - 1 else 0))
        if books[BID] and books[ASK]:
            last_mid = (max(books[BID]) + min(books[ASK])) // 2
    a = np.array(rows, dtype=np.int64).reshape(-1, 6)
    tr = np.array(trades, dtype=np.int64).reshape(-1, 4)
    lot_dec = _decimals_of(model.lot)
    tick_dec = _decimals_of(model.tick)
    data = BookData(
        model.instrument, "L2", tick_dec, lot_dec, a[:, 0], a[:, 1].astype(np.int8), a[:, 2].astype(np.int8),
        np.round(a[:, 3] * model.tick, tick_dec), np.round(a[:, 4] * model.lot, lot_dec),
        np.zeros(len(a), dtype=np.uint64), a[:, 5].astype(np.uint8), np.arange(len(a), dtype=np.uint64),
        tr[:, 0], np.round(tr[:, 1] * model.tick, tick_dec), np.round(tr[:, 2] * model.lot, lot_dec),
        tr[:, 3].astype(np.int8), [f"S{k}" for k in range(len(tr))], source=f"synthetic (seed {seed})")
    return data, counts


def _decimals_of(x: float) -> int:
    for d in range(10):
        if abs(x * 10 ** d - round(x * 10 ** d)) < 1e-9:
            return d
    return 9


def expected_rates(model: BookModel) -> dict[str, float]:
    """What the model's parameters say each count should be over its length (the tests compare)."""
    return {"limits": 2 * model.limit_rate * model.seconds, "markets": 2 * model.market_rate * model.seconds,
            "lots_per_market": model.market_lots,
            "depth_lots": (2 * model.limit_rate - 2 * model.market_rate * model.market_lots) / model.cancel_rate
            if model.cancel_rate > 0 else math.inf}
