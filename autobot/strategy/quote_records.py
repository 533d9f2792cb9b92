"""What the quoting strategy records as it runs: its fills and its quoting steps (read by the
backtest's market-making metrics, :mod:`autobot.backtest.mm_metrics`)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fill:
    ts: int            # ns
    side: int          # +1 buy, -1 sell
    price: float
    qty: float
    fee: float         # in the quote currency, positive = paid
    mid: float         # the book's mid at the fill
    maker: bool
    order: str = ""


@dataclass
class Steps:
    """The strategy's quoting steps: time, mid, the best bid and ask it quoted (NaN: none), inventory."""

    ts: list[int] = field(default_factory=list)
    mid: list[float] = field(default_factory=list)
    bid: list[float] = field(default_factory=list)
    ask: list[float] = field(default_factory=list)
    inventory: list[float] = field(default_factory=list)
