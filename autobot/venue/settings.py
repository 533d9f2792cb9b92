"""The simulated venue shared by the backtest and the paper node: its settings (capital,
account type, leverage, slippage), the bar fill model with the gap rule
(:mod:`autobot.venue.fills`), the Nautilus venue a backtest adds, bar specs and logging."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any




@dataclass(frozen=True)
class VenueSettings:
    """The simulated account and market: capital, currency, account type, leverage, slippage."""

    capital: float = 100_000.0
    account: str = "margin"            # "margin" (long and short) or "cash" (long only)
    leverage: float = 1.0
    slippage: float = 0.0              # probability that a market/stop fill slips one tick
    seed: int = 42


#: The venue keeps one position per position id (HEDGING) and each AutoBot strategy nets its own
#: position on it (``RuleStrategyConfig.oms_type`` NETTING, id ``{instrument}-{strategy}``), so
#: several strategies on one instrument never share, close or reduce-only-check one net position.
VENUE_OMS = "HEDGING"


def logging_config(level: str = "ERROR") -> Any:
    """NautilusTrader's logging: colour codes only on a terminal (never into a pipe or a file, and
    not with NO_COLOR set)."""
    import os
    import sys

    from nautilus_trader.config import LoggingConfig
    return LoggingConfig(log_level=level, log_colors=sys.stderr.isatty() and "NO_COLOR" not in os.environ)


def fill_model(venue: VenueSettings) -> Any:
    """Nautilus' bar prices for the whole order at once, with the gap rule
    (:mod:`autobot.venue.fills`) and the venue's slippage probability; the backtest and the
    paper node use the same model."""
    from autobot.venue.fills import BarFillModel
    return BarFillModel(prob_fill_on_limit=1.0, prob_slippage=venue.slippage, random_seed=venue.seed)


def venue_fills(venue: VenueSettings) -> dict[str, Any]:
    """``fill_model=`` and ``modules=`` for ``BacktestEngine.add_venue``: the model and the module
    that tells it each bar's open before the exchange processes the bar."""
    from autobot.venue.fills import BarOpenModule
    model = fill_model(venue)
    return {"fill_model": model, "modules": [BarOpenModule(model)]}


def add_venue(engine: Any, name: str, currency: Any, capital: float, venue: VenueSettings, cash: bool = False) -> None:
    """The simulated venue of a backtest: HEDGING (each strategy nets its own position on it, see
    :data:`VENUE_OMS`), a margin (or cash) account with ``capital``, the venue's leverage, and
    :func:`venue_fills` on bar execution."""
    from nautilus_trader.model.enums import AccountType, OmsType
    from nautilus_trader.model.identifiers import Venue
    from nautilus_trader.model.objects import Money

    from autobot.venue.fees import fee_model

    engine.add_venue(venue=Venue(name), oms_type=OmsType[VENUE_OMS],
                     account_type=AccountType.CASH if cash else AccountType.MARGIN,
                     starting_balances=[Money(capital, currency)], base_currency=None if cash else currency,
                     default_leverage=Decimal(str(venue.leverage)), bar_execution=True, fee_model=fee_model(),
                     **venue_fills(venue))


def bar_spec_text(seconds: int) -> str:
    """A Nautilus bar spec for a bar size, e.g. 3600 -> ``1-HOUR-LAST``."""
    for unit, size in (("DAY", 86_400), ("HOUR", 3_600), ("MINUTE", 60)):
        if seconds % size == 0:
            return f"{seconds // size}-{unit}-LAST"
    return f"{seconds}-SECOND-LAST"
