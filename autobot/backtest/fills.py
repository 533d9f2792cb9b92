"""How orders fill on bars: Nautilus' bar prices, without a depth limit.

Bars carry no order book. Nautilus' default L1 model gives each of a bar's four price points a
quarter of its volume and walks a larger order to the next ticks, which splits fills. On a
live node that split also lets an order fill twice before the first fill is booked. This
model keeps Nautilus' prices and gives each order one fill for its whole quantity:

* market orders: the current bid (sell) or ask (buy), the price the bar has reached;
* triggered stops and trailing stops: their trigger price;
* limit orders: their limit price.

The backtest and the paper node use it alike, with the venue's slippage probability.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.backtest.models import FillModel
from nautilus_trader.model.book import OrderBook
from nautilus_trader.model.data import BookOrder
from nautilus_trader.model.enums import BookType, OrderSide, OrderType
from nautilus_trader.model.objects import Quantity

UNLIMITED = 10.0 ** 12
_STOPS = (OrderType.STOP_MARKET, OrderType.TRAILING_STOP_MARKET)


class BarFillModel(FillModel):
    """See the module docstring."""

    def get_orderbook_for_fill_simulation(self, instrument: Any, order: Any, best_bid: Any,
                                          best_ask: Any) -> OrderBook | None:
        bid, ask = best_bid, best_ask
        if order.order_type in _STOPS and getattr(order, "trigger_price", None) is not None:
            bid = ask = order.trigger_price
        elif order.order_type == OrderType.LIMIT:
            bid = ask = order.price
        book = OrderBook(instrument_id=instrument.id, book_type=BookType.L2_MBP)
        size = Quantity(UNLIMITED, instrument.size_precision)
        book.add(BookOrder(side=OrderSide.BUY, price=bid, size=size, order_id=1), 0, 0)
        book.add(BookOrder(side=OrderSide.SELL, price=ask, size=size, order_id=2), 0, 0)
        return book
