"""The "why did it trade here" table: every indicator and rule of a strategy per closed bar."""

from __future__ import annotations

import csv
from typing import Any, Iterator, TextIO

import numpy as np

from autobot.evaluate.batch import BarArrays, evaluate, rule_series
from autobot.evaluate.semantics import flat_externals
from autobot.language import plan as P
from autobot.language.compile import RULE_SIDES, CompiledStrategy


def signal_columns(strategy: CompiledStrategy, bars: BarArrays, capital: float = 100_000.0,
                   extra: dict[str, Any] | None = None) -> dict[str, np.ndarray]:
    """Column name -> series: indicators by name, then ``entry.long`` ... ``exit.short``.

    Rules are evaluated as the market alone decides them (flat, equity = capital).
    Indicator values are undefined before their warm-up; rules are undefined
    (``None``) before theirs.
    """
    plan = strategy.plan
    values = evaluate(plan, bars, {**flat_externals(capital), **(extra or {})})
    columns: dict[str, np.ndarray] = {}
    for name, node in plan.named.items():
        series = values[node]
        if plan.types[node] in (P.BOOL, P.TEXT):
            series = np.array(series, dtype=object)
            series[: plan.warmup[node]] = None
        columns[name] = series
    for name in (*RULE_SIDES, "confidence"):     # the contract's rule columns, then the entry filter
        if name in plan.rules:
            fired = rule_series(plan, values, name).astype(object)
            fired[: plan.warmup[plan.rules[name]]] = None
            columns[name] = fired
    return columns


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (float, np.floating)):
        return "" if value != value else repr(float(value))
    return str(value)


def iso_timestamps(ts: np.ndarray) -> list[str]:
    """UTC ISO 8601 text (``2024-01-01T00:00:00Z``) for int64 nanosecond timestamps."""
    ts = np.asarray(ts, dtype=np.int64)
    unit = "s"
    for candidate, scale in (("s", 10**9), ("ms", 10**6), ("us", 10**3), ("ns", 1)):
        if not np.any(ts % scale):
            unit = candidate
            break
    text = np.datetime_as_string(ts.astype("datetime64[ns]"), unit=unit)
    return [t + "Z" for t in text.tolist()]


def signal_rows(strategy: CompiledStrategy, bars: BarArrays, capital: float = 100_000.0,
                extra: dict[str, Any] | None = None, first: int = 0) -> Iterator[list[str]]:
    """Header row then one row per bar from ``first``, formatted as the contract says (``extra``:
    series of externals such as the text feed's ``sentiment``)."""
    columns = signal_columns(strategy, bars, capital, extra)
    yield ["timestamp", *columns]
    stamps = iso_timestamps(np.asarray(bars.ts))
    cells = [[_cell(v) for v in col.tolist()] for col in columns.values()]
    for i in range(first, len(stamps)):
        yield [stamps[i], *(col[i] for col in cells)]


def write_signals(strategy: CompiledStrategy, bars: BarArrays, out: TextIO, capital: float = 100_000.0,
                  extra: dict[str, Any] | None = None, first: int = 0) -> int:
    """Write the signals CSV; returns the number of bars written."""
    writer = csv.writer(out, lineterminator="\n")
    count = -1
    for row in signal_rows(strategy, bars, capital, extra, first):
        writer.writerow(row)
        count += 1
    return count
