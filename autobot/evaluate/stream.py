"""Streaming evaluator: one closed bar at a time, O(1) work per bar.

The plan is lowered to one generated Python function, ``update``, whose state
(TA-Lib ``talib.stream`` update functions, previous values for offsets and crosses,
histories) lives in closure cells, so a bar costs one Python call plus the work of
its nodes; each node's value is a local variable. Only the nodes a caller asks to
observe are kept (in closure cells, read by :meth:`StreamEvaluator.values`), and
``update`` returns the
rules as they fire. The generated code is built from the typed plan alone: node
kinds map to fixed code templates, local names are node numbers, and every user
value (constants, parameters, external names, TA-Lib handles) reaches the code as
an argument of the factory function, never as source text, so no user text is
ever compiled or evaluated; it runs with no builtins.

It agrees with :mod:`autobot.evaluate.batch` bit for bit (see
``tests/test_evaluators_agree.py``). The engines of the backtest and live runs drive
this class from their ``on_bar``.
"""

from __future__ import annotations

import types
from collections import deque
from typing import Any, Callable, Iterable

import numpy as np

from autobot.evaluate.semantics import NAN, clock_value, external_default, undefined
from autobot.language import plan as P
from autobot.language.functions import TA_FUNCTIONS
from autobot.language.talib_import import stream as ta_stream
from autobot.language.talib_import import talib

#: ``rising``/``falling`` over more bars than this use a loop helper instead of an unrolled chain.
_UNROLL_LIMIT = 32

UpdateFn = Callable[..., tuple[bool, ...]]


class StreamEvaluator:
    """Evaluates a :class:`Plan` bar by bar.

    ``update(ts, o, h, l, c, v, externals)`` takes one closed bar and returns a tuple of
    booleans, one per rule in ``plan.rules`` order: whether the rule fires on this bar
    (never during its warm-up). ``observe`` names the nodes whose values :meth:`value`
    may read (all nodes by default; a strategy passes only what it reports).
    """

    def __init__(self, plan: P.Plan, observe: Iterable[int] | None = None):
        self.plan = plan
        self.rule_names: tuple[str, ...] = tuple(plan.rules)
        self._rule_index = {name: k for k, name in enumerate(self.rule_names)}
        self.observed: frozenset[int] = frozenset(range(len(plan.nodes)) if observe is None else observe)
        self.generated_source, factory_args, factory, self._read, (self._keys, self._deques, self._models) = \
            _generate(plan, self.observed)
        self.update: UpdateFn
        self.update, self._index, self._last, self._snapshot, self._get_state, self._set_state = \
            factory(*factory_args)

    @property
    def bar_index(self) -> int:
        """Number of bars seen minus one (-1 before the first bar)."""
        return self._index()

    def value(self, node: int) -> Any:
        """Current value of an observed node."""
        if node not in self.observed:
            raise KeyError(f"node {node} is not observed by this evaluator")
        const = self.plan.nodes[node]
        if isinstance(const, P.Const):
            return const.value
        return self._snapshot()[self._read[node]]

    def values(self) -> dict[int, Any]:
        """Current value of every observed node (records excluded)."""
        snap = self._snapshot()
        out = {i: snap[k] for i, k in self._read.items()}
        for i in self.observed:
            node = self.plan.nodes[i]
            if isinstance(node, P.Const):
                out[i] = node.value
        return out

    def state(self) -> dict[str, Any]:
        """The running state by structural key: TA-Lib handles, previous values, histories, bar count."""
        out: dict[str, Any] = dict(zip(self._keys, self._get_state()))
        out.update({key: list(q) for key, q in self._deques.items()})
        out.update(self._models)                 # a model travels as itself: its rows, its trained state
        return out

    def adopt_state(self, state: dict[str, Any]) -> list[str]:
        """Take over the parts of another evaluator's :meth:`state` that compute the same thing
        (same structural key), e.g. the unchanged indicators of a reloaded document; returns the
        keys taken over. The bar count always carries over."""
        values = list(self._get_state())
        taken = []
        for k, key in enumerate(self._keys):
            if key in state:
                values[k] = state[key]
                taken.append(key)
        self._set_state(tuple(values))
        for key, model in self._models.items():  # the same model (features, target, schedule): keep it
            if key in state:
                model.__dict__.update(state[key].__dict__)
                taken.append(key)
        for key, q in self._deques.items():
            if key in state:
                q.clear()
                q.extend(state[key])
                taken.append(key)
        return taken

    def rule(self, name: str) -> bool:
        """Whether a rule fires on the current bar (never during its warm-up)."""
        return self._last()[self._rule_index[name]]

    @property
    def fired(self) -> dict[str, bool]:
        """Every rule and whether it fires on the current bar."""
        return dict(zip(self.rule_names, self._last()))


# ------------------------------------------------------------------ TA-Lib warm-up

def _ta_warmer(node: P.TaCall, out_indices: list[int]) -> Callable[..., tuple[Any, int, Any]]:
    """The slow path of one TA-Lib call: buffer inputs until a stream handle can be opened.

    ``warm(t, *xs)`` returns ``(update or None, start bar, value)`` where value is a number
    for a single-output function or a tuple (one per ``out_indices``) otherwise. An undefined
    input restarts the warm-up.
    """
    fn = TA_FUNCTIONS[node.function]
    opener = getattr(ta_stream, fn.talib_name)
    params = {k: (int(v) if fn.param(k).integer else float(v)) for k, v in node.params}  # type: ignore[union-attr]
    need = node.lookback + 1
    multi = len(fn.outputs) > 1
    index_output = fn.index_output
    buffers: list[list[float]] = [[] for _ in node.inputs]
    start = [0]
    missing: Any = tuple(NAN for _ in out_indices) if multi else NAN

    def convert(r: Any, t: int) -> float:
        x = float(r) + 0.0
        return t - (x + start[0]) if index_output else x

    def warm(t: int, *xs: float) -> tuple[Any, int, Any]:
        for x in xs:
            if x - x != 0:   # undefined input: restart the warm-up
                for b in buffers:
                    b.clear()
                return None, 0, missing
        if not buffers[0]:
            start[0] = t
        for b, x in zip(buffers, xs):
            b.append(x)
        if len(buffers[0]) < need:
            return None, 0, missing
        try:
            handle = opener(*[np.array(b, dtype=np.float64) for b in buffers], **params)
        except talib.InsufficientHistory:
            return None, 0, missing
        for b in buffers:
            b.clear()
        result = handle.value
        value = tuple(convert(result[k], t) for k in out_indices) if multi else convert(result, t)
        return handle.update, start[0], value
    return warm


def _monotone(history: deque[float], n: int, rising: bool) -> bool:
    """``rising``/``falling`` over a history of n + 1 values (oldest first)."""
    for k in range(n):
        older, newer = history[k], history[k + 1]
        if not (newer > older if rising else newer < older):
            return False
    return True


# --------------------------------------------------------------------- generation

_ARITH = {"+": "+", "-": "-", "*": "*"}
_CMP = {"<": "<", "<=": "<=", ">": ">", ">=": ">=", "==": "=="}
_FIELDS = {"open": "o", "high": "h", "low": "l", "close": "c", "volume": "v"}


class _Emitter:
    """Collects the factory's arguments, the state cells and the body of ``update``."""

    def __init__(self) -> None:
        self.args: list[str] = ["NAN", "FLOAT", "INT", "ABS", "CLOCK", "NPSQRT", "NPLOG", "MONO"]
        self.values: list[Any] = []   # filled by _generate for the fixed names above
        self.cells: list[tuple[str, str]] = [("t", "-1")]   # nonlocal state and its initial value
        self.body: list[str] = []
        self.histories: dict[tuple[int, int], str] = {}
        self.keys: dict[str, str] = {"t": "t"}          # state cell -> structural key (for reloads)
        self.deques: dict[str, deque[Any]] = {}          # structural key -> history
        self.models: dict[str, Any] = {}                 # structural key -> walk-forward model (learn.Online)
        self.canon: Callable[[int], str] = str

    def arg(self, prefix: str, value: Any) -> str:
        name = f"{prefix}{len(self.args)}"
        self.args.append(name)
        self.values.append(value)
        return name

    def history(self, node: int, value: str, size: int) -> str:
        """A deque of a number node's last ``size`` values (NaN before the first bars), appended
        to once per bar where first needed; nodes reading the same history share it."""
        key = (node, size)
        if key not in self.histories:
            q = deque([NAN] * size, maxlen=size)
            self.deques[f"hist:{self.canon(node)}:{size}"] = q
            self.histories[key] = self.arg("q", q)
            self(f"{self.arg('qa', q.append)}({value})")
        return self.histories[key]

    def cell(self, prefix: str, initial: str, key: str | None = None) -> str:
        """A state cell; ``key`` names what it holds structurally, so a reloaded version of the
        document can take it over when the same computation is still there."""
        name = f"{prefix}{len(self.cells)}"
        self.cells.append((name, initial))
        if key is not None:
            self.keys[name] = key
        return name

    def __call__(self, line: str, indent: int = 0) -> None:
        self.body.append("        " + "    " * indent + line)


def _initial(type_: str) -> str:
    return {P.NUMBER: "NAN", P.BOOL: "False", P.TEXT: "None"}.get(type_, "NAN")


def _generate(plan: P.Plan, observed: frozenset[int]
              ) -> tuple[str, list[Any], Callable[..., Any], dict[int, int], tuple[list[str], dict[str, Any]]]:
    """Lower the plan to source for a factory returning ``(update, bar_index, last_rules, snapshot)``,
    and where each observed node sits in the snapshot."""
    e = _Emitter()
    e.canon = P.canonical_texts(plan).__getitem__
    fixed = [NAN, float, int, abs, clock_value, np.sqrt, np.log, _monotone]
    name: dict[int, str] = {}
    outputs: dict[int, list[tuple[int, int]]] = {}
    for i, node in enumerate(plan.nodes):
        if isinstance(node, P.Output):
            outputs.setdefault(node.call, []).append((node.index, i))

    inline = _inlined(plan, observed)

    def defined_check(inputs: Iterable[int]) -> list[str]:
        """Finiteness tests for inputs that may be undefined (bar fields are always defined)."""
        return [f"{name[j]} - {name[j]} == 0" for j in inputs if not isinstance(plan.nodes[j], P.Source)]

    for i, node in enumerate(plan.nodes):
        n = f"n{i}"
        name[i] = n
        if isinstance(node, P.Source):
            name[i] = _FIELDS[node.name]
        elif isinstance(node, P.Const):
            name[i] = e.arg("k", node.value)
        elif isinstance(node, P.External):
            default = e.arg("k", external_default(node.name, None))
            e(f"{n} = {default} if ext is None else ext.get({e.arg('k', node.name)}, {default})")
        elif isinstance(node, P.Clock):
            e(f"{n} = CLOCK({e.arg('k', node.field)}, ts)")
        elif isinstance(node, P.Arith):
            _emit_arith(e, node.op, n, name[node.a], name[node.b])
        elif isinstance(node, P.Func):
            _emit_func(e, node.op, n, name[node.a])
        elif isinstance(node, (P.Cmp, P.Logic, P.Negate, P.Divergence)) or (
                isinstance(node, P.Monotone) and node.n <= _UNROLL_LIMIT):
            expr = _bool_expr(e, plan, i, node, name)
            if i in inline:
                name[i] = f"({expr})"
            else:
                e(f"{n} = {expr}")
        elif isinstance(node, P.Shift):
            missing = _initial(plan.types[i])
            if node.n == 1:
                prev = e.cell("p", missing, f"shift1:{e.canon(i)}")
                e(f"{n} = {prev}; {prev} = {name[node.a]}")
            else:
                q = deque([undefined(plan.types[i])] * (node.n + 1), maxlen=node.n + 1)
                e.deques[f"shift:{e.canon(i)}"] = q
                e(f"{e.arg('qa', q.append)}({name[node.a]}); {n} = {e.arg('q', q)}[0]")
        elif isinstance(node, P.TaCall):
            _emit_ta(e, node, i, outputs.get(i, []), name, defined_check(node.inputs))
        elif isinstance(node, P.Output):
            if len(TA_FUNCTIONS[plan.nodes[node.call].function].outputs) == 1:  # type: ignore[union-attr]
                name[i] = name[node.call]
        elif isinstance(node, P.Cross):
            _emit_cross(e, node.direction, n, name[node.a], name[node.b], e.canon(i))
        elif isinstance(node, P.Monotone):   # long histories: a loop helper
            qn = e.history(node.a, name[node.a], node.n + 1)
            e(f"{n} = MONO({qn}, {e.arg('k', node.n)}, {node.direction == 'rising'})")
        elif isinstance(node, P.BarsSince):
            last = e.cell("b", "-1", f"since:{e.canon(i)}")
            e(f"if {name[node.c]}: {last} = t")
            e(f"{n} = t - {last} + 0.0 if {last} >= 0 else NAN")
        elif isinstance(node, P.Learn):     # a walk-forward model: its own buffers, retrained in place
            from autobot.evaluate import learn as L
            online = L.Online(L.Spec.of(node))
            e.models[f"learn:{e.canon(i)}"] = online
            model = e.arg("m", online)
            e(f"{n} = {model}({', '.join(name[j] for j in (node.price, *node.inputs))})")
        else:  # pragma: no cover - every node kind is handled above
            raise TypeError(f"unknown node {node!r}")
    # observed values live in closure cells (a store costs what a local store does); the
    # generated ``snapshot`` reads them all
    cells: dict[str, str] = {}             # cell name -> initial value
    read: dict[int, int] = {}              # observed node -> position in the snapshot
    for i in sorted(observed):
        node = plan.nodes[i]
        if isinstance(node, P.Const) or plan.types[i] == P.RECORD:
            continue
        if isinstance(node, P.Source):
            e(f"n{i} = {name[i]}")
            name[i] = f"n{i}"
        if name[i] not in cells:
            cells[name[i]] = _initial(plan.types[i])
        read[i] = list(cells).index(name[i])
    warm_flags: dict[int, str] = {}
    for node in plan.rules.values():
        w = int(plan.warmup[node])
        if w not in warm_flags:
            warm_flags[w] = f"a{w}"
            e(f"a{w} = t >= {w}")
    # rule values are Python bools; the warm-up flag goes first so a warming rule is not evaluated
    rules = [f"({warm_flags[int(plan.warmup[node])]} and {name[node]})" for node in plan.rules.values()]
    e(f"last = ({', '.join(rules)}{',' if len(rules) == 1 else ''})")
    e("return last")

    state = ["t"] + [c for c, _ in e.cells[1:]] + list(cells) + ["last"]
    lines = [f"def factory({', '.join(e.args)}):"]
    lines += [f"    {c} = {init}" for c, init in [*e.cells, *cells.items()]] + ["    last = ()"]
    lines += ["    def update(ts, o, h, l, c, v, ext=None):",
              f"        nonlocal {', '.join(state)}",
              "        t += 1"]
    lines += e.body
    lines += ["    def bar_index():", "        return t",
              "    def last_rules():", "        return last",
              "    def snapshot():", f"        return ({''.join(f'{c}, ' for c in cells)})",
              "    def get_state():", f"        return ({''.join(f'{c}, ' for c in e.keys)})",
              "    def set_state(values):", f"        nonlocal {', '.join(e.keys)}",
              f"        {', '.join(e.keys)}, = values",
              "    return update, bar_index, last_rules, snapshot, get_state, set_state"]
    source = "\n".join(lines) + "\n"
    code = compile(source, "<autobot plan>", "exec")
    fn_code = next(c for c in code.co_consts if isinstance(c, types.CodeType))
    # no builtins are reachable from the generated code
    factory = types.FunctionType(fn_code, {"__builtins__": {}}, "factory")
    return source, fixed + e.values, factory, read, (list(e.keys.values()), e.deques, e.models)


def _emit_arith(e: _Emitter, op: str, n: str, a: str, b: str) -> None:
    if op in _ARITH:
        e(f"r = {a} {_ARITH[op]} {b} + 0.0")
        e(f"{n} = r if r - r == 0 else NAN")
    elif op in ("/", "%"):
        e(f"y = {b}")
        e("if y == 0 or y != y:" if op == "%" else "if y == 0:")
        e(f"{n} = NAN", 1)
        e("else:")
        e(f"r = {a} {op} y + 0.0", 1)
        e(f"{n} = r if r - r == 0 else NAN", 1)
    else:   # min / max
        e(f"x = {a}; y = {b}")
        e(f"r = NAN if x != x or y != y else (x if x {'<=' if op == 'min' else '>='} y else y) + 0.0")
        e(f"{n} = r if r - r == 0 else NAN")         # an infinite side (exp overflowing) is undefined, as in batch


def _emit_func(e: _Emitter, op: str, n: str, a: str) -> None:
    if op == "neg":
        e(f"{n} = 0.0 - {a}")
    elif op == "abs":
        e(f"{n} = ABS({a})")
    elif op == "sqrt":
        e(f"x = {a}")
        e(f"{n} = FLOAT(NPSQRT(x)) if x >= 0 else NAN")
    else:   # log
        e(f"x = {a}")
        e("if x > 0:")
        e("r = FLOAT(NPLOG(x))", 1)
        e(f"{n} = r if r - r == 0 else NAN", 1)
        e("else:")
        e(f"{n} = NAN", 1)


def _emit_cross(e: _Emitter, direction: str, n: str, x: str, y: str, key: str) -> None:
    px, py = e.cell("p", "NAN", f"cross:{key}:x"), e.cell("p", "NAN", f"cross:{key}:y")
    if direction == "above":
        e(f"{n} = {x} > {y} and {px} <= {py}")
    elif direction == "below":
        e(f"{n} = {x} < {y} and {px} >= {py}")
    else:
        e(f"{n} = ({x} > {y} and {px} <= {py}) or ({x} < {y} and {px} >= {py})")
    e(f"{px} = {x}; {py} = {y}")


def _emit_ta(e: _Emitter, node: P.TaCall, i: int, outs: list[tuple[int, int]], name: dict[int, str],
             checks: list[str]) -> None:
    fn = TA_FUNCTIONS[node.function]
    multi = len(fn.outputs) > 1
    out_names = [f"n{j}" for _, j in outs]
    for _, j in outs:
        name[j] = f"n{j}"
    u, start = e.cell("u", "None", f"ta:{e.canon(i)}:u"), e.cell("s", "0", f"ta:{e.canon(i)}:s")
    warm = e.arg("w", _ta_warmer(node, [k for k, _ in outs]))
    args = ", ".join(name[j] for j in node.inputs)
    e(f"if {' and '.join([f'{u} is not None', *checks])}:")

    def convert(expr: str) -> str:
        # integer outputs arrive as Python ints (bar positions, candlestick codes), exact in a float
        if fn.index_output:
            return f"t - ({expr} + {start}) + 0.0"
        return f"{expr} + 0.0"
    if multi:
        e(f"r = {u}({args})", 1)
        for (k, _), out in zip(outs, out_names):
            e(f"{out} = {convert(f'r[{int(k)}]')}", 1)
        target = f"({', '.join(out_names)}{',' if len(out_names) == 1 else ''})" if out_names else "_"
    else:
        e(f"n{i} = {convert(f'{u}({args})')}", 1)
        target = f"n{i}"
    e("else:")
    e(f"{u}, {start}, {target} = {warm}(t, {args})", 1)


def _node_inputs(node: P.Node) -> tuple[int, ...]:
    """The nodes a node reads."""
    if isinstance(node, (P.Arith, P.Cmp, P.Logic, P.Cross)):
        return (node.a, node.b)
    if isinstance(node, (P.Func, P.Negate, P.Shift, P.Monotone)):
        return (node.a,)
    if isinstance(node, P.BarsSince):
        return (node.c,)
    if isinstance(node, P.Divergence):
        return (node.price, node.osc, node.ago)
    if isinstance(node, P.TaCall):
        return node.inputs
    if isinstance(node, P.Output):
        return (node.call,)
    if isinstance(node, P.Learn):
        return (node.price, *node.inputs)
    return ()


def _inlined(plan: P.Plan, observed: frozenset[int]) -> set[int]:
    """Pure boolean nodes read exactly once and not observed: written into their reader as an
    expression, so ``and``/``or`` short-circuit past them."""
    uses = [0] * len(plan.nodes)
    for node in plan.nodes:
        for j in _node_inputs(node):
            uses[j] += 1
    for j in plan.rules.values():
        uses[j] += 1
    pure = (P.Cmp, P.Logic, P.Negate, P.Divergence, P.Monotone)
    return {i for i, node in enumerate(plan.nodes)
            if isinstance(node, pure) and uses[i] == 1 and i not in observed
            and not (isinstance(node, P.Monotone) and node.n > _UNROLL_LIMIT)}


def _bool_expr(e: _Emitter, plan: P.Plan, i: int, node: P.Node, name: dict[int, str]) -> str:
    """A side-effect-free expression for a boolean node (histories it reads are appended first)."""
    if isinstance(node, P.Cmp):
        a, b = name[node.a], name[node.b]
        type_ = plan.types[node.a]
        if type_ == P.TEXT:
            return f"{a} is not None and {b} is not None and {a} {'==' if node.op == '==' else '!='} {b}"
        if type_ == P.BOOL:
            return f"{a} {'==' if node.op == '==' else '!='} {b}"
        if node.op in _CMP:
            return f"{a} {_CMP[node.op]} {b}"
        return f"{a} != {b} and {a} == {a} and {b} == {b}"   # number !=: false when either is undefined
    if isinstance(node, P.Logic):
        return f"{name[node.a]} {'and' if node.op == 'and' else 'or'} {name[node.b]}"
    if isinstance(node, P.Negate):
        return f"not {name[node.a]}"
    if isinstance(node, P.Monotone):
        qn = e.history(node.a, name[node.a], node.n + 1)
        op = ">" if node.direction == "rising" else "<"
        return " and ".join(f"{qn}[{k + 1}] {op} {qn}[{k}]" for k in range(node.n))
    assert isinstance(node, P.Divergence)
    p, o = name[node.price], name[node.osc]
    dp, do = e.history(node.price, p, node.n + 1), e.history(node.osc, o, node.n + 1)
    # bars ago (a float) -> deque position of that bar; NaN and ago >= n are not keys
    positions = e.arg("pos", {float(ago): -2 - ago for ago in range(node.n)})
    k = f"g{i}"   # walrus temporary (no argument or cell name starts with g)
    cmp_p, cmp_o = ("<", ">") if node.kind == "bullish" else (">", "<")
    return (f"({k} := {positions}.get({name[node.ago]})) is not None "
            f"and {p} {cmp_p} {dp}[{k}] and {o} {cmp_o} {do}[{k}]")
