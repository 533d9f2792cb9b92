"""How orders fill on bars: Nautilus' bar prices, without a depth limit, and the gap rule.

Bars carry no order book. Nautilus' default L1 model gives each of a bar's four price points a
quarter of its volume and walks a larger order to the next ticks, which splits fills. On a
live node that split also lets an order fill twice before the first fill is booked. This
model keeps Nautilus' prices and gives each order one fill for its whole quantity:

* market orders: the current bid (sell) or ask (buy), the price the bar has reached;
* stops and trailing stops: their trigger price, unless the bar **opens beyond** the trigger
  (a sell stop at 95 and a bar opening at 80): then the open, the first price that traded;
* limit orders (take profits): their limit price, unless the bar opens beyond the limit (a
  sell limit at 105 and a bar opening at 120): then the open.

So every fill lies inside its bar's [low, high]. To know a bar's open and where each trailing
stop stood when the bar opened (a trailing stop moves inside the bar), the exchange tells the
model about each bar before it processes it: :class:`BarOpenModule` in a backtest, the paper
node's sandbox client (``autobot.live.sandbox``) on a live node. The backtest and the paper
node use the same model, with the venue's slippage probability.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.backtest.config import SimulationModuleConfig
from nautilus_trader.backtest.models import FillModel
from nautilus_trader.backtest.modules import SimulationModule
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import Bar, BookOrder
from nautilus_trader.model.enums import BookType, OrderSide, OrderType
from nautilus_trader.model.objects import Quantity

UNLIMITED = 10.0 ** 12
_STOPS = (OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET)


def gapped(side: OrderSide, kind: str, open_: float, level: float) -> bool:
    """Did the bar open beyond ``level``? For a stop (``kind`` "stop"): a sell stop below the
    open's price, a buy stop above it. For a limit: a sell limit at or under the open, a buy
    limit at or over it."""
    sell = side == OrderSide.SELL
    if kind == "stop":
        return open_ < level if sell else open_ > level
    return open_ > level if sell else open_ < level


class BarFillModel(FillModel):
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # instrument id -> (the open of the bar being processed, {trailing order id: trigger at that open})
        self._bars: dict[Any, tuple[Any, dict[Any, Any]]] = {}

    def begin_bar(self, instrument_id: Any, open_price: Any, open_orders: list[Any]) -> None:
        """The exchange is about to process a bar of ``instrument_id`` that opens at ``open_price``,
        with ``open_orders`` resting."""
        trails = {o.client_order_id: o.trigger_price for o in open_orders
                  if o.order_type == OrderType.TRAILING_STOP_MARKET} if open_orders else {}
        self._bars[instrument_id] = (open_price, trails)

    def get_orderbook_for_fill_simulation(self, instrument: Any, order: Any, best_bid: Any,
                                          best_ask: Any) -> OrderBook | None:
        bid, ask = best_bid, best_ask
        bar = self._bars.get(instrument.id)
        if order.order_type in _STOPS and getattr(order, "trigger_price", None) is not None:
            price = order.trigger_price
            if bar is not None:
                at_open = bar[1].get(order.client_order_id, price) \
                    if order.order_type == OrderType.TRAILING_STOP_MARKET else price
                if gapped(order.side, "stop", bar[0].as_double(), at_open.as_double()):
                    price = bar[0]
            bid = ask = price
        elif order.order_type == OrderType.LIMIT:
            price = order.price
            if bar is not None and gapped(order.side, "limit", bar[0].as_double(), price.as_double()):
                price = bar[0]
            bid = ask = price
        book = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        size = Quantity(UNLIMITED, instrument.size_precision)
        book.add(BookOrder(side=OrderSide.BUY, price=bid, size=size, order_id=1), 0, 0)
        book.add(BookOrder(side=OrderSide.SELL, price=ask, size=size, order_id=2), 0, 0)
        return book


class BarOpenModule(SimulationModule):
    """Tells a :class:`BarFillModel` each bar's open (and the resting trailing stops' triggers)
    before the backtest exchange processes the bar; Nautilus' public simulation-module hook."""

    def __init__(self, model: BarFillModel) -> None:
        super().__init__(SimulationModuleConfig())
        self._model = model

    def pre_process(self, data: Any) -> None:
        if isinstance(data, Bar):
            iid = data.bar_type.instrument_id
            engine = self.exchange.get_matching_engine(iid)
            self._model.begin_bar(iid, data.open, engine.get_open_orders() if engine is not None else [])

    def process(self, ts_now: int) -> None:
        pass

    def log_diagnostics(self, logger: Any) -> None:
        pass

    def reset(self) -> None:
        pass
