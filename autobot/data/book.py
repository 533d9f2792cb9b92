"""Order-book data: book deltas and trades of one instrument, as columns.

Every book source (the Binance captures, Nautilus' Binance depth files, Databento's CME
market-by-order files, the synthetic generator) becomes one :class:`BookData`: the deltas
(action, side, price, size, order id, flags, sequence, timestamps) and the trades (price, size,
aggressor, timestamps) in time order, plus what the loader noticed (``notes``: gaps in update
ids, skipped records), which is reported, never hidden. :func:`to_nautilus` turns them into
Nautilus ``OrderBookDelta`` and ``TradeTick`` objects for a BacktestEngine or a replay.

Action and side codes are Nautilus' (``BookAction``: ADD 1, UPDATE 2, DELETE 3, CLEAR 4;
``OrderSide``: BUY 1 for bids, SELL 2 for asks; ``AggressorSide``: BUYER 1, SELLER 2; flags:
``RecordFlag.F_LAST`` 128, ``F_SNAPSHOT`` 32).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

ADD, UPDATE, DELETE, CLEAR = 1, 2, 3, 4
BID, ASK = 1, 2
BUYER, SELLER = 1, 2
F_LAST, F_SNAPSHOT = 128, 32


@dataclass(frozen=True)
class BookData:
    instrument: str                 # e.g. BTCUSDT.BINANCE
    book_type: str                  # "L2" (price levels) or "L3" (orders)
    price_precision: int
    size_precision: int
    ts: np.ndarray                  # int64 ns: each delta's event time
    action: np.ndarray              # int8
    side: np.ndarray                # int8 (0 for CLEAR)
    price: np.ndarray               # float64
    size: np.ndarray                # float64
    order_id: np.ndarray            # uint64 (0 for price levels)
    flags: np.ndarray               # uint8
    sequence: np.ndarray            # uint64
    trade_ts: np.ndarray            # int64 ns
    trade_price: np.ndarray
    trade_size: np.ndarray
    trade_side: np.ndarray          # int8 aggressor
    trade_id: list[str]
    ts_init: np.ndarray | None = None        # receive times when the source has them (else ts)
    trade_ts_init: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())
    source: str = ""

    @property
    def start_ns(self) -> int:
        firsts = [int(a[0]) for a in (self.ts, self.trade_ts) if len(a)]
        return min(firsts) if firsts else 0

    @property
    def end_ns(self) -> int:
        lasts = [int(a[-1]) for a in (self.ts, self.trade_ts) if len(a)]
        return max(lasts) if lasts else 0

    def init_times(self) -> tuple[np.ndarray, np.ndarray]:
        return (self.ts if self.ts_init is None else self.ts_init,
                self.trade_ts if self.trade_ts_init is None else self.trade_ts_init)


def join(parts: list[BookData]) -> BookData:
    """Several captures of one instrument in time order (a capture split in files). Each part keeps
    its own snapshot, so a later part resets the book as it did at the exchange."""
    if len(parts) == 1:
        return parts[0]
    ids = {p.instrument for p in parts}
    if len(ids) != 1:
        raise ValueError(f"book files of different instruments: {sorted(ids)}")
    parts = sorted(parts, key=lambda p: p.start_ns)
    cat = np.concatenate

    def col(name: str) -> np.ndarray:
        return cat([getattr(p, name) for p in parts])

    def init(name: str, fallback: str) -> np.ndarray | None:
        if all(getattr(p, name) is None for p in parts):
            return None
        return cat([getattr(p, name) if getattr(p, name) is not None else getattr(p, fallback) for p in parts])
    ts = col("ts")
    order = np.argsort(ts, kind="stable")
    t_ts = col("trade_ts")
    t_order = np.argsort(t_ts, kind="stable")
    ts_init, t_init = init("ts_init", "ts"), init("trade_ts_init", "trade_ts")
    trade_ids = sum((p.trade_id for p in parts), [])
    return replace(parts[0], price_precision=max(p.price_precision for p in parts),
                   size_precision=max(p.size_precision for p in parts), ts=ts[order], action=col("action")[order],
                   side=col("side")[order], price=col("price")[order], size=col("size")[order],
                   order_id=col("order_id")[order], flags=col("flags")[order], sequence=col("sequence")[order],
                   trade_ts=t_ts[t_order], trade_price=col("trade_price")[t_order],
                   trade_size=col("trade_size")[t_order], trade_side=col("trade_side")[t_order],
                   trade_id=[trade_ids[k] for k in t_order.tolist()],
                   ts_init=None if ts_init is None else ts_init[order],
                   trade_ts_init=None if t_init is None else t_init[t_order],
                   notes=tuple(n for p in parts for n in p.notes),
                   source=" + ".join(p.source for p in parts))


def decimals(values: np.ndarray, most: int = 9) -> int:
    """The fewest decimals that write every value exactly (at most ``most``)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return 0
    sample = v if len(v) <= 200_000 else v[:: max(1, len(v) // 200_000)]
    for d in range(most + 1):
        scaled = sample * 10 ** d
        if np.all(np.abs(scaled - np.round(scaled)) <= 1e-6 * np.maximum(1.0, np.abs(scaled)) * 1e-3):
            return d
    return most


def to_nautilus(book: BookData, instrument_id: object) -> tuple[list, list]:
    """Nautilus ``OrderBookDelta``s and ``TradeTick``s of ``book`` for ``instrument_id``."""
    from nautilus_trader.model.data import BookOrder, OrderBookDelta, TradeTick
    from nautilus_trader.model.enums import AggressorSide, BookAction, OrderSide
    from nautilus_trader.model.identifiers import TradeId
    from nautilus_trader.model.objects import Price, Quantity

    actions = {ADD: BookAction.ADD, UPDATE: BookAction.UPDATE, DELETE: BookAction.DELETE, CLEAR: BookAction.CLEAR}
    sides = {BID: OrderSide.BUY, ASK: OrderSide.SELL, 0: OrderSide.NO_ORDER_SIDE}
    pp, sp = book.price_precision, book.size_precision
    ts_init, t_init = book.init_times()
    deltas = []
    null_order = BookOrder(OrderSide.NO_ORDER_SIDE, Price(0, pp), Quantity(0, sp), 0)
    for k in range(len(book.ts)):
        a = int(book.action[k])
        order = null_order if a == CLEAR else BookOrder(sides[int(book.side[k])], Price(float(book.price[k]), pp),
                                                       Quantity(float(book.size[k]), sp), int(book.order_id[k]))
        deltas.append(OrderBookDelta(instrument_id, actions[a], order, int(book.flags[k]), int(book.sequence[k]),
                                     int(book.ts[k]), int(ts_init[k])))
    aggressor = {BUYER: AggressorSide.BUYER, SELLER: AggressorSide.SELLER, 0: AggressorSide.NO_AGGRESSOR}
    trades = [TradeTick(instrument_id, Price(float(book.trade_price[k]), pp), Quantity(float(book.trade_size[k]), sp),
                        aggressor[int(book.trade_side[k])], TradeId(book.trade_id[k]), int(book.trade_ts[k]),
                        int(t_init[k]))
              for k in range(len(book.trade_ts))]
    return deltas, trades


def tick_size(book: BookData) -> float:
    """The price grid: the smallest gap between distinct prices (every price a multiple of it),
    at least one unit of the price precision."""
    prices = np.concatenate([book.price[book.action != CLEAR], book.trade_price])
    unit = 10.0 ** -book.price_precision
    u = np.unique(np.round(prices[prices > 0] / unit).astype(np.int64))
    if len(u) < 2:
        return unit
    step = int(np.min(np.diff(u)))
    g = int(np.gcd.reduce(u - u[0])) if len(u) > 1 else step
    return round(max(g, 1) * unit, book.price_precision)


def cut(book: BookData, end_ns: int) -> BookData:
    """The data before ``end_ns`` (the prefix a run at that time would have seen)."""
    k = int(np.searchsorted(book.ts, end_ns, side="left"))
    j = int(np.searchsorted(book.trade_ts, end_ns, side="left"))
    ts_init, t_init = book.ts_init, book.trade_ts_init
    return replace(book, ts=book.ts[:k], action=book.action[:k], side=book.side[:k], price=book.price[:k],
                   size=book.size[:k], order_id=book.order_id[:k], flags=book.flags[:k], sequence=book.sequence[:k],
                   trade_ts=book.trade_ts[:j], trade_price=book.trade_price[:j], trade_size=book.trade_size[:j],
                   trade_side=book.trade_side[:j], trade_id=book.trade_id[:j],
                   ts_init=None if ts_init is None else ts_init[:k], trade_ts_init=None if t_init is None else t_init[:j])
