"""Bars for a backtest: bar size, resampling, date slicing, and conversion to Nautilus bars.

Timestamps in AutoBot's data files are bar *open* times (Binance klines, and the contract
CSV by the same convention). Nautilus stamps a bar with its *close* time, so a bar opening
at ``t`` becomes a Nautilus bar with ``ts_event = t + bar size``: a decision at that bar
uses its close, and nothing from the bar is visible before it has closed.

Two exceptions to "timestamps are opens", both said in the run's notes (docs/backtest.md, "Bars"):

* calendar-period bars labelled at the period's END (monthly data stamped on the last day, or
  last trading day, of each month) are read as such: each bar opens on the 1st of its period at
  00:00 UTC, where the previous one closed (:func:`period_end_months`, :func:`calendar_opens`);
* resampling to daily or longer bars merges a stub bucket (under a quarter of a typical
  bucket's data, e.g. the FX week's Sunday-evening open) into the next bar (:func:`resample`).
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


DAY_SECONDS = 86_400
STUB_SHARE = 0.25       # a bucket with under this share of the median bucket's data is a stub


def stub_groups(groups: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Which of consecutive groups of rows (``groups``: their bucket numbers, ascending; ``counts``:
    rows in each) are stubs to merge into the next one: fewer rows than ``STUB_SHARE`` of the
    median group's, and the next group is the very next bucket. The FX week opens on Sunday at
    21:00-22:00 UTC, so a UTC day of hourly EUR/USD bars holds 2-3 of them on Sunday against 24 on
    a weekday; a stub followed by a gap (a Friday with a data outage) stays a bar of its own."""
    groups = np.asarray(groups, dtype=np.int64)
    counts = np.asarray(counts)
    if len(groups) < 3:
        return np.zeros(len(groups), dtype=bool)
    follows = np.concatenate((groups[1:] == groups[:-1] + 1, [False]))
    return (counts < STUB_SHARE * float(np.median(counts))) & follows


def resample(bars: Bars, seconds: int, notes: list[str] | None = None) -> Bars:
    """Aggregate to ``seconds``-long bars aligned on the epoch (open of first, max, min, close of last, sum).

    For daily or longer bars a stub bucket (:func:`stub_groups`) is merged into the next bucket:
    the merged bar opens at the stub's first open, takes both buckets' highs, lows and volume, and
    keeps the next bucket's label, so it closes when the next bucket closes (nothing is seen
    earlier than before). Both engines, ``autobot signals``, the optimizer and the portfolio get
    these bars; ``notes`` (when given) is told how many stubs were merged."""
    if not len(bars):
        return bars
    bucket = bars.ts // (seconds * NS)
    starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
    if seconds >= DAY_SECONDS and len(starts) > 2:
        stub = stub_groups(bucket[starts], np.diff(np.append(starts, len(bars))))
        if stub.any():
            starts = starts[~np.concatenate(([False], stub[:-1]))]      # a stub's next bucket starts with the stub
            if notes is not None:
                notes.append(f"{int(stub.sum()):,} stub bucket(s) merged into the next bar: a {bar_text(seconds)} "
                             f"bucket with under {STUB_SHARE:.0%} of a typical bucket's data bars (the FX week's "
                             "Sunday-evening open, a holiday's reopening) opens the bar after it, whose close is "
                             "unchanged")
    ends = np.concatenate((starts[1:], [len(bars)])) - 1
    return Bars(bars.path, bucket[ends] * seconds * NS, bars.open[starts],
                np.maximum.reduceat(bars.high, starts), np.minimum.reduceat(bars.low, starts),
                bars.close[ends], np.add.reduceat(bars.volume, starts), bars.format)


def bar_text(seconds: int) -> str:
    """``86400`` -> ``1d``, ``14400`` -> ``4h``, ``90`` -> ``90s``."""
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


PERIOD_END_DAYS = 4     # a label in the last 4 days of its month is a month-end (a last trading day too)


def period_end_months(ts: np.ndarray) -> int:
    """Months per bar when every timestamp is at the END of a calendar period: in the last
    ``PERIOD_END_DAYS`` days of its month (the last day, or the last trading day before a weekend
    or holiday), at most one a month and three or more of them; the most common step in months
    (1 monthly, 3 quarterly, 12 yearly). 0 otherwise: timestamps are opens, as the data contract
    says (monthly data labelled on the 1st is read as it is)."""
    ts = np.asarray(ts, dtype=np.int64)
    if len(ts) < 3:
        return 0
    day = ts.astype("datetime64[ns]").astype("datetime64[D]")
    month = day.astype("datetime64[M]")
    month_end = (month + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    if np.any((month_end - day).astype(np.int64) >= PERIOD_END_DAYS):
        return 0
    steps = np.diff(month.astype(np.int64))
    if np.any(steps < 1):
        return 0
    values, counts = np.unique(steps, return_counts=True)
    return int(values[np.argmax(counts)])


def calendar_opens(bars: Bars, notes: list[str] | None = None) -> Bars:
    """``bars`` with period-end labels (:func:`period_end_months`) read as the periods' closes:
    each bar opens on the 1st of its period at 00:00 UTC, i.e. where the previous label's period
    closed (a January bar labelled 2019-01-31 opens 2019-01-01T00:00Z and closes 2019-02-01T00:00Z).
    Other bars are returned as they are. ``notes`` is told when labels were moved."""
    months = period_end_months(bars.ts)
    if not months:
        return bars
    month = bars.ts.astype("datetime64[ns]").astype("datetime64[M]")
    opens = (month - np.timedelta64(months - 1, "M")).astype("datetime64[ns]").astype(np.int64)
    if notes is not None:
        period = "calendar month" if months == 1 else f"{months}-month calendar period"
        notes.append(f"every timestamp is the end of a {period} (the first {iso(int(bars.ts[0]))[:10]}): read as "
                     f"the bar's close, so each bar opens on the 1st of its period, where the previous one closed "
                     f"(the first at {iso(int(opens[0]))[:10]}); annualised with {12 / months:g} bars a year")
    return Bars(bars.path, opens, bars.open, bars.high, bars.low, bars.close, bars.volume, bars.format)


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
    """Resample finer data to the strategy's bar size (daily or longer: stubs merged, :func:`resample`);
    keep coarser or odd sizes as they are; period-end labels read as closes (:func:`calendar_opens`).
    A ``quote:`` strategy is refused: it runs on order-book data, not on bars."""
    if compiled.document.quote is not None:
        raise quote_refusal(compiled)
    notes: list[str] = []
    bars = calendar_opens(bars, notes)
    data_sec = bar_seconds(bars)
    want = compiled.bar.seconds if compiled.bar is not None else data_sec
    size = bar_size(want, bars)
    if size != data_sec:
        notes.append(f"data bars of {data_sec} s resampled to the strategy's {want} s bars")
        return resample(bars, want, notes), want, notes
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
