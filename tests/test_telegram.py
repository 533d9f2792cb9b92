"""Telegram: real HTTP to a local Bot API server on 127.0.0.1 (no mock objects)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from autobot.notify.telegram import Notifier
from tests.helpers import ROOT

TOKEN = "123:TEST"
CHAT = 4242


class BotApi:
    """A tiny Bot API: getMe, sendMessage, getUpdates (updates queued by the test)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = []
        self.delay = delay
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length).decode()
                kind = self.headers.get("Content-Type", "")
                body = json.loads(raw) if "json" in kind else {k: v[0] for k, v in parse_qs(raw).items()}
                method = self.path.rsplit("/", 1)[-1]
                with api.lock:
                    api.requests.append((method, body))
                if api.delay:
                    time.sleep(api.delay)
                result: Any
                if method == "getMe":
                    result = {"id": 1, "is_bot": True, "first_name": "AutoBot", "username": "autobot_test_bot"}
                elif method == "sendMessage":
                    result = {"message_id": len(api.requests), "date": 0,
                              "chat": {"id": int(body["chat_id"]), "type": "private"}, "text": body["text"]}
                elif method == "getUpdates":
                    with api.lock:
                        result, api.updates = api.updates, []
                    if not result:
                        time.sleep(0.05)
                else:
                    result = True
                data = json.dumps({"ok": True, "result": result}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/bot"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def say(self, text: str, chat: int = CHAT) -> None:
        with self.lock:
            n = len(self.updates) + len(self.requests) + 1
            self.updates.append({"update_id": n, "message": {"message_id": n, "date": 0, "text": text,
                                                             "chat": {"id": chat, "type": "private"}}})

    def sent(self) -> list[str]:
        with self.lock:
            return [body["text"] for method, body in self.requests if method == "sendMessage"]

    def close(self) -> None:
        self.server.shutdown()


def wait(predicate: Any, seconds: float = 10.0) -> None:
    deadline = time.time() + seconds
    while not predicate():
        assert time.time() < deadline, "timed out"
        time.sleep(0.05)


def test_messages_and_commands_from_the_configured_chat_only() -> None:
    api = BotApi()
    commands: list[str] = []
    notifier = Notifier(TOKEN, CHAT, api.url, on_command=lambda c: commands.append(c) or f"did {c}").start()
    try:
        notifier.send("hello")
        wait(lambda: "hello" in api.sent())
        api.say("/status")
        api.say("/stop", chat=999)                       # a stranger: ignored
        api.say("/pause")
        wait(lambda: "did /pause" in api.sent())
        assert commands == ["/status", "/pause"]
        assert "did /status" in api.sent()
        api.say("/launch")
        wait(lambda: any(t.startswith("unknown command /launch") for t in api.sent()))
        sends = [(m, b) for m, b in api.requests if m == "sendMessage"]
        assert all(str(b["chat_id"]) == str(CHAT) for _, b in sends)
        assert all(path.startswith(("getMe", "sendMessage", "getUpdates")) for path, _ in api.requests)
    finally:
        notifier.close()
        api.close()


def test_a_slow_or_down_telegram_never_blocks() -> None:
    api = BotApi(delay=3.0)
    notifier = Notifier(TOKEN, CHAT, api.url, poll=False, timeout=1.0).start()
    try:
        t0 = time.perf_counter()
        for k in range(2000):
            notifier.send(f"message {k}")
        assert time.perf_counter() - t0 < 0.5            # queued, not sent inline
        assert notifier.dropped > 0                       # the bounded queue sheds the oldest
    finally:
        notifier.close(flush_seconds=0.5)
        api.close()
    down = Notifier(TOKEN, CHAT, "http://127.0.0.1:9/bot", poll=False, timeout=0.5).start()
    import logging
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())    # type: ignore[method-assign]
    logging.getLogger("autobot.telegram").addHandler(handler)
    try:
        for k in range(3):
            down.send(f"nobody listens {k}")
        wait(lambda: down.failed >= 3)
    finally:
        logging.getLogger("autobot.telegram").removeHandler(handler)
        down.close()
    # one warning for the outage, not one a message
    assert len([m for m in seen if "send failed" in m]) == 1 and "1 in a row" in seen[0]


@pytest.mark.slow
def test_live_node_notifies_and_obeys_stop(tmp_path: Path) -> None:
    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay

    api = BotApi()
    notifier = Notifier(TOKEN, CHAT, api.url)
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    state = tmp_path / "state.sqlite"
    stopped: list[int] = []

    def on_bar(bar: Any) -> None:
        if len(stopped) == 0 and len(api.sent()) > 10:   # the node is trading and talking: stop it
            stopped.append(bar.ts_event)
            api.say("/stop")
    run = run_replay(ROOT / "policy.yaml", {"BTCUSDT.BINANCE": bars}, speed=36_000.0 * 30, on_bar=on_bar,
                     state=state, notifier=notifier)
    api.close()
    sent = api.sent()
    assert sent[0].startswith("AutoBot paper node started")
    assert any(t.startswith("regime ") for t in sent)
    assert any("(entry." in t for t in sent)
    kill = [t for t in run.result.trips if t["reason"] == "kill_switch"]
    assert len(kill) == 1 and "stopped: positions flattened, trading halted" in sent
    assert not any(t["entry_ts"] > kill[0]["ts"] for t in run.result.trades)   # nothing after /stop
    assert all(t["exit_reason"] != "open" for t in run.result.trades)          # the book is flat


def test_the_bot_token_never_reaches_the_log(caplog) -> None:
    import logging
    notifier = Notifier(TOKEN, CHAT, "http://127.0.0.1:9/bot", poll=False, timeout=0.5)
    leaked = RuntimeError(f"401 Unauthorized for url http://127.0.0.1:9/bot{TOKEN}/sendMessage: "
                          f"{{'description': 'token {TOKEN} revoked'}}")
    text = notifier.redact(leaked)
    assert TOKEN not in text and TOKEN.split(":")[0] not in text and "<token>" in text
    with caplog.at_level(logging.WARNING):
        notifier.start()
        notifier.send("nobody listens")
        wait(lambda: notifier.failed >= 1)
        notifier.close()
    assert caplog.records and all(TOKEN not in r.getMessage() for r in caplog.records)


def test_daily_summaries_and_weekly_digests(tmp_path: Path) -> None:
    """A replayed node sends one daily summary per UTC day boundary and one weekly digest per
    Monday boundary, each with the equity of the period's last close, computed here from the
    node's own equity curve."""
    import datetime as dt

    import numpy as np

    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay

    for name in ("regimes", "strategies"):
        import shutil
        shutil.copytree(ROOT / name, tmp_path / name)
    policy = tmp_path / "policy.yaml"
    policy.write_text((ROOT / "policy.yaml").read_text().replace("  max_drawdown: 5%", "  max_drawdown: 50%"))
    api = BotApi()
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    run = run_replay(policy, {"BTCUSDT.BINANCE": bars}, speed=1e9, state=tmp_path / "s.sqlite",
                     notifier=Notifier(TOKEN, CHAT, api.url))
    wait(lambda: any(t.startswith("weekly digest") for t in api.sent()) and
         len([t for t in api.sent() if t.startswith("daily summary")]) >= 100)
    api.close()
    sent = api.sent()
    ts = np.asarray(run.result.equity_ts)
    eq = np.asarray(run.result.equity)
    days = ts // (86_400 * 10**9)
    weeks = (days + 3) // 7
    assert len([t for t in sent if t.startswith("daily summary")]) == len(np.unique(days)) - 1
    digests = [t for t in sent if t.startswith("weekly digest")]
    assert len(digests) == len(np.unique(weeks)) - 1
    # the first digest: the week's last close over the equity before the week's first bar
    first_week = weeks[0]
    end = eq[weeks == first_week][-1]
    monday = dt.date(1970, 1, 1) + dt.timedelta(days=int(first_week) * 7 - 3)
    year, number, _ = monday.isocalendar()
    assert digests[0].startswith(f"weekly digest {year}-W{number:02d}: equity {end:,.2f}")


@pytest.mark.slow
def test_challenge_commands_and_transitions_reach_telegram(tmp_path: Path) -> None:
    """'/challenge demote' from the chat demotes the running portfolio at the next bar; the
    transition is notified with its reason and journaled."""
    from autobot.data.bars import load_bars
    from autobot.live.node import run_replay
    from autobot.persistence.journal import Journal

    api = BotApi()
    notifier = Notifier(TOKEN, CHAT, api.url)
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    asked: list[int] = []

    def on_bar(bar: Any) -> None:
        if not asked and len(api.sent()) > 1:
            asked.append(bar.ts_event)
            api.say("/challenge demote portfolio")
    state = tmp_path / "state.sqlite"
    run_replay(ROOT / "policy.yaml", {"BTCUSDT.BINANCE": bars}, speed=36_000.0 * 50, on_bar=on_bar, state=state,
               notifier=notifier)
    api.close()
    sent = api.sent()
    assert "portfolio: demoted (capital 0%)" in sent                       # the command's reply
    moved = [t for t in sent if t.startswith("challenge portfolio: paper -> demoted (demoted by the operator")]
    assert len(moved) == 1
    j = Journal(state)
    manual = [e for e in j.events(["challenge"]) if e["reason"] == "demoted by the operator"]
    j.close()
    assert len(manual) == 1 and manual[0]["ts"] >= asked[0]
