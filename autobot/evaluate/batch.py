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


class _Context:
    """What every node evaluator reads: earlier values, the bars, externals, constant scalars."""

    __slots__ = ("plan", "values", "bars", "n", "ext", "scalars", "always_defined", "_bar_numbers", "positions")

    def __init__(self, plan: P.Plan, values: Values, bars: BarArrays, n: int, ext: Any, scalars: dict[int, Any],
                 always_defined: frozenset[int]):
        self.plan, self.values, self.bars, self.n, self.ext, self.scalars = plan, values, bars, n, ext, scalars
        # TA-Lib's own bar positions of index outputs computed in one call: (call node, output) -> ints
        self.positions: dict[tuple[P.TaCall, int], np.ndarray] = {}
        self.always_defined = always_defined   # bar fields and number constants
        self._bar_numbers: np.ndarray | None = None

    def bar_numbers(self) -> np.ndarray:
        """0, 1, ..., n-1 as floats (read-only, shared)."""
        if self._bar_numbers is None:
            self._bar_numbers = np.arange(self.n, dtype=np.float64)
            self._bar_numbers.flags.writeable = False
        return self._bar_numbers

    def operand(self, j: int) -> Any:
        """A node's series, or its scalar when it is a number/bool constant (numpy broadcasts it)."""
        return self.scalars[j] if j in self.scalars else self.values[j]


def evaluate(plan: P.Plan, bars: BarArrays, externals: Mapping[str, Any] | None = None,
             cache: dict[Any, Any] | None = None) -> Values:
    """Every node's series over ``bars``; externals may be arrays or scalars (broadcast).

    Bar fields are always defined (the data loaders refuse non-finite values). ``cache``: TA-Lib
    results by the call's structural key (:func:`structural_keys`), shared between plans over
    the same bars (a study's trials that use the same indicator with the same params); the
    caller keeps one cache per bars.
    """
    n = len(bars.close)
    values: Values = [None] * len(plan.nodes)
    scalars = {i: node.value for i, node in enumerate(plan.nodes)
               if isinstance(node, P.Const) and plan.types[i] in (P.NUMBER, P.BOOL)}
    always = frozenset(i for i, node in enumerate(plan.nodes) if isinstance(node, P.Source)
                       or (i in scalars and plan.types[i] == P.NUMBER and np.isfinite(scalars[i])))
    ctx = _Context(plan, values, bars, n, externals, scalars, always)
    keys = structural_keys(plan) if cache is not None else None
    with np.errstate(all="ignore"):
        for i, node in enumerate(plan.nodes):
            if keys is not None and isinstance(node, P.TaCall):
                found = cache.get(keys[i])           # type: ignore[union-attr]
                if found is None:
                    found = cache[keys[i]] = _EVAL[P.TaCall](node, ctx, plan.types[i])    # type: ignore[index]
                values[i] = found
                continue
            values[i] = _EVAL[type(node)](node, ctx, plan.types[i])
    return values


def structural_keys(plan: P.Plan) -> list[tuple[Any, ...]]:
    """Each node as a key that does not depend on node numbering: its kind and fields, children
    replaced by their own keys (two plans computing the same series give the same key)."""
    keys: list[tuple[Any, ...]] = []
    for i, node in enumerate(plan.nodes):
        kids = set(P.children(node))
        fields = tuple((name, keys[v] if name in _CHILD_FIELDS and isinstance(v, int) and v in kids else
                        tuple(keys[j] for j in v) if name == "inputs" else v)
                       for name, v in vars(node).items())
        keys.append((type(node).__name__, plan.types[i], fields))
    return keys


_CHILD_FIELDS = {"a", "b", "c", "call", "price", "osc", "ago"}


def rule_series(plan: P.Plan, values: Values, name: str) -> np.ndarray:
    """A rule as it fires: its value, false before its warm-up."""
    node = plan.rules[name]
    out = np.array(values[node], dtype=bool, copy=True)
    out[: plan.warmup[node]] = False
    return out


def _finish(x: np.ndarray, n: int) -> np.ndarray:
    """In place: non-finite -> undefined; ``+ 0.0`` makes every zero unsigned (no -0.0 anywhere).

    ``x`` must be a fresh float64 array (a constant-only result is broadcast to ``n`` bars).
    """
    if x.ndim == 0:
        x = np.full(n, float(x))
    x += 0.0
    inf = np.isinf(x)
    if inf.any():
        x[inf] = np.nan
    return x


def _source(node: P.Source, ctx: _Context, t: str) -> np.ndarray:
    return np.asarray(getattr(ctx.bars, node.name), dtype=np.float64)


def _const(node: P.Const, ctx: _Context, t: str) -> np.ndarray:
    if t == P.TEXT:
        out = np.empty(ctx.n, dtype=object)
        out[:] = node.value
        return out
    # a read-only view of one value: no memory per bar
    return np.broadcast_to(np.array(node.value, dtype=bool if t == P.BOOL else np.float64), (ctx.n,))


def _external(node: P.External, ctx: _Context, t: str) -> np.ndarray:
    value = external_default(node.name, ctx.ext)
    if isinstance(value, np.ndarray):
        return value
    if t == P.TEXT:
        out = np.empty(ctx.n, dtype=object)
        out[:] = value
        return out
    return np.broadcast_to(np.array(value, dtype=np.float64), (ctx.n,))   # one value for every bar


def _clock(node: P.Clock, ctx: _Context, t: str) -> np.ndarray:
    ts = np.asarray(ctx.bars.ts, dtype=np.int64)
    if node.field == "hour":
        return ((ts // NS_PER_HOUR) % 24).astype(np.float64)
    return ((ts // NS_PER_DAY + 3) % 7).astype(np.float64)


def _arith(node: P.Arith, ctx: _Context, t: str) -> np.ndarray:
    a, b = ctx.operand(node.a), ctx.operand(node.b)
    op = node.op
    if op == "+":
        r = np.add(a, b, dtype=np.float64)
    elif op == "-":
        r = np.subtract(a, b, dtype=np.float64)
    elif op == "*":
        r = np.multiply(a, b, dtype=np.float64)
    elif op == "/":
        r = np.true_divide(a, b, dtype=np.float64)
    elif op == "%":
        r = np.remainder(a, b, dtype=np.float64)
    else:   # min / max: undefined when either side is
        r = np.where(np.less_equal(a, b) if op == "min" else np.greater_equal(a, b), a, b).astype(np.float64)
        undefined = np.isnan(a) | np.isnan(b)
        if np.ndim(undefined) == 0:
            undefined = np.full(ctx.n, bool(undefined))
        if r.ndim == 0:
            r = np.full(ctx.n, float(r))
        r[undefined] = np.nan
    return _finish(r, ctx.n)


def _func(node: P.Func, ctx: _Context, t: str) -> np.ndarray:
    a = ctx.values[node.a]
    if node.op == "neg":
        return 0.0 - a
    if node.op == "abs":
        return np.abs(a)
    if node.op == "sqrt":
        return _finish(np.sqrt(a), ctx.n)
    return _finish(np.log(a), ctx.n)


_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal,
            "==": np.equal, "!=": np.not_equal}


def _cmp(node: P.Cmp, ctx: _Context, t: str) -> np.ndarray:
    a, b = ctx.operand(node.a), ctx.operand(node.b)
    op = node.op
    if ctx.values[node.a].dtype == object:
        a, b = ctx.values[node.a], ctx.values[node.b]
        defined = np.array([x is not None for x in a]) & np.array([y is not None for y in b])
        eq = np.array([x == y for x, y in zip(a, b)], dtype=bool) if ctx.n else np.zeros(0, bool)
        return (eq if op == "==" else ~eq) & defined
    r = _COMPARE[op](a, b)
    if np.ndim(r) == 0:
        r = np.full(ctx.n, bool(r))
    if op == "!=" and ctx.values[node.a].dtype != bool:
        r &= ~np.isnan(a) & ~np.isnan(b)
    return r


def _logic(node: P.Logic, ctx: _Context, t: str) -> np.ndarray:
    a, b = ctx.values[node.a], ctx.values[node.b]
    return (a & b) if node.op == "and" else (a | b)


def _negate(node: P.Negate, ctx: _Context, t: str) -> np.ndarray:
    return ~ctx.values[node.a]


def shift(a: np.ndarray, k: int) -> np.ndarray:
    """``a`` delayed by ``k`` bars, filled with the type's undefined value."""
    if k == 0:
        return a
    if a.dtype == object:
        out = np.empty(len(a), dtype=object)
    elif a.dtype == bool:
        out = np.zeros(len(a), dtype=bool)
    else:
        out = np.empty(len(a))
        out[:k] = np.nan
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _shift(node: P.Shift, ctx: _Context, t: str) -> np.ndarray:
    return shift(ctx.values[node.a], node.n)


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ranges of consecutive True values."""
    if mask.all():
        return [(0, len(mask))] if len(mask) else []
    padded = np.concatenate(([False], mask, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return list(zip(edges[0::2].tolist(), edges[1::2].tolist()))


def _defined_from(inputs: list[np.ndarray], sources: list[bool], n: int) -> tuple[int | None, np.ndarray | None]:
    """``(start, None)`` when every input is defined from bar ``start`` on (start = n: never);
    otherwise ``(None, mask)`` with the mask of bars where all inputs are defined."""
    mask: np.ndarray | None = None
    for x, is_source in zip(inputs, sources):
        if not is_source:
            m = np.isfinite(x)
            mask = m if mask is None else mask & m
    if mask is None:
        return 0, None
    start = int(np.argmax(mask)) if mask.any() else n
    if mask[start:].all():
        return start, None
    return None, mask


def _ta_call(node: P.TaCall, ctx: _Context, t: str) -> tuple[np.ndarray, ...]:
    fn = TA_FUNCTIONS[node.function]
    func: Callable[..., Any] = getattr(talib, fn.talib_name)
    n = ctx.n
    inputs = [ctx.values[i] for i in node.inputs]
    params = {k: (int(v) if fn.param(k).integer else float(v)) for k, v in node.params}  # type: ignore[union-attr]
    lookback = node.lookback
    start, mask = _defined_from(inputs, [i in ctx.always_defined for i in node.inputs], n)
    if start is not None:
        # one call: TA-Lib starts after a leading undefined stretch itself, and its index
        # outputs are then positions in the whole series
        if n - start <= lookback:
            return tuple(np.full(n, np.nan) for _ in fn.outputs)
        result = func(*[np.ascontiguousarray(x, dtype=np.float64) for x in inputs], **params)
        outs = []
        for k, r in enumerate(result if isinstance(result, (tuple, list)) else (result,)):
            if fn.index_output:   # bar positions -> bars ago (whole numbers: no -0.0)
                ctx.positions[(node, k)] = r
                r = np.subtract(ctx.bar_numbers(), r)
            else:
                r = np.asarray(r, dtype=np.float64)    # integer outputs: a new float array
                r += 0.0
            r[: start + lookback] = np.nan
            outs.append(r)
        return tuple(outs)
    assert mask is not None
    outs_ = tuple(np.full(n, np.nan) for _ in fn.outputs)
    for a, b in _runs(mask):
        if b - a <= lookback:
            continue
        result = func(*[np.ascontiguousarray(x[a:b], dtype=np.float64) for x in inputs], **params)
        results = result if isinstance(result, (tuple, list)) else (result,)
        for k, r in enumerate(results):
            r = np.asarray(r, dtype=np.float64) + 0.0
            r[:lookback] = np.nan
            if fn.index_output:
                r = np.arange(b - a, dtype=np.float64) - r
            outs_[k][a:b] = r
    return outs_


def _learn(node: P.Learn, ctx: _Context, t: str) -> np.ndarray:
    from autobot.evaluate import learn as L
    x = np.ascontiguousarray(np.column_stack([np.broadcast_to(np.asarray(ctx.values[j], dtype=np.float64), (ctx.n,))
                                              for j in node.inputs])) if ctx.n else np.zeros((0, len(node.inputs)))
    close = np.asarray(ctx.values[node.price], dtype=np.float64)
    return L.walk_forward(L.Spec.of(node), x, close)


def _output(node: P.Output, ctx: _Context, t: str) -> np.ndarray:
    return ctx.values[node.call][node.index]


def _cross(node: P.Cross, ctx: _Context, t: str) -> np.ndarray:
    a, b = ctx.values[node.a], ctx.values[node.b]
    out = np.zeros(ctx.n, dtype=bool)
    now_a, now_b, then_a, then_b = a[1:], b[1:], a[:-1], b[:-1]    # bar t and bar t-1, as views
    if node.direction == "above":
        out[1:] = (now_a > now_b) & (then_a <= then_b)
    elif node.direction == "below":
        out[1:] = (now_a < now_b) & (then_a >= then_b)
    else:
        out[1:] = ((now_a > now_b) & (then_a <= then_b)) | ((now_a < now_b) & (then_a >= then_b))
    return out


def _monotone(node: P.Monotone, ctx: _Context, t: str) -> np.ndarray:
    a, n, k = ctx.values[node.a], ctx.n, node.n
    out = np.zeros(n, dtype=bool)
    if k >= n:
        return out
    out[k:] = True
    for j in range(k):   # step j: bar t-j against bar t-j-1, for every t >= k
        newer, older = a[k - j: n - j], a[k - j - 1: n - j - 1]
        out[k:] &= (newer > older) if node.direction == "rising" else (newer < older)
    return out


def _bars_since(node: P.BarsSince, ctx: _Context, t: str) -> np.ndarray:
    n = ctx.n
    idx = np.arange(n)
    last = np.maximum.accumulate(np.where(ctx.values[node.c], idx, -1)) if n else idx
    return np.where(last >= 0, (idx - last).astype(np.float64), np.nan)


def _divergence(node: P.Divergence, ctx: _Context, t: str) -> np.ndarray:
    """At bar t, ``ago`` says how many bars before t-1 the extreme price was: that is bar
    ``t - 1 - ago``, compared with bar t when it lies within the last n bars."""
    price, osc, ago = ctx.values[node.price], ctx.values[node.osc], ctx.values[node.ago]
    j = _previous_positions(ctx, node.ago)
    if j is not None:
        valid = ago < node.n                       # NaN compares false; j is in range everywhere
    else:
        then = np.subtract(ctx.bar_numbers(), ago)
        then -= 1.0
        valid = (ago < node.n) & (then >= 0)
        then[~valid] = 0
        j = then.astype(np.intp)
    p_then, o_then = price.take(j), osc.take(j)
    if node.kind == "bullish":
        return valid & (price < p_then) & (osc > o_then)
    return valid & (price > p_then) & (osc < o_then)


def _previous_positions(ctx: _Context, ago: int) -> np.ndarray | None:
    """When ``ago`` is ``x[1]`` of an index output TA-Lib computed in one call, the bar each
    ``t - 1 - ago`` points at is TA-Lib's own position at t-1: reuse it (0 where undefined)."""
    shifted = ctx.plan.nodes[ago]
    if not (isinstance(shifted, P.Shift) and shifted.n == 1):
        return None
    out = ctx.plan.nodes[shifted.a]
    if not isinstance(out, P.Output):
        return None
    raw = ctx.positions.get((ctx.plan.nodes[out.call], out.index))   # type: ignore[arg-type]
    if raw is None or ctx.n == 0:
        return None
    j = np.empty(ctx.n, dtype=np.intp)
    j[0] = 0
    j[1:] = raw[:-1]
    return j


_EVAL: dict[type, Callable[..., Any]] = {
    P.Source: _source, P.Const: _const, P.External: _external, P.Clock: _clock, P.Arith: _arith,
    P.Func: _func, P.Cmp: _cmp, P.Logic: _logic, P.Negate: _negate, P.Shift: _shift, P.TaCall: _ta_call,
    P.Output: _output, P.Cross: _cross, P.Monotone: _monotone, P.BarsSince: _bars_since,
    P.Divergence: _divergence, P.Learn: _learn,
}
