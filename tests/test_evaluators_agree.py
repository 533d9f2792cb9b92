"""The batch and streaming evaluators agree bit for bit, undefined values included, on every bar."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autobot.evaluate.stream import StreamEvaluator
from tests.expr_gen import RandomBars, bool_expr, number_expr, random_bars
from tests.helpers import assert_agree, compile_exprs

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                              HealthCheck.data_too_large])


@SETTINGS
@given(expr=bool_expr(3), bars=random_bars())
def test_random_rules_agree(expr: str, bars: RandomBars) -> None:
    compiled = compile_exprs(rule=expr)
    assert_agree(compiled, bars)


@SETTINGS
@given(expr=number_expr(3), bars=random_bars())
def test_random_indicators_agree(expr: str, bars: RandomBars) -> None:
    compiled = compile_exprs(indicators={"x": expr}, rule="x > 0")
    assert_agree(compiled, bars)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=number_expr(2), b=bool_expr(2), bars=random_bars(60, 200))
def test_indicators_referring_to_each_other_agree(a: str, b: str, bars: RandomBars) -> None:
    compiled = compile_exprs(indicators={"a": a, "b": b, "c": "ema(a, 5) - a[2]"},
                             rule="(b and c > 0) or crosses_above(a, c)")
    assert_agree(compiled, bars)


@settings(max_examples=25, deadline=None)
@given(bars=random_bars(80, 200), period=st.integers(2, 20))
def test_every_multi_output_field_agrees(bars: RandomBars, period: int) -> None:
    compiled = compile_exprs(indicators={
        "bb": f"bbands(close, period={period}, dev=2)", "m": "macd(close)", "s": "stoch()",
        "aroon_": f"aroon({period})", "mm": f"minmaxindex(close, {period})",
    }, rule="close < bb.lower and m.hist > 0 and s.k > s.d and aroon_.up > mm.min")
    assert_agree(compiled, bars)


def test_unobserved_nodes_are_not_readable() -> None:
    compiled = compile_exprs(indicators={"x": "ema(close, 3)"}, rule="x > close")
    plan = compiled.plan
    ev = StreamEvaluator(plan, observe=[plan.named["x"]])
    fired = ev.update(0, 1.0, 1.0, 1.0, 1.0, 1.0)
    assert fired == (False,) and ev.bar_index == 0
    assert ev.value(plan.named["x"]) != ev.value(plan.named["x"])   # NaN during warm-up
    with pytest.raises(KeyError):
        ev.value(plan.rules["entry.long"])


def test_a_reloaded_plan_takes_over_the_state_of_unchanged_computations() -> None:
    import numpy as np

    v1 = compile_exprs(indicators={"f": "ema(close, 12)", "m": "roc(close, 5)"}, rule="crosses_above(f, close) and m > 0")
    v2 = compile_exprs(indicators={"f": "ema(close, 12)", "m": "roc(close, 7)"}, rule="crosses_above(f, close) and m > 0")
    rng = np.random.default_rng(3)
    close = 100 + np.cumsum(rng.normal(0, 1, 400))
    cut = 300

    def feed(ev: StreamEvaluator, lo: int, hi: int) -> list:
        return [ev.update(k, c, c, c, c, 1.0) for k, c in enumerate(close[lo:hi].tolist(), start=lo)]
    old = StreamEvaluator(v1.plan)
    feed(old, 0, cut)
    new = StreamEvaluator(v2.plan)
    feed(new, cut - 50, cut)                       # warm the changed indicator on recent bars
    taken = new.adopt_state(old.state())
    assert "t" in taken and any(k.startswith("ta:") and "'ema'" in k for k in taken)
    assert not any("'roc'" in k for k in taken)    # roc(close, 7) is new: not taken over
    reference = StreamEvaluator(v2.plan)           # v2 run from the first bar
    feed(reference, 0, cut)
    assert feed(new, cut, 400) == feed(reference, cut, 400)
    assert new.value(v2.plan.named["f"]) == reference.value(v2.plan.named["f"])
    assert new.bar_index == reference.bar_index == 399


def test_a_true_constant_and_the_number_one_stay_two_nodes() -> None:
    """Const(True) == Const(1.0) in Python: interned as one node, ``1 > open`` compared True with
    the open in the streaming evaluator (found by the random-rules test above)."""
    import numpy as np

    from tests.expr_gen import RandomBars
    from tests.helpers import assert_agree, compile_exprs
    o = np.array([100.1, 100.1, 99.9, 100.6, 100.7])
    c = np.array([100.1, 99.9, 100.6, 100.7, 100.2])
    bars = RandomBars(1_700_000_000 * 10**9 + np.arange(5, dtype=np.int64) * 3600 * 10**9, o,
                      np.maximum(o, c) + 0.1, np.minimum(o, c) - 0.1, c, np.ones(5))
    compiled = compile_exprs(rule="(open > open)[1] == true or 1 > open")
    assert_agree(compiled, bars)
    consts = [n for n in compiled.plan.nodes if type(n).__name__ == "Const"]
    assert len(consts) == 2
