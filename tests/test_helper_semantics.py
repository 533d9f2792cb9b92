"""Every helper function's exact semantics, on hand-made series, through both evaluators."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autobot.evaluate.batch import evaluate, rule_series
from tests.expr_gen import RandomBars as Series
from tests.helpers import assert_agree, compile_exprs

NAN = math.nan


def bars(close: list[float], volume: list[float] | None = None, other: list[float] | None = None) -> Series:
    """Bars whose close is ``close``; ``open`` carries a second hand-made series when given."""
    c = np.array(close, dtype=float)
    o = np.array(other, dtype=float) if other is not None else c.copy()
    v = np.array(volume if volume is not None else [1.0] * len(c), dtype=float)
    ts = np.arange(len(c), dtype=np.int64) * 3_600_000_000_000
    return Series(ts, o, np.maximum(o, c) + 1, np.minimum(o, c) - 1, c, v)


def values_of(expr: str, b: Series) -> list:
    compiled = compile_exprs(indicators={"x": expr}, rule="true")
    assert_agree(compiled, b)
    out = evaluate(compiled.plan, b)[compiled.plan.named["x"]]
    return [None if isinstance(v, float) and math.isnan(v) else v for v in np.asarray(out).tolist()]


def rule_of(expr: str, b: Series) -> list[bool]:
    compiled = compile_exprs(rule=expr)
    assert_agree(compiled, b)
    values = evaluate(compiled.plan, b)
    return rule_series(compiled.plan, values, "entry.long").tolist()


def test_crosses_above_needs_strictly_above_now_and_at_or_below_before() -> None:
    #             a:  1  2  3  2  2  3  3
    #             b:  2  2  2  2  2  2  2
    b = bars([1, 2, 3, 2, 2, 3, 3], other=[2] * 7)
    assert rule_of("crosses_above(close, open)", b) == [False, False, True, False, False, True, False]
    assert rule_of("crosses_below(close, open)", b) == [False, False, False, False, False, False, False]
    assert rule_of("crosses(close, open)", b) == [False, False, True, False, False, True, False]


def test_crosses_below_and_either_way() -> None:
    b = bars([3, 2, 1, 2, 3, 1], other=[2] * 6)
    assert rule_of("crosses_below(close, open)", b) == [False, False, True, False, False, True]
    assert rule_of("crosses(close, open)", b) == [False, False, True, False, True, True]


def test_crosses_is_false_when_the_previous_value_is_undefined() -> None:
    # sma(close, 2) is undefined at bar 0, so no cross can be seen at bar 1 even though close > sma there.
    b = bars([10, 1, 5, 0.5, 9])
    assert rule_of("crosses_above(close, sma(close, 2))", b) == [False, False, True, False, True]


def test_highest_and_lowest_cover_the_last_n_bars_including_now() -> None:
    b = bars([5, 1, 4, 2, 3, 9])
    assert values_of("highest(close, 3)", b) == [None, None, 5, 4, 4, 9]
    assert values_of("lowest(close, 3)", b) == [None, None, 1, 1, 2, 2]
    # breakout above the prior 2 highs
    assert rule_of("close > highest(close, 2)[1]", b) == [False, False, False, False, False, True]


def test_change_and_pct_change() -> None:
    b = bars([100, 110, 99, 99])
    assert values_of("change(close, 1)", b) == [None, 10, -11, 0]
    assert values_of("change(close, 2)", b) == [None, None, -1, -11]
    assert values_of("pct_change(close, 1)", b) == [None, 0.10000000000000009, 99 / 110 - 1, 0.0]
    assert values_of("change(close)", b) == values_of("change(close, 1)", b)


def test_rising_and_falling_need_every_step_strict() -> None:
    b = bars([1, 2, 3, 3, 4, 5, 4])
    assert rule_of("rising(close, 2)", b) == [False, False, True, False, False, True, False]
    assert rule_of("rising(close)", b) == [False, True, True, False, True, True, False]
    assert rule_of("falling(close, 1)", b) == [False, False, False, False, False, False, True]


def test_bars_since_counts_from_the_last_true_and_is_undefined_before() -> None:
    b = bars([1, 5, 2, 2, 6, 1])
    assert values_of("bars_since(close > 4)", b) == [None, 0, 1, 2, 0, 1]
    assert values_of("bars_since(close > 100)", b) == [None] * 6


def test_abs_min_max_sqrt_log() -> None:
    b = bars([4, 1, 9], other=[1, 2, 3])
    assert values_of("abs(open - close)", b) == [3, 1, 6]
    assert values_of("min(close, open)", b) == [1, 1, 3]
    assert values_of("max(close, open, 5)", b) == [5, 5, 9]
    assert values_of("sqrt(close)", b) == [2, 1, 3]
    assert values_of("sqrt(open - close)", b) == [None, 1, None]
    assert values_of("log(close - 1)", b) == [math.log(3), None, math.log(8)]


def test_min_max_are_undefined_when_any_argument_is() -> None:
    b = bars([1, 2, 3])
    assert values_of("min(close, sma(close, 2))", b) == [None, 1.5, 2.5]


def test_arithmetic_propagates_undefined_and_division_by_zero_is_undefined() -> None:
    b = bars([2, 0.5, 4], other=[2, 0.5, 2])
    assert values_of("1 / (close - open)", b) == [None, None, 0.5]
    assert values_of("close % 3", b) == [2, 0.5, 1]
    assert values_of("close + close[1]", b) == [None, 2.5, 4.5]


def test_comparisons_with_undefined_are_false_and_not_stays_defined() -> None:
    b = bars([1, 2, 3])
    assert rule_of("close[1] != 99", b) == [False, True, True]
    # as a value, not(false) is true even while close[5] is undefined ...
    assert values_of("not (close[5] > 0)", b) == [True, True, True]
    # ... which is why rules never fire before their warm-up: see the next test.


def test_rules_never_fire_during_their_warm_up() -> None:
    b = bars([1, 2, 3, 4, 5, 6, 7])
    compiled = compile_exprs(rule="not (close[5] > 100)")
    assert compiled.plan.warmup[compiled.plan.rules["entry.long"]] == 5
    assert rule_of("not (close[5] > 100)", b) == [False] * 5 + [True, True]


def test_chained_comparison_is_the_and_of_its_links() -> None:
    b = bars([10, 30, 50, 70, 90])
    assert rule_of("30 < close <= 70", b) == [False, False, True, True, False]


def test_bullish_divergence_price_lower_low_oscillator_higher_low() -> None:
    # price makes a lower low at bar 4 than the lowest of bars 1..3 (at bar 2), while osc is higher there.
    price = [10, 9, 8, 9, 7, 9]
    osc = [50, 40, 20, 30, 25, 40]
    b = bars(price, other=osc)
    assert rule_of("bullish_divergence(close, open, 3)", b) == [False, False, False, False, True, False]
    # same price path, oscillator also lower: no divergence
    b2 = bars(price, other=[50, 40, 20, 30, 15, 40])
    assert rule_of("bullish_divergence(close, open, 3)", b2) == [False] * 6


def test_bearish_divergence_price_higher_high_oscillator_lower_high() -> None:
    price = [10, 11, 12, 11, 13, 11]
    osc = [50, 60, 80, 70, 75, 60]
    b = bars(price, other=osc)
    assert rule_of("bearish_divergence(close, open, 3)", b) == [False, False, False, False, True, False]


def test_divergence_compares_with_the_most_recent_of_tied_lows() -> None:
    # lows of 8 at bars 1 and 3 (n=3 window before bar 4 is bars 1..3): TA-Lib MININDEX picks bar 3.
    price = [10, 8, 9, 8, 7]
    osc = [50, 10, 40, 30, 20]   # osc[4]=20 > osc[1]=10 but < osc[3]=30: no divergence with the recent low
    assert rule_of("bullish_divergence(close, open, 3)", bars(price, other=osc)) == [False] * 5


def test_offsets_read_the_past_only() -> None:
    b = bars([1, 2, 3, 4])
    assert values_of("close[2]", b) == [None, None, 1, 2]
    assert values_of("close[0]", b) == [1, 2, 3, 4]


def test_time_fields_are_utc_hour_and_monday_zero_weekday() -> None:
    b = bars([1, 2, 3])
    b.ts = np.array(["2024-01-01T23:00", "2024-01-06T05:00", "2024-01-07T00:00"],
                    dtype="datetime64[ns]").astype(np.int64)
    assert values_of("time.hour", b) == [23, 5, 0]
    assert values_of("time.weekday", b) == [0, 5, 6]   # Monday, Saturday, Sunday


def test_ta_lib_function_restarts_after_an_undefined_input() -> None:
    # close - open is 0 at bar 2, so 1/(close-open) is undefined there: sma(..., 2) restarts its warm-up.
    b = bars([2, 3, 5, 6, 7, 9], other=[1, 1, 5, 4, 4, 4])
    got = values_of("sma(1 / (close - open), 2)", b)
    assert got[:4] == [None, 0.75, None, None]
    assert got[4:] == pytest.approx([(0.5 + 1 / 3) / 2, (1 / 3 + 0.2) / 2], rel=1e-15)


@pytest.mark.parametrize("expr", ["minindex(close, 3)", "maxindex(close, 3)"])
def test_index_functions_report_bars_ago(expr: str) -> None:
    b = bars([5, 1, 4, 2, 3])
    got = values_of(expr, b)
    expected = [None, None, 1, 2, 1] if expr.startswith("min") else [None, None, 2, 1, 2]
    assert got == expected


def test_helper_lengths_may_be_named() -> None:
    from tests.helpers import compile_exprs
    from autobot.evaluate.batch import evaluate
    import numpy as np
    named = compile_exprs(indicators={"a": "highest(close, n=5)", "b": "change(close, n=3)"}, rule="rising(close, n=2)")
    plain = compile_exprs(indicators={"a": "highest(close, 5)", "b": "change(close, 3)"}, rule="rising(close, 2)")
    assert named.plan.nodes == plain.plan.nodes
    c = np.arange(30, dtype=float) + 1
    bars = type("B", (), {"ts": np.arange(30, dtype=np.int64), "open": c, "high": c, "low": c, "close": c,
                          "volume": c})()
    a = evaluate(named.plan, bars)
    assert a[named.plan.named["a"]][10] == 11.0 and a[named.plan.named["b"]][10] == 3.0
