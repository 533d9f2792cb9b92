"""Hostile command lines: options a user (or a script) can get wrong, each a clear ``error:`` line
and exit code 2 (usage) within seconds, never a traceback or a hang. Documents and data files are in
``test_hostile.py``."""

from __future__ import annotations

import json
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


# --- output paths: checked before anything is loaded, each one error line naming the option ----------------

def _project(tmp: Path) -> Path:
    """A copy of the shipped project (policy, regimes, strategies) to break on purpose."""
    import shutil
    for sub in ("strategies", "regimes"):
        shutil.copytree(ROOT / sub, tmp / sub)
    shutil.copy(ROOT / "policy.yaml", tmp / "policy.yaml")
    return tmp


def _bad_output(tmp: Path, kind: str) -> str:
    if kind == "folder":
        (tmp / "a_folder").mkdir()
        return str(tmp / "a_folder")
    if kind == "missing folder":
        return str(tmp / "no_such_folder" / "out.json")
    if kind == "fifo":
        os.mkfifo(tmp / "pipe")
        return str(tmp / "pipe")
    if kind == "under a file":
        (tmp / "a_file").write_text("x")
        return str(tmp / "a_file" / "out.json")
    return ""


OUTPUT_WANT = {"folder": "is a folder, not a file", "missing folder": "folder that does not exist",
               "fifo": "is a FIFO (named pipe)", "under a file": "is a file, not a folder",
               "empty": "is empty"}


@pytest.mark.parametrize("kind", list(OUTPUT_WANT))
@pytest.mark.parametrize("command, option", [
    (["backtest", str(TREND)], "--json"), (["backtest", str(TREND)], "--report"),
    (["backtest", "--policy", str(ROOT / "policy.yaml")], "--json"),
    (["backtest", "--policy", str(ROOT / "policy.yaml")], "--report"),
    (["signals", str(TREND), "--data", str(EXAMPLE)], "--out"),
    (["optimize", str(TREND), "--trials", "2"], "--json"), (["optimize", str(TREND), "--trials", "2"], "--report"),
    (["optimize", str(TREND), "--trials", "2"], "--journal"),
    (["report", "daily", "--state", "{tmp}/no_store.sqlite"], "--out"),
    (["report", "daily", "--state", "{tmp}/no_store.sqlite"], "--json"),
])
def test_output_paths_are_refused_before_the_run(tmp_path: Path, command: list[str], option: str, kind: str) -> None:
    bad = _bad_output(tmp_path, kind)
    args = [a.replace("{tmp}", str(tmp_path)) for a in command]
    started = time.monotonic()
    out = _run([*args, option, bad])
    assert time.monotonic() - started < 3, "the output path was checked after loading the data"
    assert f"error: {option} " in out and OUTPUT_WANT[kind] in out, out
    assert len(out.strip().splitlines()) == 1, out


@pytest.mark.parametrize("kind, want", [("empty", "is empty"), ("file", "is not a folder"),
                                        ("fifo", "is not a folder"), ("under a file", "is a file, not a folder")])
def test_schema_out_must_be_a_folder(tmp_path: Path, kind: str, want: str) -> None:
    bad = {"empty": "", "file": str(tmp_path / "f"), "fifo": str(tmp_path / "p"),
           "under a file": str(tmp_path / "f" / "schema")}[kind]
    (tmp_path / "f").write_text("x")
    os.mkfifo(tmp_path / "p")
    out = _run(["schema", "--out", bad])
    assert "error: --out " in out and want in out, out
    assert (tmp_path / "f").read_text() == "x"
    made = tmp_path / "new" / "schema"                  # a missing folder is created, as documented
    _run(["schema", "--out", str(made)], 0)
    assert sorted(p.name for p in made.iterdir()) == ["policy.json", "regimes.json", "strategy.json"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("args", [
    ["backtest", str(TREND), "--json", "/dev/full"], ["backtest", str(TREND), "--report", "/dev/full"],
    ["signals", str(TREND), "--data", str(EXAMPLE), "--out", "/dev/full"],
])
def test_a_full_disk_when_the_output_is_written_is_one_error_line(args: list[str]) -> None:
    out = _run(args, 1)
    assert "error: " in out and "/dev/full" in out and "No space left on device" in out, out


def test_a_named_pipe_inside_the_schema_folder_fails_at_once(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "strategy.json")               # nobody reads it: opening it must not wait
    out = _run(["schema", "--out", str(tmp_path)], 1)
    assert "no program reads from" in out, out


# --- option values ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("capital", ["nan", "inf", "0", "-1", "1e308"])
def test_signals_refuses_a_capital_out_of_range(tmp_path: Path, capital: str) -> None:
    out = _run(["signals", str(TREND), "--data", str(EXAMPLE), "--capital", capital, "--out",
                str(tmp_path / "s.csv")])
    assert "error: --capital" in out and "up to 1e+12" in out, out
    assert not (tmp_path / "s.csv").exists()


@pytest.mark.parametrize("currency", ["", "US D", "€", "TOOLONG"])
@pytest.mark.parametrize("command", [["backtest", str(TREND), "--instrument", "AAPL.XNAS"],
                                     ["backtest", "--policy", str(ROOT / "policy.yaml"), "--instrument", "AAPL.XNAS"],
                                     ["optimize", str(TREND), "--trials", "2"]])
def test_an_invalid_currency_code_is_a_usage_error(command: list[str], currency: str) -> None:
    out = _run([*command, "--currency", currency])
    assert "error: --currency" in out and "3 to 5 letters or digits" in out, out


def test_capital_above_what_nautilus_money_holds_is_refused(tmp_path: Path) -> None:
    out = _run(["backtest", str(TREND), "--capital", "1e13"])
    assert "error: --capital 1e+13: give a number above 0 up to 1e+12" in out, out
    project = _project(tmp_path)
    policy = project / "policy.yaml"
    policy.write_text(policy.read_text().replace("capital: 100000", "capital: 1e308"))
    out = _run(["backtest", "--policy", str(policy)], 1)
    assert "policy.yaml:11:10: error: 'capital'" in out and "capital is at most 1e+12" in out, out


# --- documents --------------------------------------------------------------------------------------------------

def test_a_symbolic_link_loop_among_the_strategies_is_a_positioned_error(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "strategies" / "loop.yaml").symlink_to("loop.yaml")
    (project / "strategies" / "a.yaml").symlink_to("b.yaml")
    (project / "strategies" / "b.yaml").symlink_to("a.yaml")
    for args in (["validate", str(project)], ["backtest", "--policy", str(project / "policy.yaml")]):
        out = _run(args, 1)
        for name in ("loop.yaml", "a.yaml", "b.yaml"):
            assert f"{name}:1:1: error: cannot read file: Too many levels of symbolic links" in out, out
        assert "symbolic link loop" in out
    out = _run(["validate", str(project / "strategies" / "loop.yaml")])
    assert "is a symbolic link to nothing" in out, out


@pytest.mark.parametrize("spec, want", [
    ("{default: 12, min: 5, max: 30, step: -1}", "8:46: error: 'params.fast.step': input should be greater than 0"),
    ("{default: 12, min: 5, max: 30, step: .nan}", "8:46: error: 'params.fast.step': input should be a finite"),
    ("{default: 12, min: 5, max: 30, step: 1e-300}", "8:46: error: param 'fast': step 1e-300 makes 2.5e+301 values"),
    ("{default: 12, min: 5, max: 30, step: 100}", "8:46: error: param 'fast': step 100 is larger than its range"),
    ("{default: -.inf}", "8:19: error: 'params.fast.default': input should be a finite number"),
    ("{default: 12, min: -1e300, max: 30}", "8:28: error: 'params.fast.min': input should be greater than or equal"),
])
def test_a_param_that_would_crash_or_mislead_a_study_does_not_validate(tmp_path: Path, spec: str, want: str) -> None:
    doc = tmp_path / "p.yaml"
    doc.write_text(TREND.read_text().replace("fast: {default: 12, min: 5, max: 30}", f"fast: {spec}"))
    out = _run(["validate", str(doc)], 1)
    assert want in out and "hint: " in out, out


# --- optimize ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("extra, want", [
    (["--folds", "1000"], "--folds 1000: the shortest train window has 1113 bars, so a fold would have 1 (at least "
                          "50 needed); give --folds 22 or fewer"),
    (["--windows", "1000"], "3000 bars are too few for 1000 walk-forward windows"),
    (["--windows", "1000"], "use --windows 56 or fewer"),
    (["--no-walk-forward", "--folds", "1000"], "give --folds 60 or fewer"),
    (["--train-ratio", "0.01"], "give a larger --train-ratio"),
])
def test_optimize_refuses_windows_and_folds_too_short_for_the_data(tmp_path: Path, extra: list[str],
                                                                    want: str) -> None:
    out = _run(["optimize", str(TREND), "--data", str(EXAMPLE), "--trials", "2", "--json", str(tmp_path / "s.json"),
                *extra])
    assert want in out, out
    assert not (tmp_path / "s.optuna.journal").exists()


@pytest.mark.parametrize("how, want", [
    ("min-trades", "16 trades, fewer than --min-trades 100000"),
    ("long period", "entry.long needs "),
])
def test_a_study_in_which_no_trial_succeeds_fails(tmp_path: Path, how: str, want: str) -> None:
    doc, extra = TREND, ["--min-trades", "100000"]
    if how == "long period":                 # every value of 'slow' needs more bars than a fold has
        doc = tmp_path / "slow.yaml"
        doc.write_text(TREND.read_text().replace("slow: {default: 26, min: 20, max: 100}",
                                                 "slow: {default: 2500, min: 2000, max: 3000}"))
        extra = []
    out = _run(["optimize", str(doc), "--data", str(EXAMPLE), "--trials", "2", "--confirm", "0", "--json",
                str(tmp_path / "s.json"), *extra], 1)
    assert "error: no trial succeeded: all 12 trials failed or scored nothing (the first, trial 0 of window-0: " \
        in out and want in out, out
    assert "OUT OF SAMPLE" not in out and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("kind", ["random bytes", "no newline", "wrong records", "fifo"])
def test_optimize_resume_refuses_what_is_not_a_journal(tmp_path: Path, kind: str) -> None:
    journal = tmp_path / "j.journal"
    if kind == "random bytes":
        journal.write_bytes(bytes(range(256)) * 20)
    elif kind == "no newline":
        journal.write_bytes(bytes(range(11, 256)) * 20)
    elif kind == "wrong records":
        journal.write_text('{"op_code": 0, "worker_id": "x"}\n')
    else:
        os.mkfifo(journal)
    before = None if kind == "fifo" else journal.read_bytes()
    out = _run(["optimize", str(TREND), "--trials", "2", "--journal", str(journal), "--resume"],
               2 if kind == "fifo" else 1)
    want = {"fifo": "is a FIFO (named pipe), not a file; give a regular file",
            "wrong records": "is not a journal AutoBot can read"}.get(kind, "is not an Optuna study journal")
    assert want in out and ("choose another --journal" in out or kind == "fifo"), out
    if before is not None:
        assert journal.read_bytes() == before            # never "repaired" into something else


def _apply_args(doc: Path, tmp: Path) -> list[str]:
    return ["optimize", str(doc), "--trials", "2", "--windows", "2", "--confirm", "0", "--json", str(tmp / "s.json"),
            "--state", str(tmp / "state.sqlite"), "--apply"]


def test_apply_writes_through_a_symbolic_link_and_keeps_it(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_text(TREND.read_text())
    link = tmp_path / "link.yaml"
    link.symlink_to("real.yaml")
    out = _run([*_apply_args(link, tmp_path), "--force"], 0)
    assert "applied to " in out, out
    assert link.is_symlink() and os.readlink(link) == "real.yaml"
    best = json.loads((tmp_path / "s.json").read_text())["best_params"]
    assert f"fast: {{default: {best['fast']}," in real.read_text()


def test_apply_to_a_read_only_document_is_refused_before_the_study(tmp_path: Path) -> None:
    doc = tmp_path / "trend.yaml"
    doc.write_text(TREND.read_text())
    doc.chmod(0o444)
    out = _run([*_apply_args(doc, tmp_path), "--force"])
    assert "error: --apply: " in out and "is read-only" in out and "chmod u+w" in out, out
    assert doc.read_text() == TREND.read_text() and not (tmp_path / "s.json").exists()


@pytest.mark.parametrize("force", [False, True])
def test_apply_to_a_document_edited_during_the_study(tmp_path: Path, force: bool) -> None:
    """The edit lands once the study has started (its journal exists): without --force nothing is
    written; with it the params go into the edited text, which keeps the edit, and it says so."""
    import threading
    doc = tmp_path / "trend.yaml"
    doc.write_text(TREND.read_text())
    edit = "\n# edited while the study ran\n"

    def edit_when_started() -> None:
        deadline = time.monotonic() + 9
        while not (tmp_path / "s.optuna.journal").exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        with open(doc, "a", encoding="utf-8") as fh:
            fh.write(edit)
    editor = threading.Thread(target=edit_when_started)
    editor.start()
    try:
        out = _run([*_apply_args(doc, tmp_path), *(["--force"] if force else [])], 0 if force else 1)
    finally:
        editor.join()
    if force:
        assert "was edited while the study ran; --force" in out and "applied to " in out, out
        assert doc.read_text().endswith(edit) and doc.read_text() != TREND.read_text() + edit
    else:
        assert "error: --apply refused: " in out and "was edited while the study ran" in out, out
        assert doc.read_text() == TREND.read_text() + edit
