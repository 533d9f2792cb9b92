"""Batch evaluator: a whole series at once with numpy and TA-Lib's batch functions.

Used by ``autobot signals``, research and optimisation. Semantics are defined in
:mod:`autobot.evaluate.semantics`; :mod:`autobot.evaluate.stream` must agree with
this module bit for bit on every bar.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol

import numpy as np

from autobot.evaluate.semantics import NS_PER_DAY, NS_PER_HOUR, external_default
from autobot.language import plan as P
from autobot.language.functions import TA_FUNCTIONS
from autobot.language.talib_import import talib


class BarArrays(Protocol):
    """Column arrays of bars: ``ts`` (int64 ns) and float64 OHLCV."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


Values = list[Any]


def evaluate(plan: P.Plan, bars: BarArrays, externals: Mapping[str, Any] | None = None) -> Values:
    """Every node's series over ``bars``; externals may be arrays or scalars (broadcast)."""
    n = len(bars.close)
    values: Values = [None] * len(plan.nodes)
    with np.errstate(all="ignore"):
        for i, node in enumerate(plan.nodes):
            values[i] = _EVAL[type(node)](node, values, bars, n, externals, plan.types[i])
    return values


def rule_series(plan: P.Plan, values: Values, name: str) -> np.ndarray:
    """A rule as it fires: its value, false before its warm-up."""
    node = plan.rules[name]
    out = np.array(values[node], dtype=bool, copy=True)
    out[: plan.warmup[node]] = False
    return out


def _finite(x: np.ndarray) -> np.ndarray:
    """Non-finite -> undefined; ``+ 0.0`` makes every zero unsigned (no -0.0 anywhere)."""
    x = x + 0.0
    x[~np.isfinite(x)] = np.nan
    return x


def _source(node: P.Source, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    return np.asarray(getattr(bars, node.name), dtype=np.float64)


def _const(node: P.Const, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    if t == P.TEXT:
        out = np.empty(n, dtype=object)
        out[:] = node.value
        return out
    return np.full(n, node.value, dtype=bool if t == P.BOOL else np.float64)


def _external(node: P.External, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    value = external_default(node.name, ext)
    if isinstance(value, np.ndarray):
        return value
    if t == P.TEXT:
        out = np.empty(n, dtype=object)
        out[:] = value
        return out
    return np.full(n, value, dtype=np.float64)


def _clock(node: P.Clock, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    ts = np.asarray(bars.ts, dtype=np.int64)
    if node.field == "hour":
        return ((ts // NS_PER_HOUR) % 24).astype(np.float64)
    return ((ts // NS_PER_DAY + 3) % 7).astype(np.float64)


def _arith(node: P.Arith, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a, b = values[node.a], values[node.b]
    op = node.op
    if op == "+":
        r = a + b
    elif op == "-":
        r = a - b
    elif op == "*":
        r = a * b
    elif op == "/":
        r = a / b
    elif op == "%":
        r = np.remainder(a, b)
    elif op == "min":
        r = np.where(a <= b, a, b)
        r[np.isnan(a) | np.isnan(b)] = np.nan
    else:  # max
        r = np.where(a >= b, a, b)
        r[np.isnan(a) | np.isnan(b)] = np.nan
    return _finite(np.asarray(r, dtype=np.float64))


def _func(node: P.Func, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a = values[node.a]
    if node.op == "neg":
        return 0.0 - a
    if node.op == "abs":
        return np.abs(a)
    if node.op == "sqrt":
        return _finite(np.sqrt(a))
    return _finite(np.log(a))


def _cmp(node: P.Cmp, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a, b = values[node.a], values[node.b]
    op = node.op
    if a.dtype == object:
        defined = np.array([x is not None for x in a]) & np.array([y is not None for y in b])
        eq = np.array([x == y for x, y in zip(a, b)], dtype=bool) if n else np.zeros(0, bool)
        return (eq if op == "==" else ~eq) & defined
    if a.dtype == bool:
        return (a == b) if op == "==" else (a != b)
    r = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
         "==": np.equal, "!=": np.not_equal}[op](a, b)
    if op == "!=":
        r &= ~np.isnan(a) & ~np.isnan(b)
    return r


def _logic(node: P.Logic, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a, b = values[node.a], values[node.b]
    return (a & b) if node.op == "and" else (a | b)


def _negate(node: P.Negate, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    return ~values[node.a]


def shift(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` delayed by ``k`` bars, filled with the type's undefined value."""
    if k == 0:
        return a
    if a.dtype == object:
        out = np.empty(len(a), dtype=object)
    elif a.dtype == bool:
        out = np.zeros(len(a), dtype=bool)
    else:
        out = np.full(len(a), np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _shift(node: P.Shift, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    return shift(values[node.a], node.n)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges of consecutive True values."""
    if mask.all():
        return [(0, len(mask))] if len(mask) else []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _ta_call(node: P.TaCall, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> tuple[np.ndarray, ...]:
    fn = TA_FUNCTIONS[node.function]
    func: Callable[..., Any] = getattr(talib, fn.talib_name)
    inputs = [values[i] for i in node.inputs]
    params = {k: (int(v) if fn.param(k).integer else float(v)) for k, v in node.params}  # type: ignore[union-attr]
    finite = np.ones(n, dtype=bool)
    for x in inputs:
        finite &= np.isfinite(x)
    outs = tuple(np.full(n, np.nan) for _ in fn.outputs)
    lookback = node.lookback
    for start, end in _runs(finite):
        if end - start <= lookback:
            continue
        result = func(*[np.ascontiguousarray(x[start:end]) for x in inputs], **params)
        results = result if isinstance(result, (tuple, list)) else (result,)
        for k, r in enumerate(results):
            r = np.asarray(r, dtype=np.float64) + 0.0
            r[:lookback] = np.nan
            if fn.index_output:
                r = np.arange(end - start, dtype=np.float64) - r
            outs[k][start:end] = r
    return outs


def _output(node: P.Output, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    return values[node.call][node.index]


def _cross(node: P.Cross, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a, b = values[node.a], values[node.b]
    a1, b1 = shift(a, 1), shift(b, 1)
    above = (a > b) & (a1 <= b1)
    below = (a < b) & (a1 >= b1)
    return above if node.direction == "above" else below if node.direction == "below" else above | below


def _monotone(node: P.Monotone, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    a = values[node.a]
    out = np.ones(n, dtype=bool)
    for k in range(node.n):
        newer, older = shift(a, k), shift(a, k + 1)
        out &= (newer > older) if node.direction == "rising" else (newer < older)
    return out


def _bars_since(node: P.BarsSince, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(values[node.c], idx, -1)) if n else idx
    return np.where(last >= 0, (idx - last).astype(np.float64), np.nan)


def _divergence(node: P.Divergence, values: Values, bars: BarArrays, n: int, ext: Any, t: str) -> np.ndarray:
    price, osc, ago = values[node.price], values[node.osc], values[node.ago]
    out = np.zeros(n, dtype=bool)
    valid = ~np.isnan(ago)
    k = np.where(valid, ago, 0).astype(np.int64) + 1
    idx = np.arange(n)
    valid &= (k <= node.n) & (idx - k >= 0)
    j = np.where(valid, idx - k, 0)
    p_then, o_then = price[j], osc[j]
    if node.kind == "bullish":
        out = valid & (price < p_then) & (osc > o_then)
    else:
        out = valid & (price > p_then) & (osc < o_then)
    return out


_EVAL: dict[type, Callable[..., Any]] = {
    P.Source: _source, P.Const: _const, P.External: _external, P.Clock: _clock, P.Arith: _arith,
    P.Func: _func, P.Cmp: _cmp, P.Logic: _logic, P.Negate: _negate, P.Shift: _shift, P.TaCall: _ta_call,
    P.Output: _output, P.Cross: _cross, P.Monotone: _monotone, P.BarsSince: _bars_since,
    P.Divergence: _divergence,
}
