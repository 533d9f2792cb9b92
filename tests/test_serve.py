"""``autobot serve``: the API against a real uvicorn server on 127.0.0.1, the token outside
loopback, operator commands reaching a running node, and the page in headless Chromium."""

from __future__ import annotations

import json
import shutil
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT

DATA = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def _project(tmp: Path) -> Path:
    for name in ("regimes", "strategies"):
        shutil.copytree(ROOT / name, tmp / name)
    policy = tmp / "policy.yaml"
    policy.write_text((ROOT / "policy.yaml").read_text().replace("  max_drawdown: 5%", "  max_drawdown: 50%"))
    return policy


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """uvicorn serving the app in a thread."""

    def __init__(self, state: Path, host: str = "127.0.0.1", token: str | None = None) -> None:
        import uvicorn

        from autobot.serve.app import make_app
        self.port = _free_port()
        self.server = uvicorn.Server(uvicorn.Config(make_app(state, token), host=host, port=self.port,
                                                    log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "the server did not start"
            time.sleep(0.05)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def get(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            body = r.read()
            return r.status, json.loads(body) if r.headers.get_content_type() == "application/json" else body
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Server]]:
    tmp = tmp_path_factory.mktemp("serve")
    policy = _project(tmp)
    r = CliRunner().invoke(app, ["live", "--policy", str(policy), "--replay", str(DATA), "--speed", "max",
                                 "--state", str(tmp / "s.sqlite")])
    assert r.exit_code == 0, r.output
    server = Server(tmp / "s.sqlite")
    yield tmp / "s.sqlite", server
    server.stop()


def test_the_api_reads_a_finished_run(finished: tuple[Path, Server]) -> None:
    state, server = finished
    db = sqlite3.connect(state)
    run = json.loads(db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()[0])
    eq = db.execute("SELECT ts, equity FROM equity WHERE run = ? ORDER BY ts", (run,)).fetchall()
    n_fills = db.execute("SELECT COUNT(*) FROM fills WHERE run = ?", (run,)).fetchone()[0]
    db.close()
    code, health = get(server.url("/api/v1/health"))
    assert code == 200 and health["ok"] and health["state"] == "finished"
    _, status = get(server.url("/api/v1/status"))
    assert status["equity"] == pytest.approx(eq[-1][1]) and status["bar"] == eq[-1][0]
    _, trades = get(server.url("/api/v1/trades?limit=5"))
    assert trades["count"] == n_fills and len(trades["fills"]) == 5
    _, profit = get(server.url("/api/v1/profit"))
    assert profit["pnl"] == pytest.approx(eq[-1][1] - eq[0][1])
    _, daily = get(server.url("/api/v1/daily?days=10000"))
    assert len(daily["days"]) == len({ts // 86_400_000_000_000 for ts, _ in eq})
    _, perf = get(server.url("/api/v1/performance"))
    assert perf["risk"]["days"] == len(daily["days"])
    _, regimes = get(server.url("/api/v1/regimes"))
    assert sum(regimes["share"].values()) == pytest.approx(1.0) and regimes["switches"]
    for path in ("/api/v1/challenge", "/api/v1/reloads", "/api/v1/logs"):
        assert get(server.url(path))[0] == 200
    code, refused = get(server.url("/api/v1/stop"), "POST")
    assert code == 409 and "finished" in refused["detail"]
    _, curve = get(server.url("/api/v1/equity?points=50"))
    assert curve["equity"][-1] == pytest.approx(eq[-1][1]) and len(curve["ts"]) <= 120


def _outside_address() -> str | None:
    """An address of this machine that is not loopback (the token applies to requests from it)."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        if not addr.startswith("127."):
            return addr
    return None


def test_a_token_is_required_from_outside_loopback(finished: tuple[Path, Server]) -> None:
    state, _ = finished
    refused = CliRunner().invoke(app, ["serve", "--state", str(state), "--host", "0.0.0.0",
                                       "--token-env", "AUTOBOT_TEST_NO_SUCH_TOKEN"])
    assert refused.exit_code == 2 and "token" in refused.output
    addr = _outside_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address to send a request from")
    server = Server(state, host="0.0.0.0", token="s3cret")
    try:
        assert get(server.url("/api/v1/health"))[0] == 200                         # loopback: no token
        assert get(server.url("/api/v1/health", addr))[0] == 401                   # outside: refused
        assert get(server.url("/api/v1/health", addr), headers={"Authorization": "Bearer nope"})[0] == 401
        assert get(server.url("/api/v1/health", addr), headers={"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        server.stop()


@pytest.mark.slow
def test_pause_and_stop_reach_a_running_node(tmp_path: Path) -> None:
    """A replayed node trades; the API's pause and stop are queued in its store and run by the
    node at its next bar: after /stop it is flat and never enters again."""
    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay
    policy = _project(tmp_path)
    state = tmp_path / "s.sqlite"
    bars = load_bars(DATA).slice(0, 450)
    server = Server(state)
    replies: dict[str, Any] = {}

    def operator() -> None:                  # another "process": HTTP only
        deadline = time.time() + 120
        while time.time() < deadline:
            code, st = get(server.url("/api/v1/status"))
            if code == 200 and st["state"] == "running" and st["fills"] >= 4:
                break
            time.sleep(0.1)
        for name in ("pause", "resume", "stop"):
            replies[name] = get(server.url(f"/api/v1/{name}"), "POST")
    helper = threading.Thread(target=operator, daemon=True)
    helper.start()
    try:                                     # the node runs in the main thread (signal handlers)
        run = run_replay(policy, {"BTCUSDT.BINANCE": bars}, speed=3600 * 40.0, state=state)
        helper.join(30)
    finally:
        server.stop()
    for name, prefix in (("pause", "paused"), ("resume", "resumed"), ("stop", "stopped")):
        code, body = replies[name]
        assert code == 200 and (body.get("reply") or "").startswith(prefix), (name, body)
    result = run.result
    kill = [t for t in result.trips if t["reason"] == "kill_switch"]
    assert len(kill) == 1
    assert not any(t["entry_ts"] > kill[0]["ts"] for t in result.trades)
    assert all(t["exit_reason"] != "open" for t in result.trades)


def test_the_page_renders_the_node_in_chromium(finished: tuple[Path, Server], tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (.ci/run installs Debian's chromium)")
    state, server = finished
    _, status = get(server.url("/api/v1/status"))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", server.url("/")], capture_output=True, text=True,
                         timeout=120).stdout
    assert 'id="state" class="sub">finished' in dom
    assert f'id="regime">{status["regime"]}<' in dom
    shown = dom.split('id="equity">', 1)[1].split("<", 1)[0]
    assert float(shown.replace(",", "")) == pytest.approx(status["equity"], abs=0.01)
    assert "main-svg" in dom                                    # plotly drew the equity chart, offline
    _, ch = get(server.url("/api/v1/challenge"))
    assert ch["stage"] is not None and f'id="stage">{ch["stage"]} ({round(100 * ch["capital"])}% capital)<' in dom
    shot = tmp_path / "dashboard.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", "--window-size=1200,900", server.url("/")],
                   capture_output=True, timeout=120)
    assert shot.exists() and shot.stat().st_size > 10_000
    assert np.isfinite(status["equity"])
