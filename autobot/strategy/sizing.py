"""Position sizing: how many units an entry buys or sells.

* ``risk_per_trade`` r: risk ``r * equity`` over the stop distance (``equity * r / distance``).
* ``equity_pct`` p: ``equity * p / price`` worth of the instrument.
* ``fixed_qty`` q: q units.

The result is rounded *down* to the instrument's size increment and clamped to its
maximum; below its minimum (or zero) there is no order.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any


def raw_quantity(method: str, value: float, equity: float, price: float, stop_distance: float | None) -> float:
    """Units before rounding; NaN when the inputs do not allow a size (no stop, no price...)."""
    if method == "fixed_qty":
        return value
    if not (equity > 0 and price > 0):
        return math.nan
    if method == "equity_pct":
        return equity * value / price
    if method == "risk_per_trade":
        if stop_distance is None or not stop_distance > 0:
            return math.nan
        return equity * value / stop_distance
    raise ValueError(f"unknown sizing method {method!r}")


def round_quantity(qty: float, increment: float, minimum: float | None, maximum: float | None) -> Decimal | None:
    """Round down to a multiple of ``increment`` (as a Decimal) and clamp; None when no order."""
    qty = float(qty)          # a NumPy float's repr is 'np.float64(...)', which Decimal cannot read
    if not qty > 0 or not math.isfinite(qty):
        return None
    if maximum is not None and qty > maximum:
        qty = maximum
    inc = Decimal(str(increment))
    steps = (Decimal(repr(qty)) / inc).to_integral_value(rounding="ROUND_FLOOR")
    out = steps * inc
    if out <= 0 or (minimum is not None and out < Decimal(str(minimum))):
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
