"""Constraints between params (``constraints:``) evaluate as the language does: the small
evaluator of the language layer (autobot/language/constraints.py, which may not import the
evaluators) agrees with the batch evaluator on random constraints and values, undefined ones
included."""

from __future__ import annotations

import random

import numpy as np

from autobot.diagnostics import DiagnosticSink
from autobot.documents.load import load_text
from autobot.evaluate.batch import evaluate as batch_evaluate
from autobot.language.constraints import compile_constraints

PARAMS = ("a", "b", "c")


def _number(rng: random.Random, depth: int) -> str:
    if depth <= 0 or rng.random() < 0.3:
        return rng.choice([*PARAMS, str(rng.randint(0, 5)), f"{rng.uniform(-3, 3):.2f}", "0", "2%"])
    kind = rng.randrange(4)
    if kind == 0:
        return f"({_number(rng, depth - 1)} {rng.choice('+-*/%')} {_number(rng, depth - 1)})"
    if kind == 1:
        return f"{rng.choice(['abs', 'sqrt', 'log'])}({_number(rng, depth - 1)})"
    if kind == 2:
        return f"{rng.choice(['min', 'max'])}({_number(rng, depth - 1)}, {_number(rng, depth - 1)})"
    return f"-{_number(rng, depth - 1)}"


def _condition(rng: random.Random, depth: int) -> str:
    kind = rng.randrange(5) if depth > 0 else 0
    if kind <= 1:
        return f"{_number(rng, 2)} {rng.choice(['<', '<=', '>', '>=', '==', '!='])} {_number(rng, 2)}"
    if kind == 2:
        return f"{_number(rng, 1)} < {_number(rng, 1)} <= {_number(rng, 1)}"
    if kind == 3:
        return f"({_condition(rng, depth - 1)}) {rng.choice(['and', 'or'])} ({_condition(rng, depth - 1)})"
    return f"not ({_condition(rng, depth - 1)})"


def test_the_constraints_evaluator_agrees_with_the_batch_evaluator() -> None:
    rng = random.Random(30)
    texts = [_condition(rng, 2) for _ in range(300)]
    doc = "params: {a: 1, b: 2, c: 3}\nconstraints:\n" + "".join(f"  - \"{t}\"\n" for t in texts) + \
        "regimes: {calm: true}\n"
    sink = DiagnosticSink()
    out = compile_constraints(load_text(doc, "r.yaml"), texts, {"a": 1.0, "b": 2.0, "c": 3.0}, sink)
    assert not [d for d in sink.items if d.severity == "error" and d.code != "constraint-violated"], \
        [d.message for d in sink.items][:5]
    assert len(out.items) == len(texts)
    values = np.random.default_rng(1).choice([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 1e308], size=(3, 400))
    rows = dict(zip(PARAMS, values))
    mine = out.holds(rows)
    n = values.shape[1]
    zeros = np.zeros(n)
    bars = type("Bars", (), {"ts": np.zeros(n, dtype=np.int64), "open": zeros, "high": zeros, "low": zeros,
                             "close": zeros, "volume": zeros})()
    reference = batch_evaluate(out.plan, bars, rows)
    expected = np.ones(n, dtype=bool)
    for item in out.items:
        one = np.broadcast_to(np.asarray(reference[item.node], dtype=bool), (n,))
        got = out._values(rows, n)[out.items.index(item)]
        assert np.array_equal(got, one), item.text
        expected &= one
    assert np.array_equal(mine, expected)
    assert 0 < sum(o.all() for o in [np.asarray(reference[i.node]) for i in out.items]) < len(out.items)


def test_the_one_row_evaluator_agrees_with_the_array_one() -> None:
    """constraints.evaluate_one (Python floats, used by the challenge's daily checks) gives what
    constraints.evaluate gives for one row, node by node, on expressions over metric names with
    undefined, infinite, zero and negative values."""
    import itertools
    import math

    import numpy as np

    from autobot.diagnostics import DiagnosticSink
    from autobot.documents.load import SourceFile
    from autobot.language import plan as P
    from autobot.language.check import ExprCompiler, ExprSite
    from autobot.language.constraints import evaluate, evaluate_one
    names = ("sharpe", "max_drawdown", "trades")
    texts = ["sharpe > 1.5 and max_drawdown < 5% and trades >= 20", "sharpe / max_drawdown > 2 or not trades > 3",
             "min(sharpe, trades) % 3 != max_drawdown", "abs(-sharpe) - sqrt(trades) <= log(max_drawdown) * 2",
             "max(sharpe, max_drawdown) == trades / 0 or sharpe * trades > -1", "-(sharpe % -2) >= trades - 1e308 * 10"]
    special = [math.nan, math.inf, -math.inf, 0.0, -0.0, -2.5, 3.0, 1e308]
    for text in texts:
        compiler = ExprCompiler(DiagnosticSink(), scalars={m: P.NUMBER for m in names}, series=False)
        node = compiler.compile(ExprSite(text, SourceFile("<t>", text, None), None), expect=P.BOOL, what="t")
        assert node is not None, text
        for row in itertools.product(special, repeat=3):
            values = dict(zip(names, row))
            many = evaluate(compiler.plan, {k: np.array([v]) for k, v in values.items()}, 1)
            one = evaluate_one(compiler.plan, values)
            for k, (a, b) in enumerate(zip(many, one)):
                x = np.asarray(a)[0]
                if isinstance(b, bool):
                    assert bool(x) == b, (text, row, k)
                else:
                    assert (math.isnan(x) and math.isnan(b)) or (x == b and math.copysign(1, x) == math.copysign(1, b)), \
                        (text, row, k, x, b)
