"""A replay market-data client: bars from files fed into a running ``TradingNode`` as a live
data client would feed them (NautilusTrader 1.221 has no offline live data client).

Bars keep their own timestamps (``ts_event`` = close time), so a replayed run decides exactly as
the backtest of the same bars does; the sandbox exchange stamps fills with them too. Each bar
is handed to the node and fully processed (the data engine's queue drained) before the next,
paced by ``speed`` (N times real time; ``None`` = as fast as the node takes them). When the
last bar is processed, :attr:`ReplayFeed.done` is set and the runner stops the node.
"""

from __future__ import annotations

import asyncio
from autobot.live.registry import FEEDS, SANDBOXES  # noqa: F401 (FEEDS: where runners register feeds)
from dataclasses import dataclass, field
from typing import Any, Callable

from nautilus_trader.common.providers import InstrumentProvider
from nautilus_trader.config import LiveDataClientConfig
from nautilus_trader.live.data_client import LiveMarketDataClient
from nautilus_trader.live.factories import LiveDataClientFactory
from nautilus_trader.model.identifiers import ClientId, Venue

#: feeds prepared by the runner in this process, by name (configs stay serialisable)


@dataclass
class ReplayFeed:
    """What to replay: instruments, and Nautilus bars in the order they happen."""

    instruments: list[Any]
    bars: list[Any]
    bar_seconds: int
    venue: str = "BINANCE"
    speed: float | None = None
    engine_qsize: Callable[[], int] | None = None
    on_bar: Callable[[Any], None] | None = None
    published: int = 0
    done: bool = False
    started: bool = False
    failures: list[str] = field(default_factory=list)


class ReplayDataClientConfig(LiveDataClientConfig, frozen=True):
    """``feed``: the name of a :class:`ReplayFeed` registered in :data:`FEEDS`."""

    feed: str = "default"
    venue: str = "BINANCE"


class FileReplayClient(LiveMarketDataClient):
    """What every replay client shares (bars here, books in :mod:`autobot.live.book`): the feed's
    instruments in the cache, and :meth:`_drained`. ``feed`` has ``instruments`` and
    ``engine_qsize``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, msgbus: Any, cache: Any, clock: Any, config: Any,
                 feed: Any, client_id: str) -> None:
        self.feed = feed
        provider = InstrumentProvider()
        for inst in feed.instruments:
            provider.add(inst)
            cache.add_instrument(inst)     # before the sandbox exchange connects and copies them
        super().__init__(loop=loop, client_id=ClientId(client_id), venue=Venue(config.venue), msgbus=msgbus,
                         cache=cache, clock=clock, instrument_provider=provider, config=config)

    async def _connect(self) -> None:
        for inst in self.feed.instruments:
            self._handle_data(inst)

    async def _disconnect(self) -> None:
        return None

    async def _drained(self) -> None:
        """Until the node has handled the last item and everything it caused (orders, fills, and
        the orders those fills cause): every engine queue empty on two passes of the event loop."""
        qsize = self.feed.engine_qsize
        quiet = 0
        while quiet < 2:
            await asyncio.sleep(0)
            quiet = quiet + 1 if qsize is None or qsize() == 0 else 0


class ReplayDataClient(FileReplayClient):
    """Replays a :class:`ReplayFeed` once the node subscribes to bars."""

    def __init__(self, loop: asyncio.AbstractEventLoop, msgbus: Any, cache: Any, clock: Any,
                 config: ReplayDataClientConfig) -> None:
        super().__init__(loop, msgbus, cache, clock, config, FEEDS[config.feed], "REPLAY")

    async def _subscribe_bars(self, command: Any) -> None:
        if not self.feed.started:          # one replay of every series, whoever subscribes first
            self.feed.started = True
            self.create_task(self._replay())

    async def _unsubscribe_bars(self, command: Any) -> None:
        return None

    async def _replay(self) -> None:
        feed = self.feed
        await asyncio.sleep(0.05)          # let every strategy subscribe (they start right after us)
        try:
            for bar in feed.bars:
                if feed.failures:              # e.g. a full disk: the node has flattened; the replay ends here
                    await self._drained()
                    break
                exchange = SANDBOXES.get(feed.venue)
                if exchange is not None:       # the market moves first, and its fills are handled
                    exchange.begin_bar(bar)
                    for point in exchange.price_points(bar):
                        exchange.feed_point(point)
                        await self._drained()
                self._handle_data(bar)
                feed.published += 1
                await self._drained()
                if feed.on_bar is not None:
                    feed.on_bar(bar)
                if feed.speed:                 # read every bar: a resumed run catches up at full speed first
                    await asyncio.sleep(feed.bar_seconds / feed.speed)
        except Exception as exc:          # reported by the runner; the node is stopped either way
            feed.failures.append(repr(exc))
        feed.done = True


class ReplayDataClientFactory(LiveDataClientFactory):
    """Builds :class:`ReplayDataClient` for ``TradingNode.add_data_client_factory``."""

    @staticmethod
    def create(loop: asyncio.AbstractEventLoop, name: str, config: ReplayDataClientConfig, msgbus: Any,
               cache: Any, clock: Any) -> ReplayDataClient:
        return ReplayDataClient(loop, msgbus, cache, clock, config)
