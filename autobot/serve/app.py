"""``autobot serve``: a read API over a node's state store, in the spirit of Freqtrade's REST API
(``/api/v1/...``), plus pause/resume/stop, and one offline web page that follows the node.

* Works on a running node's store (read beside it, WAL) and on a finished run's.
* Bound to 127.0.0.1 by default. A request from anywhere but loopback needs the token
  (``Authorization: Bearer <token>``); ``autobot serve`` refuses to bind another address without
  one.
* No web page can drive it: the ``Host`` header must be a loopback name, an IP address or a name
  the operator allowed (a DNS-rebinding page's own name is refused, 421); every state-changing
  request (pause, resume, stop, anything later) needs the command token in a header a form cannot
  send (``X-AutoBot-Token``, or the ``Authorization`` bearer), also on loopback, is refused with a
  simple form's content type (415) and with any ``Origin`` but the server's own (403; a
  ``file://`` page sends ``null``). The dashboard gets the token inside its own page, which
  another origin cannot read.
* pause/resume/stop are queued in the store's ``commands`` table; the node runs each at its next
  bar (exactly as the Telegram commands) and writes the reply, which the API waits for (a few
  seconds at most).
* ``/api/v1/universe``: per instrument and per sleeve PnL, positions, weights over time, risk
  shares, cash and realised volatility of a node trading more than one instrument
  (:mod:`autobot.report.universe_view`); the page shows it as its universe panel.
* The page (``/``) uses plotly.js served by this app from the installed plotly package: no CDN,
  it works offline.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from autobot.persistence.journal import (StateStoreError, command_reply, open_readonly, queue_command, read_equity,
                                         read_events, read_fills, read_run)
from autobot.persistence.status import summary
from autobot.report.analytics import DAY_NS, daily_returns, days_per_year, realized_by_strategy, risk_metrics
from autobot.report.journal_report import day_text, regime_share
from autobot.serve.universe import UniverseCache

LOOPBACK = {"127.0.0.1", "::1", "localhost", "testclient"}
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
#: the content types a cross-site HTML form (or a "simple" fetch) can send without a preflight
SIMPLE_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain")


def host_name(header: str) -> str:
    """The name in a ``Host`` header (``name:port``, ``[v6]:port``), lower case."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1:].split("]", 1)[0]
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _read(path: Path, what: Any) -> Any:
    """``what(db, run)`` on a read-only connection to the store, for its latest run."""
    db = open_readonly(path)
    try:
        return what(db, read_run(db))
    finally:
        db.close()


def _events(path: Path, kinds: tuple[str, ...] | None = None, limit: int = 200) -> list[dict[str, Any]]:
    """The last ``limit`` events (of ``kinds``), oldest first."""
    from autobot.report.events import describe
    events = _read(path, lambda db, run: read_events(db, run, wall=True))
    return [{**e, "text": describe(e)} for e in events if kinds is None or e["kind"] in kinds][-limit:]


def make_app(state: Path, token: str | None = None, allowed_hosts: set[str] | None = None,
             reply_wait: float = 15.0) -> FastAPI:
    """The API and the page over the store at ``state``. ``token``: the one requests from outside
    loopback send, also the command token; without one, a random command token for this server
    (``app.state.command_token``). ``allowed_hosts``: host names served besides loopback names
    and IP addresses."""
    app = FastAPI(title="AutoBot", version="1", docs_url="/api/v1/docs", openapi_url="/api/v1/openapi.json")
    command_token = token or secrets.token_urlsafe(24)
    app.state.command_token = command_token
    app.state.refused = []                      # (path, status, why) of every command refused
    names = LOOPBACK_NAMES | {h.lower() for h in (allowed_hosts or set())}

    @app.middleware("http")
    async def only_our_host(request: Request, call_next: Any) -> Any:
        name = host_name(request.headers.get("host", ""))
        if name not in names and not _is_ip(name):
            return JSONResponse({"detail": f"host {name!r} is not served here (DNS rebinding?): use 127.0.0.1"},
                                status_code=421)
        return await call_next(request)

    def command_guard(request: Request) -> None:
        """State-changing requests: our token in a header, no form content type, our own origin."""
        try:
            _command_checks(request)
        except HTTPException as err:
            app.state.refused.append((request.url.path, err.status_code, str(err.detail)))
            raise

    def _command_checks(request: Request) -> None:
        kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if kind in SIMPLE_TYPES:
            raise HTTPException(415, f"a command is not a form ({kind}): send no body or application/json")
        origin = request.headers.get("origin")
        if origin is not None:
            own = {f"http://{request.headers.get('host', '').lower()}"}
            if origin.lower() not in own:
                raise HTTPException(403, f"a command from another origin ({origin}) is refused")
        given = request.headers.get("x-autobot-token", "")
        bearer = request.headers.get("authorization", "")
        if not (hmac.compare_digest(given, command_token) or hmac.compare_digest(bearer, f"Bearer {command_token}")):
            raise HTTPException(401, "a command needs the command token (header X-AutoBot-Token; the dashboard "
                                     "sends it; autobot serve printed it)")

    def guard(request: Request) -> None:
        host = request.client.host if request.client is not None else ""
        if host in LOOPBACK:
            return
        given = request.headers.get("authorization", "")
        if token is None or not hmac.compare_digest(given, f"Bearer {token}"):
            raise HTTPException(401, "a token is required from outside this machine (Authorization: Bearer ...)")

    def store() -> Path:
        if not state.is_file():
            raise HTTPException(503, f"no state store at {state} yet")
        return state

    def safe(fn: Any) -> Any:
        try:
            return fn()
        except StateStoreError as err:
            raise HTTPException(503, str(err)) from None

    api = [Depends(guard)]
    commands = [Depends(guard), Depends(command_guard)]

    @app.get("/api/v1/health", dependencies=api)
    def health() -> dict[str, Any]:
        p = store()
        st = safe(lambda: summary(p))
        return {"ok": True, "state": st["state"], "bar": st["bar"], "now": time.time()}

    @app.get("/api/v1/status", dependencies=api)
    def status() -> dict[str, Any]:
        p = store()
        return safe(lambda: summary(p))

    def equity(p: Path) -> tuple[np.ndarray, np.ndarray, list[Any]]:
        rows = _read(p, read_equity)
        return (np.array([r[0] for r in rows], dtype=np.int64), np.array([r[1] for r in rows], dtype=np.float64),
                [r[2] for r in rows])

    def fills(p: Path) -> list[tuple]:
        return _read(p, read_fills)

    @app.get("/api/v1/trades", dependencies=api)
    def trades(limit: int = 500) -> dict[str, Any]:
        f = safe(lambda: fills(store()))
        keys = ("strategy", "ts", "side", "qty", "price", "reason")
        return {"fills": [dict(zip(keys, r)) for r in f[-max(1, min(limit, 10_000)):]], "count": len(f)}

    @app.get("/api/v1/profit", dependencies=api)
    def profit() -> dict[str, Any]:
        p = store()
        ts, eq, _ = safe(lambda: equity(p))
        per = realized_by_strategy([r[:5] for r in safe(lambda: fills(p))])
        if len(eq) == 0:
            return {"equity": None, "strategies": per}
        return {"start_equity": float(eq[0]), "equity": float(eq[-1]), "pnl": float(eq[-1] - eq[0]),
                "return": float(eq[-1] / eq[0] - 1), "realized": sum(s["realized"] for s in per.values()),
                "strategies": per}

    @app.get("/api/v1/performance", dependencies=api)
    def performance(year_days: int | None = None) -> dict[str, Any]:
        p = store()
        ts, eq, _ = safe(lambda: equity(p))
        days, r = daily_returns(ts, eq)
        per_year = year_days if year_days in (252, 360, 365) else days_per_year(days)   # the backtests' rule
        return {"risk": risk_metrics(r, per_year),
                "strategies": realized_by_strategy([f[:5] for f in safe(lambda: fills(p))])}

    @app.get("/api/v1/daily", dependencies=api)
    def daily(days: int = 30) -> dict[str, Any]:
        p = store()
        ts, eq, _ = safe(lambda: equity(p))
        d, r = daily_returns(ts, eq)
        names = [day_text(int(x) * DAY_NS) for x in d]
        keep = slice(-max(1, min(days, 10_000)), None)
        return {"days": [{"day": n, "return": float(x)} for n, x in zip(names[keep], r[keep])]}

    @app.get("/api/v1/equity", dependencies=api)
    def equity_curve(points: int = 2000) -> dict[str, Any]:
        ts, eq, _ = safe(lambda: equity(store()))
        step = max(1, len(ts) // max(10, min(points, 20_000)))
        idx = np.r_[np.arange(0, len(ts), step), len(ts) - 1] if len(ts) else np.zeros(0, dtype=int)
        return {"ts": [int(x) for x in ts[idx]], "equity": [float(x) for x in eq[idx]]}

    @app.get("/api/v1/regimes", dependencies=api)
    def regimes() -> dict[str, Any]:
        p = store()
        _, _, names = safe(lambda: equity(p))
        return {"current": names[-1] if names else None, "share": regime_share(names),
                "switches": safe(lambda: _events(p, ("regime_switch",), 100))}

    @app.get("/api/v1/challenge", dependencies=api)
    def challenge() -> dict[str, Any]:
        p = store()
        ch = safe(lambda: summary(p))["challenge"]
        top = ch["stages"].get("portfolio", {})
        return {"stage": top.get("stage"), "capital": top.get("capital"), "stages": ch["stages"],
                "checks": ch["checks"], "transitions": safe(lambda: _events(p, ("challenge",), 100))}

    universe_cache = UniverseCache()

    @app.get("/api/v1/universe", dependencies=api)
    def universe(points: int = 400) -> dict[str, Any]:
        """Per instrument and per sleeve: PnL, position, weight, allocated weight, risk share; the
        cash, the realised volatility against the policy's target, the weights over time (about
        ``points`` times). ``universe`` is false for a node trading one instrument."""
        p = store()
        return safe(lambda: universe_cache.view(p, max(10, min(points, 5_000))))

    @app.get("/api/v1/reloads", dependencies=api)
    def reloads() -> dict[str, Any]:
        return {"reloads": safe(lambda: _events(store(), ("reload", "reload_rejected", "rollback", "apply"), 100))}

    @app.get("/api/v1/logs", dependencies=api)
    def logs(limit: int = 100, kind: str | None = None) -> dict[str, Any]:
        """The last events (``kind``: only these kinds, comma-separated)."""
        kinds = tuple(k.strip() for k in kind.split(",")[:20]) if kind else None
        return {"events": safe(lambda: _events(store(), kinds, max(1, min(limit, 5000))))}

    def command(text: str) -> dict[str, Any]:
        p = store()
        st = safe(lambda: summary(p))
        if st["state"] not in ("running", "paused"):
            raise HTTPException(409, f"the node is {st['state']}: there is no node to take {text}")
        cid = safe(lambda: queue_command(p, text))
        deadline = time.time() + reply_wait
        while time.time() < deadline:
            reply = command_reply(p, cid)
            if reply is not None:
                return {"command": text, "reply": reply}
            time.sleep(0.05)
        return {"command": text, "reply": None, "queued": cid,
                "note": "queued: the node runs it at its next bar"}

    @app.post("/api/v1/pause", dependencies=commands)
    def pause() -> dict[str, Any]:
        return command("/pause")

    @app.post("/api/v1/resume", dependencies=commands)
    def resume() -> dict[str, Any]:
        return command("/resume")

    @app.post("/api/v1/stop", dependencies=commands)
    def stop() -> dict[str, Any]:
        return command("/stop")

    @app.get("/static/plotly.min.js", dependencies=api)
    def plotly_js() -> Response:
        data = (resources.files("plotly") / "package_data" / "plotly.min.js").read_bytes()
        return Response(data, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", response_class=HTMLResponse, dependencies=api)
    def page() -> str:
        text = (resources.files("autobot.serve") / "page.html").read_text(encoding="utf-8")
        return text.replace("__AUTOBOT_COMMAND_TOKEN__", command_token)   # url-safe: no markup

    return app
