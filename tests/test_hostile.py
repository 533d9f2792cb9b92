"""Hostile input: documents and data that must each give a clear, positioned error, never a
traceback, never a hang (10 s) and never more than 1 GB of memory.

``tests/hostile/*.yaml`` hold the documents, ``tests/hostile/EXPECTED`` the error each must give
(file, code, line:column). FIFOs, devices and compression bombs are made by the tests themselves.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT

HOSTILE = ROOT / "tests" / "hostile"
EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


def _expected() -> dict[str, tuple[str, str | None]]:
    out = {}
    for line in (HOSTILE / "EXPECTED").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            parts = line.split()
            out[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None)
    return out


def _autobot(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """Run the CLI in a child limited in address space and time; assert what *this* child used
    (``os.wait4``: the test process's other children, such as a study's worker, do not count)."""
    import tempfile
    import threading

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (4 * 1024 ** 3, 4 * 1024 ** 3))   # virtual: the runtime maps more
    timeout = 10 if args[0] == "validate" else 60
    command = [sys.executable, "-m", "autobot.cli.main", *args]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=err, preexec_fn=limit)
        killed = threading.Event()

        def kill() -> None:
            killed.set()
            proc.kill()
        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)     # reaped here: Popen must not wait again
        if killed.is_set():
            raise subprocess.TimeoutExpired(command, timeout)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(command, proc.returncode, out.read().decode("utf-8", "replace"),
                                           err.read().decode("utf-8", "replace"))
    assert usage.ru_maxrss < 1024 * 1024, f"the child used {usage.ru_maxrss // 1024} MiB"   # KiB on Linux
    return done


def test_every_hostile_document_is_listed_with_its_error() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.yaml")) == sorted(_expected())
    assert len(_expected()) >= 20


def test_every_hostile_document_gives_its_positioned_error_and_none_hides_another() -> None:
    out = _autobot("validate", "--format", "json", str(HOSTILE))
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    found = json.loads(out.stdout)               # one JSON list for all of them: no file loses the others'
    by_file: dict[str, list[tuple[str, str]]] = {}
    for d in found:
        by_file.setdefault(Path(d["file"]).name, []).append((d["code"], f"{d['line']}:{d['column']}"))
    for name, (code, where) in _expected().items():
        if code == "ok":
            assert name not in by_file, (name, by_file.get(name))
        else:
            assert (code, where) in by_file.get(name, []), (name, by_file.get(name))


def test_a_fifo_in_the_project_never_hangs_validate(tmp_path: Path) -> None:
    import shutil
    for sub in ("strategies", "regimes"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    shutil.copy(ROOT / "policy.yaml", tmp_path / "policy.yaml")
    os.mkfifo(tmp_path / "strategies" / "pipe.yaml")
    os.mkfifo(tmp_path / "root.yaml")
    (tmp_path / "strategies" / "zero.yaml").symlink_to("/dev/zero")
    out = _autobot("validate", str(tmp_path), cwd=tmp_path)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "pipe.yaml:1:1: error: cannot read file:" in out.stdout and "is a FIFO (named pipe)" in out.stdout
    # the link to /dev/zero leaves the project: the policy's glob says so; named directly it is a device
    assert "reaches outside the project" in out.stdout
    direct = _autobot("validate", str(tmp_path / "strategies" / "zero.yaml"), cwd=tmp_path)
    assert direct.returncode == 1 and "zero.yaml:1:1: error: cannot read file:" in direct.stdout
    assert "is a device" in direct.stdout


@pytest.mark.parametrize("kind", ["fifo", "device", "gzip_bomb", "not_utf8", "not_utf8_gz", "huge_price",
                                  "huge_volume", "truncated_gz"])
def test_hostile_data_files_give_one_clear_error(tmp_path: Path, kind: str) -> None:
    head = "timestamp,open,high,low,close,volume\n"
    path = tmp_path / ("bars.csv.gz" if "gz" in kind or kind == "gzip_bomb" else "bars.csv")
    if kind == "fifo":
        os.mkfifo(path)
        want = "is a FIFO (named pipe), not a file"
    elif kind == "device":
        path.symlink_to("/dev/zero")
        want = "is a device, not a file"
    elif kind == "gzip_bomb":
        with gzip.open(path, "wb", compresslevel=9) as fh:        # ~300 KiB that inflate to 300 MiB
            chunk = b"0" * (1024 * 1024)
            for _ in range(300):
                fh.write(chunk)
        want = "decompresses to more than the limit of 256 MiB"
    elif kind in ("not_utf8", "not_utf8_gz"):
        data = (head + "2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T01:00:00Z,1,\xff1,1,1,1\n").encode("latin-1")
        path.write_bytes(gzip.compress(data) if kind.endswith("gz") else data)
        want = "is not UTF-8 text"
    elif kind == "truncated_gz":
        path.write_bytes(gzip.compress(EXAMPLE.read_bytes())[:5000])
        want = "truncated gzip file"
    else:
        big = "1e300,1e300,1e300,1e300,1" if kind == "huge_price" else "1,1,1,1,1e300"
        path.write_text(head + f"2024-01-01T00:00:00Z,{big}\n2024-01-01T01:00:00Z,1,1,1,1,1\n")
        want = "above the largest price" if kind == "huge_price" else "above the largest quantity"
    out = _autobot("backtest", "strategies/trend.yaml", "--data", str(path))
    assert out.returncode == 1, (out.returncode, out.stderr[-1500:])
    assert want in out.stderr and "Traceback" not in out.stderr, out.stderr[-1500:]


def test_policy_globs_stay_inside_the_project(tmp_path: Path) -> None:
    import shutil

    from typer.testing import CliRunner

    from autobot.cli.main import app
    (tmp_path / "proj").mkdir()
    (tmp_path / "elsewhere").mkdir()
    shutil.copy(ROOT / "strategies" / "trend.yaml", tmp_path / "elsewhere" / "trend.yaml")
    shutil.copytree(ROOT / "regimes", tmp_path / "proj" / "regimes")
    policy = tmp_path / "proj" / "policy.yaml"
    policy.write_text("policy: p\nregimes: regimes/regimes.yaml\nstrategies: [../elsewhere/*.yaml]\n"
                      "allocations:\n  trending: {}\n  ranging: {}\n  volatile: {}\n  calm: {}\n")
    out = CliRunner().invoke(app, ["validate", str(policy)])
    assert out.exit_code == 1
    assert "policy.yaml:3:13: error: the strategies glob '../elsewhere/*.yaml' reaches outside the project" in out.output
    absolute = str(tmp_path / "elsewhere" / "*.yaml")
    policy.write_text(policy.read_text().replace("../elsewhere/*.yaml", absolute))      # named on purpose
    assert CliRunner().invoke(app, ["validate", str(policy)]).exit_code == 0


@pytest.mark.parametrize("command", ["backtest", "signals"])
def test_lengths_longer_than_the_data_are_positioned_errors(tmp_path: Path, command: str) -> None:
    """A rule whose warm-up reaches past the data would never have a value: an error at the rule
    (a warning in ``signals``, which shows its empty column)."""
    doc = tmp_path / "long.yaml"
    doc.write_text("strategy: long\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
                   "entry:\n  long: close > sma(close, 50)\n"
                   "exit:\n  long: rising(close, 3)\nrisk: {stop_loss: 2%}\n")
    data = tmp_path / "bars.csv"
    data.write_text("".join(EXAMPLE.read_text().splitlines(keepends=True)[:41]))      # 40 bars
    out = _autobot(command, str(doc), "--data", str(data))
    severity = "error" if command == "backtest" else "warning"     # signals shows the empty column
    assert out.returncode == (1 if command == "backtest" else 0) and "Traceback" not in out.stderr, out.stderr[-1500:]
    # the CLI shows a path relative to its working folder when that is shorter: wherever the clone lives
    shown = min((str(doc), os.path.relpath(doc, ROOT)), key=len)
    assert any(f"{p}:4:9: {severity}: entry.long needs 50 bars before its first value" in out.stderr
               for p in (str(doc), shown)), out.stderr[-1500:]
    assert "the data has 40 bars" in out.stderr and "exit.long" not in out.stderr
    data.write_text("".join(EXAMPLE.read_text().splitlines(keepends=True)[:51]))      # 50: one value
    assert _autobot(command, str(doc), "--data", str(data)).returncode == 0
