"""What an operator reads from validate and the CLI (issue 30, "Validate and the CLI"): regime names
checked against the project, rules that can never fire, shape errors that hide nothing, the hints
for common slips, positioned feed errors, signals' window and capital, data problems as exit 1,
the challenge and rollback finding their store's facts, progress on long work, and the command
list in docs/cli.md."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"      # synthetic, 2024-01-01 .. 2024-05-04


def doc(tmp_path: Path, body: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def strategy(rule: str, extra: str = "") -> str:
    return ("strategy: s\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
            f"entry:\n  long: '{rule}'\n{extra}sizing: {{equity_pct: 10%}}\n")


# ------------------------------------------------------------------ regimes
def test_validate_checks_regime_names_against_the_project_regimes(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "regimes").mkdir()
    shutil.copy(ROOT / "regimes" / "regimes.yaml", tmp_path / "regimes" / "regimes.yaml")
    bad = doc(tmp_path / "strategies", strategy('regime == "bull"'))
    code, out = run("validate", bad)
    assert code == 1
    assert "'bull' is not a possible value" in out and "calm, ranging, trending, volatile" in out
    assert re.search(r"s\.yaml:4:\d+: error", out)
    good = doc(tmp_path / "strategies", strategy('regime == "trending"'), "g.yaml")
    assert run("validate", good)[0] == 0


def test_reading_regime_without_a_regimes_document_warns_that_the_rule_never_fires(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)                  # outside any project (backtest reads the cwd's project too)
    alone = doc(tmp_path, strategy('regime == "bull"'))
    code, out = run("validate", alone)
    assert code == 0
    assert "warning: this strategy reads 'regime' but its project has no regimes document" in out
    assert re.search(r"s\.yaml:4:10: warning", out)                  # at the word 'regime'


def test_a_rule_that_is_always_false_gets_a_warning(tmp_path: Path) -> None:
    path = doc(tmp_path, strategy("close > open", "exit:\n  long: no\n"))
    code, out = run("validate", path)
    assert code == 0
    assert "s.yaml:6:9: warning: exit.long is always false: this rule can never fire" in out


def test_take_profit_off_means_no_take_profit(tmp_path: Path) -> None:
    from autobot.workspace import load_strategy
    path = doc(tmp_path, strategy("close > open", "risk: {stop_loss: 2%, take_profit: off}\n"))
    compiled = load_strategy(path)
    assert compiled.take_profit is None and compiled.stop_loss is not None
    text = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    assert "`take_profit: off` (or `no`, `false`) means no take profit" in text


# ------------------------------------------------------------------ shape errors hide nothing
def test_a_bad_id_hides_no_expression_error_and_its_message_keeps_its_case(tmp_path: Path) -> None:
    body = ("strategy: 9bad\nmarket: {instrument: 'BTC USDT', bar: 1h}\nindicators:\n  x: atr14\n"
            "entry:\n  long: close = open\nsizing: {equity_pct: 10%}\n")
    code, out = run("validate", doc(tmp_path, body))
    assert code == 1
    assert "'9bad' is not a valid strategy" in out
    assert "'BTC USDT' is not a valid instrument" in out
    assert "a-za-z" not in out                                        # no lower-cased pattern
    assert "unknown name 'atr14' (did you mean atr(14)?)" in out     # the expressions are checked too
    assert "syntax error: unexpected '='" in out
    assert "4 errors" in out


# ------------------------------------------------------------------ hints
@pytest.mark.parametrize("rule,hint", [
    ("close = open", "to compare, write '=='"),
    ("rsi(close, 14) > 2 %", "a percentage touches its number: write 2%"),
    ("close > 2 % and close > 1", "a percentage touches its number: write 2%"),
    ("rsi14 > 50", "did you mean rsi(14)?"),
    ("sma_20 > close", "did you mean sma(20)?"),
    ("bbands(close, deviation=2).upper > close", "nbdevup (or dev), nbdevdn (or dev)"),
])
def test_hints_for_common_slips(tmp_path: Path, rule: str, hint: str) -> None:
    code, out = run("validate", doc(tmp_path, strategy(rule)))
    assert code == 1 and hint in out, out


def test_modulo_with_spaces_is_still_modulo(tmp_path: Path) -> None:
    assert run("validate", doc(tmp_path, strategy("volume % 2 == 0")))[0] == 0


# ------------------------------------------------------------------ text feeds
def test_sentiment_without_text_points_at_the_word(tmp_path: Path) -> None:
    code, out = run("backtest", ROOT / "examples" / "strategies" / "sentiment_swing.yaml", "--data", EXAMPLE)
    assert code == 1
    text = (ROOT / "examples" / "strategies" / "sentiment_swing.yaml").read_text(encoding="utf-8").splitlines()
    line = next(i for i, t in enumerate(text, 1) if re.search(r":\s+sentiment\b", t.split("#")[0]))  # first use
    assert re.search(rf"sentiment_swing\.yaml:{line}:\d+: error: the strategy reads 'sentiment'", out), out


def test_a_tokenised_text_is_read_as_its_words(tmp_path: Path) -> None:
    from autobot.data.text import load_texts
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps({"created_at": "2024-01-01T00:30:00Z", "text": ["$btc", "is", "great"]}) + "\n" +
                    json.dumps({"created_at": "2024-01-01T01:30:00Z", "text": "plain text"}) + "\n")
    feed = load_texts(path)
    assert list(feed.text) == ["$btc is great", "plain text"]
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps({"created_at": "2024-01-01T00:30:00Z", "text": {"a": 1}}) + "\n")
    from autobot.diagnostics import UserError
    with pytest.raises(UserError) as err:
        load_texts(bad)
    assert "'text' is dict" in err.value.diagnostics[0].message


# ------------------------------------------------------------------ signals and windows
def rows(out: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(out)))


def test_signals_window_starts_warmed_up_and_reads_nothing_from_its_end(tmp_path: Path) -> None:
    trend = ROOT / "strategies" / "trend.yaml"
    code, whole = run("signals", trend, "--data", EXAMPLE)
    assert code == 0
    code, part = run("signals", trend, "--data", EXAMPLE, "--start", "2024-03-01", "--end", "2024-03-02")
    assert code == 0
    full, window = rows(whole), rows(part)
    assert window[0] == full[0]
    assert [r[0] for r in window[1:]] == [f"2024-03-01T{h:02d}:00:00Z" for h in range(24)]
    by_time = {r[0]: r for r in full[1:]}
    assert all(r == by_time[r[0]] for r in window[1:])            # the same values as over the whole file
    assert all(cell != "" for cell in window[1][1:4])             # warmed up on the bars before --start


def test_signals_equity_defaults_to_the_backtest_capital(tmp_path: Path) -> None:
    path = doc(tmp_path, strategy("equity >= 100000", "indicators:\n  e: equity\n"))
    code, out = run("signals", path, "--data", EXAMPLE, "--end", "2024-01-01T03:00")
    assert code == 0, out
    assert [r[1] for r in rows(out)[1:]] == ["100000.0"] * 3


@pytest.mark.parametrize("command", ["backtest", "signals"])
def test_a_window_past_the_data_is_a_data_problem(command: str) -> None:
    code, out = run(command, ROOT / "strategies" / "trend.yaml", "--data", EXAMPLE, "--start", "2030-01-01")
    assert code == 1
    assert "no bars with --start 2030-01-01: the data runs from 2024-01-01T00:00:00Z to 2024-05-04T23:00:00Z" in out


def test_the_backtest_header_ends_at_the_last_bar() -> None:
    daily = ROOT / "examples" / "data" / "daily.csv"
    code, out = run("backtest", ROOT / "strategies" / "trend.yaml", "--data", EXAMPLE, "--end", "2024-02-01")
    assert code == 0, out
    assert "2024-01-01T00:00:00Z to 2024-01-31T23:00:00Z" in re.sub(r"\s+", " ", out)
    assert not daily.exists()


# ------------------------------------------------------------------ stores
def test_rollback_without_a_store_names_both_writers(tmp_path: Path) -> None:
    path = doc(tmp_path, strategy("close > open"))
    code, out = run("rollback", path)
    assert code == 2
    assert "'autobot live' and 'autobot optimize --apply'" in out


# ------------------------------------------------------------------ progress
def test_progress_lines_when_piped(capsys: pytest.CaptureFixture[str]) -> None:
    from autobot.cli.inputs import _progress_lines
    progress = _progress_lines("backtest", quiet_s=0.0)
    for done in range(0, 1001, 50):
        progress(done, 1000)
    lines = capsys.readouterr().err.splitlines()
    assert [ln.split(":")[1].split("%")[0].strip() for ln in lines] == [str(p) for p in range(10, 101, 10)]
    quiet = _progress_lines("backtest")                 # a run under 5 s prints nothing, not even its end
    quiet(1000, 1000)
    assert capsys.readouterr().err == ""


def test_a_piped_paper_node_prints_status_lines() -> None:
    from autobot.live.view import LineView
    out = io.StringIO()
    status = {"bar": 1_700_000_000 * 10**9, "halted": False, "paused": False, "equity": 101234.5, "drawdown": 0.012}

    class Node:                                   # the controller's status() record, as the view reads it
        def status(self) -> dict[str, object]:
            return status
    view = LineView(every=0.0, out=out)
    for _ in range(3):
        view.update(Node())
    assert out.getvalue().splitlines()[-1] == ("paper node: 3 bars, bar 2023-11-14 22:13, equity 101,234.50 "
                                              "(drawdown 1.20%), trading")


# ------------------------------------------------------------------ docs
def test_docs_cli_lists_every_command() -> None:
    import typer.main
    group = typer.main.get_command(app)
    commands = sorted(group.commands)                    # type: ignore[attr-defined]
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    block = text[text.index("$ autobot --help"):]
    block = block[:block.index("```")]
    listed = sorted(m.group(1) for m in re.finditer(r"^│ ([a-z]+) ", block, re.M))
    assert listed == commands


def test_the_tutorial_commands_exist() -> None:
    import typer.main
    group = typer.main.get_command(app)
    text = (ROOT / "docs" / "tutorial.md").read_text(encoding="utf-8")
    used = set(re.findall(r"^autobot ([a-z]+)", text, re.M))
    assert used and used <= set(group.commands)          # type: ignore[attr-defined]
    assert (ROOT / "examples" / "data" / "btcusd_coinbase_1h_2018_2019.csv").is_file()
