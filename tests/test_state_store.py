"""The state store cannot lose what it holds (issue 26): ``--fresh`` only sets aside an AutoBot
store that no node holds, another program's SQLite file is never touched, and every journal write
is idempotent across resumes (a second kill while re-running handled bars duplicates nothing)."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.persistence.journal import Journal, StateStoreError, read_events
from tests.helpers import ROOT

DATA = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def _live(state: Path, *extra: str) -> object:
    return CliRunner().invoke(app, ["live", "--policy", str(ROOT / "policy.yaml"), "--replay", str(DATA),
                                    "--state", str(state), *extra])


def _foreign(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE meta (key TEXT, value TEXT)")       # another program's: it has a meta table too
    db.execute("CREATE TABLE invoices (id INTEGER, amount REAL)")
    db.execute("INSERT INTO meta VALUES ('owner', 'accounting')")
    db.commit()
    db.close()


def test_fresh_never_touches_a_file_that_is_not_a_store(tmp_path: Path) -> None:
    doc = tmp_path / "momentum.yaml"
    shutil.copy(ROOT / "strategies" / "momentum.yaml", doc)
    before = doc.read_bytes()
    out = _live(doc, "--fresh")
    assert out.exit_code == 1 and "is not an AutoBot state store (not an SQLite file); nothing was changed" \
        in out.output, out.output
    assert doc.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["momentum.yaml"]
    folder = tmp_path / "dir"
    folder.mkdir()
    out = _live(folder, "--fresh")
    assert out.exit_code == 1 and "is not a file; nothing was changed" in out.output and "Traceback" not in out.output
    other = tmp_path / "other.sqlite"
    _foreign(other)
    out = _live(other, "--fresh")
    assert out.exit_code == 1 and "is another program's SQLite database (tables: invoices, meta)" in out.output
    out = _live(other)
    assert out.exit_code == 1 and "nothing was changed" in out.output
    db = sqlite3.connect(other)
    assert sorted(r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")) == \
        ["invoices", "meta"]                      # no table of ours added to it
    db.close()


def test_status_and_serve_refuse_another_programs_database(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    _foreign(other)
    shown = CliRunner().invoke(app, ["status", "--state", str(other)])
    assert shown.exit_code in (1, 2) and "is not an AutoBot state store" in shown.output, shown.output
    assert "Traceback" not in shown.output
    from fastapi.testclient import TestClient

    from autobot.serve.app import make_app
    client = TestClient(make_app(other), base_url="http://127.0.0.1")
    r = client.get("/api/v1/status")
    assert r.status_code != 500 and "is not an AutoBot state store" in r.text, (r.status_code, r.text)


def test_fresh_takes_the_lock_first_and_sets_the_store_aside(tmp_path: Path) -> None:
    state = tmp_path / "s.sqlite"
    holder = Journal(state)
    holder.lock()
    holder.begin()
    holder.equity(1, 100.0, None)
    holder.commit()
    try:
        out = _live(state, "--fresh")
        assert out.exit_code == 1 and f"is in use by process {os.getpid()}" in out.output, out.output
        assert state.exists()                        # the other node's store is untouched
        holder.equity(2, 101.0, None)                # and it still writes into the same file
        holder.commit()
        db = sqlite3.connect(state)
        assert db.execute("SELECT COUNT(*) FROM equity").fetchone()[0] == 2
        db.close()
    finally:
        holder.close()
    from autobot.persistence.journal import set_aside_for_fresh
    aside, handle = set_aside_for_fresh(state)
    try:
        assert aside is not None and aside.exists() and not state.exists()
        assert aside.name.startswith("s.sqlite.fresh-")
        db = sqlite3.connect(aside)
        assert db.execute("SELECT COUNT(*) FROM equity").fetchone()[0] == 2      # set aside whole, not deleted
        db.close()
        with pytest.raises(StateStoreError, match="in use by"):
            Journal(state).lock()                     # the lock is held for the new store
    finally:
        handle.close()


def test_journal_writes_are_idempotent_across_resumes(tmp_path: Path) -> None:
    """Killed after bar 10; restarted, killed again at bar 5 of the re-run; restarted again: the
    second restart still resumes after bar 10, and no event is written twice."""
    state = tmp_path / "s.sqlite"

    def node(upto: int, kill: bool) -> Journal:
        j = Journal(state)
        j.lock()
        j.begin("same")
        for ts in range(1, upto + 1):
            j.event("regime_switch", ts, regime="trending")
            j.event("challenge_check", ts, "trend", failed=[])
            j.event("challenge_check", ts, "trend", failed=["second of the bar"])
            j.progress(ts)
            j.commit()
        if kill:                                   # SIGKILL: nothing more is written, the lock goes with the process
            j._lock.close()
            j.db.close()
        return j

    node(10, kill=True)
    second = node(5, kill=True)
    assert second.catch_up_until == 10
    third = node(12, kill=False)
    assert third.catch_up_until == 10                # the progress did not move back at the second kill
    third.finish()
    third.close()
    db = sqlite3.connect(state)
    events = [e for e in read_events(db, 1) if e["kind"] != "recovery"]
    db.close()
    keys = [(e["ts"], e["kind"], e["strategy"], str(e.get("failed"))) for e in events]
    assert len(keys) == len(set(keys)) == 12 * 3
    # an event written again for a bar already journaled (an older store's progress) is ignored
    j = Journal(state)
    j.run, j.catch_up_until = 1, -1
    j.event("regime_switch", 3, regime="trending")     # the bar's first: already there, ignored
    j.event("regime_switch", 3, regime="trending")     # the bar's second: a new event
    j.commit()
    db = sqlite3.connect(state)
    assert db.execute("SELECT COUNT(*) FROM events WHERE run = 1 AND ts = 3 AND kind = 'regime_switch'"
                      ).fetchone()[0] == 2
    db.close()
    j.close()


@pytest.mark.slow
def test_a_full_disk_flattens_halts_says_so_and_exits_non_zero(tmp_path: Path) -> None:
    """The store on a 512 KiB tmpfs (issue 26: a traceback, then the node sat idle until killed)."""
    import subprocess
    import sys
    mnt = tmp_path / "small"
    mnt.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"a full disk needs a small tmpfs, and mount was refused here: {mounted.stderr.decode()[:200]} "
                    "(CI runs as root and has it)")
    try:
        started = __import__("time").monotonic()
        out = subprocess.run([sys.executable, "-m", "autobot.cli.main", "live", "--policy", str(ROOT / "policy.yaml"),
                              "--replay", str(DATA), "--state", str(mnt / "s.sqlite")], capture_output=True, text=True,
                             timeout=300)
        took = __import__("time").monotonic() - started
        assert out.returncode == 1, (out.returncode, out.stderr[-2000:])
        assert "Traceback" not in out.stderr, out.stderr[-3000:]
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith("error: the replay failed: the state store") and "full" in last, last
        assert "every position flattened and trading stopped" in last
        assert took < 240
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
