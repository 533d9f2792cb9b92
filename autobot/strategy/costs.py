"""What a fill costs: one home for the commission rules both engines charge.

* **crypto** venues: maker/taker rates of each fill's value, as the venue publishes them
  (``VENUE_FEES`` in :mod:`autobot.venue.instruments`; Nautilus' ``MakerTakerFeeModel``).
* **stocks, funds and other instruments without a base currency**: Interactive Brokers' US fixed
  rates: USD 0.005 a share, at least USD 1.00 an order, at most 1% of the trade's value
  (:data:`PER_SHARE`).
* **FX pairs**: no commission; the spread is the cost. Bar files hold one price series (a mid or
  a bid), so each fill is charged half a typical spread, one pip wide (0.0001, 0.01 for a pair
  quoted in JPY): 0.5 pip a unit of the base currency per side (:func:`unit_fees_for`).

A per-unit cost is charged like a commission (on the fill, in the quote currency) so that the
fill prices stay the bars' own; its total is the fees column. ``--maker-fee`` / ``--taker-fee``
replace the model: a run given a rate is charged that rate only.

The functions here are plain Python that numba also compiles: :mod:`autobot.fast.kernel` calls
the same :func:`unit_commission` and :func:`affordable_cash_qty` that NautilusTrader's fee model
(:func:`autobot.venue.fees.fee_model`) and :class:`autobot.strategy.rule_strategy.RuleStrategy`
call, so the two engines cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UnitFees:
    """A per-unit commission: ``per_unit`` x units, at least ``minimum``, at most ``cap_rate`` x
    the fill's value (0: no cap). All zero: none."""

    per_unit: float = 0.0
    minimum: float = 0.0
    cap_rate: float = 0.0

    @property
    def charged(self) -> bool:
        return self.per_unit > 0 or self.minimum > 0


#: Interactive Brokers' US fixed commission for stocks and ETFs (USD)
PER_SHARE = UnitFees(per_unit=0.005, minimum=1.0, cap_rate=0.01)
#: half of a one-pip spread, per unit of the base currency and side
HALF_SPREAD_PIPS = 0.5


def unit_fees_for(kind: str, quote: str, maker: float, taker: float) -> UnitFees:
    """The per-unit model of an asset class (``crypto``, ``fx``, ``equity``); none when the run
    charges a rate (a venue's or ``--maker-fee`` / ``--taker-fee``)."""
    if maker or taker or kind == "crypto":
        return UnitFees()
    if kind == "fx":
        pip = 0.01 if quote == "JPY" else 0.0001
        return UnitFees(per_unit=HALF_SPREAD_PIPS * pip)
    return PER_SHARE


def unit_fees_of(instrument: Any) -> UnitFees:
    """:func:`unit_fees_for` a NautilusTrader instrument, its asset class read from the instrument
    itself: a base currency of a fiat pair is FX, of any other pair crypto; none (a share, a fund,
    a commodity priced alone) the per-share schedule."""
    from nautilus_trader.model.enums import CurrencyType
    base = getattr(instrument, "base_currency", None)
    quote = instrument.quote_currency
    if base is None:
        kind = "equity"
    elif base.currency_type == CurrencyType.FIAT and quote.currency_type == CurrencyType.FIAT:
        kind = "fx"
    else:
        kind = "crypto"
    return unit_fees_for(kind, quote.code, float(instrument.maker_fee), float(instrument.taker_fee))


def unit_commission(qty: float, notional: float, per_unit: float, minimum: float, cap_rate: float) -> float:
    """The per-unit commission of a fill of ``qty`` units worth ``notional`` (numba-compatible)."""
    if not (per_unit > 0 or minimum > 0) or not qty > 0:
        return 0.0
    fee = per_unit * qty
    if fee < minimum:
        fee = minimum
    if cap_rate > 0 and fee > cap_rate * notional:
        fee = cap_rate * notional
    return fee


def affordable_cash_qty(cash: float, unit: float, rate: float, per_unit: float, minimum: float) -> float:
    """The most units free ``cash`` pays for at ``unit`` (price x multiplier) a unit with their
    commission: the rate, the per-unit fee and its minimum (numba-compatible)."""
    if not cash > 0 or not unit > 0:
        return 0.0
    cost = unit * (1.0 + rate)
    q = cash / (cost + per_unit)
    if minimum > 0:
        q = min(q, (cash - minimum) / cost)
    return q if q > 0 else 0.0
