"""AutoBot's own journal: a SQLite file recording everything a running node does.

Nautilus' cache lives in memory and the sandbox venue starts empty on every start, so the
journal is what survives a crash. It records:

* every decision, order and fill, keyed by strategy and the per-strategy order number
  (the last part of a Nautilus ClientOrderId), so the same order is never recorded twice;
* breaker trips, regime switches and reloads;
* equity snapshots, and each document version applied (text and hash);
* progress: the last bar fully processed.

Writes go through one connection in WAL mode; a fill is committed at once, the rest at each
bar (or every ``commit_every`` rows). ``autobot status`` reads the same file.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable, Iterable

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY, run INTEGER, ts INTEGER, wall REAL, kind TEXT NOT NULL, strategy TEXT, payload TEXT,
    n INTEGER);
CREATE TABLE IF NOT EXISTS orders (
    run INTEGER NOT NULL, strategy TEXT NOT NULL, seq INTEGER NOT NULL, ts INTEGER, side TEXT, qty REAL, kind TEXT,
    reason TEXT, client_order_id TEXT, PRIMARY KEY (run, strategy, seq));
CREATE TABLE IF NOT EXISTS fills (
    run INTEGER NOT NULL, strategy TEXT NOT NULL, seq INTEGER NOT NULL, filled REAL NOT NULL, ts INTEGER, side TEXT,
    qty REAL, price REAL, reason TEXT, PRIMARY KEY (run, strategy, seq, filled));
CREATE TABLE IF NOT EXISTS equity (run INTEGER NOT NULL, ts INTEGER NOT NULL, equity REAL, regime TEXT,
    PRIMARY KEY (run, ts));
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY, path TEXT NOT NULL, sha TEXT NOT NULL, text TEXT NOT NULL, wall REAL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS models (run INTEGER NOT NULL, ts INTEGER, spec TEXT NOT NULL, trained_at INTEGER NOT NULL,
    rows INTEGER, data_sha TEXT NOT NULL, model BLOB, train_from INTEGER, train_to INTEGER,
    PRIMARY KEY (run, spec, trained_at));
CREATE TABLE IF NOT EXISTS bars (run INTEGER NOT NULL, bar_type TEXT NOT NULL, ts INTEGER NOT NULL, open REAL,
    high REAL, low REAL, close REAL, volume REAL, PRIMARY KEY (run, bar_type, ts));
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY, wall REAL, command TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, reply TEXT);
"""
#: an event is written once: the n-th event of a kind (and strategy) at a bar of a run is the same
#: event when a resumed run re-runs that bar (events without a bar time are never merged)
EVENTS_ONCE = "CREATE UNIQUE INDEX IF NOT EXISTS events_once ON events (run, ts, kind, ifnull(strategy, ''), n)"
COMMANDS = ("/pause", "/resume", "/stop", "/status", "/challenge")
#: the tables every AutoBot state store has (a file without them is another program's)
STORE_TABLES = frozenset({"events", "orders", "fills", "equity", "meta"})
SQLITE_HEADER = b"SQLite format 3\x00"


class StateStoreError(Exception):
    """The state store cannot be used: ``reason`` and ``hint`` for the one-line error."""

    def __init__(self, reason: str, hint: str) -> None:
        super().__init__(f"{reason}; {hint}")
        self.reason, self.hint = reason, hint


def _set_aside(path: Path, why: str) -> Path:
    """Rename ``path`` (and its WAL files) out of the way, never overwriting; returns the new path."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.{why}-{stamp}")
    k = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{why}-{stamp}-{k}")
        k += 1
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        extra = Path(str(path) + suffix)
        if extra.exists():
            extra.rename(Path(str(target) + suffix))
    return target


def is_store(db: sqlite3.Connection) -> bool:
    """Whether an open SQLite database is an AutoBot state store (its tables, with run numbers)."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not STORE_TABLES <= tables:
        return False
    return {"run", "ts", "kind", "payload"} <= {row[1] for row in db.execute("PRAGMA table_info(events)")}


def _refuse_foreign(path: Path) -> None:
    """A file at ``path`` that is not an AutoBot state store (a strategy document, another
    program's SQLite database) is never written, renamed or deleted: StateStoreError."""
    try:
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StateStoreError(f"the state store {path} cannot be read ({exc.strerror})",
                              "check the file's permissions, or pass another --state") from None
    if head != SQLITE_HEADER:
        raise StateStoreError(f"{path} is not an AutoBot state store (not an SQLite file); nothing was changed",
                              "pass --state with a new file name or a store 'autobot live' wrote")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            ours = is_store(db) or not tables
        finally:
            db.close()
    except sqlite3.DatabaseError:
        return                                  # a damaged store: opening it sets it aside as corrupt
    if not ours:
        raise StateStoreError(f"{path} is another program's SQLite database (tables: "
                              f"{', '.join(sorted(tables)[:6])}), not an AutoBot state store; nothing was changed",
                              "pass --state with a new file name or a store 'autobot live' wrote")


def take_lock(path: Path) -> Any:
    """Take the store at ``path`` for one node (an exclusive ``flock`` on ``<store>.lock``, released
    when the returned handle is closed or the process ends); StateStoreError naming the holder."""
    import fcntl
    import os
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(str(path) + ".lock", "a+")
    except OSError as exc:
        raise StateStoreError(f"the state store's lock {path}.lock cannot be created ({exc.strerror})",
                              "pass --state with a writable path") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StateStoreError(f"the state store {path} is in use by {holder}",
                              "stop that node first, or pass another --state") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"process {os.getpid()} (autobot live)")
    handle.flush()
    return handle


def held_by_a_node(path: Path) -> bool:
    """Whether a running node holds the store (its lock is taken). A store whose run is neither
    finished nor stopped while no node holds it was left by a node that crashed or was killed."""
    import fcntl
    try:
        handle = open(str(path) + ".lock", "r")
    except OSError:
        return False
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        handle.close()                       # closing releases a shared lock taken just now
    return False


def set_aside_for_fresh(path: Path) -> tuple[Path | None, Any]:
    """``--fresh``: the lock first (a store another node holds is never touched), then the store
    renamed out of the way, never deleted; only a file that is an AutoBot state store. Returns
    (where it went or None, the lock handle for the new store)."""
    if path.exists() and not path.is_file():
        raise StateStoreError(f"the state store {path} is not a file; nothing was changed",
                              "pass --state with a file path (it is created when missing)")
    _refuse_foreign(path)
    handle = take_lock(path)
    try:
        aside = _set_aside(path, "fresh") if path.exists() else None
    except OSError as exc:
        handle.close()
        raise StateStoreError(f"the state store {path} cannot be set aside ({exc.strerror})",
                              "check the folder's permissions") from None
    return aside, handle


def order_seq(client_order_id: Any) -> int:
    """The per-strategy order number at the end of a ClientOrderId (``O-...-001-7`` -> 7)."""
    return int(str(client_order_id).rsplit("-", 1)[-1])


class Journal:
    """The state store (see the module docstring)."""

    def __init__(self, path: str | Path, commit_every: int = 500) -> None:
        self.path = Path(path)
        self._lock: Any = None
        self._nth: dict[tuple[int, str, str | None], int] = {}
        if self.path.exists() and not self.path.is_file():
            raise StateStoreError(f"the state store {self.path} is not a file",
                                  "pass --state with a file path (it is created when missing)")
        _refuse_foreign(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _set_aside_older_layout(self.path)
            self.db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            _add_training_window(self.db)
            _add_event_numbers(self.db)
        except sqlite3.DatabaseError as exc:
            if getattr(self, "db", None) is not None:
                self.db.close()
            if "not a database" in str(exc) or "malformed" in str(exc):
                aside = _set_aside(self.path, "corrupt")
                raise StateStoreError(f"the state store {self.path} is corrupt ({exc}); it was set aside as "
                                      f"{aside.name}", "run again to start a new state store") from None
            raise StateStoreError(f"the state store {self.path} cannot be opened for writing ({exc})",
                                  "check the file and folder permissions, or pass another --state") from None
        except OSError as exc:
            raise StateStoreError(f"the state store {self.path} cannot be created ({exc.strerror})",
                                  "pass --state with a writable path") from None
        self.db.execute("BEGIN")
        self.pending = 0
        self.commit_every = commit_every
        self.run: int = self.get("run", 0)        # opened for reading: the latest run
        self.catch_up_until = -1
        #: why the store cannot be written any more (a full disk, an I/O error), once it happened
        self.failed: str | None = None
        #: called once with ``failed``: the node stops trading safely (live/node.py)
        self.on_failure: Callable[[str], None] | None = None

    def _write(self, sql: str, params: tuple = ()) -> Any:
        """One write; on a full disk or an I/O error the store is marked failed (nothing more is
        written, ``on_failure`` is told once) instead of raising inside the trading loop."""
        if self.failed is not None:
            return None
        try:
            return self.db.execute(sql, params)
        except sqlite3.Error as exc:
            self.failed = f"the state store {self.path} cannot be written ({exc})"
            try:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if self.on_failure is not None:
                self.on_failure(self.failed)
            return None

    def lock(self, handle: Any = None) -> None:
        """Take the store for one node: a second node on the same file fails at once, naming the
        process that holds it (:func:`take_lock`; ``handle``: a lock already taken, by ``--fresh``)."""
        self._lock = handle if handle is not None else take_lock(self.path)

    def begin(self, fingerprint: str = "") -> bool:
        """A node starts: resume the run that was killed, or begin a new one; True when resuming.

        A run is one node's life from a start to its normal end. After a kill, the bars it had
        handled are re-run to rebuild the paper venue: nothing they cause is new, so events are
        not written again until ``catch_up_until`` (orders and fills are keyed anyway).
        ``fingerprint`` names what the run was started with (data, policy and documents): a killed
        run started with something else is not resumed (``self.not_resumed`` says why)."""
        run = self.get("run", 0)
        self.not_resumed = ""
        if run and self.get("finished", 0) != run and self.get("last_bar", -1) >= 0:
            if self.get("fingerprint", "") == fingerprint:
                self.run, self.catch_up_until = run, self.get("last_bar", -1)
                return True
            self.not_resumed = (f"run {run} was interrupted but started with other data or documents: "
                                f"starting run {run + 1} instead of resuming it")
        self.run, self.catch_up_until = run + 1, -1
        self.set("run", self.run)
        self.set("last_bar", -1)
        self.set("fingerprint", fingerprint)
        self.commit()
        return False

    # ------------------------------------------------------------------ writing
    def _wrote(self, force: bool = False) -> None:
        self.pending += 1
        if force or self.pending >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        """Make everything recorded so far durable."""
        self._write("COMMIT")
        self._write("BEGIN")
        self.pending = 0

    def event(self, kind: str, ts: int | None = None, strategy: str | None = None, **payload: Any) -> None:
        if ts is not None and ts <= self.catch_up_until and kind != "recovery":
            return
        n = None
        if ts is not None:                       # the n-th such event at this bar: written once (EVENTS_ONCE)
            key = (ts, kind, strategy)
            n = self._nth.get(key, 0)
            self._nth[key] = n + 1
        self._write("INSERT OR IGNORE INTO events (run, ts, wall, kind, strategy, payload, n) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (self.run, ts, time.time(), kind, strategy, json.dumps(payload, default=str), n))
        self._wrote(force=kind in ("breaker", "reload", "reload_rejected", "stop"))

    def order(self, strategy: str, client_order_id: Any, ts: int, side: str, qty: float, kind: str,
              reason: str) -> bool:
        """Record an order; False when that order (strategy, number) is already recorded."""
        cur = self._write("INSERT OR IGNORE INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (self.run, strategy, order_seq(client_order_id), ts, side, qty, kind, reason,
                           str(client_order_id)))
        self._wrote()
        return cur is None or cur.rowcount == 1

    def fill(self, strategy: str, client_order_id: Any, filled: float, ts: int, side: str, qty: float, price: float,
             reason: str) -> bool:
        """Record a fill (``filled``: the order's filled quantity after it); False when already there."""
        cur = self._write("INSERT OR IGNORE INTO fills VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                          (self.run, strategy, order_seq(client_order_id), filled, ts, side, qty, price, reason))
        self._wrote(force=True)
        return cur is None or cur.rowcount == 1

    def equity(self, ts: int, equity: float, regime: str | None) -> None:
        self._write("INSERT OR REPLACE INTO equity VALUES (?, ?, ?, ?)", (self.run, ts, equity, regime))
        self._wrote()

    def bar(self, bar_type: str, ts: int, o: float, h: float, lo: float, c: float, v: float) -> None:
        """A bar the node handled (the parity ledger re-runs them in the backtest engine)."""
        self._write("INSERT OR IGNORE INTO bars VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (self.run, bar_type, ts, o, h, lo, c, v))
        self._wrote()

    def model(self, ts: int | None, spec: str, trained_at: int, rows: int, data_sha: str, blob: bytes,
              window: tuple[int, int]) -> None:
        """A model a strategy trained (its spec, the bar index it was trained at, its training
        window as bar indices [train_from, train_to), the hash of its training rows and labels, the
        model itself)."""
        start, stop = window
        self._write("INSERT OR IGNORE INTO models (run, ts, spec, trained_at, rows, data_sha, model, train_from, "
                        "train_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (self.run, ts, spec, trained_at, rows, data_sha, blob, start, stop))
        self._wrote(force=True)

    def version(self, path: str, text: str) -> str:
        """Record a document version as applied; returns its hash."""
        path = str(Path(path).resolve())
        sha = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        last = self.db.execute("SELECT sha FROM versions WHERE path = ? ORDER BY id DESC LIMIT 1", (path,)).fetchone()
        if last is None or last[0] != sha:
            self._write("INSERT INTO versions (path, sha, text, wall) VALUES (?, ?, ?, ?)",
                            (path, sha, text, time.time()))
            self._wrote(force=True)
        return sha

    def progress(self, ts: int) -> None:
        """The bar at ``ts`` is fully handled. Never moves back: re-running the bars a killed run had
        handled does not forget how far it got (a second kill during them resumes from there)."""
        self.set("last_bar", max(ts, self.catch_up_until))

    def set(self, key: str, value: Any) -> None:
        self._write("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, json.dumps(value)))
        self._wrote()

    def take_commands(self) -> list[tuple[int, str]]:
        """Operator commands queued by another process (``autobot serve``) and not yet done."""
        return [(int(i), str(c)) for i, c in
                self.db.execute("SELECT id, command FROM commands WHERE done = 0 ORDER BY id").fetchall()]

    def answer(self, command_id: int, reply: str) -> None:
        self._write("UPDATE commands SET done = 1, reply = ? WHERE id = ?", (reply, command_id))
        self._wrote(force=True)

    def finish(self) -> None:
        """The run ended normally: the next start begins a new run instead of resuming this one."""
        self.set("finished", self.run)
        self.commit()

    def close(self) -> None:
        try:
            self.commit()
        finally:
            try:
                if self.failed is None and self.db.in_transaction:
                    self.db.execute("COMMIT")
            except sqlite3.Error:
                pass
            self.db.close()
            if self._lock is not None:
                self._lock.close()            # releases the flock
                self._lock = None

    # ------------------------------------------------------------------ reading
    def get(self, key: str, default: Any = None) -> Any:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def fills(self) -> list[tuple]:
        return self.db.execute("SELECT strategy, seq, filled, ts, side, qty, price, reason FROM fills WHERE run = ? "
                               "ORDER BY ts, strategy, seq, filled", (self.run,)).fetchall()

    def orders(self) -> list[tuple]:
        return self.db.execute("SELECT strategy, seq, ts, side, qty, kind, reason FROM orders WHERE run = ? "
                               "ORDER BY strategy, seq", (self.run,)).fetchall()

    def events(self, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT ts, wall, kind, strategy, payload FROM events WHERE run = ? ORDER BY id",
                               (self.run,)).fetchall()
        wanted = set(kinds) if kinds is not None else None
        return [{"ts": ts, "wall": wall, "kind": kind, "strategy": strategy, **json.loads(payload)}
                for ts, wall, kind, strategy, payload in rows if wanted is None or kind in wanted]

    def versions(self, path: str | None = None) -> list[tuple]:
        path = str(Path(path).resolve()) if path else None
        sql = "SELECT id, path, sha, text, wall FROM versions"
        rows = self.db.execute(sql + (" WHERE path = ?" if path else "") + " ORDER BY id", (path,) if path else ())
        return rows.fetchall()

    def positions(self) -> dict[str, float]:
        """Net position per strategy from the recorded fills."""
        out: dict[str, float] = {}
        for strategy, _, _, _, side, qty, _, _ in self.fills():
            out[strategy] = out.get(strategy, 0.0) + (qty if side == "BUY" else -qty)
        return {k: round(v, 12) for k, v in out.items()}



def _add_training_window(db: sqlite3.Connection) -> None:
    """A store written before models had their training window gains the two columns (empty for
    the models already in it)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(models)")}
    for name in ("train_from", "train_to"):
        if name not in columns:
            db.execute(f"ALTER TABLE models ADD COLUMN {name} INTEGER")     # fixed names, no user text


def _add_event_numbers(db: sqlite3.Connection) -> None:
    """Events are numbered within their bar and kind, and written once (a store written before gains
    the column, empty for the events already in it)."""
    if "n" not in {row[1] for row in db.execute("PRAGMA table_info(events)")}:
        db.execute("ALTER TABLE events ADD COLUMN n INTEGER")          # fixed name, no user text
    db.execute(EVENTS_ONCE)


def _set_aside_older_layout(path: Path) -> None:
    """A state file written by an older AutoBot (no run numbers) is renamed, not mixed in."""
    if not path.is_file():
        return
    db = sqlite3.connect(str(path))
    try:
        columns = [row[1] for row in db.execute("PRAGMA table_info(events)")]
    finally:
        db.close()
    if columns and "run" not in columns:
        aside = path.with_name(f"{path.name}.older-{int(time.time())}")
        for suffix in ("", "-wal", "-shm"):
            old = Path(str(path) + suffix)
            if old.exists():
                old.rename(Path(str(aside) + suffix))


def queue_command(path: str | Path, command: str, timeout: float = 10.0) -> int:
    """Queue an operator command for the node writing this store (it runs it at its next bar);
    returns its id. Raises :class:`StateStoreError` when the store cannot take it."""
    if len(command) > 200 or command.split(" ")[0] not in COMMANDS:
        raise StateStoreError(f"unknown command {command!r}", "use one of " + ", ".join(COMMANDS))
    _refuse_foreign(Path(path))
    try:
        db = sqlite3.connect(str(path), timeout=timeout)
        try:
            db.executescript(SCHEMA)
            cur = db.execute("INSERT INTO commands (wall, command) VALUES (?, ?)", (time.time(), command))
            db.commit()
            return int(cur.lastrowid or 0)
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StateStoreError(f"the state store {path} cannot take a command ({exc})",
                              "retry in a moment (the node commits at every bar)") from None


def command_reply(path: str | Path, command_id: int) -> str | None:
    db = open_readonly(path)
    try:
        row = db.execute("SELECT done, reply FROM commands WHERE id = ?", (command_id,)).fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        db.close()
    return row[1] if row and row[0] else None


def read_policy(db: sqlite3.Connection) -> tuple[str, str] | None:
    """The policy the node ran: its path and the text last applied (None in a store written before
    the policy was recorded)."""
    row = db.execute("SELECT value FROM meta WHERE key = 'policy'").fetchone()
    if row is None:
        return None
    path = json.loads(row[0])
    text = db.execute("SELECT text FROM versions WHERE path = ? ORDER BY id DESC LIMIT 1", (path,)).fetchone()
    return (path, text[0]) if text else None


def recorded_policy(path: Path) -> tuple[str, str] | None:
    """:func:`read_policy` of the store at ``path`` (opened read-only, closed again)."""
    db = open_readonly(path)
    try:
        return read_policy(db)
    finally:
        db.close()


def read_meta(db: sqlite3.Connection, key: str) -> Any:
    """A value the node set in the store's meta table (None when unset or unreadable)."""
    row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    try:
        return json.loads(row[0]) if row else None
    except (TypeError, ValueError):
        return None


def read_run(db: sqlite3.Connection) -> int:
    """The latest run: the node running now, or the last one."""
    row = db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
    return json.loads(row[0]) if row else 0


def read_equity(db: sqlite3.Connection, run: int) -> list[tuple[int, float, str | None]]:
    """(ts, equity, regime) of every bar of ``run``, in time order."""
    return db.execute("SELECT ts, equity, regime FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()


def read_fills(db: sqlite3.Connection, run: int) -> list[tuple]:
    """(strategy, ts, side, qty, price, reason) of every fill of ``run``, in time order."""
    return [tuple(r) for r in db.execute("SELECT strategy, ts, side, qty, price, reason FROM fills WHERE run = ? "
                                         "ORDER BY ts, seq", (run,)).fetchall()]


def read_bars(db: sqlite3.Connection, run: int) -> dict[str, list[tuple]]:
    """bar type -> (ts, open, high, low, close, volume) of every bar ``run`` handled, in time order."""
    out: dict[str, list[tuple]] = {}
    try:
        rows = db.execute("SELECT bar_type, ts, open, high, low, close, volume FROM bars WHERE run = ? "
                          "ORDER BY bar_type, ts", (run,)).fetchall()
    except sqlite3.OperationalError:        # a store written before bars were journaled
        return out
    for bar_type, *row in rows:
        out.setdefault(bar_type, []).append(tuple(row))
    return out


def read_events(db: sqlite3.Connection, run: int, wall: bool = False) -> list[dict[str, Any]]:
    """Every event of ``run`` in the order written, its payload's keys beside ts, kind and strategy
    (and the wall-clock time it was written, with ``wall``)."""
    out = []
    for ts, at, kind, strategy, payload in db.execute(
            "SELECT ts, wall, kind, strategy, payload FROM events WHERE run = ? ORDER BY id", (run,)):
        event = {"ts": ts, "wall": at} if wall else {"ts": ts}
        out.append({**event, "kind": kind, "strategy": strategy, **json.loads(payload or "{}")})
    return out


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """A read-only connection (``autobot status`` beside a running node). A store on a read-only
    disk or folder (where SQLite cannot create the WAL index) is read as immutable instead.
    Raises :class:`StateStoreError` for a file that is not a state store."""
    for uri in (f"file:{Path(path)}?mode=ro", f"file:{Path(path)}?mode=ro&immutable=1"):
        try:
            db = sqlite3.connect(uri, uri=True)
            db.execute("SELECT COUNT(*) FROM meta").fetchone()
            if not is_store(db):
                db.close()
                raise StateStoreError(f"{path} is not an AutoBot state store (another program's SQLite database)",
                                      "pass the --state file an 'autobot live' run wrote")
            return db
        except sqlite3.OperationalError as exc:
            last: Exception = exc
            if "no such table" in str(exc):
                break
        except sqlite3.DatabaseError as exc:
            last = exc
            break
    raise StateStoreError(f"{path} cannot be read as a state store ({last})",
                          "pass the --state file an 'autobot live' run wrote")
