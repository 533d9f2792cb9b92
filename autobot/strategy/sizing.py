"""Position sizing: how many units an entry buys or sells.

* ``risk_per_trade`` r: risk ``r * equity`` over the stop distance (``equity * r / distance``).
* ``equity_pct`` p: ``equity * p / price`` worth of the instrument.
* ``fixed_qty`` q: q units.

The result is rounded *down* to the instrument's size increment (10^-size precision) and clamped
to its maximum; below its minimum (or zero) there is no order.

:func:`units` and :func:`floor_count` are plain Python that numba also compiles: the fast kernel
(:mod:`autobot.fast.kernel`) sizes with the same functions :class:`RuleStrategy` calls on
NautilusTrader, so the two engines cannot size differently (as :mod:`autobot.strategy.costs` does
for the fees).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


EQUITY_PCT, RISK_PER_TRADE, FIXED_QTY = 0, 1, 2
METHODS = {"equity_pct": EQUITY_PCT, "risk_per_trade": RISK_PER_TRADE, "fixed_qty": FIXED_QTY}


def units(kind: int, value: float, equity: float, price: float, distance: float) -> float:
    """Units before rounding for sizing ``kind`` (:data:`METHODS`); NaN when the inputs do not
    allow a size (no price, no equity, no stop distance: ``distance`` NaN or not above 0).
    Numba-compatible."""
    if kind == FIXED_QTY:
        return value
    if not (equity > 0 and price > 0):
        return math.nan
    if kind == EQUITY_PCT:
        return equity * value / price
    if distance == distance and distance > 0:
        return equity * value / distance
    return math.nan


def floor_count(qty: float, sp: int) -> float:
    """``qty`` rounded down to a multiple of 10^-sp (as ``Decimal(repr(qty))`` floored would), as
    a count of 10^-sp. Numba-compatible."""
    scale = 10.0 ** sp
    k = math.floor(qty * scale)
    if k >= 9007199254740992.0:   # 2^53: no longer exact (sizes are capped below it: max_order_qty)
        return k
    while (k + 1.0) / scale <= qty:
        k += 1.0
    while k > 0 and k / scale > qty:
        k -= 1.0
    return k


def raw_quantity(method: str, value: float, equity: float, price: float, stop_distance: float | None) -> float:
    """:func:`units` of a document's sizing method; NaN when the inputs do not allow a size."""
    if method not in METHODS:
        raise ValueError(f"unknown sizing method {method!r}")
    return units(METHODS[method], value, equity, price, math.nan if stop_distance is None else stop_distance)


def round_quantity(qty: float, precision: int, minimum: float | None, maximum: float | None) -> Decimal | None:
    """Clamp to ``maximum``, round down to a multiple of 10^-``precision`` (:func:`floor_count`,
    as a Decimal); None when no order (zero, or below ``minimum``)."""
    qty = float(qty)
    if not qty > 0 or not math.isfinite(qty):
        return None
    if maximum is not None and qty > maximum:
        qty = maximum
    k = floor_count(qty, precision)
    if not k > 0:
        return None
    out = Decimal(int(k)).scaleb(-precision)
    if minimum is not None and out < Decimal(str(minimum)):
        return None
    return out


def capped_note(method: str, value: float, fills: list[tuple], increment: float) -> str | None:
    """A note when ``fixed_qty`` asked for more than the account allowed on some entries (the
    leverage or cash cap, :meth:`RuleStrategy._affordable`), so a capped size is never silent.
    ``fills``: (ts, side, qty, price, why) as a backtest records them; ``increment``: the
    instrument's size increment (a size rounded down to it is not capped)."""
    if method != "fixed_qty":
        return None
    entries = [f for f in fills if str(f[4]).startswith("entry.")]
    asked = math.floor(value / increment + 1e-9) * increment if increment > 0 else value
    capped = [f for f in entries if f[2] < asked * (1 - 1e-9)]
    if not capped:
        return None
    return (f"sizing fixed_qty {value:g} was capped by the account (equity x leverage, or the cash less the fee) on "
            f"{len(capped)} of {len(entries)} entries; the largest capped entry was {max(f[2] for f in capped):g}")


def unsized_note(count: int, increment: float, minimum: float | None) -> str | None:
    """A note when entry rules fired but their size rounded to no order ``count`` times (a price
    so high, an equity so small or a ``fixed_qty`` so small that the size is under the
    instrument's increment or minimum), so zero trades are never silent. Both engines word it
    the same."""
    if count <= 0:
        return None
    least = max(increment, minimum or 0.0)
    return (f"an entry rule fired {count:,} time(s) but its size rounded to no order (the instrument's smallest "
            f"order is {least:g} units): no trade was made then; size in larger units (fixed_qty), give the "
            "instrument a finer size precision (--size-precision), or use more capital")


def max_order_qty(instrument: Any) -> float:
    """The largest order both engines can size exactly: the instrument's maximum, Nautilus'
    ``QUANTITY_MAX``, and the quantity whose count of size increments is still exact in a double
    (2^53): at a price near 4e-7, 100,000 of equity once asked for 2.5e11 units and the fast
    engine's rounding never ended."""
    from nautilus_trader.model.objects import QUANTITY_MAX
    own = float(instrument.max_quantity) if instrument.max_quantity is not None else math.inf
    return min(own, float(QUANTITY_MAX), float(2 ** 53) / 10.0 ** instrument.size_precision)
