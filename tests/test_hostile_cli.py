"""Hostile command lines: options a user (or a script) can get wrong, each a clear ``error:`` line
and exit code 2 (usage) within seconds, never a traceback or a hang. Documents and data files are in
``test_hostile.py``."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT

TREND = ROOT / "strategies" / "trend.yaml"
EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def _run(args: list[str], code: int = 2) -> str:
    started = time.monotonic()
    out = CliRunner().invoke(app, args)
    assert time.monotonic() - started < 10, "took more than 10 s"
    assert out.exception is None or isinstance(out.exception, SystemExit), repr(out.exception)
    assert out.exit_code == code, (out.exit_code, out.output)
    assert "Traceback" not in out.output
    return out.output


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("extra, want", [
    (["--workers", str((os.cpu_count() or 1) + 1)], "this machine has"),
    (["--workers", "1000"], "this machine has"),
    (["--ray-address", ""], "give HOST:PORT of a running Ray head"),
    (["--ray-address", "garbage"], "give HOST:PORT of a running Ray head"),
    (["--ray-address", "127.0.0.1:99999"], "give HOST:PORT of a running Ray head"),
    (["--ray-address", "127.0.0.1:{closed}"], "nothing answers at 127.0.0.1:"),
])
def test_optimize_refuses_where_its_trials_cannot_run(tmp_path: Path, extra: list[str], want: str) -> None:
    extra = [e.replace("{closed}", str(_closed_port())) for e in extra]
    out = _run(["optimize", str(TREND), "--data", str(EXAMPLE), "--trials", "2",
                "--json", str(tmp_path / "s.json"), *extra])
    assert want in out, out
    assert not (tmp_path / "s.json").exists()
