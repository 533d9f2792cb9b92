"""Paper execution: Nautilus' sandbox exchange, made to see bars.

The stock ``SandboxExecutionClient`` only listens to ``data.*.{venue}.*`` (quotes, trades,
books); bar topics (``data.bars.<bar type>``) do not match, so with bars alone every order is
rejected for "no market". This subclass makes the simulated exchange move on every bar before
any strategy decides on it: exactly the backtest's bar execution.
"""

from __future__ import annotations

from autobot.live.registry import FEEDS, SANDBOXES
from typing import Any

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory




class BarSandboxExecutionClient(SandboxExecutionClient):
    """A sandbox execution client whose exchange also processes the venue's bars, and charges
    AutoBot's commission (:mod:`autobot.venue.fees`, as the backtest does).

    Under a replay, the replay client hands each bar to the exchange itself and waits for the
    fills it causes to be handled before the strategies get the bar (as in a backtest, where a
    stop filled on bar t is visible to the strategy deciding on bar t). Otherwise the exchange
    listens to the venue's bar topics.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Nautilus' sandbox builds its exchange with MakerTakerFeeModel() and offers no setting for
        # it: that name is AutoBot's fee model while the exchange is built (the exchange keeps it)
        import nautilus_trader.adapters.sandbox.execution as sandbox

        from autobot.venue.fees import fee_model
        stock = sandbox.MakerTakerFeeModel
        sandbox.MakerTakerFeeModel = fee_model        # type: ignore[misc]
        try:
            super().__init__(*args, **kwargs)
        finally:
            sandbox.MakerTakerFeeModel = stock          # type: ignore[misc]

    def connect(self) -> None:
        from autobot.venue.settings import VenueSettings, fill_model
        self.fill_model = fill_model(VenueSettings())
        self.exchange.set_fill_model(self.fill_model)   # as in the backtest
        super().connect()
        SANDBOXES[str(self.venue)] = self
        if not any(str(self.venue) == feed.venue for feed in FEEDS.values()):
            self._msgbus.subscribe(f"data.bars.*.{self.venue}-*", handler=self.on_venue_bar, priority=100)

    def begin_bar(self, bar: Any) -> None:
        """Tell the fill model the bar's open and the resting trailing stops before the exchange
        moves on the bar (the gap rule, ``autobot.venue.fills``), as the backtest's module does."""
        iid = bar.bar_type.instrument_id
        engine = self.exchange.get_matching_engine(iid)
        self.fill_model.begin_bar(iid, bar.open, engine.get_open_orders() if engine is not None else [])

    def on_venue_bar(self, bar: Any) -> None:
        """A venue's bar from the message bus: the exchange moves on it."""
        self.begin_bar(bar)
        self.on_data(bar)

    @staticmethod
    def price_points(bar: Any) -> list[Any]:
        """The bar as four one-price bars (open, high, low, close) with the bar's volume.

        Nautilus' bar execution walks a bar's open, high, low and close as trade prices, each
        with a quarter of the volume; fed one point at a time it does exactly the same (an
        equal price is skipped either way), while the node handles the fills of each point
        before the next: otherwise an order filled at the high is still resting, for the live
        execution engine, when the low arrives, and fills again.
        """
        from nautilus_trader.model.data import Bar
        return [Bar(bar.bar_type, p, p, p, p, bar.volume, bar.ts_event, bar.ts_init)
                for p in (bar.open, bar.high, bar.low, bar.close)]

    def feed_point(self, point: Any) -> None:
        """Move the simulated market to one price point, the exchange clock at its time first
        (as the backtest engine sets it), so fills carry the bar's timestamp."""
        self.test_clock.set_time(point.ts_init)
        self.on_data(point)

    def disconnect(self) -> None:
        SANDBOXES.pop(str(self.venue), None)
        super().disconnect()


class BarSandboxExecClientFactory(SandboxLiveExecClientFactory):
    """Factory for :class:`BarSandboxExecutionClient`."""

    @staticmethod
    def create(loop: Any, name: str, config: Any, portfolio: Any, msgbus: Any, cache: Any,
               clock: Any) -> BarSandboxExecutionClient:
        return BarSandboxExecutionClient(loop=loop, portfolio=portfolio, msgbus=msgbus, cache=cache, clock=clock,
                                         config=config)


# Nautilus' node builder passes ``portfolio=`` only to a factory with exactly this name.
BarSandboxExecClientFactory.__name__ = "SandboxLiveExecClientFactory"
