"""The entry gate: may a strategy of the portfolio open a position now? Plain Python (the
NautilusTrader controller asks it with what it reads from Nautilus' cache; a test builds it alone).

An entry is refused while trading is stopped (halted, paused by the operator, in a breaker's
cooldown), when the strategy has no share of the capital, when it would short on a cash account,
or when it would breach one of the policy's limits: ``max_open_positions``, ``max_position`` (the
entry's value over equity), ``max_gross_exposure`` (every open position's value plus this entry's,
over equity) and ``max_net_exposure`` (longs minus shorts, with this entry). Entries approved
earlier on the same bar count as open: their orders have not filled yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from autobot.portfolio.limits import Limits


@dataclass(frozen=True)
class Exposure:
    """The other strategies' open positions: gross and net value (signed: shorts negative) and count."""

    gross: float = 0.0
    net: float = 0.0
    count: int = 0


@dataclass(frozen=True)
class Entry:
    """An entry a strategy asks for: its side, value (qty x price x multiplier) and bar."""

    strategy: str
    side: str                   # "long" / "short"
    value: float
    ts: int


@dataclass
class EntryGate:
    """See the module docstring. ``limits`` may be replaced whole (a reloaded policy)."""

    limits: Limits
    _bar: int = -1
    _pending: dict[str, float] = field(default_factory=dict)     # approved on this bar, signed value

    def allow(self, entry: Entry, equity: float, others: Exposure, *, stopped: bool, share: float,
              long_only: bool) -> bool:
        """Whether ``entry`` may go out (recorded as pending on its bar when it may)."""
        if stopped or share <= 0 or (long_only and entry.side == "short"):
            return False
        if self._bar != entry.ts:
            self._bar, self._pending = entry.ts, {}
        pending = {k: v for k, v in self._pending.items() if k != entry.strategy}
        gross = others.gross + sum(abs(v) for v in pending.values())
        net = others.net + sum(pending.values())
        count = others.count + len(pending)
        signed = entry.value if entry.side == "long" else -entry.value
        lim = self.limits
        if lim.max_open_positions is not None and count + 1 > lim.max_open_positions:
            return False
        if lim.max_position is not None and entry.value > lim.max_position * equity:
            return False
        if lim.max_gross_exposure is not None and gross + entry.value > lim.max_gross_exposure * equity:
            return False
        if lim.max_net_exposure is not None and abs(net + signed) > lim.max_net_exposure * equity:
            return False
        self._pending[entry.strategy] = signed
        return True
