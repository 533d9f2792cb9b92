"""``GET /api/v1/universe``: the universe view of a node's store
(:mod:`autobot.report.universe_view`), computed again only when the store has moved on (the
dashboard asks every few seconds; a finished run's view is computed once)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from autobot.persistence.journal import open_readonly, read_run
from autobot.report.universe_view import read_universe, universe_view


class UniverseCache:
    """The last view of each (store, points), kept while the store's fingerprint is unchanged."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[tuple[str, int], tuple[tuple, dict[str, Any]]] = {}

    def view(self, path: Path, points: int) -> dict[str, Any]:
        db = open_readonly(path)
        try:
            key = fingerprint(db)
            with self._lock:
                hit = self._last.get((str(path), points))
            if hit is not None and hit[0] == key:
                return hit[1]
            out = universe_json(db, points)
        finally:
            db.close()
        with self._lock:
            self._last[(str(path), points)] = (key, out)
        return out


def fingerprint(db: sqlite3.Connection) -> tuple:
    """What changes when the node writes: the run, its last equity row, its fills, bars and events."""
    run = read_run(db)
    bars = _scalar(db, "SELECT MAX(rowid) FROM bars")
    return (run, *db.execute("SELECT COUNT(*), MAX(ts) FROM equity WHERE run = ?", (run,)).fetchone(),
            _scalar(db, "SELECT COUNT(*) FROM fills WHERE run = ?", (run,)), bars,
            _scalar(db, "SELECT MAX(id) FROM events"))


def _scalar(db: sqlite3.Connection, sql: str, params: tuple = ()) -> Any:
    try:
        return db.execute(sql, params).fetchone()[0]
    except sqlite3.OperationalError:          # a store written before that table
        return None


def universe_json(db: sqlite3.Connection, points: int) -> dict[str, Any]:
    """The view of the latest run as JSON; ``universe`` false when the node trades one instrument
    (the dashboard then shows no panel) or has handled no bar yet."""
    rec = read_universe(db, read_run(db))
    if not len(rec.ts):
        return {"universe": False, "instruments": [], "sleeves": [], "note": "no bar handled yet"}
    return universe_view(rec, points=points).to_json()
