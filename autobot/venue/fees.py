"""NautilusTrader's side of the commission rules (:mod:`autobot.strategy.costs`, their one home):
the fee model every AutoBot venue uses, in the backtest and on the paper node."""

from __future__ import annotations

from typing import Any

from autobot.strategy.costs import unit_commission, unit_fees_of


def fee_model() -> Any:
    """The NautilusTrader fee model every AutoBot venue uses (backtest and paper)."""
    from nautilus_trader.backtest.models import MakerTakerFeeModel
    from nautilus_trader.model.objects import Money

    class AutoBotFeeModel(MakerTakerFeeModel):
        """Nautilus' maker/taker commission plus :func:`unit_commission` (module docstring)."""

        def get_commission(self, order: Any, fill_qty: Any, fill_px: Any, instrument: Any) -> Any:
            base = MakerTakerFeeModel.get_commission(self, order, fill_qty, fill_px, instrument)
            unit = unit_fees_of(instrument)
            if not unit.charged:
                return base
            notional = instrument.notional_value(fill_qty, fill_px)
            extra = Money(unit_commission(fill_qty.as_double(), notional.as_double(), unit.per_unit,
                                          unit.minimum, unit.cap_rate), base.currency)
            return Money.from_raw(base.raw + extra.raw, base.currency)

    return AutoBotFeeModel()
