"""What both evaluators agree on: undefined values, defaults and the external inputs.

* A number is undefined when it is NaN; arithmetic that gives a non-finite result
  (division by zero, overflow, log of 0) is undefined too.
* A comparison with an undefined operand is false; bools are always defined.
* Text is undefined when it is ``None`` (for example ``regime`` before any regime).
* A TA-Lib function restarts its warm-up after an undefined input value: it is
  computed over each run of defined inputs separately.
* Rules never fire before their warm-up, even where their value would be true.
"""

from __future__ import annotations

from autobot.language.book import SPACES as BOOK_SPACES

import math
from typing import Any, Mapping

from autobot.language import plan as P

NAN = math.nan
NS_PER_HOUR = 3_600_000_000_000
NS_PER_DAY = 86_400_000_000_000


def undefined(type_: str) -> Any:
    """The undefined value of a type (NaN, False or None)."""
    return {P.NUMBER: NAN, P.BOOL: False, P.TEXT: None}.get(type_, NAN)


def flat_externals(capital: float = 10_000.0) -> dict[str, Any]:
    """External values for evaluating rules as the market alone decides them (no position)."""
    return {
        "position.side": "flat", "position.qty": 0.0, "position.entry_price": NAN,
        "position.pnl_pct": NAN, "position.bars_held": NAN, "equity": float(capital),
        "drawdown": 0.0, "regime": None, "sentiment": NAN, "sentiment_mean": NAN, "sentiment_count": 0.0,
    }


def clock_value(field: str, ts_ns: int) -> float:
    """``time.hour`` (0-23) or ``time.weekday`` (Monday = 0) of a UTC timestamp in ns."""
    if field == "hour":
        return float((ts_ns // NS_PER_HOUR) % 24)
    return float((ts_ns // NS_PER_DAY + 3) % 7)   # 1970-01-01 was a Thursday


def external_default(name: str, externals: Mapping[str, Any] | None) -> Any:
    """An external's value from ``externals``, or its flat default."""
    if externals is not None and name in externals:
        return externals[name]
    if name.split(".")[0] in BOOK_SPACES:        # book, trades, inventory: undefined until the book says
        return NAN
    return flat_externals()[name]
