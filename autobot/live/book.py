"""``autobot live MM.yaml --replay BOOKFILE``: a ``quote:`` strategy on a NautilusTrader
``TradingNode``, paper trading on a book replayed from files.

The node has one data client that replays the book data (``OrderBookDeltas`` per exchange
message and ``TradeTick``s, in the order the backtest feeds them; each item handed over and
everything it causes handled before the next, paced by ``speed``), and Nautilus' sandbox
exchange as the paper venue, built with the backtest's matching options (book type, trade
execution, liquidity consumption, the queue model, no command queue) and moving on the book
before the strategy sees it, as the backtest's exchange does. So a replay fills as the backtest
does, fill for fill (``tests/test_market_making.py``). The strategy is the backtest's
:class:`~autobot.strategy.quoter.QuoteStrategy`, watching its document for edits (hot reload
between book updates; a bad edit is reported and the running version keeps quoting).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.identifiers import Venue

from autobot.backtest import mm_metrics
from autobot.backtest.book import BookResult, scaled_metrics, batches
from autobot.data.book import BookData, tick_size, to_nautilus
from autobot.live.replay import FileReplayClient
from autobot.venue.instruments import InstrumentSettings, book_instrument
from autobot.venue.settings import VenueSettings, logging_config

#: feeds and exchange options prepared by the runner in this process, by name
FEEDS: dict[str, "BookFeed"] = {}


@dataclass
class BookFeed:
    instruments: list[Any]
    items: list[Any]                  # OrderBookDeltas and TradeTick, in the order they happen
    queue: str = "conservative"
    speed: float | None = None
    engine_qsize: Any = None
    on_item: Any = None               # called with the count of items handled (between book updates)
    published: int = 0
    started: bool = False
    done: bool = False
    failures: list[str] = field(default_factory=list)


class BookReplayConfig(LiveDataClientConfig, frozen=True):
    feed: str = "default"
    venue: str = "BINANCE"


class BookReplayDataClient(FileReplayClient):
    """Replays a :class:`BookFeed` once the strategy subscribes to the book."""

    def __init__(self, loop: asyncio.AbstractEventLoop, msgbus: Any, cache: Any, clock: Any,
                 config: BookReplayConfig) -> None:
        super().__init__(loop, msgbus, cache, clock, config, FEEDS[config.feed], "BOOKREPLAY")

    async def _subscribe_order_book_deltas(self, command: Any) -> None:
        if not self.feed.started:
            self.feed.started = True
            self.create_task(self._replay())

    async def _unsubscribe_order_book_deltas(self, command: Any) -> None:
        return None

    async def _subscribe_trade_ticks(self, command: Any) -> None:
        return None

    async def _unsubscribe_trade_ticks(self, command: Any) -> None:
        return None

    async def _replay(self) -> None:
        feed = self.feed
        await asyncio.sleep(0.05)
        try:
            last = None
            for item in feed.items:
                if feed.speed and last is not None:
                    await asyncio.sleep(max(0.0, (item.ts_init - last) / 1e9 / feed.speed))
                last = item.ts_init
                self._handle_data(item)
                feed.published += 1
                await self._drained()
                if feed.on_item is not None:
                    feed.on_item(feed.published)
        except Exception as exc:  # noqa: BLE001 - reported by the runner; the node stops either way
            feed.failures.append(repr(exc))
        feed.done = True


class BookReplayFactory(LiveDataClientFactory):
    @staticmethod
    def create(loop: asyncio.AbstractEventLoop, name: str, config: BookReplayConfig, msgbus: Any, cache: Any,
               clock: Any) -> BookReplayDataClient:
        return BookReplayDataClient(loop, msgbus, cache, clock, config)


class BookSandboxConfig(SandboxExecutionClientConfig, frozen=True, kw_only=True):
    feed: str = "default"


class BookSandboxExecutionClient(SandboxExecutionClient):
    """Nautilus' sandbox exchange with the backtest's matching options (module docstring), moving
    on the venue's book and trades before any strategy handles them."""

    def __init__(self, loop: Any, portfolio: Any, msgbus: Any, cache: Any, clock: Any,
                 config: BookSandboxConfig) -> None:
        super().__init__(loop, portfolio, msgbus, cache, clock, config)
        from nautilus_trader.backtest.engine import SimulatedExchange
        from nautilus_trader.backtest.execution_client import BacktestExecClient
        from nautilus_trader.backtest.models import FillModel, LatencyModel, MakerTakerFeeModel
        from nautilus_trader.model.currencies import Currency
        from nautilus_trader.model.enums import account_type_from_str, book_type_from_str, oms_type_from_str
        from nautilus_trader.model.objects import Money
        feed = FEEDS[config.feed]
        self.exchange = SimulatedExchange(
            venue=Venue(config.venue), oms_type=oms_type_from_str(config.oms_type),
            account_type=account_type_from_str(config.account_type),
            starting_balances=[Money.from_str(b) for b in config.starting_balances],
            base_currency=Currency.from_str(config.base_currency) if config.base_currency else None,
            default_leverage=config.default_leverage, leverages={}, modules=[], portfolio=portfolio,
            msgbus=self._msgbus, cache=cache, clock=self.test_clock, fill_model=FillModel(),
            fee_model=MakerTakerFeeModel(), latency_model=LatencyModel(0), book_type=book_type_from_str(config.book_type),
            bar_execution=False, trade_execution=True, liquidity_consumption=True,
            queue_position=feed.queue == "conservative", use_message_queue=False)
        self._client = BacktestExecClient(exchange=self.exchange, msgbus=msgbus, cache=cache, clock=self.test_clock)
        self.exchange.register_client(self._client)
        self.exchange.initialize_account()

    def connect(self) -> None:
        self._log.info("Connecting...")
        # before the data engine's own handlers: the venue moves first, as in a backtest
        self._msgbus.subscribe(f"data.*.{self.venue}.*", handler=self.on_data, priority=100)
        for instrument in self.exchange.cache.instruments(venue=self.venue):
            self.exchange.add_instrument(instrument)
        self._client._set_connected(True)
        self._set_connected(True)


class BookSandboxFactory(SandboxLiveExecClientFactory):
    @staticmethod
    def create(loop: Any, name: str, config: BookSandboxConfig, portfolio: Any, msgbus: Any, cache: Any,
               clock: Any) -> BookSandboxExecutionClient:  # type: ignore[override]
        return BookSandboxExecutionClient(loop, portfolio, msgbus, cache, clock, config)


# Nautilus' node builder passes ``portfolio=`` only to a factory with exactly this name.
BookSandboxFactory.__name__ = "SandboxLiveExecClientFactory"


@dataclass
class BookLiveRun:
    result: BookResult
    strategy: Any
    published: int


def run_book_replay(document: Path, book: BookData, venue: VenueSettings = VenueSettings(),
                    instrument: InstrumentSettings = InstrumentSettings(), queue: str = "conservative",
                    speed: float | None = None, instrument_id: str | None = None, watch: bool = True,
                    log_level: str = "ERROR", on_item: Any = None) -> BookLiveRun:
    """Paper-trade ``document`` on a node fed by ``book`` (module docstring); returns at its end."""
    from decimal import Decimal

    from nautilus_trader.config import LiveExecEngineConfig, LiveRiskEngineConfig, TradingNodeConfig
    from nautilus_trader.live.node import TradingNode

    from autobot.live.node import book_paper_fills_at_once, engine_qsize, run_until_done
    from autobot.strategy.quoter import QuoteStrategy, QuoteStrategyConfig
    from autobot.workspace import load_strategy

    compiled = load_strategy(document)
    iid = instrument_id or compiled.document.market.instrument
    inst = book_instrument(iid, book.price_precision, book.size_precision, tick_size(book), instrument)
    deltas, trades = to_nautilus(book, inst.id)
    items = sorted(batches(book, deltas) + trades, key=lambda d: d.ts_init)    # stable: the backtest's order
    name = f"book-{uuid.uuid4().hex[:8]}"
    feed = BookFeed([inst], items, queue, speed, on_item=on_item)
    FEEDS[name] = feed
    currency = inst.quote_currency.code
    asyncio.set_event_loop(asyncio.new_event_loop())
    config = TradingNodeConfig(
        trader_id="AUTOBOT-001", logging=logging_config(log_level),
        exec_engine=LiveExecEngineConfig(reconciliation=False),
        risk_engine=LiveRiskEngineConfig(max_order_submit_rate="1000000/00:00:01",
                                         max_order_modify_rate="1000000/00:00:01"),
        data_clients={"BOOKREPLAY": BookReplayConfig(feed=name, venue=inst.id.venue.value)},
        exec_clients={inst.id.venue.value: BookSandboxConfig(
            venue=inst.id.venue.value, starting_balances=[f"{venue.capital} {currency}"], base_currency=currency,
            oms_type="NETTING", account_type="MARGIN", default_leverage=Decimal(str(max(venue.leverage, 1.0))),
            book_type="L3_MBO" if book.book_type == "L3" else "L2_MBP", bar_execution=False, trade_execution=True,
            feed=name)},
        timeout_connection=10.0, timeout_reconciliation=1.0, timeout_portfolio=2.0, timeout_disconnection=2.0,
        timeout_post_stop=0.5)
    node = TradingNode(config=config)
    node.add_data_client_factory("BOOKREPLAY", BookReplayFactory)
    node.add_exec_client_factory(inst.id.venue.value, BookSandboxFactory)
    node.build()
    book_paper_fills_at_once(node)
    from autobot.strategy.plans import register
    register(compiled, dict(compiled.params))          # the strategy takes this plan at its start
    strategy = QuoteStrategy(QuoteStrategyConfig(
        document=compiled.source.text, document_name=compiled.source.path, instrument_id=inst.id,
        book_type=book.book_type, overrides=dict(compiled.params), order_id_tag="001",
        watch=str(document) if watch else None))
    node.trader.add_strategy(strategy)
    try:
        feed.engine_qsize = engine_qsize(node)
        run_until_done(node, feed)
        if feed.failures:
            from autobot.diagnostics import RunError
            raise RunError("the book replay failed: " + "; ".join(feed.failures))
        steps = strategy.steps
        end_mid = steps.mid[-1] if steps.mid else float("nan")
        metrics = mm_metrics.compute(strategy.fills, steps, end_mid, strategy.orders_placed,
                                     len(strategy.filled_orders), strategy.q.max_inventory, book.end_ns,
                                     cancels=strategy.cancels)
        if float(inst.multiplier) != 1.0:
            metrics = scaled_metrics(metrics, float(inst.multiplier))
        result = BookResult(compiled.id, str(inst.id), queue, metrics, strategy.fills, steps, strategy.book_events,
                            len(trades), (book.end_ns - book.start_ns) / 1e9, 0.0, float("nan"),
                            int(inst.quote_currency.precision), list(book.notes))
        return BookLiveRun(result, strategy, feed.published)
    finally:
        node.dispose()
        FEEDS.pop(name, None)
