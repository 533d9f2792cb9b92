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
