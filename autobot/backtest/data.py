"""Bars for a backtest: bar size, resampling, date slicing, and conversion to Nautilus bars.

Timestamps in AutoBot's data files are bar *open* times (Binance klines, and the contract
CSV by the same convention). Nautilus stamps a bar with its *close* time, so a bar opening
at ``t`` becomes a Nautilus bar with ``ts_event = t + bar size``: a decision at that bar
uses its close, and nothing from the bar is visible before it has closed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import numpy as np

from autobot.data.bars import Bars
from autobot.diagnostics import Diagnostic, UserError

NS = 1_000_000_000


def iso(ns: int) -> str:
    """An epoch-ns timestamp as ISO 8601 UTC, to the second (``2024-01-01T00:00:00Z``)."""
    return datetime.fromtimestamp(ns / NS, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def bar_seconds(bars: Bars) -> int:
    """The data's bar size: the most common step between consecutive timestamps (seconds)."""
    if len(bars) < 2:
        return 60
    steps = np.diff(bars.ts) // NS
    values, counts = np.unique(steps[steps > 0], return_counts=True)
    return int(values[np.argmax(counts)]) if len(values) else 60


def resample(bars: Bars, seconds: int) -> Bars:
    """Aggregate to ``seconds``-long bars aligned on the epoch (open of first, max, min, close of last, sum)."""
    bucket = bars.ts // (seconds * NS)
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    return Bars(bars.path, bucket[starts] * seconds * NS, bars.open[starts],
                np.maximum.reduceat(bars.high, starts), np.minimum.reduceat(bars.low, starts),
                bars.close[ends], np.add.reduceat(bars.volume, starts), bars.format)


def parse_when(text: str, option: str) -> int:
    """``--start``/``--end`` as epoch ns (ISO date or date-time, UTC when no offset)."""
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UserError([Diagnostic(option, 0, 0, 0, 0, "usage", f"{option} {text!r} is not a date",
                                    "write e.g. 2022-01-15 or 2022-01-15T12:00")]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return int(when.timestamp()) * NS + when.microsecond * 1000


def slice_bars(bars: Bars, start: int | None, end: int | None) -> Bars:
    """Bars opening at or after ``start`` and before ``end`` (epoch ns)."""
    lo = 0 if start is None else int(np.searchsorted(bars.ts, start, side="left"))
    hi = len(bars) if end is None else int(np.searchsorted(bars.ts, end, side="left"))
    return bars.slice(lo, hi)


def to_nautilus(bars: Bars, bar_type: object, instrument: object, seconds: int) -> list:
    """Nautilus ``Bar`` objects (ts_event = close time) through Nautilus' ``BarDataWrangler``."""
    import pandas as pd
    from nautilus_trader.persistence.wranglers import BarDataWrangler

    index = pd.to_datetime(bars.ts + seconds * NS, unit="ns", utc=True)
    frame = pd.DataFrame({"open": bars.open, "high": bars.high, "low": bars.low, "close": bars.close,
                          "volume": bars.volume}, index=index)
    frame.index.name = "timestamp"
    return BarDataWrangler(bar_type, instrument).process(frame)


def prepare_bars(compiled: Any, bars: Bars) -> tuple[Bars, int, list[str]]:
    """:func:`strategy_bars`, refused (a positioned :class:`UserError`) when a rule or risk level
    needs more bars than there are. The backtest and ``autobot signals`` both decide on these
    bars; returns (bars, seconds, notes)."""
    bars, seconds, notes = strategy_bars(compiled, bars)
    short = compiled.short_data(len(bars)) if len(bars) else []
    if short:
        raise UserError(short)
    return bars, seconds, notes


def quote_refusal(compiled: Any, what: str = "bars") -> Any:
    """The error for a ``quote:`` strategy where only rule strategies run (bars, a study)."""
    from autobot.diagnostics import UserError
    node, _ = compiled.source.node_at(("quote",))
    start = node.start if node is not None else 0
    return UserError([compiled.source.diagnostic(start, start + 1, "needs-book",
                                                 f"a quote: strategy trades on an order book, not on {what}",
                                                 "backtest it on book data: autobot backtest MM.yaml --data "
                                                 "BOOKFILE (docs/market_making.md)")])


def strategy_bars(compiled: Any, bars: Bars) -> tuple[Bars, int, list[str]]:
    """Resample finer data to the strategy's bar size; keep coarser or odd sizes as they are. A
    ``quote:`` strategy is refused: it runs on order-book data, not on bars."""
    if compiled.document.quote is not None:
        raise quote_refusal(compiled)
    notes: list[str] = []
    data_sec = bar_seconds(bars)
    want = compiled.bar.seconds if compiled.bar is not None else data_sec
    size = bar_size(want, bars)
    if size != data_sec:
        notes.append(f"data bars of {data_sec} s resampled to the strategy's {want} s bars")
        return resample(bars, want), want, notes
    if data_sec != want:
        notes.append(f"the strategy asks for {want} s bars; the data has {data_sec} s bars and is used as it is")
    return bars, data_sec, notes


def bar_size(wanted: int | None, bars: Bars) -> int:
    """The bar size a strategy (or a policy's regimes) runs on: ``wanted`` when the data is finer
    and divides it (the data is resampled), else the data's own (daily data stays daily for a 1h
    document, and the run says so)."""
    have = bar_seconds(bars)
    if wanted is None or wanted == have:
        return have
    return wanted if have < wanted and wanted % have == 0 else have


TEXT_NAMES = ("sentiment", "sentiment_mean", "sentiment_count")    # the names a text feed gives


def text_externals(compiled: Any, bars: Bars, seconds: int, texts: Any, instrument_id: str) -> dict[str, Any] | None:
    """``sentiment``, ``sentiment_mean`` and ``sentiment_count`` per bar of ``bars`` (the strategy's own) from
    ``texts`` (:func:`autobot.data.text.load_texts`), for a strategy that reads them; None when it
    does not. Texts of another symbol are left out (a text without a symbol counts for all)."""
    if not set(TEXT_NAMES) & compiled.plan.externals:
        return None
    if texts is None:
        from autobot.diagnostics import UserError
        raise UserError([compiled.use_diagnostic(TEXT_NAMES, "no-text-feed",
                                                 "the strategy reads 'sentiment', which needs a text feed",
                                                 "pass --text FILE (timestamped texts: timestamp, symbol, text)")])
    from autobot.data.text import per_bar, scores
    from autobot.data.text import symbols_of
    mine = texts.for_symbol(symbols_of(instrument_id))
    closes = bars.ts.astype(np.int64) + int(seconds) * 1_000_000_000
    return per_bar(closes, mine.ts, scores(mine))
