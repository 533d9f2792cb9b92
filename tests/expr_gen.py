"""Hypothesis strategies: random well-typed expressions of the language and random OHLCV bars."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from autobot.language.functions import HELPERS, TA_FUNCTIONS

NUMBER_LEAVES = ("open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4", "p_fast", "p_slow")
# TA-Lib functions whose inputs may be anything numeric; all of them, read from the registry.
# (TA-Lib's MAX, MIN and SQRT are shadowed by the helpers of the same name.)
TA_NAMES = sorted(set(TA_FUNCTIONS) - set(HELPERS))


def _literal() -> st.SearchStrategy[str]:
    return st.one_of(
        st.integers(0, 100).map(str),
        st.floats(0.001, 1000, allow_nan=False, allow_infinity=False).map(lambda x: repr(round(x, 3))),
        st.integers(1, 50).map(lambda x: f"{x}%"),
    )


def _series(expr: str) -> str:
    """Constants are never TA-Lib inputs: make sure an input expression is a series."""
    if re.search(r"\b(open|high|low|close|volume|hl2|hlc3|ohlc4)\b", expr):
        return expr
    return f"({expr} + close)"


def _ta_call(draw: st.DrawFn, depth: int) -> str:
    fn = TA_FUNCTIONS[draw(st.sampled_from(TA_NAMES))]
    args: list[str] = []
    if not fn.implicit_inputs or draw(st.booleans()):
        args = [_series(draw(number_expr(depth - 1))) for _ in fn.inputs]
    for p in fn.params:
        if draw(st.integers(0, 3)) == 0:
            continue
        if p.choices:
            value = str(draw(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 8])))
        elif p.integer and "period" in p.name and p.name not in ("minperiod", "maxperiod"):  # kept ordered
            value = str(draw(st.integers(2, 12)))
        else:
            continue
        args.append(f"{p.name}={value}")
    call = f"{fn.name}({', '.join(args)})"
    if len(fn.outputs) > 1:
        names = list(fn.outputs) + list(fn.output_aliases)
        call += "." + draw(st.sampled_from(names))
    return call


@st.composite
def number_expr(draw: st.DrawFn, depth: int = 3) -> str:
    """A random number-typed expression."""
    if depth <= 0:
        return draw(st.one_of(st.sampled_from(NUMBER_LEAVES), _literal()))
    kind = draw(st.integers(0, 11))
    sub = number_expr(depth - 1)
    if kind <= 1:
        return draw(st.sampled_from(NUMBER_LEAVES))
    if kind == 2:
        return _ta_call(draw, depth)
    if kind == 3:
        op = draw(st.sampled_from(["+", "-", "*", "/", "%"]))
        return f"({draw(sub)} {op} {draw(sub)})"
    if kind == 4:
        return f"{draw(st.sampled_from(NUMBER_LEAVES))}[{draw(st.integers(0, 5))}]"
    if kind == 5:
        return f"({draw(sub)})[{draw(st.integers(0, 4))}]"
    if kind == 6:
        f = draw(st.sampled_from(["abs", "sqrt", "log", "-"]))
        return f"-({draw(sub)})" if f == "-" else f"{f}({draw(sub)})"
    if kind == 7:
        f = draw(st.sampled_from(["min", "max"]))
        count = draw(st.integers(2, 3))
        parts = [draw(sub) for _ in range(count)]
        return f"{f}({', '.join(parts)})"
    if kind == 8:
        f = draw(st.sampled_from(["change", "pct_change", "highest", "lowest"]))
        n = draw(st.integers(1 if f in ("change", "pct_change") else 2, 6))
        return f"{f}({draw(sub)}, {n})"
    if kind == 9:
        return f"bars_since({draw(bool_expr(depth - 1))})"
    if kind == 10:
        return _ta_call(draw, depth)
    return draw(_literal())


@st.composite
def bool_expr(draw: st.DrawFn, depth: int = 3) -> str:
    """A random condition."""
    sub_n = number_expr(max(depth - 1, 0))
    if depth <= 0:
        return f"{draw(sub_n)} > {draw(sub_n)}"
    kind = draw(st.integers(0, 8))
    sub_b = bool_expr(depth - 1)
    if kind <= 1:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"{draw(sub_n)} {op} {draw(sub_n)}"
    if kind == 2:
        return f"{draw(sub_n)} < {draw(sub_n)} <= {draw(sub_n)}"
    if kind == 3:
        f = draw(st.sampled_from(["crosses_above", "crosses_below", "crosses"]))
        return f"{f}({draw(sub_n)}, {draw(sub_n)})"
    if kind == 4:
        f = draw(st.sampled_from(["rising", "falling"]))
        return f"{f}({draw(sub_n)}, {draw(st.integers(1, 4))})"
    if kind == 5:
        op = draw(st.sampled_from(["and", "or"]))
        return f"({draw(sub_b)} {op} {draw(sub_b)})"
    if kind == 6:
        return f"not ({draw(sub_b)})"
    if kind == 7:
        f = draw(st.sampled_from(["bullish_divergence", "bearish_divergence"]))
        return f"{f}({draw(sub_n)}, {draw(sub_n)}, {draw(st.integers(2, 8))})"
    return f"({draw(sub_b)})[{draw(st.integers(1, 3))}] == {draw(st.sampled_from(['true', 'false']))}"


@dataclass
class RandomBars:
    """OHLCV arrays made from a seeded random walk."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


@st.composite
def random_bars(draw: st.DrawFn, min_size: int = 20, max_size: int = 160) -> RandomBars:
    """Random but valid bars: positive prices, some flat stretches, some zero volume."""
    n = draw(st.integers(min_size, max_size))
    seed = draw(st.integers(0, 2**32 - 1))
    style = draw(st.sampled_from(["walk", "flat", "ticks"]))
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 1, n)
    if style == "flat":
        steps[rng.random(n) < 0.5] = 0.0
    close = 100 + np.cumsum(steps)
    if style == "ticks":
        close = np.round(close * 4) / 4
    close = np.maximum(close, 1.0)
    opens = np.concatenate(([close[0]], close[:-1]))
    spread = np.abs(rng.normal(0, 0.5, n)) * (style != "flat")
    high = np.maximum(opens, close) + spread
    low = np.maximum(np.minimum(opens, close) - spread, 0.5)
    volume = np.round(rng.exponential(1000, n)) * (rng.random(n) > 0.1)
    start = np.int64(1_700_000_000) * 10**9
    ts = start + np.arange(n, dtype=np.int64) * 3_600 * 10**9
    return RandomBars(ts, opens.astype(float), high.astype(float), low.astype(float), close.astype(float),
                      volume.astype(float))
