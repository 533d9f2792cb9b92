"""The quoting strategy: a ``quote:`` document run on Nautilus' order book (backtest and live).

It subscribes to the instrument's book deltas and trades. Time is cut into quoting steps of the
document's ``market.bar`` (e.g. 1 s, Hummingbot's clock tick): the mids of a step make a bar
(open, high, low, close of the mid; volume the traded volume), so the language's bar series
(``close``, ``stddev(close, 30)``, ...) are series of mids, and at the **first book event at or
after each step's end** the strategy

1. feeds the bar to the streaming evaluator, with the book, trades and inventory names read at
   that moment (Nautilus' own book from the cache; the inventory from Nautilus' portfolio);
2. if ``stand_aside`` holds, or the book is one-sided or crossed, cancels its quotes and waits;
3. sends a taker order for ``take_buy`` / ``take_sell`` (within the inventory limit);
4. works out the wanted quotes: ``levels`` per side, ``level_step`` apart, the spread at least
   ``min_spread``, prices on the tick grid (bids down, asks up), never crossing the book
   (post-only), no bids at ``inventory >= max_inventory`` and no asks at ``<= -max_inventory``
   (sizes cut to what the limit leaves);
5. keeps a resting quote whose price is within ``tolerance`` of the wanted one and younger than
   ``refresh``; replaces the others (cancel, then a new post-only GTC limit), which loses its
   place in the queue as it would at the exchange.

The inventory limit is also a breaker: should the inventory ever pass ``BREAKER x max_inventory``
(a limit lowered by a reload below what is held, fills of several levels at once), the strategy
cancels its quotes, flattens with a market order and stops quoting (``breaker_trips``).

With ``watch`` (a live node), the document is checked for edits at every quoting step, between
book updates: a valid edit takes over from the next step (the indicators it shares with the
running version keep their state), an invalid one is reported and the running version keeps
quoting (``reloads`` records both).

Fills are Nautilus' (the venue's matching engine on the book and the trades; the backtest
chooses the queue model). The strategy records every step (mid, best quote each side,
inventory) and every fill with the mid at that moment, for :mod:`autobot.backtest.mm_metrics`.
"""

from __future__ import annotations

import math
import re
from collections import deque
from typing import Any, Callable

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import OrderBookDeltas, TradeTick
from nautilus_trader.model.enums import AggressorSide, BookType, OrderSide, TimeInForce
from nautilus_trader.model.identifiers import InstrumentId
from nautilus_trader.trading.strategy import Strategy

from autobot.strategy.quote_records import Fill, Steps
from autobot.evaluate.stream import StreamEvaluator
from autobot.language.book import SPACES
from autobot.language.compile import CompiledStrategy, compile_strategy_text
from autobot.strategy.plans import compiled_for

_NAME = re.compile(r"^(\w+)(?:\.(\w+))?(?:\((.*)\))?$")


BREAKER = 1.5          # x max_inventory: the inventory breaker


class QuoteStrategyConfig(StrategyConfig, frozen=True):
    document: str
    document_name: str
    instrument_id: InstrumentId
    book_type: str = "L2"
    overrides: dict[str, float] = {}
    watch: str | None = None          # a document path to hot-reload from (live)


def _seconds(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([smh])\s*", text)
    assert m is not None
    return int(m.group(1)) * {"s": 1, "m": 60, "h": 3600}[m.group(2)]


class QuoteStrategy(Strategy):
    """A ``quote:`` document on the order book (module docstring)."""

    def __init__(self, config: QuoteStrategyConfig) -> None:
        super().__init__(config)
        self.compiled: CompiledStrategy | None = None
        self.evaluator: StreamEvaluator | None = None
        self.steps = Steps()
        self.fills: list[Fill] = []
        self.orders_placed = 0
        self.cancels = 0
        self.filled_orders: set[str] = set()
        self.rejected = 0
        self.takes = 0
        self.book_events = 0
        self.on_progress: Callable[[int], None] | None = None
        self.step_seconds: list[float] = []           # wall time of each quoting step (benchmarks)
        self.time_steps = False
        self._trades: deque[tuple[int, float, int, float]] = deque()   # ts, size, aggressor, price
        self._resting: dict[tuple[int, int], Any] = {}                 # (side, level) -> client order id
        self._placed_at: dict[Any, int] = {}
        self._next = 0
        self._bar: list[float] | None = None                           # open, high, low, close of the mid
        self._bar_ts = 0
        self._volume = 0.0
        self._mid = math.nan
        self._last_trade = math.nan
        self.halted = False
        self.breaker_trips: list[tuple[int, float]] = []
        self.reloads: list[tuple[int, bool, str]] = []      # (ts, taken, message)
        self._mtime: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        cfg: QuoteStrategyConfig = self.config  # type: ignore[assignment]
        self.compiled = compiled_for(cfg.document, cfg.document_name, cfg.overrides)    # compiled once
        self.instrument = self.cache.instrument(cfg.instrument_id)
        if self.instrument is None:
            self.log.error(f"no instrument {cfg.instrument_id} in the cache")
            self.stop()
            return
        self.tick = float(self.instrument.price_increment)
        self.lot = float(self.instrument.size_increment)
        self._adopt(self.compiled, None)
        if cfg.watch is not None:
            import os
            self._mtime = os.stat(cfg.watch).st_mtime_ns
        book_type = BookType.L3_MBO if cfg.book_type == "L3" else BookType.L2_MBP
        self.subscribe_order_book_deltas(cfg.instrument_id, book_type=book_type)
        self.subscribe_trade_ticks(cfg.instrument_id)

    def _adopt(self, cs: CompiledStrategy, previous: StreamEvaluator | None) -> None:
        """Run ``cs`` from now on (at start, or a reload: the shared indicators keep their state)."""
        q = cs.document.quote
        assert q is not None and cs.bar is not None
        self.compiled, self.q, self.nodes = cs, q, dict(cs.quote)
        self.evaluator = StreamEvaluator(cs.plan, observe=set(self.nodes.values()))
        if previous is not None:
            self.evaluator.adopt_state(previous.state())
        self.step_ns = cs.bar.seconds * 1_000_000_000
        self.refresh_ns = _seconds(q.refresh) * 1_000_000_000
        self.readers = [(name, self._reader(name)) for name in sorted(cs.plan.externals)
                        if name.split(".")[0].split("(")[0] in SPACES]

    def _check_edit(self, ts: int) -> None:
        """A live node's hot reload, between book updates (module docstring)."""
        import os
        cfg: QuoteStrategyConfig = self.config  # type: ignore[assignment]
        try:
            mtime = os.stat(cfg.watch).st_mtime_ns  # type: ignore[arg-type]
        except OSError:
            return
        if mtime == self._mtime:
            return
        self._mtime = mtime
        from autobot.diagnostics import UserError
        from autobot.documents.load import MAX_BYTES
        from autobot.safeio import read_bounded
        try:
            text = read_bounded(cfg.watch, MAX_BYTES).decode("utf-8")     # bounded: an edit is untrusted
            cs = compile_strategy_text(text, str(cfg.watch), dict(cfg.overrides) or None)
            if cs.document.quote is None or cs.bar is None or cs.bar.seconds * 1_000_000_000 != self.step_ns:
                raise ValueError("an edit must keep the quote: section and the quoting step (market.bar)")
        except UserError as err:
            first = err.diagnostics[0]
            message = f"{first.file}:{first.line}:{first.column}: {first.message}"
            self.reloads.append((ts, False, message))
            self.log.error(f"edit refused, the running version keeps quoting: {message}")
            return
        except Exception as exc:  # noqa: BLE001 - any bad edit: report, keep the running version
            self.reloads.append((ts, False, str(exc)))
            self.log.error(f"edit refused, the running version keeps quoting: {exc}")
            return
        self._adopt(cs, self.evaluator)
        self.reloads.append((ts, True, "reloaded"))
        self.log.info(f"reloaded {cfg.watch}")

    def _breaker(self, ts: int, inventory: float) -> bool:
        limit = self.q.max_inventory
        if self.halted:
            return True
        if limit is None or abs(inventory) <= BREAKER * limit + 1e-12:
            return False
        self.halted = True
        self.breaker_trips.append((ts, inventory))
        self.log.error(f"inventory {inventory:g} is beyond {BREAKER:g} x max_inventory {limit:g}: quotes cancelled, "
                       "position flattened, quoting halted")
        self.cancel_all_orders(self.instrument.id)
        side = OrderSide.SELL if inventory > 0 else OrderSide.BUY
        self.submit_order(self.order_factory.market(self.instrument.id, side,
                                                    self.instrument.make_qty(abs(inventory)),
                                                    time_in_force=TimeInForce.IOC))
        self.orders_placed += 1
        return True

    def on_stop(self) -> None:
        cfg: QuoteStrategyConfig = self.config  # type: ignore[assignment]
        self.cancel_all_orders(cfg.instrument_id)

    # ------------------------------------------------------------------ market data
    def on_order_book_deltas(self, deltas: OrderBookDeltas) -> None:
        self.book_events += 1
        self._event(deltas.ts_event)

    def on_trade_tick(self, tick: TradeTick) -> None:
        size = tick.size.as_double()
        side = 1 if tick.aggressor_side == AggressorSide.BUYER else -1 if tick.aggressor_side == AggressorSide.SELLER else 0
        self._trades.append((tick.ts_event, size, side, tick.price.as_double()))
        self._last_trade = tick.price.as_double()
        self._volume += size
        self._event(tick.ts_event)

    def _event(self, ts: int) -> None:
        if ts >= self._next and self._bar is not None:
            self._step(ts)
        if ts >= self._next:
            self._next = (ts // self.step_ns + 1) * self.step_ns
        book = self.cache.order_book(self.instrument.id)
        bid, ask = book.best_bid_price(), book.best_ask_price()
        if bid is None or ask is None or bid >= ask:
            return
        mid = (bid.as_double() + ask.as_double()) / 2.0
        self._mid = mid
        if self._bar is None:
            self._bar = [mid, mid, mid, mid]
            self._bar_ts = (ts // self.step_ns) * self.step_ns
        else:
            b = self._bar
            b[1] = mid if mid > b[1] else b[1]
            b[2] = mid if mid < b[2] else b[2]
            b[3] = mid

    # ------------------------------------------------------------------ one quoting step
    def _step(self, ts: int) -> None:
        import time
        t0 = time.perf_counter() if self.time_steps else 0.0
        cfg: QuoteStrategyConfig = self.config  # type: ignore[assignment]
        if cfg.watch is not None:
            self._check_edit(ts)
        ev = self.evaluator
        assert ev is not None and self._bar is not None
        book = self.cache.order_book(self.instrument.id)
        self._window(ts)
        o, h, lo, c = self._bar
        ev.update(self._bar_ts, o, h, lo, c, self._volume, {name: read(book, ts) for name, read in self.readers})
        self._bar = None
        self._volume = 0.0
        bid, ask = book.best_bid_price(), book.best_ask_price()
        inventory = self.inventory()
        valid = bid is not None and ask is not None and bid < ask
        value = {key: ev.value(node) for key, node in self.nodes.items()}
        aside = (not valid) or bool(value.get("stand_aside", False)) or self._breaker(ts, inventory)
        want: dict[tuple[int, int], tuple[float, float]] = {}
        if not aside:
            best_bid, best_ask = bid.as_double(), ask.as_double()
            if self._takes(value, inventory):
                inventory = self.inventory()        # a take fills at once in a backtest; live, when it does
            want = self._wanted(value, best_bid, best_ask, inventory)
        self._reconcile(want, ts)
        top_bid = want.get((1, 0), (math.nan, 0.0))[0]
        top_ask = want.get((-1, 0), (math.nan, 0.0))[0]
        mid = (bid.as_double() + ask.as_double()) / 2.0 if valid else self._mid
        self.steps.ts.append(ts)
        self.steps.mid.append(mid)
        self.steps.bid.append(top_bid)
        self.steps.ask.append(top_ask)
        self.steps.inventory.append(inventory)
        if self.on_progress is not None and len(self.steps.ts) % 500 == 0:
            self.on_progress(len(self.steps.ts))
        if self.time_steps:
            self.step_seconds.append(time.perf_counter() - t0)

    def inventory(self) -> float:
        """The signed position in base units, as Nautilus' portfolio has it."""
        return float(self.portfolio.net_position(self.instrument.id))

    def _takes(self, value: dict[str, Any], inventory: float) -> bool:
        size = value.get("take_size")
        if size is None or not math.isfinite(size) or size <= 0:
            return False
        sent = False
        limit = self.q.max_inventory
        for key, side, sign in (("take_buy", OrderSide.BUY, 1), ("take_sell", OrderSide.SELL, -1)):
            if not value.get(key, False):
                continue
            qty = size if limit is None else min(size, max(0.0, limit - sign * inventory))
            qty = math.floor(qty / self.lot + 1e-9) * self.lot
            if qty <= 0:
                continue
            order = self.order_factory.market(self.instrument.id, side, self.instrument.make_qty(qty),
                                              time_in_force=TimeInForce.IOC)
            self.submit_order(order)
            self.orders_placed += 1
            self.takes += 1
            sent = True
        return sent

    def _wanted(self, value: dict[str, Any], best_bid: float, best_ask: float,
                inventory: float) -> dict[tuple[int, int], tuple[float, float]]:
        q, tick = self.q, self.tick
        bid_p, ask_p = value.get("bid_price"), value.get("ask_price")
        ok = lambda v: v is not None and math.isfinite(v)  # noqa: E731
        bid_p = bid_p if ok(bid_p) else None
        ask_p = ask_p if ok(ask_p) else None
        min_spread = value.get("min_spread")
        if bid_p is not None and ask_p is not None and ok(min_spread) and ask_p - bid_p < min_spread:
            centre = (bid_p + ask_p) / 2.0
            bid_p, ask_p = centre - min_spread / 2.0, centre + min_spread / 2.0
        step = value.get("level_step")
        step = step if ok(step) and step > 0 else tick
        limit = q.max_inventory
        out: dict[tuple[int, int], tuple[float, float]] = {}
        for sign, price, size_key in ((1, bid_p, "bid_size"), (-1, ask_p, "ask_size")):
            size = value.get(size_key)
            if price is None or not ok(size) or size <= 0:
                continue
            room = math.inf if limit is None else limit - sign * inventory
            for k in range(q.levels):
                qty = min(size, room)
                qty = math.floor(qty / self.lot + 1e-9) * self.lot
                if qty <= 0:
                    break
                room -= qty
                p = price - sign * k * step
                if sign == 1:
                    p = min(math.floor(p / tick + 1e-9) * tick, best_ask - tick)   # post-only: below the ask
                else:
                    p = max(math.ceil(p / tick - 1e-9) * tick, best_bid + tick)
                if p <= 0:
                    break
                out[(sign, k)] = (round(p, self.instrument.price_precision), qty)
        return out

    def _reconcile(self, want: dict[tuple[int, int], tuple[float, float]], ts: int) -> None:
        tolerance = self.evaluator.value(self.nodes["tolerance"]) if "tolerance" in self.nodes else 0.0  # type: ignore[union-attr]
        if tolerance is None or not math.isfinite(tolerance):
            tolerance = 0.0
        for key in sorted(set(self._resting) | set(want)):
            coid = self._resting.get(key)
            order = self.cache.order(coid) if coid is not None else None
            if order is not None and order.is_closed:
                order = None
                del self._resting[key]
            target = want.get(key)
            if order is not None:
                if order.is_inflight or order.is_pending_cancel:
                    continue                            # wait for the venue's answer
                keep = target is not None and abs(order.price.as_double() - target[0]) <= tolerance + 1e-12 and \
                    order.leaves_qty.as_double() <= target[1] + 1e-12 and \
                    ts - self._placed_at.get(coid, ts) < self.refresh_ns
                if keep:
                    continue
                self.cancel_order(order)
                self.cancels += 1
                del self._resting[key]
            if target is None:
                continue
            side = OrderSide.BUY if key[0] == 1 else OrderSide.SELL
            new = self.order_factory.limit(self.instrument.id, side, self.instrument.make_qty(target[1]),
                                           self.instrument.make_price(target[0]), time_in_force=TimeInForce.GTC,
                                           post_only=True)
            self.submit_order(new)
            self.orders_placed += 1
            self._resting[key] = new.client_order_id
            self._placed_at[new.client_order_id] = ts

    # ------------------------------------------------------------------ fills
    def on_order_filled(self, event: Any) -> None:
        book = self.cache.order_book(self.instrument.id)
        bid, ask = book.best_bid_price(), book.best_ask_price()
        mid = (bid.as_double() + ask.as_double()) / 2.0 if bid is not None and ask is not None and bid < ask \
            else self._mid
        from nautilus_trader.model.enums import LiquiditySide
        self.fills.append(Fill(event.ts_event, 1 if event.order_side == OrderSide.BUY else -1,
                               event.last_px.as_double(), event.last_qty.as_double(),
                               event.commission.as_double() if event.commission is not None else 0.0, mid,
                               event.liquidity_side == LiquiditySide.MAKER, event.client_order_id.value))
        self.filled_orders.add(event.client_order_id.value)

    def on_order_rejected(self, event: Any) -> None:
        self.rejected += 1

    # ------------------------------------------------------------------ the names
    def _window(self, ts: int) -> None:
        horizon = ts - 3600 * 1_000_000_000
        trades = self._trades
        while trades and trades[0][0] < horizon:
            trades.popleft()

    def _trades_since(self, ts: int, seconds: int) -> list[tuple[int, float, int, float]]:
        start = ts - seconds * 1_000_000_000
        out = []
        for t in reversed(self._trades):
            if t[0] < start:
                break
            out.append(t)
        return out

    def _reader(self, name: str) -> Callable[[Any, int], float]:
        m = _NAME.match(name)
        assert m is not None, name
        space, member, arg_text = m.group(1), m.group(2) or "", m.group(3)
        args = [a.strip() for a in arg_text.split(",")] if arg_text else []
        return _READERS[(space, member)](self, *args)


def _best(book: Any) -> tuple[float, float, float, float] | None:
    bid, ask = book.best_bid_price(), book.best_ask_price()
    if bid is None or ask is None:
        return None
    return bid.as_double(), ask.as_double(), book.best_bid_size().as_double(), book.best_ask_size().as_double()


def _top(fn: Callable[[float, float, float, float], float]) -> Callable[[QuoteStrategy], Callable[[Any, int], float]]:
    def make(strategy: QuoteStrategy) -> Callable[[Any, int], float]:
        def read(book: Any, ts: int) -> float:
            b = _best(book)
            return fn(*b) if b is not None else math.nan
        return read
    return make


def _volume(strategy: QuoteStrategy, book: Any, bid: bool, n: int) -> float:
    """Volume on the top ``n`` levels of one side. Nautilus' ``bids()`` lists every level (about
    0.5 ms on a 1,300-level book), so the levels are asked for by price band (``get_all_crossed_
    levels``, under a microsecond), the band widened until it holds ``n`` levels."""
    from nautilus_trader.model.objects import Price
    best = book.best_bid_price() if bid else book.best_ask_price()
    if best is None:
        return math.nan
    tick, precision = strategy.tick, strategy.instrument.price_precision
    side = OrderSide.SELL if bid else OrderSide.BUY            # an order that would take that side
    band = n
    for _ in range(8):
        edge = best.as_double() - band * tick if bid else best.as_double() + band * tick
        if edge <= 0:
            break
        levels = book.get_all_crossed_levels(side, Price(edge, precision), strategy.instrument.size_precision)
        if len(levels) >= n:
            return float(sum(q.as_double() for _p, q in levels[:n]))
        band *= 4
    levels = book.bids() if bid else book.asks()
    return float(sum(level.size() for level in levels[:n]))


def _imbalance(strategy: QuoteStrategy, levels: str) -> Callable[[Any, int], float]:
    n = int(levels)

    def read(book: Any, ts: int) -> float:
        b, a = _volume(strategy, book, True, n), _volume(strategy, book, False, n)
        return (b - a) / (b + a) if b + a > 0 else math.nan
    return read


def _depth(strategy: QuoteStrategy, side: str, levels: str) -> Callable[[Any, int], float]:
    n, bid = int(levels), side == "bid"
    return lambda book, ts: _volume(strategy, book, bid, n)


def _trades(kind: str) -> Callable[[QuoteStrategy, str], Callable[[Any, int], float]]:
    def make(strategy: QuoteStrategy, seconds: str) -> Callable[[Any, int], float]:
        s = int(seconds)

        def read(book: Any, ts: int) -> float:
            got = strategy._trades_since(ts, s)
            if kind == "count":
                return float(len(got))
            if kind == "volume":
                return float(sum(t[1] for t in got))
            return float(sum(t[1] * t[2] for t in got))
        return read
    return make


def _inventory(share: bool) -> Callable[[QuoteStrategy], Callable[[Any, int], float]]:
    def make(strategy: QuoteStrategy) -> Callable[[Any, int], float]:
        limit = strategy.q.max_inventory
        if share:
            return lambda book, ts: strategy.inventory() / limit if limit else math.nan
        return lambda book, ts: strategy.inventory()
    return make


def _last_trade(strategy: QuoteStrategy) -> Callable[[Any, int], float]:
    return lambda book, ts: strategy._last_trade


#: (space, member) -> a function of the strategy (and the name's arguments) giving the reader
_READERS: dict[tuple[str, str], Callable[..., Callable[[Any, int], float]]] = {
    ("book", "bid"): _top(lambda b, a, bs, as_: b),
    ("book", "ask"): _top(lambda b, a, bs, as_: a),
    ("book", "mid"): _top(lambda b, a, bs, as_: (b + a) / 2.0),
    ("book", "microprice"): _top(lambda b, a, bs, as_: (b * as_ + a * bs) / (bs + as_) if bs + as_ > 0 else math.nan),
    ("book", "spread"): _top(lambda b, a, bs, as_: a - b),
    ("book", "bid_size"): _top(lambda b, a, bs, as_: bs),
    ("book", "ask_size"): _top(lambda b, a, bs, as_: as_),
    ("book", "tick"): lambda strategy: (lambda book, ts: strategy.tick),
    ("book", "imbalance"): _imbalance,
    ("book", "depth"): _depth,
    ("trades", "volume"): _trades("volume"),
    ("trades", "flow"): _trades("flow"),
    ("trades", "count"): _trades("count"),
    ("trades", "last"): _last_trade,
    ("inventory", ""): _inventory(False),
    ("inventory", "share"): _inventory(True),
}
