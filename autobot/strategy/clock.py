"""Bar times across the NautilusTrader boundary (plain arithmetic on a Nautilus bar's fields)."""

from __future__ import annotations

from typing import Any

_SPANS: dict[str, int] = {}


def bar_open_ns(bar: Any) -> int:
    """A NautilusTrader bar's open time (ns). Its ``ts_event`` is its close
    (:func:`autobot.backtest.data.to_nautilus`); the rules' ``time.hour`` and ``time.weekday`` read
    the bar's timestamp as the data labels it, its open, in the batch evaluator, ``autobot signals``
    and the fast engine alike, so every streaming evaluator (the strategies, the regime detectors)
    is fed the open too."""
    return int(bar.ts_event) - _span_ns(bar.bar_type)


def _span_ns(bar_type: Any) -> int:
    key = str(bar_type)
    span = _SPANS.get(key)
    if span is None:
        span = _SPANS[key] = int(bar_type.spec.timedelta.value)
    return span
