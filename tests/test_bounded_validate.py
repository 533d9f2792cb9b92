"""Bounded work for every document that validates (issue 26).

``validate`` of any document under the 1 MiB limit finishes in a child process within the hostile
tests' 10 s and 1 GiB (a hard "never hang" bound; speed targets are in benchmarks/): 20,000 errors
(100 shown a file, then one note with the count), a 40,000-link chain of indicators written from
either end, 36,000 indicators, a cycle of 40,000, 1 MiB of parentheses and a 1 MiB expression
with its error at the end. The expression parser that makes these fast is checked against Lark's
own parse (the same trees, the same errors), and the models of an ``ml:`` section are refused
when their estimated memory or training time exceeds the documented budget (docs/ml.md).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autobot.diagnostics import MAX_SHOWN, Diagnostic, DiagnosticSink, did_you_mean
from autobot.documents.load import MAX_BYTES
from autobot.language.parse import MAX_NESTING, ParseError, parse_expression, parse_with_lark
from tests.helpers import ROOT
from tests.expr_gen import bool_expr, number_expr
from tests.test_hostile import _autobot

HEAD = "strategy: s\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\n"
TAIL = "entry:\n  long: close > 0\nrisk: {stop_loss: 2%}\n"


def _write(tmp_path: Path, text: str, name: str = "doc.yaml") -> Path:
    assert len(text.encode()) < MAX_BYTES, len(text.encode())
    path = tmp_path / name
    path.write_text(text)
    return path


def _shown(path: Path) -> str:
    """A file as the CLI names it: the shorter of its absolute path and its path relative to the
    command's working folder (the repository), wherever the clone lives."""
    return min((str(path), os.path.relpath(path, ROOT)), key=len)


def _validate(path: Path, *args: str):  # type: ignore[no-untyped-def]
    out = _autobot("validate", *args, str(path))      # 10 s and 1 GiB, or the test fails
    assert "Traceback" not in out.stderr, out.stderr[-2000:]
    return out


def test_20000_errors_show_100_and_count_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "indicators:\n" + "".join(f"  i{k}: nope{k} + 1\n" for k in range(20_000)) + TAIL)
    out = _validate(path)
    assert out.returncode == 1
    assert out.stdout.count(": error: unknown name 'nope") == MAX_SHOWN == 100
    assert f"{_shown(path)}:4:7: error: unknown name 'nope0'" in out.stdout          # the first ones, in order
    assert "note: ... and 19,900 more errors not shown (at most 100 a file); fix these first" in out.stdout
    assert out.stdout.count("more errors not shown") == 1
    assert out.stdout.rstrip().endswith("1 document checked: 20000 errors, 0 warnings (failed)")
    found = json.loads(_validate(path, "--format", "json").stdout)
    assert len(found) == 101 and found[-1]["severity"] == "note" and found[-1]["code"] == "too-many-errors"


def test_the_error_cap_is_per_file_so_one_file_hides_no_other(tmp_path: Path) -> None:
    (tmp_path / "many.yaml").write_text(HEAD.replace("strategy: s", "strategy: many") + "indicators:\n" +
                                        "".join(f"  i{k}: nope{k}\n" for k in range(300)) + TAIL)
    (tmp_path / "one.yaml").write_text(HEAD.replace("strategy: s", "strategy: one") + "entry:\n  long: clse > 0\n")
    found = json.loads(_validate(tmp_path, "--format", "json").stdout)
    assert sum(Path(d["file"]).name == "many.yaml" and d["severity"] == "error" for d in found) == 100
    assert [d["message"] for d in found if Path(d["file"]).name == "one.yaml"] == \
        ["unknown name 'clse' (did you mean 'close'?)"]


def test_sink_counts_what_it_does_not_keep() -> None:
    sink = DiagnosticSink(limit=2)
    for k in range(5):
        sink.add(Diagnostic("a.yaml", k + 1, 1, k + 1, 2, "x", f"e{k}"))
    sink.add(Diagnostic("a.yaml", 9, 1, 9, 2, "w", "w", severity="warning"))
    sink.add(Diagnostic("b.yaml", 1, 1, 1, 2, "x", "b"))
    assert [d.message for d in sink.items] == ["e0", "e1", "b"]
    assert sink.errors == 6 and sink.warnings == 1 and sink.has_errors
    assert sink.full("a.yaml") and not sink.full("b.yaml")
    assert [n.message for n in sink.notes()] == \
        ["... and 3 more errors and 1 more warning not shown (at most 2 a file); fix these first"]


@pytest.mark.parametrize("order", ["forward", "backward"])
def test_a_40000_link_chain_validates(tmp_path: Path, order: str) -> None:
    """``a1: a0 + 1``, ... in either order. Written from its end, lowering used to recurse 40,000
    indicators deep: the parser's recursion then failed and it reported "nests more than 100 levels"
    at links that nest two."""
    n = 40_000
    if order == "forward":
        body = "  a0: close\n" + "".join(f"  a{k}: a{k - 1} + 1\n" for k in range(1, n))
        rule = f"a{n - 1}"
    else:
        body = "".join(f"  a{k}: a{k + 1} + 1\n" for k in range(n - 1)) + f"  a{n - 1}: close\n"
        rule = "a0"
    path = _write(tmp_path, HEAD + "indicators:\n" + body + f"entry:\n  long: {rule} > 0\nrisk: {{stop_loss: 2%}}\n")
    out = _validate(path)
    assert out.returncode == 0, out.stdout[-3000:]
    assert "1 document checked: 0 errors, 0 warnings (ok)" in out.stdout


def test_a_cycle_of_40000_indicators_is_one_error(tmp_path: Path) -> None:
    n = 40_000
    path = _write(tmp_path, HEAD + "indicators:\n" + "".join(f"  a{k}: a{(k + 1) % n} + 1\n" for k in range(n)) +
                  "entry:\n  long: a0 > 0\nrisk: {stop_loss: 2%}\n")
    out = _validate(path)
    assert out.returncode == 1
    assert "error: indicators refer to each other in a cycle: a0 -> a1 -> " in out.stdout
    assert "... (39,981 more) ..." in out.stdout and "-> a39999 -> a0\n" in out.stdout
    assert "1 document checked: 1 error, 0 warnings (failed)" in out.stdout


def test_36000_indicators_validate(tmp_path: Path) -> None:
    path = _write(tmp_path, HEAD + "indicators:\n" +
                  "".join(f"  i{k}: sma(close, {k % 500 + 2})\n" for k in range(36_000)) + TAIL)
    out = _validate(path)
    assert out.returncode == 0 and "0 errors" in out.stdout


def test_20000_unknown_functions_and_syntax_errors(tmp_path: Path) -> None:
    funcs = _write(tmp_path, HEAD + "indicators:\n" + "".join(f"  i{k}: smaa{k}(close, 3)\n" for k in range(20_000))
                   + TAIL, "funcs.yaml")
    out = _validate(funcs)
    assert out.returncode == 1 and "unknown function 'smaa0' (did you mean 'sma'?)" in out.stdout
    assert "20000 errors" in out.stdout
    syntax = _write(tmp_path, HEAD + "indicators:\n" + "".join(f"  i{k}: close + ) {k}\n" for k in range(20_000))
                    + TAIL, "syntax.yaml")
    out = _validate(syntax)
    assert out.returncode == 1 and f"{_shown(syntax)}:4:15: error: syntax error: unexpected ')'" in out.stdout
    assert "20000 errors" in out.stdout


def test_a_megabyte_of_parentheses_and_a_megabyte_expression(tmp_path: Path) -> None:
    depth = 240_000                                   # parentheses add no level: this is `close > 0`
    parens = _write(tmp_path, HEAD + "entry:\n  long: " + "(" * depth + "close" + ")" * depth + " > 0\n",
                    "parens.yaml")
    out = _validate(parens)
    assert out.returncode == 0, out.stdout[-2000:]
    terms = 130_000
    long = _write(tmp_path, HEAD + "entry:\n  long: " + "close + " * terms + ")\n", "long.yaml")
    out = _validate(long)
    assert out.returncode == 1 and f"{_shown(long)}:4:{9 + 8 * terms}: error: syntax error: unexpected ')'" in out.stdout
    assert len(out.stdout) < 2000                     # the 1 MB line is shown as a window around the error
    assert "    ...e + close + close" in out.stdout


@pytest.mark.parametrize("levels", [MAX_NESTING, MAX_NESTING + 1])
def test_nesting_at_the_parsers_limit(tmp_path: Path, levels: int) -> None:
    """``abs(abs(...(close)...)) > 0``: the comparison one level, each call one, the leaf one."""
    calls = levels - 2
    path = _write(tmp_path, HEAD + "entry:\n  long: " + "abs(" * calls + "close" + ")" * calls + " > 0\n")
    out = _validate(path)
    if levels <= MAX_NESTING:
        assert out.returncode == 0, out.stdout[-1500:]
    else:
        assert out.returncode == 1
        assert f"{_shown(path)}:4:9: error: syntax error: the expression nests more than 100 levels" in out.stdout


def test_did_you_mean_among_thousands_of_names(tmp_path: Path) -> None:
    names = [f"ind_{k}" for k in range(5_000)] + ["momentum_fast"]
    assert did_you_mean("momentum_fsat", names) == " (did you mean 'momentum_fast'?)"
    assert did_you_mean("zzzz", names) == ""
    path = _write(tmp_path, HEAD + "indicators:\n" + "".join(f"  {n}: sma(close, 5)\n" for n in names) +
                  "entry:\n  long: momentum_fsat > 0\n")
    out = _validate(path)
    assert "unknown name 'momentum_fsat' (did you mean 'momentum_fast'?)" in out.stdout


def _outcome(parse, text: str):  # type: ignore[no-untyped-def]
    try:
        return ("tree", parse(text))
    except ParseError as exc:
        return ("error", exc.message, exc.span, exc.hint)


FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))


@FUZZ
@given(expr=st.one_of(bool_expr(3), number_expr(3)), cut=st.integers(0, 200),
       ch=st.sampled_from(list("()[],.=+-*/%<> 1a'\"") + ["and", "or", "not", "true", " andy", "%2"]))
def test_the_parser_gives_larks_trees_and_errors(expr: str, cut: int, ch: str) -> None:
    """The driver over Lark's tables against Lark's own parse and Transformer: spans included."""
    for text in (expr, expr[:cut] + ch + expr[cut:], expr[:cut] + expr[cut + 1:], f"({expr})[2]", f"-({expr})",
                 f"not ({expr})", f"book.imbalance({expr})", f"({expr}).f(1)", f"f(a={expr}, 2)"):
        assert _outcome(parse_expression, text) == _outcome(parse_with_lark, text), text


@FUZZ
@given(text=st.lists(st.sampled_from(list("()[],.=+-*/%<>!'\" \t\n1e.5_aAnotrufls") +
                                     ["and", "or", "not", "true", "false", "close", "٣", "é"]), max_size=25).map("".join))
def test_the_parser_gives_larks_errors_on_any_text(text: str) -> None:
    assert _outcome(parse_expression, text) == _outcome(parse_with_lark, text), repr(text)


def test_the_parser_keeps_larks_quirks() -> None:
    """Lark's contextual lexer reads ``andy`` after an operand as ``and y``: the same tree here."""
    for text in ("close > 1 andy > 2", "x ornot y", "-(a)", "(a + b)[1]", "((a))", "f()", "f(a=1, b=2,)",
                 "bbands(close).upper[1]", "a < b <= c"):
        assert parse_expression(text) == parse_with_lark(text), text
    with pytest.raises(ParseError, match="'.f\\(...\\)' can follow only a namespace"):
        parse_expression("(a + b).f(1)")
    with pytest.raises(ParseError, match="unexpected"):      # a syntax error after it comes first, as in Lark
        parse_expression("(a + b).f(1) +")


ML_DOC = """strategy: big_model
market: {instrument: BTCUSDT.BINANCE, bar: 1h}
ml:
  p:
    kind: KIND
    features:
      - rsi(close, 14)
      - pct_change(close, 6)
    target: {kind: up, horizon: 6}
    train_bars: 1500
    retrain_every: STEP
    params: PARAMS
entry:
  long: p > 0.6
exit:
  long: position.bars_held >= 6
"""


def _ml(tmp_path: Path, kind: str, step: int, params: str) -> Path:
    return _write(tmp_path, ML_DOC.replace("KIND", kind).replace("STEP", str(step)).replace("PARAMS", params),
                  f"{kind}.yaml")


def test_an_lstm_at_the_documented_bounds_is_refused_for_its_memory(tmp_path: Path) -> None:
    path = _ml(tmp_path, "lstm", 1000, "{seq_len: 512, hidden: 256}")
    out = _validate(path)
    assert out.returncode == 1
    assert (f"{_shown(path)}:12:36: error: model 'p' would need an estimated 17.8 GiB for one training, above the "
            "budget of 2 GiB") in out.stdout
    assert "hint: lower seq_len, hidden or train_bars (docs/ml.md, Budgets)" in out.stdout


def test_lightgbm_retrained_every_bar_with_the_most_trees_is_refused_for_its_time(tmp_path: Path) -> None:
    path = _ml(tmp_path, "lightgbm", 1, "{n_estimators: 10000}")
    out = _validate(path)
    assert out.returncode == 1
    assert (f"{_shown(path)}:11:20: error: model 'p' would train 98,481 times and take an estimated 193,023 s over "
            "100,000 bars, above the budget of 600 s") in out.stdout
    assert _validate(_ml(tmp_path, "lightgbm", 1000, "{n_estimators: 10000}")).returncode == 0   # 99 trainings


def test_the_examples_and_the_benchmark_settings_are_inside_the_budget(tmp_path: Path) -> None:
    from autobot.language import ml as L
    memory, seconds, _, _ = L.estimate("lstm", {"seq_len": 16, "hidden": 8, "epochs": 60}, 5, 1500, 1600, 500,
                                       L.REFERENCE_BARS)
    assert memory < 0.5 * 1024 ** 3 and 60 < seconds < 200
    examples = sorted((Path(__file__).parents[1] / "examples" / "strategies").glob("*.yaml"))
    out = _autobot("validate", *map(str, examples))
    assert "over-budget" not in out.stdout and "budget" not in out.stdout, out.stdout[-2000:]


LSTM_PEAK = """
import json, sys
import numpy as np
from autobot.evaluate import lstm
rows, seq, hidden, features = map(int, sys.argv[1:5])
z = np.random.default_rng(0).standard_normal((rows, seq * features))
y = (np.random.default_rng(1).standard_normal(rows) > 0).astype(float)
import torch  # noqa: F401  (its own memory is counted in the estimate's base)


def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024


before = status("VmRSS:")              # now: importing torch may have peaked higher than this
lstm.train(z, y, features, True, hidden, 2, 0.01, 0.0, 7)
print(json.dumps(status("VmHWM:") - before))
"""


def test_the_lstm_memory_estimate_bounds_a_real_training() -> None:
    """The estimate is calibrated on measurements: a real training stays under it, and not far."""
    pytest.importorskip("torch")
    import subprocess
    import sys

    from autobot.language import ml as L
    rows, seq, hidden, features = 1000, 64, 64, 5
    done = subprocess.run([sys.executable, "-c", LSTM_PEAK, *map(str, (rows, seq, hidden, features))],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stderr[-2000:]
    used = json.loads(done.stdout)
    memory, _, _, _ = L.estimate("lstm", {"seq_len": seq, "hidden": hidden, "epochs": 2}, features, rows, 0, 1, 1)
    activations = memory - 256 * 1024 ** 2
    assert 0.5 * activations < used < memory, (used, memory)
