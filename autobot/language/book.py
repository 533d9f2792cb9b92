"""The names a ``quote:`` strategy reads from the order book, the trade tape and its inventory.

They exist only in market-making documents (a ``quote:`` section) and are evaluated at each
quoting step (docs/language.md, "Market making"). Each lowers to one external of the plan,
named canonically (``book.imbalance(3)``, ``trades.flow(10)``), which the quoting strategy
computes from Nautilus' own order book and the trades it has seen.
"""

from __future__ import annotations

#: ``book.<field>``: prices and sizes at the top of the book
BOOK_FIELDS = {
    "bid": "best bid price", "ask": "best ask price", "mid": "(bid + ask) / 2",
    "microprice": "the size-weighted mid: (bid * ask_size + ask * bid_size) / (bid_size + ask_size)",
    "spread": "ask - bid", "bid_size": "size at the best bid", "ask_size": "size at the best ask",
    "tick": "the instrument's price increment",
}
#: ``book.<method>(...)`` and ``trades.<method>(...)``: (argument kinds, meaning). ``levels`` is a
#: whole number of price levels (1 to MAX_LEVELS), ``seconds`` a window (1 to MAX_WINDOW), ``side``
#: ``bid`` or ``ask`` (a name or a quoted text).
BOOK_METHODS = {
    "imbalance": (("levels",), "(bid volume - ask volume) / (bid volume + ask volume) over the top levels"),
    "depth": (("side", "levels"), "volume on one side over the top levels"),
}
TRADE_METHODS = {
    "volume": (("seconds",), "traded volume over the last seconds"),
    "flow": (("seconds",), "signed flow: buyer-initiated minus seller-initiated volume over the last seconds"),
    "count": (("seconds",), "number of trades over the last seconds"),
}
TRADE_FIELDS = {"last": "the last trade's price"}
#: ``inventory`` (base units, signed) and ``inventory.<field>``
INVENTORY_FIELDS = {"share": "inventory / quote.max_inventory (from -1 to 1 inside the limit)"}
MAX_LEVELS = 50
MAX_WINDOW = 3600
SIDES = ("bid", "ask")
SPACES = ("book", "trades", "inventory")


def external_name(space: str, member: str, args: tuple[object, ...] = ()) -> str:
    """The plan's external for a book name: ``book.mid``, ``book.depth(bid, 5)``."""
    inner = ", ".join(str(a) for a in args)
    return f"{space}.{member}({inner})" if args else (f"{space}.{member}" if member else space)


def methods(space: str) -> dict[str, tuple[tuple[str, ...], str]]:
    return BOOK_METHODS if space == "book" else TRADE_METHODS if space == "trades" else {}


def fields(space: str) -> dict[str, str]:
    return {"book": BOOK_FIELDS, "trades": TRADE_FIELDS, "inventory": INVENTORY_FIELDS}.get(space, {})
