"""Plain records of what a strategy did, shared by both engines (the NautilusTrader strategy and
the fast engine build the same :class:`Trade`); no NautilusTrader import here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from autobot.strategy import trace as T


@dataclass
class Trade:
    """One round trip, as the strategy recorded it."""

    side: str                       # "long" / "short"
    qty: float
    entry_ts: int
    entry_price: float
    entry_rule: str
    entry_reason: T.Why | None
    exit_ts: int | None = None
    exit_price: float | None = None
    exit_reason: str | None = None  # a rule name, stop_loss, take_profit, trailing_stop, reverse, open
    exit_cause: T.Why | None = None
    pnl: float = 0.0                # realised, fees included (Nautilus' position PnL)
    fees: float = 0.0
    bars: int = 0

    @property
    def entry_why(self) -> str:
        return str(self.entry_reason) if self.entry_reason is not None else ""

    @property
    def exit_why(self) -> str:
        return str(self.exit_cause) if self.exit_cause is not None else ""

    def to_json(self) -> dict[str, Any]:
        """The trade with its decision traces (the rules' conditions and values) rendered."""
        return {
            "side": self.side, "qty": self.qty, "entry_ts": self.entry_ts, "entry_price": self.entry_price,
            "entry_rule": self.entry_rule,
            "entry_trace": self.entry_reason.explained() if self.entry_reason is not None else [],
            "entry_why": self.entry_why, "exit_ts": self.exit_ts, "exit_price": self.exit_price,
            "exit_reason": self.exit_reason,
            "exit_trace": self.exit_cause.explained() if self.exit_cause is not None else [],
            "exit_why": self.exit_why, "pnl": self.pnl, "fees": self.fees, "bars": self.bars,
            "return": self.pnl / (self.entry_price * self.qty) if self.entry_price and self.qty else None,
        }
