"""``autobot serve``: the read API and the dashboard over a node's state store."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Optional

import typer

from autobot.cli.output import fail_usage


def serve(state: Optional[Path] = typer.Option(None, "--state", help="The node's SQLite state store (default: "
                                               "the project's .autobot/state.sqlite)."),
          host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (loopback by default)."),
          port: int = typer.Option(8080, "--port", help="Port to listen on."),
          token_env: str = typer.Option("AUTOBOT_API_TOKEN", "--token-env", help="Environment variable holding the "
                                        "token that requests from outside this machine must send.")) -> None:
    """Serve a node's dashboard page and /api/v1, read from its state store.

    Endpoints: health, status, trades, profit, performance, daily, regimes, challenge, universe, reloads,
    logs, and pause/resume/stop (docs/live.md)."""
    import uvicorn

    from autobot.serve.app import make_app
    from autobot.workspace import find_project_root
    if not 0 < port < 65536:
        raise fail_usage(f"--port {port}: give a port from 1 to 65535")
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    token = os.environ.get(token_env) or None
    if not loopback and token is None:
        raise fail_usage(f"--host {host} is reachable from other machines: set a token in ${token_env} first "
                         "(requests from outside loopback must send 'Authorization: Bearer <token>')")
    path = state or (find_project_root() / ".autobot" / "state.sqlite")
    app_ = make_app(path, token, allowed_hosts=None if loopback or host in ("0.0.0.0", "::") else {host})
    typer.echo(f"serving {path} on http://{host}:{port}/ (API under /api/v1/)", err=True)
    if token is None:
        typer.echo(f"commands (POST pause/resume/stop) need the header X-AutoBot-Token: {app_.state.command_token} "
                   "(the dashboard sends it)", err=True)
    uvicorn.run(app_, host=host, port=port, log_level="warning")
