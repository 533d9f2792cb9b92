"""The entry gate: may a strategy of the portfolio open a position now? Plain Python (the
NautilusTrader controller asks it with what it reads from Nautilus' cache; a test builds it alone).

An entry is refused while trading is stopped (halted, paused by the operator, in a breaker's
cooldown), when the strategy has no share of the capital, when it would short on a cash account,
or when it would breach one of the policy's limits: ``max_open_positions``, ``max_position`` (the
entry's value over equity), ``max_gross_exposure`` (every open position's value plus this entry's,
over equity), ``max_net_exposure`` (longs minus shorts, with this entry), and the caps of one
instrument (``max_instrument_exposure``: every strategy's and universe member's position in it,
gross) and of one asset class (``max_asset_class_exposure``, gross). Entries approved
earlier on the same bar count as open: their orders have not filled yet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from autobot.portfolio.limits import Limits


@dataclass(frozen=True)
class Exposure:
    """The other strategies' open positions: gross and net value (signed: shorts negative) and count."""

    gross: float = 0.0
    net: float = 0.0
    count: int = 0
    by_instrument: Mapping[str, float] = field(default_factory=dict)    # gross value in each instrument
    by_class: Mapping[str, float] = field(default_factory=dict)         # gross value in each asset class


@dataclass(frozen=True)
class Entry:
    """An entry a strategy asks for: its side, value (qty x price x multiplier) and bar."""

    strategy: str
    side: str                   # "long" / "short"
    value: float
    ts: int
    instrument: str = ""
    asset_class: str = ""


@dataclass
class EntryGate:
    """See the module docstring. ``limits`` may be replaced whole (a reloaded policy)."""

    limits: Limits
    _bar: int = -1
    _pending: dict[str, Entry] = field(default_factory=dict)     # approved on this bar

    def allow(self, entry: Entry, equity: float, others: Exposure, *, stopped: bool, share: float,
              long_only: bool) -> bool:
        """Whether ``entry`` may go out (recorded as pending on its bar when it may)."""
        if stopped or share <= 0 or (long_only and entry.side == "short"):
            return False
        if self._bar != entry.ts:
            self._bar, self._pending = entry.ts, {}
        pending = [e for k, e in self._pending.items() if k != entry.strategy]
        gross = others.gross + sum(e.value for e in pending)
        net = others.net + sum(_signed(e) for e in pending)
        count = others.count + len(pending)
        signed = _signed(entry)
        lim = self.limits
        if lim.max_open_positions is not None and count + 1 > lim.max_open_positions:
            return False
        if lim.max_position is not None and entry.value > lim.max_position * equity:
            return False
        if lim.max_gross_exposure is not None and gross + entry.value > lim.max_gross_exposure * equity:
            return False
        if lim.max_net_exposure is not None and abs(net + signed) > lim.max_net_exposure * equity:
            return False
        if lim.max_instrument_exposure is not None:
            held = others.by_instrument.get(entry.instrument, 0.0) + sum(e.value for e in pending
                                                                         if e.instrument == entry.instrument)
            if held + entry.value > lim.max_instrument_exposure * equity:
                return False
        cap = lim.max_asset_class_exposure.get(entry.asset_class)
        if cap is not None:
            held = others.by_class.get(entry.asset_class, 0.0) + sum(e.value for e in pending
                                                                     if e.asset_class == entry.asset_class)
            if held + entry.value > cap * equity:
                return False
        self._pending[entry.strategy] = entry
        return True


def _signed(entry: Entry) -> float:
    return entry.value if entry.side == "long" else -entry.value
