"""No lookahead: a value at bar t depends only on bars 0..t (future bars cannot change it)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autobot.evaluate.batch import evaluate
from autobot.language import plan as P
from tests.expr_gen import RandomBars, bool_expr, number_expr, random_bars
from tests.helpers import compile_exprs, same_bits


def _prefix(bars: RandomBars, k: int) -> RandomBars:
    return RandomBars(bars.ts[:k], bars.open[:k], bars.high[:k], bars.low[:k], bars.close[:k], bars.volume[:k])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(num=number_expr(3), cond=bool_expr(3), bars=random_bars(30, 150), cut=st.floats(0.2, 0.9))
def test_values_up_to_t_do_not_change_when_future_bars_change(num: str, cond: str, bars: RandomBars,
                                                             cut: float) -> None:
    compiled = compile_exprs(indicators={"x": num}, rule=cond)
    plan = compiled.plan
    k = max(1, int(len(bars.close) * cut))
    full = evaluate(plan, bars)
    # the same history followed by a different future
    rng = np.random.default_rng(k)
    future = RandomBars(bars.ts, bars.open.copy(), bars.high.copy(), bars.low.copy(), bars.close.copy(),
                        bars.volume.copy())
    bump = rng.uniform(0.5, 2.0, len(bars.close) - k)
    for arr in (future.open, future.high, future.low, future.close):
        arr[k:] *= bump
    future.volume[k:] = rng.uniform(0, 5000, len(bars.close) - k)
    for other in (evaluate(plan, _prefix(bars, k)), evaluate(plan, future)):
        for node, t in enumerate(plan.types):
            if t == P.RECORD:
                continue
            a, b = np.asarray(full[node])[:k], np.asarray(other[node])[:k]
            if t == P.NUMBER:
                assert same_bits(a, list(b)), f"node {plan.nodes[node]} changed with the future"
            else:
                assert a.tolist() == b.tolist(), f"node {plan.nodes[node]} changed with the future"


def test_negative_offsets_are_compile_errors() -> None:
    from autobot.diagnostics import DiagnosticSink
    from autobot.documents.load import load_text
    from autobot.documents.validate import validate_document
    from autobot.language.compile import compile_strategy
    text = "strategy: t\nmarket: {instrument: A.B, bar: 1h}\nentry:\n  long: close[-1] > close\n"
    source = load_text(text, "t.yaml")
    model, _ = validate_document(source)
    sink = DiagnosticSink()
    assert compile_strategy(source, model, sink) is None  # type: ignore[arg-type]
    assert [(d.line, d.column, d.code) for d in sink.items] == [(4, 15, "lookahead")]
