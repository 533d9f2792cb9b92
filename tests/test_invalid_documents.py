"""Invalid documents: every error is reported at the exact line and column, with its code and message.

Each case writes a small document to ``tmp_path`` (a valid template with one change),
checks it with :class:`autobot.workspace.Workspace` and asserts the diagnostic's span,
``code`` and message. Every expected position was counted by hand from the YAML text
written here: columns are 1-based, ``end_column`` is exclusive (the column just after
the offending text), so ``end_column - column`` is the length of the underlined text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.diagnostics import Diagnostic
from autobot.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------- templates
# A small valid strategy. Line numbers (for reading the expectations below):
#   1 strategy: trend_ema
#   2 market:
#   3   instrument: BTCUSDT.BINANCE
#   4   bar: 1h
#   5 params:
#   6   fast: {default: 12, min: 5, max: 30}
#   7 indicators:
#   8   ema_fast: ema(close, fast)
#   9 entry:
#  10   long: close > ema_fast          <- expressions under test go here: "  long: " is 8 columns,
#  11 exit:                                 so the expression's first character is column 9
#  12   long: close < ema_fast
#  13 risk:
#  14   stop_loss: 2 * atr(14)
#  15 sizing:
#  16   risk_per_trade: 0.5%
STRATEGY = """\
strategy: trend_ema
market:
  instrument: BTCUSDT.BINANCE
  bar: 1h
params:
  fast: {default: 12, min: 5, max: 30}
indicators:
  ema_fast: ema(close, fast)
entry:
  long: close > ema_fast
exit:
  long: close < ema_fast
risk:
  stop_loss: 2 * atr(14)
sizing:
  risk_per_trade: 0.5%
"""
ENTRY_LONG = "  long: close > ema_fast\n"
RULE_LINE = 10

# A policy project: policy.yaml, regimes/regimes.yaml, strategies/{trend,breakout}.yaml.
#   1 policy: test
#   2 regimes: regimes/regimes.yaml
#   3 strategies: [strategies/*.yaml]
#   4 allocations:
#   5   trending: {trend_ema: 60%}
#   6   calm: {breakout: 50%}
#   7 challenge:
#   8   promote_when: sharpe > 1.5
POLICY = """\
policy: test
regimes: regimes/regimes.yaml
strategies: [strategies/*.yaml]
allocations:
  trending: {trend_ema: 60%}
  calm: {breakout: 50%}
challenge:
  promote_when: sharpe > 1.5
"""
REGIMES = """\
regimes:
  trending: adx(14) > 25
  calm: true
"""


# ---------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Want:
    """An expected diagnostic. ``end_column``/``end_line`` None: not asserted."""

    line: int
    column: int
    end_column: int | None
    code: str
    message: str                 # a substring of the message
    suggestion: str | None = None  # the did-you-mean name, when there must be one
    hint: str | None = None        # a substring of the hint
    end_line: int | None = None    # defaults to ``line`` when end_column is given


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced by ``new``."""
    assert text.count(old) == 1, f"{old!r} must occur exactly once in the template"
    return text.replace(old, new)


def write(tmp_path: Path, text: str, name: str = "strategy.yaml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def check(*paths: Path) -> list[Diagnostic]:
    ws = Workspace()
    ws.check(list(paths))
    return ws.diagnostics


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity == "error"]


def check_text(tmp_path: Path, text: str, name: str = "strategy.yaml") -> list[Diagnostic]:
    return check(write(tmp_path, text, name))


def describe(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(f"  {d.line}:{d.column}-{d.end_line}:{d.end_column} [{d.code}] {d.message} | {d.hint}"
                     for d in diagnostics)


def assert_diag(d: Diagnostic, want: Want) -> None:
    got = f"{d.line}:{d.column}-{d.end_line}:{d.end_column} [{d.code}] {d.message} | hint: {d.hint}"
    assert d.severity == "error", got
    assert d.code == want.code, got
    assert (d.line, d.column) == (want.line, want.column), got
    if want.end_column is not None:
        end_line = want.end_line if want.end_line is not None else want.line
        assert (d.end_line, d.end_column) == (end_line, want.end_column), got
    assert want.message in d.message, got
    if want.suggestion is not None:
        assert f"(did you mean '{want.suggestion}'?)" in d.message, got
    if want.hint is not None:
        assert want.hint in d.hint, got


def assert_only(diagnostics: list[Diagnostic], want: Want) -> None:
    """Exactly one error, and it is ``want``."""
    errs = errors(diagnostics)
    assert len(errs) == 1, "expected exactly one error, got:\n" + describe(diagnostics)
    assert_diag(errs[0], want)


def one_with_code(diagnostics: list[Diagnostic], code: str) -> Diagnostic:
    found = [d for d in errors(diagnostics) if d.code == code]
    assert len(found) == 1, f"expected one '{code}' error, got:\n" + describe(diagnostics)
    return found[0]


def project(tmp_path: Path, policy: str = POLICY, regimes: str = REGIMES,
            strategies: dict[str, str] | None = None) -> Path:
    """Write a policy project; returns the policy file."""
    if strategies is None:
        strategies = {"trend.yaml": STRATEGY,
                      "breakout.yaml": edit(STRATEGY, "strategy: trend_ema", "strategy: breakout")}
    for name, text in strategies.items():
        write(tmp_path, text, f"strategies/{name}")
    write(tmp_path, regimes, "regimes/regimes.yaml")
    return write(tmp_path, policy, "policy.yaml")


# ------------------------------------------------------------------------------ the templates are valid
def test_strategy_template_is_valid(tmp_path: Path) -> None:
    assert check_text(tmp_path, STRATEGY) == []


def test_policy_template_is_valid(tmp_path: Path) -> None:
    assert check(project(tmp_path)) == []


# ------------------------------------------------------------------------------------ YAML-level errors
def test_yaml_syntax_error(tmp_path: Path) -> None:
    # "  long: close: 1": the second ':' (column 14) starts a mapping inside a plain value.
    text = edit(STRATEGY, ENTRY_LONG, "  long: close: 1\n")
    assert_only(check_text(tmp_path, text),
                Want(10, 14, 15, "yaml-syntax", "YAML syntax error: mapping values are not allowed here"))


def test_yaml_unclosed_flow_mapping_says_where_it_opened(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n", "  fast: {default: 12, min: 5, max: 30\n")
    assert_only(check_text(tmp_path, text),
                Want(6, 9, None, "yaml-syntax", "a '{' is never closed (noticed on line 7)", hint="close the '{'"))


def test_yaml_unclosed_quote_points_at_the_quote(tmp_path: Path) -> None:
    text = edit(STRATEGY, ENTRY_LONG, '  long: "close > ema_fast\n')
    assert_only(check_text(tmp_path, text),
                Want(10, 9, None, "yaml-syntax", "a quoted text is never closed", hint="close the quote"))


def test_duplicate_key(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  bar: 1h\n", "  bar: 1h\n  bar: 4h\n")
    assert_only(check_text(tmp_path, text),
                Want(5, 3, 6, "yaml-duplicate-key", "duplicate key 'bar'", hint="already defined on line 4"))


def test_alias_is_refused(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n",
                "  fast: &f {default: 12, min: 5, max: 30}\n  slow: *f\n")
    # "  slow: *f": the alias starts at column 9.
    assert_only(check_text(tmp_path, text),
                Want(7, 9, None, "yaml-alias", "YAML anchors and aliases are not supported"))


def test_merge_key_with_alias_is_refused(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n",
                "  fast: &f {default: 12, min: 5, max: 30}\n  slow: {<<: *f, default: 20}\n")
    # "  slow: {<<: *f": '*' is column 14.
    assert_only(check_text(tmp_path, text), Want(7, 14, None, "yaml-alias", "anchors and aliases"))


def test_nesting_deeper_than_50(tmp_path: Path) -> None:
    # The root mapping is level 1, so the 50th '[' opens level 51. "x: " is 3 columns: the
    # first '[' is column 4 and the 50th is column 53.
    text = "strategy: t\nx: " + "[" * 60 + "]" * 60 + "\n"
    assert_only(check_text(tmp_path, text), Want(2, 53, 54, "yaml-depth", "nested deeper than 50 levels"))


def test_nesting_of_exactly_50_is_not_a_depth_error(tmp_path: Path) -> None:
    text = "strategy: t\nx: " + "[" * 49 + "]" * 49 + "\n"
    codes = {d.code for d in check_text(tmp_path, text)}
    assert "yaml-depth" not in codes and "unknown-key" in codes


def test_file_over_one_mib(tmp_path: Path) -> None:
    text = STRATEGY + "# " + "x" * (1024 * 1024) + "\n"
    assert_only(check_text(tmp_path, text), Want(1, 1, 2, "file-too-large", "larger than 1024 KiB"))


def test_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_bytes(STRATEGY.encode("utf-8") + b"# \xff\n")
    assert_only(check(path), Want(1, 1, 2, "file-encoding", "not valid UTF-8"))


def test_two_documents_in_one_file(tmp_path: Path) -> None:
    # The second '---' is line 17, column 1.
    text = STRATEGY + "---\nstrategy: other\n"
    assert_only(check_text(tmp_path, text), Want(17, 1, None, "yaml-multi-document", "more than one YAML document"))


# -------------------------------------------------------------------------------- document shape errors
def test_not_a_mapping(tmp_path: Path) -> None:
    assert_only(check_text(tmp_path, "- ema(close, 12)\n- close > 0\n"),
                Want(1, 1, None, "document-kind", "expected a mapping with a 'strategy', 'regimes' or 'policy' key"))


def test_plain_text_is_not_a_document(tmp_path: Path) -> None:
    assert_only(check_text(tmp_path, "hello\n"), Want(1, 1, 6, "document-kind", "not an AutoBot document"))


def test_no_kind_key(tmp_path: Path) -> None:
    text = edit(STRATEGY, "strategy: trend_ema", "stratgy: trend_ema")
    assert_only(check_text(tmp_path, text),
                Want(1, 1, 8, "document-kind", "no 'strategy', 'regimes' or 'policy' key", suggestion="strategy"))


def test_unknown_top_level_key(tmp_path: Path) -> None:
    text = edit(STRATEGY, "market:\n", "descripton: EMA trend\nmarket:\n")
    assert_only(check_text(tmp_path, text),
                Want(2, 1, 11, "unknown-key", "unknown key 'descripton'", suggestion="description",
                     hint="allowed keys here: strategy, description, market"))


def test_unknown_nested_key(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  stop_loss: 2 * atr(14)\n", "  stop_los: 2 * atr(14)\n")
    # An unknown key hides nothing else: the rest of the document is checked too, so the sizing
    # error it causes (risk_per_trade needs a stop) is reported after it, in the same pass.
    diags = errors(check_text(tmp_path, text))
    assert [d.code for d in diags] == ["unknown-key", "needs-stop"]
    assert_diag(diags[0], Want(14, 3, 11, "unknown-key", "unknown key 'stop_los'", suggestion="stop_loss",
                               hint="stop_loss, take_profit, trailing_stop"))


def test_unknown_key_inside_a_param(tmp_path: Path) -> None:
    # "  fast: {defualt": the key starts at column 10.
    text = edit(STRATEGY, "{default: 12, min: 5, max: 30}", "{defualt: 12, min: 5, max: 30}")
    diags = check_text(tmp_path, text)
    assert_diag(one_with_code(diags, "unknown-key"),
                Want(6, 10, 17, "unknown-key", "unknown key 'defualt'", suggestion="default"))
    # ... and 'default' itself is then missing.
    assert {d.code for d in errors(diags)} == {"unknown-key", "missing-key"}


def test_missing_market(tmp_path: Path) -> None:
    text = edit(STRATEGY, "market:\n  instrument: BTCUSDT.BINANCE\n  bar: 1h\n", "")
    # Reported at the start of the document (the mapping that lacks the key).
    assert_only(check_text(tmp_path, text), Want(1, 1, 2, "missing-key", "missing required key 'market'",
                                                 hint="add 'market:'"))


def test_missing_market_bar(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  bar: 1h\n", "")
    # Reported at the 'market' key, line 2.
    assert_only(check_text(tmp_path, text),
                Want(2, 1, 7, "missing-key", "missing required key 'bar' in 'market'"))


def test_missing_entry(tmp_path: Path) -> None:
    text = edit(STRATEGY, "entry:\n  long: close > ema_fast\nexit:\n  long: close < ema_fast\n", "")
    # Reported at the 'strategy' key.
    assert_only(check_text(tmp_path, text), Want(1, 1, 9, "missing-key", "missing required key 'entry'"))


def test_entry_without_a_side(tmp_path: Path) -> None:
    text = edit(STRATEGY, "entry:\n  long: close > ema_fast\n", "entry: {}\n")
    # "entry: {}": the empty mapping is columns 8-9.
    diags = check_text(tmp_path, text)
    assert_only(diags, Want(9, 8, 10, "missing-key", "'entry' needs a 'long' or 'short' condition"))


def test_indicators_as_a_list(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  - ema(close, fast)\n")
    # The list starts at its '-' on line 8, column 3.
    assert_only(check_text(tmp_path, text),
                Want(8, 3, None, "invalid-value", "'indicators' must be a mapping of keys to values, got a list"))


def test_param_as_text(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n", "  fast: twelve\n")
    assert_only(check_text(tmp_path, text),
                Want(6, 9, 15, "invalid-value", "'params.fast' must be a mapping of keys to values, got str 'twelve'"))


def test_bad_instrument(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  instrument: BTCUSDT.BINANCE\n", "  instrument: BTCUSDT\n")
    # "  instrument: " is 14 columns: the value is columns 15-21.
    assert_only(check_text(tmp_path, text),
                Want(3, 15, 22, "invalid-value", "'market.instrument'", hint="SYMBOL.VENUE"))


def test_bad_strategy_id(tmp_path: Path) -> None:
    text = edit(STRATEGY, "strategy: trend_ema", "strategy: 9trend")
    assert_only(check_text(tmp_path, text),
                Want(1, 11, 17, "invalid-value", "'strategy'", hint="starting with a letter"))


def test_bad_bar_size(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  bar: 1h\n", "  bar: 1x\n")
    assert_only(check_text(tmp_path, text), Want(4, 8, 10, "bad-bar", "unknown bar size '1x'",
                                                 hint="1-HOUR-LAST"))


def test_param_default_outside_range(tmp_path: Path) -> None:
    text = edit(STRATEGY, "{default: 12, min: 5, max: 30}", "{default: 40, min: 5, max: 30}")
    # "  fast: {default: " is 18 columns: '40' is columns 19-20.
    assert_only(check_text(tmp_path, text),
                Want(6, 19, 21, "param-range", "default 40 of param 'fast' is outside its range 5..30"))


def test_param_min_above_max(tmp_path: Path) -> None:
    text = edit(STRATEGY, "{default: 12, min: 5, max: 30}", "{default: 12, min: 30, max: 5}")
    # "  fast: {default: 12, min: " is 27 columns: '30' is columns 28-29.
    assert_only(check_text(tmp_path, text),
                Want(6, 28, 30, "param-range", "param 'fast': min 30 is above max 5", hint="swap"))


def test_param_named_like_a_builtin(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n",
                "  fast: {default: 12, min: 5, max: 30}\n  volume: 3\n")
    assert_only(check_text(tmp_path, text), Want(7, 3, 9, "reserved-name", "'volume' is already a built-in name"))


# --------------------------------------------------------------------------------- expression errors
# (expression written as entry.long on line 10, first column, end column, code, message,
#  did-you-mean suggestion, hint substring). The expression starts at column 9, so a span at
# 0-based offset i of the expression text starts at column 9 + i.
EXPRESSION_CASES = [
    pytest.param("close > > 1", 17, 18, "syntax", "syntax error: unexpected '>'", None, "expected",
                 id="syntax-error"),
    pytest.param("close > ema(close, 12", 29, 30, "syntax", "unexpected end of expression", None, "expected ')'",
                 id="syntax-unclosed-call"),
    pytest.param("close >", 15, 16, "syntax", "unexpected end of expression", None, "expected",
                 id="syntax-missing-operand"),
    pytest.param("clsoe > 1", 9, 14, "unknown-name", "unknown name 'clsoe'", "close", None,
                 id="unknown-name"),
    pytest.param("close > ema_fsat", 17, 25, "unknown-name", "unknown name 'ema_fsat'", "ema_fast", None,
                 id="unknown-name-indicator"),
    pytest.param("emma(close, 12) > 0", 9, 13, "unknown-function", "unknown function 'emma'", "ema",
                 "autobot functions", id="unknown-function"),
    pytest.param("ema > 0", 9, 12, "not-called", "'ema' is a function", None, None, id="function-not-called"),
    pytest.param("ema_fast(1) > 0", 9, 17, "not-callable", "'ema_fast' is not a function", None, None,
                 id="indicator-called"),
    pytest.param("position > 0", 9, 17, "namespace", "'position' needs a field", None, "position.side",
                 id="position-without-field"),
    pytest.param("crosses_above(close)", 9, 29, "arity", "crosses_above takes 2 arguments, got 1", None,
                 "crosses_above(a, b)", id="helper-arity"),
    pytest.param("atr(high, low, 14) > 0", 9, 27, "arity", "atr takes 3 input series (high, low, close), got 2",
                 None, None, id="talib-partial-inputs"),
    pytest.param("ema(close, 10, 20) > 0", 24, 26, "arity", "ema takes at most 1 parameter", None, None,
                 id="talib-too-many-params"),
    pytest.param("ema(close, perid=3) > 0", 20, 25, "unknown-keyword", "ema has no parameter 'perid'", "period",
                 "timeperiod", id="unknown-keyword"),
    pytest.param("highest(close, k=3) > 0", 24, 25, "unknown-keyword", "highest takes only its length as n=", None,
                 None, id="helper-keyword"),
    pytest.param("abs(close, n=3) > 0", 20, 21, "unknown-keyword", "abs takes no named arguments", None,
                 None, id="helper-keyword-none"),
    pytest.param("close + 1", 9, 18, "type", "a rule must be a condition (true/false), but this is a number",
                 None, None, id="rule-not-bool"),
    pytest.param("(close > 1) + 1 > 0", 10, 19, "type", "'+' needs a number, but this is a condition", None, None,
                 id="arithmetic-on-bool"),
    pytest.param("close > 0 and close", 23, 28, "type", "'and' needs a condition (true/false), but this is a number",
                 None, None, id="and-on-number"),
    pytest.param("regime > 3", 16, 17, "type", "cannot compare text with number", None, None,
                 id="text-vs-number"),
    pytest.param("position.side == 1", 23, 25, "type", "cannot compare text with number", None, None,
                 id="side-vs-number"),
    pytest.param('regime < "trending"', 16, 17, "type", "'<' does not apply to a text", None, "== or !=",
                 id="ordering-on-text"),
    pytest.param('position.sid == "long"', 18, 21, "unknown-field", "unknown field 'sid' of position", "side",
                 "valid fields: side, qty", id="unknown-position-field"),
    pytest.param("time.hours > 9", 14, 19, "unknown-field", "unknown field 'hours' of time", "hour", None,
                 id="unknown-time-field"),
    pytest.param('position.side == "lon"', 26, 31, "unknown-value", "'lon' is not a possible value", "long",
                 "long, short, flat", id="bad-side-literal"),
    pytest.param("rsi(close, 1) > 50", 20, 21, "bad-parameter", "TA-Lib refuses these parameters of rsi", None,
                 None, id="period-below-talib-minimum"),
    pytest.param("ema(close, 2.5) > 0", 20, 23, "not-integer", "must be a whole number, got 2.5", None, None,
                 id="non-integer-period"),
    pytest.param("ema(close, close) > 0", 9, 26, "arity", "ema takes 1 input series", None, None,
                 id="series-as-period"),
    # TA-Lib 0.8 has moving-average types 0..13, so 14 is the first bad one.
    pytest.param("bbands(close, matype=14).upper > close", 30, 32, "bad-parameter", "matype must be one of", None,
                 None, id="bad-matype"),
    pytest.param("close[-1] > 0", 15, 17, "lookahead", "negative offset would read the future", None, None,
                 id="negative-offset"),
    pytest.param("close[close] > 0", 15, 20, "lookahead", "an offset must be a whole-number literal or a param",
                 None, None, id="non-literal-offset"),
    pytest.param("close[1.5] > 0", 15, 18, "not-integer", "an offset must be a whole number, got 1.5", None, None,
                 id="non-integer-offset"),
    pytest.param("bbands(close).uper > close", 23, 27, "unknown-field", "bbands has no output 'uper'", "upper",
                 "upperband (or upper); middleband (or middle); lowerband (or lower)", id="unknown-output"),
    pytest.param("bbands(close) > close", 9, 22, "type", "cannot compare a multi-output value of bbands", None,
                 ".upper", id="multi-output-without-field"),
    pytest.param("bbands(close)[1].upper > 0", 9, 22, "type", "pick an output before taking an offset", None, None,
                 id="offset-of-multi-output"),
    pytest.param("ema_fast.value > 0", 18, 23, "unknown-field", "a number has no field 'value'", None, None,
                 id="field-of-number"),
    pytest.param("close > 2% %", 20, 21, "syntax", "unexpected", None, None, id="syntax-dangling-modulo"),
    pytest.param("highest(close, 0.5) > 0", 24, 27, "not-integer", "must be a whole number, got 0.5", None, None,
                 id="helper-length-not-integer"),
]


@pytest.mark.parametrize("expr, column, end_column, code, message, suggestion, hint", EXPRESSION_CASES)
def test_expression_error(tmp_path: Path, expr: str, column: int, end_column: int, code: str, message: str,
                          suggestion: str | None, hint: str | None) -> None:
    text = edit(STRATEGY, ENTRY_LONG, f"  long: {expr}\n")
    assert_only(check_text(tmp_path, text),
                Want(RULE_LINE, column, end_column, code, message, suggestion, hint))


def test_yaml_number_as_rule(tmp_path: Path) -> None:
    # "long: 1" is a YAML integer: the whole value (column 9) is underlined.
    text = edit(STRATEGY, ENTRY_LONG, "  long: 1\n")
    assert_only(check_text(tmp_path, text), Want(10, 9, 10, "type", "a rule must be a condition"))


def test_bad_matype_hint_names_every_allowed_value(tmp_path: Path) -> None:
    text = edit(STRATEGY, ENTRY_LONG, "  long: bbands(close, matype=14).upper > close\n")
    d = one_with_code(check_text(tmp_path, text), "bad-parameter")
    allowed = d.message.split("one of ")[1].split(", got")[0].split(", ")
    assert allowed[-1] == "13"
    for value in allowed:
        assert f"{value}=" in d.hint, d.hint


def test_misspelt_param_as_offset(tmp_path: Path) -> None:
    text = edit(STRATEGY, ENTRY_LONG, "  long: close[fsat] > 0\n")
    # 'fsat' is 6 characters into the expression: columns 15-18.
    assert_only(check_text(tmp_path, text), Want(10, 15, 19, "unknown-name", "unknown name 'fsat'", "fast"))


def test_keyword_as_operand_is_a_syntax_error(tmp_path: Path) -> None:
    text = edit(STRATEGY, ENTRY_LONG, "  long: close > 1 and and\n")
    # The second 'and' is 14 characters into the expression: columns 23-25.
    assert_only(check_text(tmp_path, text), Want(10, 23, 26, "syntax", "syntax error"))


# -------------------------------------------------------------------------------- indicator errors
def test_indicator_cycle(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fast)\n  a: b + 1\n  b: a * 2\n")
    # a -> b -> a is closed by the 'a' in "  b: a * 2" (line 10, column 6). Reported once.
    assert_only(check_text(tmp_path, text),
                Want(10, 6, 7, "cycle", "indicators refer to each other in a cycle: a -> b -> a"))


def test_indicator_refers_to_itself(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fast)\n  acc: acc[1] + 1\n")
    # "  acc: acc[1]": the reference starts at column 8.
    assert_only(check_text(tmp_path, text), Want(9, 8, 11, "cycle", "acc -> acc"))


def test_indicator_error_reported_once(tmp_path: Path) -> None:
    # A broken indicator used by both rules is reported where it is defined, not where it is used.
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(clsoe, fast)\n")
    # "  ema_fast: ema(" is 16 columns: 'clsoe' is columns 17-21.
    assert_only(check_text(tmp_path, text),
                Want(8, 17, 22, "unknown-name", "unknown name 'clsoe'", suggestion="close"))


def test_misspelt_param_in_talib_call(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fats)\n")
    # "  ema_fast: ema(close, " is 23 columns: 'fats' is columns 24-27.
    assert_only(check_text(tmp_path, text),
                Want(8, 24, 28, "unknown-name", "unknown name 'fats'", suggestion="fast"))


def test_indicator_shadowing_a_builtin(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fast)\n  close: ema(close, 3)\n")
    assert_only(check_text(tmp_path, text),
                Want(9, 3, 8, "reserved-name", "'close' is already a built-in name or a param",
                     hint="rename the indicator"))


def test_indicator_shadowing_a_param(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fast)\n  fast: ema(close, 3)\n")
    assert_only(check_text(tmp_path, text), Want(9, 3, 7, "reserved-name", "'fast' is already"))


def test_indicator_with_bad_name(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  ema_fast: ema(close, fast)\n", "  ema_fast: ema(close, fast)\n  2fast: ema(close, 3)\n")
    assert_only(check_text(tmp_path, text), Want(9, 3, 8, "bad-name", "indicator name '2fast' is not a valid name"))


# ------------------------------------------------------------------------- risk and sizing errors
def test_risk_per_trade_without_stop_loss(tmp_path: Path) -> None:
    text = edit(STRATEGY, "risk:\n  stop_loss: 2 * atr(14)\n", "")
    # "  risk_per_trade: " is 18 columns: '0.5%' is columns 19-22 of line 14.
    assert_only(check_text(tmp_path, text),
                Want(14, 19, 23, "needs-stop", "risk_per_trade sizes by the stop distance", hint="stop_loss"))


def test_two_sizing_methods(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  risk_per_trade: 0.5%\n", "  risk_per_trade: 0.5%\n  equity_pct: 20%\n")
    # Reported at the second method's value: "  equity_pct: " is 14 columns, '20%' is 15-17.
    assert_only(check_text(tmp_path, text),
                Want(17, 15, 18, "sizing-conflict", "sizing takes exactly one method, got risk_per_trade, equity_pct"))


EQUITY_SIZED = edit(STRATEGY, "  risk_per_trade: 0.5%\n", "  equity_pct: 20%\n")


def test_stop_loss_percentage_above_100(tmp_path: Path) -> None:
    text = edit(EQUITY_SIZED, "  stop_loss: 2 * atr(14)\n", "  stop_loss: 150%\n")
    assert_only(check_text(tmp_path, text),
                Want(14, 14, 18, "out-of-range", "stop_loss must be between 0% and 100%"))


def test_stop_loss_not_a_number(tmp_path: Path) -> None:
    text = edit(EQUITY_SIZED, "  stop_loss: 2 * atr(14)\n", "  stop_loss: close > 1\n")
    assert_only(check_text(tmp_path, text),
                Want(14, 14, 23, "type", "stop_loss (a price distance) must be a number, but this is a condition"))


def test_invalid_stop_loss_is_not_reported_as_missing(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  stop_loss: 2 * atr(14)\n", "  stop_loss: 150%\n")
    assert_only(check_text(tmp_path, text),
                Want(14, 14, 18, "out-of-range", "stop_loss must be between 0% and 100%"))


def test_sizing_not_a_constant(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  risk_per_trade: 0.5%\n", "  risk_per_trade: close\n")
    assert_only(check_text(tmp_path, text),
                Want(16, 19, 24, "not-constant", "sizing.risk_per_trade must be a constant, but 'close' is a series"))


# ------------------------------------------------------------- expressions in quoted and block scalars
SCALAR_CASES = [
    # double-quoted: the value starts at column 10 (after '"'); 'emma' is 8 characters in.
    pytest.param('  long: "close > emma(close, 3)"\n', Want(10, 18, 22, "unknown-function", "'emma'", "ema"),
                 id="double-quoted"),
    pytest.param("  long: 'clsoe > 1'\n", Want(10, 10, 15, "unknown-name", "'clsoe'", "close"), id="single-quoted"),
    # escapes before the error: "position.side == " is columns 10-26, \"long\" 27-34, " and " 35-39.
    pytest.param('  long: "position.side == \\"long\\" and clsoe > 1"\n',
                 Want(10, 40, 45, "unknown-name", "'clsoe'", "close"), id="double-quoted-with-escapes"),
    # single-quoted with a '' escape: "position.side == " is columns 10-26, ''long'' 27-34, " and " 35-39.
    pytest.param("  long: 'position.side == ''long'' and clsoe > 1'\n",
                 Want(10, 40, 45, "unknown-name", "'clsoe'", "close"), id="single-quoted-with-escapes"),
    pytest.param("  long: |\n    close > 0 and\n    clsoe > 1\n",
                 Want(12, 5, 10, "unknown-name", "'clsoe'", "close"), id="literal-block"),
    pytest.param("  long: |\n    close > 0 and\n\n    clsoe > 1\n",
                 Want(13, 5, 10, "unknown-name", "'clsoe'", "close"), id="literal-block-blank-line"),
    pytest.param("  long: >-\n    close > 0 and\n    close > emma(close, 3)\n",
                 Want(12, 13, 17, "unknown-function", "'emma'", "ema"), id="folded-block-strip"),
    pytest.param("  long: >\n    close > 0 and\n    clsoe > 1\n",
                 Want(12, 5, 10, "unknown-name", "'clsoe'", "close"), id="folded-block"),
    pytest.param("  long: |2\n      clsoe > 1\n",
                 Want(11, 7, 12, "unknown-name", "'clsoe'", "close"), id="literal-block-explicit-indent"),
    pytest.param("  long: close > 0 and\n    clsoe > 1\n",
                 Want(11, 5, 10, "unknown-name", "'clsoe'", "close"), id="multi-line-plain"),
    pytest.param('  long: "close > 0 and\n    clsoe > 1"\n',
                 Want(11, 5, 10, "unknown-name", "'clsoe'", "close"), id="multi-line-double-quoted"),
    pytest.param("  long: |\n    close + 1\n",
                 Want(11, 5, 14, "type", "a rule must be a condition"), id="literal-block-whole-value"),
    pytest.param("  long: close > 0 and clsoe > 1   # a comment\n",
                 Want(10, 23, 28, "unknown-name", "'clsoe'", "close"), id="plain-with-comment"),
    pytest.param('  long: "position.side == \\"lon\\""\n',
                 Want(10, 27, 34, "unknown-value", "'lon' is not a possible value", "long"),
                 id="escaped-quotes-literal-span"),
    # "position.side == " is columns 10-26; the literal is written ''lon'' in columns 27-33.
    pytest.param("  long: 'position.side == ''lon'''\n",
                 Want(10, 27, 34, "unknown-value", "'lon' is not a possible value", "long"),
                 id="doubled-quotes-literal-span"),
]


@pytest.mark.parametrize("entry_long, want", SCALAR_CASES)
def test_expression_inside_scalar_styles(tmp_path: Path, entry_long: str, want: Want) -> None:
    text = edit(STRATEGY, ENTRY_LONG, entry_long)
    assert_only(check_text(tmp_path, text), want)


# ----------------------------------------------------------------------------- several errors at once
def test_three_compile_errors_all_reported(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  bar: 1h\n", "  bar: 1x\n")
    text = edit(text, ENTRY_LONG, "  long: clsoe > ema_fast\n")
    text = edit(text, "  long: close < ema_fast\n", "  long: close < emma(close, 3)\n")
    diags = errors(check_text(tmp_path, text))
    assert len(diags) == 3, describe(diags)
    by_line = sorted(diags, key=lambda d: d.line)
    assert_diag(by_line[0], Want(4, 8, 10, "bad-bar", "unknown bar size '1x'"))
    assert_diag(by_line[1], Want(10, 9, 14, "unknown-name", "'clsoe'", suggestion="close"))
    # "  long: close < " is 16 columns: 'emma' is columns 17-20.
    assert_diag(by_line[2], Want(12, 17, 21, "unknown-function", "'emma'", suggestion="ema"))


def test_three_shape_errors_all_reported(tmp_path: Path) -> None:
    text = edit(STRATEGY, "market:\n", "descripton: x\nmarket:\n")           # line 2
    text = edit(text, "  instrument: BTCUSDT.BINANCE\n", "  instrument: BTCUSDT\n")  # line 4
    text = edit(text, "  stop_loss: 2 * atr(14)\n", "  stop_los: 2 * atr(14)\n")    # line 15
    diags = errors(check_text(tmp_path, text))
    # the shape errors hide nothing: the rest is checked with the unknown keys left out, and without
    # its stop_loss the sizing cannot size by the stop (issue 30: shape errors hid every other error)
    assert len(diags) == 4, describe(diags)
    by_line = sorted(diags, key=lambda d: d.line)
    assert_diag(by_line[0], Want(2, 1, 11, "unknown-key", "'descripton'", suggestion="description"))
    assert_diag(by_line[1], Want(4, 15, 22, "invalid-value", "'market.instrument'"))
    assert_diag(by_line[2], Want(15, 3, 11, "unknown-key", "'stop_los'", suggestion="stop_loss"))
    assert by_line[3].code == "needs-stop" and by_line[3].line == 17


def test_errors_in_two_files_all_reported(tmp_path: Path) -> None:
    a = write(tmp_path, edit(STRATEGY, ENTRY_LONG, "  long: clsoe > 1\n"), "a.yaml")
    b = write(tmp_path, edit(STRATEGY, "strategy: trend_ema", "strategy: other\nstrategy: again"), "b.yaml")
    diags = errors(check(a, b))
    assert len(diags) == 2, describe(diags)
    assert {(Path(d.file).name, d.line, d.column, d.code) for d in diags} == {
        ("a.yaml", 10, 9, "unknown-name"), ("b.yaml", 2, 1, "yaml-duplicate-key")}


# --------------------------------------------------------------------------------- regimes documents
def test_regime_condition_uses_position(tmp_path: Path) -> None:
    text = 'regimes:\n  long_held: position.side == "long"\n  calm: true\n'
    # "  long_held: " is 13 columns: 'position' is columns 14-21.
    assert_only(check_text(tmp_path, text, "regimes.yaml"),
                Want(2, 14, 22, "not-available", "'position' cannot be used here"))


def test_regimes_confirm_bars_zero(tmp_path: Path) -> None:
    text = REGIMES + "confirm_bars: 0\n"
    assert_only(check_text(tmp_path, text, "regimes.yaml"),
                Want(4, 15, 16, "invalid-value", "'confirm_bars'"))


# ---------------------------------------------------------------------------------- policy documents
def test_policy_unknown_strategy(tmp_path: Path) -> None:
    policy = edit(POLICY, "  trending: {trend_ema: 60%}\n", "  trending: {trend_emma: 60%}\n")
    # "  trending: {" is 13 columns: 'trend_emma' is columns 14-23.
    assert_only(check(project(tmp_path, policy=policy)),
                Want(5, 14, 24, "unknown-strategy", "unknown strategy 'trend_emma'", suggestion="trend_ema",
                     hint="breakout, trend_ema"))


def test_policy_unknown_regime(tmp_path: Path) -> None:
    policy = edit(POLICY, "  trending: {trend_ema: 60%}\n", "  trendng: {trend_ema: 60%}\n")
    diags = check(project(tmp_path, policy=policy))
    assert_only(diags, Want(5, 3, 10, "unknown-regime", "unknown regime 'trendng'", suggestion="trending",
                            hint="trending, calm"))
    # 'trending' itself now has no allocation: a warning, not an error.
    assert [d.code for d in diags if d.severity == "warning"] == ["no-allocation"]


def test_policy_shares_above_100_percent(tmp_path: Path) -> None:
    policy = edit(POLICY, "  trending: {trend_ema: 60%}\n", "  trending: {trend_ema: 60%, breakout: 50%}\n")
    assert_only(check(project(tmp_path, policy=policy)),
                Want(5, 3, 11, "allocation-sum", "shares in regime 'trending' add up to 110%, above 100%"))


def test_policy_share_above_100_percent(tmp_path: Path) -> None:
    policy = edit(POLICY, "  trending: {trend_ema: 60%}\n", "  trending: {trend_ema: 150%}\n")
    diags = check(project(tmp_path, policy=policy))
    # "  trending: {trend_ema: " is 24 columns: '150%' is columns 25-28.
    assert_diag(one_with_code(diags, "out-of-range"),
                Want(5, 25, 29, "out-of-range", "of 'trend_ema' must be between 0% and 100%"))


def test_policy_negative_share(tmp_path: Path) -> None:
    policy = edit(POLICY, "  calm: {breakout: 50%}\n", "  calm: {breakout: -10%}\n")
    # "  calm: {breakout: " is 19 columns: '-10%' is columns 20-23.
    assert_only(check(project(tmp_path, policy=policy)),
                Want(6, 20, 24, "out-of-range", "of 'breakout' must be between 0% and 100%"))


def test_policy_missing_regimes_file(tmp_path: Path) -> None:
    policy = edit(POLICY, "regimes: regimes/regimes.yaml\n", "regimes: regimes/nope.yaml\n")
    # "regimes: " is 9 columns: the path is columns 10-26.
    assert_only(check(project(tmp_path, policy=policy)),
                Want(2, 10, 27, "missing-file", "regimes file 'regimes/nope.yaml' not found"))


def test_policy_regimes_file_is_a_strategy(tmp_path: Path) -> None:
    policy = edit(POLICY, "regimes: regimes/regimes.yaml\n", "regimes: strategies/trend.yaml\n")
    assert_only(check(project(tmp_path, policy=policy)),
                Want(2, 10, 31, "wrong-document", "is a strategy document, not regimes"))


def test_policy_bad_promote_when_metric(tmp_path: Path) -> None:
    policy = edit(POLICY, "  promote_when: sharpe > 1.5\n", "  promote_when: sharpe > 1.5 and max_dd < 5%\n")
    # "  promote_when: " is 16 columns; 'max_dd' is 17 characters into the expression: columns 34-39.
    assert_only(check(project(tmp_path, policy=policy)),
                Want(8, 34, 40, "unknown-name", "unknown name 'max_dd'", suggestion="max_drawdown"))


def test_policy_promote_when_hint_lists_metrics(tmp_path: Path) -> None:
    policy = edit(POLICY, "  promote_when: sharpe > 1.5\n", "  promote_when: close > 1.5\n")
    d = one_with_code(check(project(tmp_path, policy=policy)), "unknown-name")
    assert_diag(d, Want(8, 17, 22, "unknown-name", "unknown name 'close'"))
    assert "sharpe" in d.hint and "close" not in d.hint, d.hint


def test_policy_share_unknown_name_hint(tmp_path: Path) -> None:
    policy = edit(POLICY, "{trend_ema: 60%}", "{trend_ema: lots}")
    d = one_with_code(check(project(tmp_path, policy=policy)), "unknown-name")
    # "  trending: {trend_ema: " is 24 columns: 'lots' is columns 25-28.
    assert_diag(d, Want(5, 25, 29, "unknown-name", "unknown name 'lots'"))
    assert "params" not in d.hint, d.hint


def test_policy_promote_when_not_a_condition(tmp_path: Path) -> None:
    policy = edit(POLICY, "  promote_when: sharpe > 1.5\n", "  promote_when: sharpe\n")
    assert_only(check(project(tmp_path, policy=policy)),
                Want(8, 17, 23, "type", "a promote_when condition must be a condition (true/false)"))


def test_policy_risk_limit_out_of_range(tmp_path: Path) -> None:
    policy = POLICY + "risk:\n  max_drawdown: 150%\n"
    # "  max_drawdown: " is 16 columns: '150%' is columns 17-20 of line 10.
    assert_only(check(project(tmp_path, policy=policy)),
                Want(10, 17, 21, "out-of-range", "risk.max_drawdown must be above 0% and at most 100%"))


def test_policy_bad_allocation_method(tmp_path: Path) -> None:
    policy = POLICY + "allocation_method: equal\n"
    assert_only(check(project(tmp_path, policy=policy)),
                Want(9, 20, 25, "invalid-value", "'allocation_method'", hint="pick one of the listed values"))


def test_strategy_compares_regime_with_unknown_name(tmp_path: Path) -> None:
    trend = edit(STRATEGY, ENTRY_LONG, '  long: regime == "trendng"\n')
    strategies = {"trend.yaml": trend, "breakout.yaml": edit(STRATEGY, "strategy: trend_ema", "strategy: breakout")}
    # '"trendng"' is 10 characters into the expression: columns 19-27 of line 10.
    assert_only(check(project(tmp_path, strategies=strategies)),
                Want(10, 19, 28, "unknown-value", "'trendng' is not a possible value", suggestion="trending",
                     hint="possible values: "))


def test_duplicate_strategy_ids_in_a_policy(tmp_path: Path) -> None:
    strategies = {"breakout.yaml": STRATEGY, "trend.yaml": STRATEGY}
    diags = check(project(tmp_path, strategies=strategies))
    d = one_with_code(diags, "duplicate-strategy")
    # The second file loaded (trend.yaml, in sorted order) is the one reported; 'trend_ema' is columns 11-19.
    assert Path(d.file).name == "trend.yaml"
    assert_diag(d, Want(1, 11, 20, "duplicate-strategy", "strategy id 'trend_ema' is also used by"))


# ----------------------------------------------------------------------------------------- the CLI
runner = CliRunner()


def test_cli_validate_renders_like_a_compiler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit(STRATEGY, ENTRY_LONG, "  long: emma(close, 12) > 0\n"), "bad.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "bad.yaml"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    head = "bad.yaml:10:9: error: unknown function 'emma' (did you mean 'ema'?)"
    assert head in lines, result.stdout
    i = lines.index(head)
    assert lines[i + 1] == "      long: emma(close, 12) > 0"
    assert lines[i + 2] == "    " + " " * 8 + "^^^^"
    assert lines[i + 3].startswith("    hint: ")
    assert "1 document checked: 1 error, 0 warnings (failed)" in result.stdout


def test_cli_validate_caret_inside_block_scalar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit(STRATEGY, ENTRY_LONG, "  long: >-\n    close > 0 and\n    close > emma(close, 3)\n"),
          "bad.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "bad.yaml"])
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    head = "bad.yaml:12:13: error: unknown function 'emma' (did you mean 'ema'?)"
    assert head in lines, result.stdout
    i = lines.index(head)
    assert lines[i + 1] == "        close > emma(close, 3)"
    assert lines[i + 2] == "    " + " " * 12 + "^^^^"


def test_cli_validate_three_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = edit(STRATEGY, "  bar: 1h\n", "  bar: 1x\n")
    text = edit(text, ENTRY_LONG, "  long: clsoe > ema_fast\n")
    text = edit(text, "  long: close < ema_fast\n", "  long: close < emma(close, 3)\n")
    write(tmp_path, text, "bad.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "bad.yaml"])
    assert result.exit_code == 1, result.output
    out = result.stdout
    for head, source, caret in (
            ("bad.yaml:4:8: error: unknown bar size '1x'", "  bar: 1x", " " * 7 + "^^"),
            ("bad.yaml:10:9: error: unknown name 'clsoe' (did you mean 'close'?)",
             "  long: clsoe > ema_fast", " " * 8 + "^^^^^"),
            ("bad.yaml:12:17: error: unknown function 'emma' (did you mean 'ema'?)",
             "  long: close < emma(close, 3)", " " * 16 + "^^^^")):
        block = f"{head}\n    {source}\n    {caret}\n"
        assert block in out, out
    assert "3 errors" in out


def test_cli_validate_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit(STRATEGY, ENTRY_LONG, "  long: ema(close, perid=3) > 0\n"), "bad.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "--format", "json", "bad.yaml"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert isinstance(data, list) and len(data) == 1
    item = data[0]
    assert set(item) == {"file", "line", "column", "end_line", "end_column", "severity", "code", "message", "hint"}
    assert item["file"] == "bad.yaml"
    assert (item["line"], item["column"], item["end_line"], item["end_column"]) == (10, 20, 10, 25)
    assert item["severity"] == "error"
    assert item["code"] == "unknown-keyword"
    assert "ema has no parameter 'perid' (did you mean 'period'?)" in item["message"]
    assert "timeperiod" in item["hint"]


def test_cli_validate_json_yaml_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, edit(STRATEGY, "  bar: 1h\n", "  bar: 1h\n  bar: 4h\n"), "bad.yaml")
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "--format", "json", "bad.yaml"])
    assert result.exit_code == 1, result.output
    [item] = json.loads(result.stdout)
    assert (item["file"], item["line"], item["column"], item["end_column"], item["code"]) == \
        ("bad.yaml", 5, 3, 6, "yaml-duplicate-key")


def test_cli_validate_missing_path_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["validate", "nope.yaml"])
    assert result.exit_code == 2


def test_cli_validate_shipped_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 0, result.output
    assert "0 errors" in result.stdout
    assert "(ok)" in result.stdout


# ----------------------------------------------------------------------------- risk levels
def test_zero_stop_distance(tmp_path: Path) -> None:
    text = edit(STRATEGY, "  stop_loss: 2 * atr(14)\n", "  stop_loss: 0\n")
    assert_only(check_text(tmp_path, text),
                Want(14, 14, 15, "out-of-range", "stop_loss must be a positive price distance, not 0"))


@pytest.mark.parametrize("word", ["off", "no", "false", "none"])
def test_take_profit_off_means_none(tmp_path: Path, word: str) -> None:
    text = edit(STRATEGY, "  stop_loss: 2 * atr(14)\n", f"  stop_loss: 2 * atr(14)\n  take_profit: {word}\n")
    assert errors(check_text(tmp_path, text)) == []


def test_validate_shows_the_source_line_of_a_yaml_syntax_error(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from autobot.cli.main import app
    path = write(tmp_path, edit(STRATEGY, ENTRY_LONG, '  long: "close > ema_fast\n'), "strategy.yaml")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "strategy.yaml:10:9: error: YAML syntax error" in line)
    assert lines[at + 1].strip() == 'long: "close > ema_fast'
    assert lines[at + 2].strip() == "^"


SIZING = "strategy: s\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: close > 0\n" \
    "risk:\n  stop_loss: 2%\nsizing:\n  "          # + the sizing line


@pytest.mark.parametrize("line, severity, hint", [
    ("risk_per_trade: 1", "warning", "write 1% for 1 percent"),
    ("risk_per_trade: 0.5", "warning", "write 0.5% for 0.5 percent"),
    ("equity_pct: 50", "error", "write 50% for 50 percent"),
    ("equity_pct: 5", "warning", "write 5% for 5 percent"),
])
def test_sizing_numbers_that_look_like_percents_are_flagged(tmp_path, line: str, severity: str, hint: str) -> None:
    found = [d for d in check_text(tmp_path, SIZING + line + "\n") if d.line == 8]
    assert [(d.severity, d.hint) for d in found] == [(severity, hint)]
    assert found[0].column == len("  ") + line.index(":") + 3


def test_sizing_with_percent_signs_is_not_flagged(tmp_path) -> None:
    assert check_text(tmp_path, SIZING + "risk_per_trade: 1%\n") == []


def test_validate_reports_every_error_in_one_pass(tmp_path) -> None:
    """An unknown key hides no expression error, and one bad name hides no other in the same rule."""
    text = ("strategy: m\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\ncolour: blue\nindicators:\n"
            "  a: emma(close, 10)\nentry:\n  long: foo > 1 and bar < 2 and (close + baz) > 0\n")
    got = [(d.line, d.column, d.code) for d in check_text(tmp_path, text)]
    assert got == [(3, 1, "unknown-key"), (5, 6, "unknown-function"), (7, 9, "unknown-name"),
                   (7, 21, "unknown-name"), (7, 42, "unknown-name")]


# ------------------------------------------------------------------------- constraints between params
# The template with a second param and a constraints: list after params: (line numbers below):
#   5 params:
#   6   fast: {default: 12, min: 5, max: 30}
#   7   slow: {default: 26, min: 20, max: 100}
#   8 constraints:
#   9   - <constraint>                 "  - " is 4 columns: the constraint starts at column 5
def constrained(*constraints: str, slow: int = 26) -> str:
    return edit(STRATEGY, "  fast: {default: 12, min: 5, max: 30}\n",
                "  fast: {default: 12, min: 5, max: 30}\n"
                f"  slow: {{default: {slow}, min: 20, max: 100}}\nconstraints:\n"
                + "".join(f"  - {c}\n" for c in constraints))


def test_a_valid_constraint_is_no_error(tmp_path: Path) -> None:
    assert check_text(tmp_path, constrained("slow > fast", "slow <= 5 * fast and abs(slow - fast) >= 2")) == []


def test_a_constraint_naming_an_unknown_param_is_a_positioned_error(tmp_path: Path) -> None:
    # "  - slow > " is 11 columns: 'fats' is columns 12-15
    assert_only(check_text(tmp_path, constrained("slow > fats")),
                Want(9, 12, 16, "unknown-param", "unknown param 'fats' in a constraint", suggestion="fast",
                     hint="the document's params: fast, slow"))


def test_a_constraint_in_a_regimes_document_naming_an_unknown_param(tmp_path: Path) -> None:
    text = ("params:\n  adx_trending: {default: 25, min: 18, max: 40}\n  adx_ranging: {default: 20, min: 10, max: 25}\n"
            "constraints: [adx_trending > adx_rangin]\nregimes:\n  trending: adx(14) > adx_trending\n  calm: true\n")
    # "constraints: [adx_trending > " is 29 columns: 'adx_rangin' is columns 30-39
    assert_only(check_text(tmp_path, text, "regimes.yaml"),
                Want(4, 30, 40, "unknown-param", "unknown param 'adx_rangin' in a constraint",
                     suggestion="adx_ranging", hint="adx_trending, adx_ranging"))


def test_a_constraint_reads_params_not_series(tmp_path: Path) -> None:
    diagnostics = check_text(tmp_path, constrained("ema_fast > fast", "close > slow", "slow > sma(fast, 3)",
                                                   "fast[1] < slow"))
    got = [(d.line, d.column, d.end_column, d.code) for d in errors(diagnostics)]
    assert got == [(9, 5, 13, "not-a-param"), (10, 5, 10, "not-a-param"), (11, 12, 15, "not-a-param"),
                   (12, 5, 12, "not-a-param")]
    assert "'ema_fast' is an indicator" in errors(diagnostics)[0].message


def test_a_constraint_must_be_a_condition(tmp_path: Path) -> None:
    assert_only(check_text(tmp_path, constrained("slow - fast")),
                Want(9, 5, 16, "type", "a constraint must be a condition"))


def test_defaults_that_break_a_constraint_are_an_error(tmp_path: Path) -> None:
    assert check_text(tmp_path, constrained("slow > fast", slow=20)) == []        # 20 > 12 holds
    assert_only(check_text(tmp_path, constrained("slow >= 2 * fast", slow=20)),
                Want(9, 5, 21, "constraint-violated",
                     "constraint 'slow >= 2 * fast' does not hold for the params' defaults (slow = 20, fast = 12)",
                     hint="change the defaults"))


def test_regimes_defaults_that_break_a_constraint_are_an_error(tmp_path: Path) -> None:
    text = ("params:\n  adx_trending: {default: 19, min: 18, max: 40}\n  adx_ranging: {default: 21, min: 10, max: 25}\n"
            "constraints:\n  - adx_trending > adx_ranging\nregimes:\n  trending: adx(14) > adx_trending\n"
            "  ranging: adx(14) < adx_ranging\n  calm: true\n")
    assert_only(check_text(tmp_path, text, "regimes.yaml"),
                Want(5, 5, 31, "constraint-violated", "(adx_trending = 19, adx_ranging = 21)"))


def test_overrides_that_break_a_constraint_are_an_error(tmp_path: Path) -> None:
    from autobot.diagnostics import UserError
    from autobot.language.compile import compile_strategy_text
    text = constrained("slow > fast")
    assert compile_strategy_text(text, "s.yaml", {"fast": 19.0}).params["fast"] == 19.0
    with pytest.raises(UserError) as err:
        compile_strategy_text(text, "s.yaml", {"fast": 30.0, "slow": 25.0})
    (d,) = err.value.diagnostics
    assert (d.line, d.column, d.code) == (9, 5, "constraint-violated")
    assert "does not hold for the values given (slow = 25, fast = 30; slow, fast overridden)" in d.message


def test_validate_prints_a_constraint_error_with_file_line_column_and_hint(tmp_path: Path) -> None:
    path = write(tmp_path, constrained("slow > fats"), "strategy.yaml")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines)
              if "strategy.yaml:9:12: error: unknown param 'fats' in a constraint (did you mean 'fast'?)" in line)
    assert lines[at + 1].strip() == "- slow > fats"
    assert lines[at + 2].strip() == "^^^^"
    assert lines[at + 3].strip() == "hint: the document's params: fast, slow"


def test_the_shipped_documents_declare_their_constraints() -> None:
    ws = Workspace()
    ws.check([ROOT / "policy.yaml"])
    assert [d for d in ws.diagnostics if d.severity == "error"] == []
    (regimes,) = ws.regimes.values()
    assert [c.text for c in regimes.constraints.items] == ["adx_trending > adx_ranging"]
    assert [c.text for c in ws.strategies["trend_ema"].constraints.items] == ["slow > fast"]
    # the proposal, adx_trending 19 with adx_ranging 21, breaks it
    assert [c.text for c in regimes.constraints.violated({"natr_volatile": 3, "adx_trending": 19,
                                                          "adx_ranging": 21})] == ["adx_trending > adx_ranging"]
    assert regimes.constraints.violated({"natr_volatile": 3, "adx_trending": 25, "adx_ranging": 20}) == []
