"""Bars from a NautilusTrader ``ParquetDataCatalog`` (``autobot backtest --catalog DIR``).

Catalog bars carry Nautilus' close-time ``ts_event``; they come back as :class:`Bars` with
AutoBot's open-time convention (``ts = ts_event - bar size``), checked like any data file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from autobot.data.bars import Bars
from autobot.diagnostics import Diagnostic, UserError


def _error(path: Path, message: str, hint: str) -> UserError:
    return UserError([Diagnostic(str(path), 1, 1, 1, 1, "data-catalog", message, hint)])


def load_catalog_bars(path: Path, instrument_id: str, bar_seconds: int | None = None) -> Bars:
    """The instrument's bars in the catalog: the bar type of ``bar_seconds`` if the catalog has it,
    else its finest bar type."""
    from nautilus_trader.persistence.catalog import ParquetDataCatalog

    if not path.is_dir():
        raise _error(path, "no such catalog folder", "pass the folder a ParquetDataCatalog was written to")
    try:
        found = ParquetDataCatalog(str(path)).bars(instrument_ids=[instrument_id])
    except Exception as exc:   # the catalog raises many kinds of errors on a bad folder
        raise _error(path, f"cannot read the catalog: {exc}", "check the folder is a Nautilus ParquetDataCatalog") \
            from None
    if not found:
        raise _error(path, f"the catalog has no bars for {instrument_id}",
                     "write them with ParquetDataCatalog.write_data, or bind another instrument")
    by_type: dict[str, list] = {}
    for bar in found:
        by_type.setdefault(str(bar.bar_type), []).append(bar)
    sizes = {k: v[0].bar_type.spec.timedelta.total_seconds() for k, v in by_type.items()}
    chosen = next((k for k, s in sizes.items() if bar_seconds is not None and s == bar_seconds),
                  min(sizes, key=lambda k: sizes[k]))
    bars = sorted(by_type[chosen], key=lambda b: b.ts_event)
    step = int(sizes[chosen] * 1_000_000_000)
    ts = np.array([b.ts_event for b in bars], dtype=np.int64) - step
    cols = [np.array([float(str(getattr(b, f))) for b in bars], dtype=np.float64)   # the decimal text, as a CSV
            for f in ("open", "high", "low", "close", "volume")]
    if np.any(np.diff(ts) <= 0):
        k = int(np.argmax(np.diff(ts) <= 0)) + 1
        raise _error(path, f"{chosen}: bar {k} is not after bar {k - 1} (unsorted or duplicate timestamps)",
                     "rewrite the catalog's bars in time order without duplicates")
    o, h, l, c, _ = cols
    bad = np.flatnonzero((np.minimum.reduce([o, h, l, c]) <= 0) | (h < l))
    if len(bad):
        raise _error(path, f"{chosen}: bar {int(bad[0])} has a non-positive price or high < low",
                     "fix the catalog's data")
    return Bars(f"{path}[{chosen}]", ts, *cols, format="catalog")


def is_catalog(path: Path) -> bool:
    """A folder a ParquetDataCatalog wrote bars to (``data/bar/<BAR TYPE>/``)."""
    return path.is_dir() and (path / "data" / "bar").is_dir()


def catalog_instruments(path: Path) -> list[str]:
    """The instrument ids the catalog holds bars of (from its bar-type folders), sorted."""
    from nautilus_trader.model.data import BarType

    found: set[str] = set()
    for folder in sorted((path / "data" / "bar").iterdir())[:100_000]:
        if not folder.is_dir():
            continue
        try:
            found.add(str(BarType.from_str(folder.name).instrument_id))
        except (ValueError, TypeError):       # not a bar type: not written by the catalog
            continue
    return sorted(found)


def load_member_bars(path: Path, instrument_id: str) -> Bars:
    """A universe member's bars: a bar file (:func:`autobot.data.bars.load_bars`), or a
    ParquetDataCatalog folder holding the instrument's bars (its finest bar type)."""
    from autobot.data.bars import load_bars
    return load_catalog_bars(path, instrument_id) if is_catalog(path) else load_bars(path)
