"""Backtests of ``quote:`` strategies on order-book data, in NautilusTrader.

The venue keeps the book the data has (``L2_MBP`` for price levels, ``L3_MBO`` for orders) and
matches orders against it and against the trades (``trade_execution``: a trade at or through a
resting limit fills it, up to the trade's size; ``liquidity_consumption``: liquidity a fill took
is not taken twice). Queue position is the one choice that moves the result most, so every run is
made under both of Nautilus' models and reported as a band:

* **conservative** (``queue_position=True``, NautilusTrader >= 1.223): a resting order records the
  size ahead of it at its price when accepted and fills only after trades at that price have used
  it up (cancels ahead of it do not move it forward, a trade through its price does not fill it
  while its level stands: both err on the side of fewer fills);
* **optimistic** (``queue_position=False``): a resting order is first in its queue and fills on any
  trade that reaches its price.

Deltas go to the engine batched per exchange message (``F_LAST``): a book is never matched half
updated. Orders reach the simulated exchange as they are sent (no message queue), as they do in
the paper node (:mod:`autobot.live.book`), so a replay fills as the backtest does. The account is a margin account in the quote currency (a market maker is long and short
its inventory); fees are the instrument's maker and taker fees.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from autobot.backtest import mm_metrics
from autobot.data.book import F_LAST, BookData, tick_size, to_nautilus
from autobot.venue.instruments import InstrumentSettings, book_instrument
from autobot.venue.settings import VenueSettings, logging_config

QUEUE_MODELS = ("conservative", "optimistic")


@dataclass
class BookResult:
    strategy: str
    instrument: str
    queue: str
    metrics: dict
    fills: list[mm_metrics.Fill]
    steps: mm_metrics.Steps
    book_events: int
    trades: int
    seconds: float                      # of market time
    wall_seconds: float
    account_pnl: float                  # Nautilus' account change plus its open position at the last mid
    currency_precision: int = 8         # decimals the account keeps (Nautilus rounds each realised PnL to them)
    notes: list[str] = field(default_factory=list)
    step_seconds: list[float] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"strategy": self.strategy, "instrument": self.instrument, "queue_model": self.queue,
                **self.metrics, "account_pnl": self.account_pnl, "book_events": self.book_events,
                "trades": self.trades, "market_seconds": self.seconds, "notes": self.notes,
                "fill_list": [{"ts": f.ts, "side": "buy" if f.side > 0 else "sell", "price": f.price, "qty": f.qty,
                               "fee": f.fee, "mid": f.mid, "maker": f.maker} for f in self.fills]}


def batches(book: BookData, deltas: list) -> list:
    """The deltas as ``OrderBookDeltas``, one per exchange message (a run of deltas up to ``F_LAST``)."""
    from nautilus_trader.model.data import OrderBookDeltas
    out, start = [], 0
    flags = book.flags
    for k in range(len(deltas)):
        if flags[k] & F_LAST or k == len(deltas) - 1 or book.ts[k + 1] != book.ts[k] and not flags[k] & 32:
            out.append(OrderBookDeltas(deltas[k].instrument_id, deltas[start:k + 1]))
            start = k + 1
    return out


def run_book_backtest(compiled: Any, book: BookData, venue: VenueSettings = VenueSettings(),
                      instrument: InstrumentSettings = InstrumentSettings(), queue: str = "conservative",
                      instrument_id: str | None = None, overrides: dict[str, float] | None = None,
                      progress: Callable[[int, int], None] | None = None, time_steps: bool = False) -> BookResult:
    """Run the quoting strategy ``compiled`` on ``book`` under one queue model (module docstring)."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig
    from nautilus_trader.model.enums import AccountType, BookType, OmsType
    from nautilus_trader.model.identifiers import TraderId, Venue
    from nautilus_trader.model.objects import Money

    from autobot.strategy.quoter import QuoteStrategy, QuoteStrategyConfig

    if queue not in QUEUE_MODELS:
        raise ValueError(f"queue model {queue!r}: {QUEUE_MODELS}")
    iid = instrument_id or compiled.document.market.instrument
    notes = list(book.notes)
    if book.instrument != iid:
        notes.append(f"the data is {book.instrument}; traded as {iid}")
    inst = book_instrument(iid, book.price_precision, book.size_precision, tick_size(book), instrument)
    deltas, trades = to_nautilus(book, inst.id)
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BACKTESTER-001"), logging=logging_config(),
                                                 run_analysis=False))
    wall = time.perf_counter()
    try:
        currency = inst.quote_currency
        engine.add_venue(venue=Venue(inst.id.venue.value), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                         starting_balances=[Money(venue.capital, currency)], base_currency=currency,
                         default_leverage=__import__("decimal").Decimal(str(max(venue.leverage, 1.0))),
                         book_type=BookType.L3_MBO if book.book_type == "L3" else BookType.L2_MBP,
                         bar_execution=False, trade_execution=True, liquidity_consumption=True,
                         queue_position=queue == "conservative", use_message_queue=False)
        engine.add_instrument(inst)
        engine.add_data(batches(book, deltas))
        engine.add_data(trades)
        from autobot.language.compile import compile_strategy_text
        from autobot.strategy.plans import register
        params = {**compiled.params, **(overrides or {})}
        if params != compiled.params:          # compiled here, once, with the overrides the config carries
            compiled = compile_strategy_text(compiled.source.text, compiled.source.path, params)
        register(compiled, params)
        strategy = QuoteStrategy(QuoteStrategyConfig(document=compiled.source.text,
                                                     document_name=compiled.source.path,
                                                     instrument_id=inst.id, book_type=book.book_type,
                                                     overrides=params, order_id_tag="001"))
        strategy.time_steps = time_steps
        if progress is not None:
            total = max(1, int((book.end_ns - book.start_ns) // (compiled.bar.seconds * 1_000_000_000)))
            strategy.on_progress = lambda done: progress(done, total)
        engine.add_strategy(strategy)
        engine.run()
        steps = strategy.steps
        end_mid = steps.mid[-1] if steps.mid else math.nan
        if strategy.fills and not math.isfinite(end_mid):
            end_mid = strategy.fills[-1].mid
        metrics = mm_metrics.compute(strategy.fills, steps, end_mid, strategy.orders_placed,
                                     len(strategy.filled_orders), compiled.document.quote.max_inventory,
                                     book.end_ns, cancels=strategy.cancels)
        account = engine.portfolio.account(Venue(inst.id.venue.value))
        balance = account.balance_total(currency).as_double() - venue.capital
        position = strategy.inventory()
        mult = float(inst.multiplier)
        # the open position's value at the last mid, less what was paid for it (Nautilus' own average)
        open_pnl = 0.0
        for p in engine.cache.positions_open(instrument_id=inst.id):
            open_pnl += p.signed_qty * (end_mid - p.avg_px_open) * mult
        if position == 0.0:
            open_pnl = 0.0
        if mult != 1.0:
            metrics = scaled_metrics(metrics, mult)
        result = BookResult(compiled.id, str(inst.id), queue, metrics, strategy.fills, steps, strategy.book_events,
                            len(trades), (book.end_ns - book.start_ns) / 1e9, time.perf_counter() - wall,
                            balance + open_pnl, int(currency.precision), notes, strategy.step_seconds)
        if strategy.rejected:
            notes.append(f"{strategy.rejected} orders rejected by the venue (post-only quotes that would have crossed)")
        return result
    finally:
        engine.dispose()


def scaled_metrics(metrics: dict, mult: float) -> dict:
    """Money figures of a contract with a multiplier (points x multiplier)."""
    out = dict(metrics)
    out["pnl"] = metrics["pnl"] * mult
    out["pnl_breakdown"] = {k: v * mult for k, v in metrics["pnl_breakdown"].items()}
    out["turnover"] = metrics["turnover"] * mult
    return out


def run_band(compiled: Any, book: BookData, venue: VenueSettings = VenueSettings(),
             instrument: InstrumentSettings = InstrumentSettings(), instrument_id: str | None = None,
             overrides: dict[str, float] | None = None,
             progress: Callable[[int, int], None] | None = None) -> dict[str, BookResult]:
    """The run under both queue models: the band a report shows."""
    return {q: run_book_backtest(compiled, book, venue, instrument, q, instrument_id, overrides, progress)
            for q in QUEUE_MODELS}
