"""Streaming evaluator: one closed bar at a time, O(1) work per bar.

Each TA-Lib call is one ``talib.stream`` handle; every node has a small closure
("step") writing into a flat list of slots. For speed, the plan is also lowered to
one generated Python function that inlines the common steps (arithmetic,
comparisons, logic, crosses, one-bar offsets and the steady state of TA-Lib handles)
and calls the closures for the rest. That generated code is built from the typed
plan only: slot numbers and operators from a fixed table; every user value reaches
it through a tuple of constants, so no user text is ever compiled or evaluated.
It agrees with :mod:`autobot.evaluate.batch` bit for bit (see
``tests/test_evaluators_agree.py``). The engines of the backtest and live runs drive
this class from their ``on_bar``.
"""

from __future__ import annotations

import types
from collections import deque
from typing import Any, Callable, Mapping

import numpy as np

from autobot.evaluate.semantics import NAN, clock_value, external_default, undefined
from autobot.language import plan as P
from autobot.language.functions import TA_FUNCTIONS
from autobot.language.talib_import import stream as ta_stream
from autobot.language.talib_import import talib

Step = Callable[[], None]


class StreamEvaluator:
    """Evaluates a :class:`Plan` bar by bar; read values with :meth:`value` and :meth:`rule`."""

    def __init__(self, plan: P.Plan):
        self.plan = plan
        self.bar_index = -1
        n = len(plan.nodes)
        self.slot = list(range(n))
        self.values: list[Any] = [undefined(t) for t in plan.types]
        self._tick = [-1]
        self.steps: list[Step] = []
        self._step_of: dict[int, int] = {}          # node -> position of its step in self.steps
        self._handles: list[Any] = []                # running TA-Lib update functions (None while warming)
        self._handle_of: dict[int, int] = {}         # TaCall node -> index in self._handles
        outputs: dict[int, list[tuple[int, int]]] = {}
        for i, node in enumerate(plan.nodes):
            if isinstance(node, P.Output):
                outputs.setdefault(node.call, []).append((node.index, i))
        for i, node in enumerate(plan.nodes):
            if isinstance(node, P.Output) and len(TA_FUNCTIONS[plan.nodes[node.call].function].outputs) == 1:  # type: ignore[union-attr]
                self.slot[i] = self.slot[node.call]
        for i, node in enumerate(plan.nodes):
            before = len(self.steps)
            self._build(i, node, outputs.get(i, []))
            if len(self.steps) > before:
                self._step_of[i] = before
        self.fired: dict[str, bool] = {name: False for name in plan.rules}   # rule -> fires on this bar
        self._run = _generate(self, outputs)

    # ------------------------------------------------------------------ API
    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float,
               externals: Mapping[str, Any] | None = None) -> None:
        """Feed one closed bar (and this bar's external values) and evaluate every node."""
        self.bar_index += 1
        self._tick[0] = self.bar_index
        self._run(o, h, l, c, v, ts, externals)

    def value(self, node: int) -> Any:
        """Current value of a node."""
        return self.values[self.slot[node]]

    def rule(self, name: str) -> bool:
        """Whether a rule fires on the current bar (never during its warm-up); also in :attr:`fired`."""
        return self.fired[name]

    # -------------------------------------------------------------- building
    def _build(self, i: int, node: P.Node, outputs: list[tuple[int, int]]) -> None:
        s = self.slot[i]
        vals = self.values
        sl = self.slot
        if isinstance(node, (P.Source, P.External, P.Clock)):
            pass  # set by the generated update function at the start of each bar
        elif isinstance(node, P.Const):
            vals[s] = node.value
        elif isinstance(node, P.Arith):
            self.steps.append(_arith_step(node.op, vals, sl[node.a], sl[node.b], s))
        elif isinstance(node, P.Func):
            self.steps.append(_func_step(node.op, vals, sl[node.a], s))
        elif isinstance(node, P.Cmp):
            self.steps.append(_cmp_step(node.op, self.plan.types[node.a], vals, sl[node.a], sl[node.b], s))
        elif isinstance(node, P.Logic):
            self.steps.append(_logic_step(node.op, vals, sl[node.a], sl[node.b], s))
        elif isinstance(node, P.Negate):
            a = sl[node.a]

            def negate() -> None:
                vals[s] = not vals[a]
            self.steps.append(negate)
        elif isinstance(node, P.Shift):
            self.steps.append(_shift_step(vals, sl[node.a], s, node.n, undefined(self.plan.types[i])))
        elif isinstance(node, P.TaCall):
            self._build_ta(i, node, s, [(k, sl[j]) for k, j in outputs])
        elif isinstance(node, P.Output):
            pass  # written by its TaCall's step
        elif isinstance(node, P.Cross):
            self.steps.append(_cross_step(node.direction, vals, sl[node.a], sl[node.b], s))
        elif isinstance(node, P.Monotone):
            self.steps.append(_monotone_step(node.direction, vals, sl[node.a], s, node.n))
        elif isinstance(node, P.BarsSince):
            self.steps.append(_bars_since_step(vals, sl[node.c], s, self._tick))
        elif isinstance(node, P.Divergence):
            self.steps.append(_divergence_step(node, vals, sl[node.price], sl[node.osc], sl[node.ago], s))
        else:  # pragma: no cover - every node kind is handled above
            raise TypeError(f"unknown node {node!r}")

    def _build_ta(self, index: int, node: P.TaCall, s: int, outputs: list[tuple[int, int]]) -> None:
        fn = TA_FUNCTIONS[node.function]
        opener = getattr(ta_stream, fn.talib_name)
        params = {k: (int(v) if fn.param(k).integer else float(v)) for k, v in node.params}  # type: ignore[union-attr]
        ins = [self.slot[j] for j in node.inputs]
        vals = self.values
        tick = self._tick
        need = node.lookback + 1
        multi = len(fn.outputs) > 1
        index_output = fn.index_output
        integer = fn.integer_output
        buffers: list[list[float]] = [[] for _ in ins]
        state: dict[str, Any] = {"update": None, "start": 0}
        position = len(self.steps)
        handles = self._handles
        hidx = len(handles)
        handles.append(None)
        self._handle_of[index] = hidx

        def publish(result: Any) -> None:
            if multi:
                for k, slot in outputs:
                    r = float(result[k]) + 0.0
                    vals[slot] = tick[0] - (r + state["start"]) if index_output else r
            else:
                r = float(result) + 0.0
                vals[s] = tick[0] - (r + state["start"]) if index_output else r

        def clear() -> None:
            if multi:
                for _, slot in outputs:
                    vals[slot] = NAN
            else:
                vals[s] = NAN

        def warming() -> None:
            xs = [vals[j] for j in ins]
            for x in xs:
                if x - x != 0:   # undefined input: restart the warm-up
                    for b in buffers:
                        b.clear()
                    clear()
                    return
            if not buffers[0]:
                state["start"] = tick[0]
            for b, x in zip(buffers, xs):
                b.append(x)
            if len(buffers[0]) < need:
                clear()
                return
            try:
                handle = opener(*[np.array(b, dtype=np.float64) for b in buffers], **params)
            except talib.InsufficientHistory:
                clear()
                return
            for b in buffers:
                b.clear()
            state["update"] = handle.update
            handles[hidx] = None if index_output else handle.update
            publish(handle.value)
            self.steps[position] = running

        def running() -> None:
            xs = [vals[j] for j in ins]
            for x in xs:
                if x - x != 0:
                    state["update"] = None
                    handles[hidx] = None
                    self.steps[position] = warming
                    clear()
                    return
            publish(state["update"](*xs))

        if len(ins) == 1 and not multi and not index_output:
            a = ins[0]

            def running_1() -> None:   # the common case, kept lean
                x = vals[a]
                if x - x != 0:
                    state["update"] = None
                    handles[hidx] = None
                    self.steps[position] = warming
                    vals[s] = NAN
                    return
                vals[s] = float(state["update"](x)) + 0.0
            running = running_1  # noqa: F811
        self.steps.append(warming)


def _arith_step(op: str, vals: list[Any], a: int, b: int, s: int) -> Step:
    if op == "+":
        def step() -> None:
            r = vals[a] + vals[b]
            vals[s] = r if r - r == 0 else NAN
    elif op == "-":
        def step() -> None:
            r = vals[a] - vals[b]
            vals[s] = r if r - r == 0 else NAN
    elif op == "*":
        def step() -> None:
            r = vals[a] * vals[b] + 0.0
            vals[s] = r if r - r == 0 else NAN
    elif op == "/":
        def step() -> None:
            y = vals[b]
            if y == 0:
                vals[s] = NAN
                return
            r = vals[a] / y + 0.0
            vals[s] = r if r - r == 0 else NAN
    elif op == "%":
        def step() -> None:
            y = vals[b]
            if y == 0 or y != y:
                vals[s] = NAN
                return
            r = vals[a] % y + 0.0
            vals[s] = r if r - r == 0 else NAN
    elif op == "min":
        def step() -> None:
            x, y = vals[a], vals[b]
            vals[s] = NAN if x != x or y != y else (x if x <= y else y)
    else:
        def step() -> None:
            x, y = vals[a], vals[b]
            vals[s] = NAN if x != x or y != y else (x if x >= y else y)
    return step


def _func_step(op: str, vals: list[Any], a: int, s: int) -> Step:
    if op == "neg":
        def step() -> None:
            vals[s] = 0.0 - vals[a]
    elif op == "abs":
        def step() -> None:
            vals[s] = abs(vals[a])
    elif op == "sqrt":
        def step() -> None:
            x = vals[a]
            vals[s] = float(np.sqrt(x)) if x >= 0 else NAN
    else:
        def step() -> None:
            x = vals[a]
            if x > 0:
                r = float(np.log(x))
                vals[s] = r if r - r == 0 else NAN
            else:
                vals[s] = NAN
    return step


def _cmp_step(op: str, type_: str, vals: list[Any], a: int, b: int, s: int) -> Step:
    if type_ == P.TEXT:
        def step() -> None:
            x, y = vals[a], vals[b]
            defined = x is not None and y is not None
            vals[s] = defined and ((x == y) if op == "==" else (x != y))
        return step
    if type_ == P.BOOL:
        if op == "==":
            def step() -> None:
                vals[s] = vals[a] == vals[b]
        else:
            def step() -> None:
                vals[s] = vals[a] != vals[b]
        return step
    if op == "<":
        def step() -> None:
            vals[s] = vals[a] < vals[b]
    elif op == "<=":
        def step() -> None:
            vals[s] = vals[a] <= vals[b]
    elif op == ">":
        def step() -> None:
            vals[s] = vals[a] > vals[b]
    elif op == ">=":
        def step() -> None:
            vals[s] = vals[a] >= vals[b]
    elif op == "==":
        def step() -> None:
            vals[s] = vals[a] == vals[b]
    else:
        def step() -> None:
            x, y = vals[a], vals[b]
            vals[s] = x != y and x == x and y == y
    return step


def _logic_step(op: str, vals: list[Any], a: int, b: int, s: int) -> Step:
    if op == "and":
        def step() -> None:
            vals[s] = vals[a] and vals[b]
    else:
        def step() -> None:
            vals[s] = vals[a] or vals[b]
    return step


def _shift_step(vals: list[Any], a: int, s: int, n: int, missing: Any) -> Step:
    history: deque[Any] = deque(maxlen=n + 1)

    def step() -> None:
        history.append(vals[a])
        vals[s] = history[0] if len(history) > n else missing
    return step


def _cross_step(direction: str, vals: list[Any], a: int, b: int, s: int) -> Step:
    prev = [NAN, NAN]

    def step() -> None:
        x, y = vals[a], vals[b]
        px, py = prev
        if direction == "above":
            vals[s] = x > y and px <= py
        elif direction == "below":
            vals[s] = x < y and px >= py
        else:
            vals[s] = (x > y and px <= py) or (x < y and px >= py)
        prev[0], prev[1] = x, y
    return step


def _monotone_step(direction: str, vals: list[Any], a: int, s: int, n: int) -> Step:
    history: deque[float] = deque(maxlen=n + 1)
    rising = direction == "rising"

    def step() -> None:
        history.append(vals[a])
        if len(history) <= n:
            vals[s] = False
            return
        ok = True
        for k in range(n):
            older, newer = history[k], history[k + 1]
            if not (newer > older if rising else newer < older):
                ok = False
                break
        vals[s] = ok
    return step


def _bars_since_step(vals: list[Any], c: int, s: int, tick: list[int]) -> Step:
    last = [-1]

    def step() -> None:
        if vals[c]:
            last[0] = tick[0]
        vals[s] = float(tick[0] - last[0]) if last[0] >= 0 else NAN
    return step


def _divergence_step(node: P.Divergence, vals: list[Any], price: int, osc: int, ago: int, s: int) -> Step:
    prices: deque[float] = deque(maxlen=node.n + 1)
    oscs: deque[float] = deque(maxlen=node.n + 1)
    bullish = node.kind == "bullish"
    n = node.n

    def step() -> None:
        p, o = vals[price], vals[osc]
        prices.append(p)
        oscs.append(o)
        g = vals[ago]
        if g != g:
            vals[s] = False
            return
        k = int(g) + 1
        if k > n or k >= len(prices):
            vals[s] = False
            return
        p_then, o_then = prices[-1 - k], oscs[-1 - k]
        vals[s] = (p < p_then and o > o_then) if bullish else (p > p_then and o < o_then)
    return step


_INLINE_ARITH = {"+": "+", "-": "-", "*": "*"}
_INLINE_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=="}
_INLINE_LOGIC = {"and": "and", "or": "or"}


def _generate(ev: StreamEvaluator, outputs: dict[int, list[tuple[int, int]]]) -> Callable[..., None]:
    """Lower the plan to one Python function (see the module docstring for why this is safe)."""
    plan = ev.plan
    sl = ev.slot
    consts: list[Any] = []
    state: list[Any] = []

    def const(value: Any) -> str:
        consts.append(value)
        return f"K[{len(consts) - 1}]"

    lines = ["def _update(o, h, l, c, v, ts, ext, V, F, U, S, K, NAN, FLOAT, CLOCK, R, T):"]
    emit = lines.append
    params = {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}
    for i, node in enumerate(plan.nodes):
        s = sl[i]
        step = ev._step_of.get(i)
        if isinstance(node, P.Source):
            emit(f"    V[{s}] = {params[node.name]}")
        elif isinstance(node, P.External):
            default = const(external_default(node.name, None))
            emit(f"    V[{s}] = {default} if ext is None else ext.get({const(node.name)}, {default})")
        elif isinstance(node, P.Clock):
            emit(f"    V[{s}] = CLOCK({const(node.field)}, ts)")
        elif isinstance(node, P.Arith) and node.op in _INLINE_ARITH:
            emit(f"    r = V[{sl[node.a]}] {_INLINE_ARITH[node.op]} V[{sl[node.b]}] + 0.0")
            emit(f"    V[{s}] = r if r - r == 0 else NAN")
        elif isinstance(node, P.Cmp) and plan.types[node.a] == P.NUMBER and node.op in _INLINE_CMP:
            emit(f"    V[{s}] = V[{sl[node.a]}] {_INLINE_CMP[node.op]} V[{sl[node.b]}]")
        elif isinstance(node, P.Logic) and node.op in _INLINE_LOGIC:
            emit(f"    V[{s}] = V[{sl[node.a]}] {_INLINE_LOGIC[node.op]} V[{sl[node.b]}]")
        elif isinstance(node, P.Negate):
            emit(f"    V[{s}] = not V[{sl[node.a]}]")
        elif isinstance(node, P.Shift) and node.n == 1:
            k = len(state)
            state.append(undefined(plan.types[i]))
            emit(f"    V[{s}] = S[{k}]; S[{k}] = V[{sl[node.a]}]")
        elif isinstance(node, P.Cross) and node.direction in ("above", "below"):
            k = len(state)
            state.extend([NAN, NAN])
            gt, le = (">", "<=") if node.direction == "above" else ("<", ">=")
            emit(f"    x = V[{sl[node.a]}]; y = V[{sl[node.b]}]")
            emit(f"    V[{s}] = x {gt} y and S[{k}] {le} S[{k + 1}]")
            emit(f"    S[{k}] = x; S[{k + 1}] = y")
        elif isinstance(node, P.TaCall) and step is not None and not TA_FUNCTIONS[node.function].index_output:
            fn = TA_FUNCTIONS[node.function]
            hidx = ev._handle_of[i]
            xs = [f"x{k}" for k in range(len(node.inputs))]
            emit("    " + "; ".join(f"{x} = V[{sl[j]}]" for x, j in zip(xs, node.inputs)) + f"; u = U[{hidx}]")
            emit("    if u is not None and " + " and ".join(f"{x} - {x} == 0" for x in xs) + ":")
            args = ", ".join(xs)
            if len(fn.outputs) == 1:
                call = f"FLOAT(u({args}))" if fn.integer_output else f"u({args})"
                emit(f"        V[{s}] = {call} + 0.0")
            else:
                emit(f"        r = u({args})")
                for k, j in outputs.get(i, []):
                    emit(f"        V[{sl[j]}] = FLOAT(r[{int(k)}]) + 0.0" if fn.integer_output else
                         f"        V[{sl[j]}] = r[{int(k)}] + 0.0")
            emit("    else:")
            emit(f"        F[{step}]()")
        elif step is not None:
            emit(f"    F[{step}]()")
    for name, node in plan.rules.items():
        emit(f"    R[{const(name)}] = V[{sl[node]}] is True and T[0] >= {int(plan.warmup[node])}")
    emit("    return None")
    code = compile("\n".join(lines) + "\n", "<autobot plan>", "exec")
    fn_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    bound = (ev.values, ev.steps, ev._handles, state, tuple(consts), NAN, float, clock_value, ev.fired, ev._tick)
    ev.generated_source = "\n".join(lines)
    # the state arguments become defaults, i.e. fast locals; no builtins are reachable
    return types.FunctionType(fn_code, {"__builtins__": {}}, "_update", (None, *bound))
