"""Constraints between a document's params: its top-level ``constraints:`` list.

Each constraint is a condition of the expression language over the document's params, e.g.
``slow > fast`` or ``adx_trending > adx_ranging + 2``: parsed by :mod:`autobot.language.parse`
and type-checked and lowered by the same checker as every rule (never ``eval``). It may use the
params, numbers, arithmetic, comparisons, ``and``/``or``/``not`` and the pointwise helpers
(``abs``, ``min``, ``max``, ``sqrt``, ``log``); nothing that reads bars. Its compiled plan is
evaluated with the params' values as inputs, one row per set of values, with the batch evaluator's
semantics (:func:`evaluate`): an undefined value, such as ``sqrt`` of a negative, makes a
comparison false, so the constraint does not hold.

``validate`` (every compile) reports an unknown name at its column, and refuses defaults (or
``--param`` overrides) that violate a constraint; ``autobot optimize`` never runs a trial that
violates one (docs/optimize.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from autobot.diagnostics import DiagnosticSink, did_you_mean
from autobot.documents.load import SourceFile
from autobot.language import ast
from autobot.language import plan as P
from autobot.language.check import BUILTIN_NAMES, ExprCompiler, ExprSite
from autobot.language.parse import ParseError, parse_expression

#: the helpers a constraint may call: functions of their arguments' current values only
POINTWISE = ("abs", "min", "max", "sqrt", "log")


@dataclass(frozen=True)
class Constraint:
    """One compiled constraint: its text, its node in the shared plan, and the params it reads."""

    text: str
    node: int
    names: tuple[str, ...]
    index: int = 0          # its place in the document's list


@dataclass
class Constraints:
    """A document's constraints, evaluated together."""

    plan: P.Plan = field(default_factory=P.Plan)
    items: tuple[Constraint, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.items)

    def holds(self, rows: Mapping[str, Any]) -> np.ndarray:
        """Per row, whether every constraint holds: ``rows`` maps each param to a value or an array
        of values (one per row, all of the same length)."""
        n = max((np.size(v) for v in rows.values()), default=1)
        ok = np.ones(n, dtype=bool)
        for item, value in zip(self.items, self._values(rows, n)):
            ok &= value
        return ok

    def violated(self, values: Mapping[str, float]) -> list[Constraint]:
        """The constraints that do not hold for one set of param values."""
        return [item for item, value in zip(self.items, self._values(values, 1)) if not value[0]]

    def _values(self, rows: Mapping[str, Any], n: int) -> list[np.ndarray]:
        if not self.items:
            return []
        values = evaluate(self.plan, {name: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,))
                                      for name, v in rows.items()}, n)
        return [np.asarray(values[item.node], dtype=bool) for item in self.items]


def evaluate(plan: P.Plan, externals: Mapping[str, np.ndarray], n: int) -> list[np.ndarray]:
    """Every node of a constraints plan over ``n`` rows of param values (``externals``), with the
    batch evaluator's semantics for the nodes a constraint compiles to (constants, params,
    arithmetic, abs/sqrt/log, comparisons, and/or/not): a non-finite number is undefined, a
    comparison with an undefined side is false. (The language layer does not import the
    evaluators; a test checks the two agree.)"""
    values: list[np.ndarray] = []
    with np.errstate(all="ignore"):
        for i, node in enumerate(plan.nodes):
            if isinstance(node, P.Const):
                out = np.full(n, node.value, dtype=bool if plan.types[i] == P.BOOL else np.float64)
            elif isinstance(node, P.External):
                out = np.asarray(externals[node.name], dtype=np.float64)
            elif isinstance(node, P.Arith):
                a, b = values[node.a], values[node.b]
                if node.op in ("min", "max"):
                    out = np.where(a <= b if node.op == "min" else a >= b, a, b)
                    out[np.isnan(a) | np.isnan(b)] = np.nan
                else:
                    out = _ARITH[node.op](a, b)
            elif isinstance(node, P.Func):
                out = _FUNC[node.op](values[node.a])
            elif isinstance(node, P.Cmp):
                a, b = values[node.a], values[node.b]
                out = _COMPARE[node.op](a, b)
                if node.op == "!=" and a.dtype != bool:
                    out &= ~np.isnan(a) & ~np.isnan(b)
            elif isinstance(node, P.Logic):
                out = (values[node.a] & values[node.b]) if node.op == "and" else (values[node.a] | values[node.b])
            elif isinstance(node, P.Negate):
                out = ~values[node.a]
            else:       # the checks before compiling let nothing else through
                raise ValueError(f"a constraint cannot hold a {type(node).__name__} node")
            if out.dtype == np.float64:
                out = np.where(np.isfinite(out), out + 0.0, np.nan)
            values.append(out)
    return values


def evaluate_one(plan: P.Plan, externals: Mapping[str, float]) -> list[Any]:
    """:func:`evaluate` of one row, on Python floats and bools (no arrays: a tenth of the time),
    with the same semantics: a non-finite number is undefined (NaN), a comparison with an undefined
    side is false. A test checks the two agree on random expressions and values."""
    return compile_one(plan)(externals)


def compile_one(plan: P.Plan) -> Callable[[Mapping[str, float]], list[Any]]:
    """:func:`evaluate_one` of ``plan`` as one function of the externals, its nodes turned into
    small closures once (no per-row dispatch on node types: the paper challenge evaluates
    ``promote_when`` for every subject every day). Never ``eval``: each closure is one of the
    operations below."""
    steps = [_step(node, plan.types[i]) for i, node in enumerate(plan.nodes)]

    def run(externals: Mapping[str, float]) -> list[Any]:
        values: list[Any] = []
        add = values.append
        for step in steps:
            add(step(values, externals))
        return values
    return run


def _finite(x: float) -> float:
    """A float result as the batch evaluator keeps it: +0.0 added, a non-finite one undefined."""
    return x + 0.0 if math.isfinite(x) else math.nan


def _binary(op: str) -> Callable[[float, float], float]:
    nan = math.nan
    if op == "min":
        return lambda a, b: nan if a != a or b != b else (a if a <= b else b)
    if op == "max":
        return lambda a, b: nan if a != a or b != b else (a if a >= b else b)
    plain = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
             "/": lambda a, b: a / b, "%": _py_mod}[op]
    zero_undefined = op in ("/", "%")

    def arith(a: float, b: float) -> float:
        if zero_undefined and b == 0:
            return nan
        try:
            return plain(a, b)
        except (OverflowError, ValueError):
            return nan
    return arith


_UNARY: dict[str, Callable[[float], float]] = {
    "neg": lambda a: -a, "abs": abs,
    "sqrt": lambda a: math.sqrt(a) if a >= 0 else math.nan,
    "log": lambda a: math.log(a) if a > 0 else math.nan,
}
_COMPARE_ONE: dict[str, Callable[[Any, Any], bool]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b and (isinstance(a, bool) or (a == a and b == b)),
}


def _step(node: P.Node, type_: str) -> Callable[[list[Any], Mapping[str, float]], Any]:
    """One node of :func:`compile_one`: its value from the values before it and the externals."""
    if isinstance(node, P.Const):
        value: Any = bool(node.value) if type_ == P.BOOL else _finite(float(node.value))
        return lambda values, ext: value
    if isinstance(node, P.External):
        name = node.name
        return lambda values, ext: _finite(float(ext[name]))
    if isinstance(node, P.Arith):
        f, a, b = _binary(node.op), node.a, node.b
        return lambda values, ext: _finite(f(values[a], values[b]))
    if isinstance(node, P.Func):
        g, a = _UNARY.get(node.op, _UNARY["log"]), node.a
        return lambda values, ext: _finite(g(values[a]))
    if isinstance(node, P.Cmp):
        c, a, b = _COMPARE_ONE.get(node.op, _COMPARE_ONE["!="]), node.a, node.b
        return lambda values, ext: c(values[a], values[b])
    if isinstance(node, P.Logic):
        a, b = node.a, node.b
        if node.op == "and":
            return lambda values, ext: values[a] and values[b]
        return lambda values, ext: values[a] or values[b]
    if isinstance(node, P.Negate):
        a = node.a
        return lambda values, ext: not values[a]
    raise ValueError(f"a constraint cannot hold a {type(node).__name__} node")


def _py_mod(a: float, b: float) -> float:
    """numpy's remainder of floats (the sign of the divisor), NaN for undefined operands."""
    if a != a or b != b or math.isinf(a):
        return math.nan
    return a % b


_ARITH = {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.true_divide, "%": np.remainder}
_FUNC = {"neg": np.negative, "abs": np.abs, "sqrt": np.sqrt, "log": np.log}
_COMPARE = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal, "==": np.equal,
            "!=": np.not_equal}


def describe(item: Constraint, values: Mapping[str, float]) -> str:
    """``slow > fast (slow = 20, fast = 25)``."""
    shown = ", ".join(f"{name} = {_number(values[name])}" for name in item.names if name in values)
    return f"{item.text}" + (f" ({shown})" if shown else "")


def _number(v: float) -> str:
    return str(int(v)) if math.isfinite(v) and float(v).is_integer() else f"{v:.12g}"


def compile_constraints(source: SourceFile, texts: list[str], params: dict[str, float], sink: DiagnosticSink,
                        indicators: Iterable[str] = (), overridden: Iterable[str] = (),
                        check_values: bool = True) -> Constraints:
    """Check and compile a document's ``constraints:`` (``texts``) over its ``params`` (name ->
    the value it runs with: the default, or an override named in ``overridden``); report every
    error to ``sink``, and (``check_values``: the params' values had no error of their own) the
    constraints those values violate."""
    out = Constraints()
    if not texts:
        return out
    compiler = ExprCompiler(sink, scalars={name: P.NUMBER for name in params}, series=False, plan=out.plan)
    named_indicators = set(indicators)
    items: list[Constraint] = []
    for k, text in enumerate(texts):
        node, found = source.node_at(("constraints", k))
        if not found or node is None:
            continue
        site = ExprSite.of(source, node)
        try:
            tree = parse_expression(site.text)
        except ParseError as exc:
            sink.add(site.diagnostic(exc.span, "syntax", f"syntax error: {exc.message}", exc.hint))
            continue
        names: list[str] = []
        if not _check_tree(tree, site, params, named_indicators, sink, names):
            continue
        compiled = compiler.compile(site, expect=P.BOOL, what="constraint")
        if compiled is None:
            continue
        if not names:
            sink.add(site.diagnostic(ast.Span(0, len(site.text.rstrip()) or 1), "constant-constraint",
                                     f"constraint '{site.text.strip()}' reads no param: it is always true or "
                                     "always false", "compare params, e.g. 'slow > fast'", severity="warning"))
        items.append(Constraint(site.text.strip(), compiled, tuple(dict.fromkeys(names)), k))
    out.items = tuple(items)
    changed = set(overridden)
    for item in (out.violated(params) if check_values else []):
        node, _ = source.node_at(("constraints", item.index))
        assert node is not None
        given = [name for name in item.names if name in changed]
        shown = ", ".join(f"{name} = {_number(params[name])}" for name in item.names)
        if given:
            message = (f"constraint '{item.text}' does not hold for the values given ({shown}; "
                       f"{', '.join(given)} overridden)")
            hint = "give values that satisfy the document's constraints"
        else:
            message = f"constraint '{item.text}' does not hold for the params' defaults ({shown})"
            hint = ("change the defaults (or the constraint) so that it holds: optimisation only tries values that "
                    "satisfy every constraint")
        sink.add(source.diagnostic(node.start, max(node.end, node.start + 1), "constraint-violated", message, hint))
    return out


def _check_tree(tree: ast.Expr, site: ExprSite, params: dict[str, float], indicators: set[str],
                sink: DiagnosticSink, names: list[str]) -> bool:
    """Report what a constraint may not use (unknown names, series, calls over bars) at its
    column; collect the params it reads into ``names``. True when nothing was reported."""
    from autobot.language.parse import children
    ok = True
    todo = [tree]
    listed = ", ".join(params) if params else "none (declare them under params:)"
    while todo:
        e = todo.pop()
        if isinstance(e, ast.Name):
            if e.id in params:
                names.append(e.id)
                continue
            ok = False
            if e.id in indicators or e.id in BUILTIN_NAMES:
                what = "an indicator" if e.id in indicators else "a built-in series"
                sink.add(site.diagnostic(e.span, "not-a-param", f"'{e.id}' is {what}: a constraint compares "
                                         "params, not series", f"the document's params: {listed}"))
            else:
                sink.add(site.diagnostic(e.span, "unknown-param", f"unknown param '{e.id}' in a constraint"
                                         f"{did_you_mean(e.id, params)}", f"the document's params: {listed}"))
            continue
        if isinstance(e, ast.Text):
            ok = False
            sink.add(site.diagnostic(e.span, "not-a-param", "a constraint compares numbers: a text has no place "
                                     "in it", "write params, numbers and arithmetic, e.g. 'slow >= 2 * fast'"))
            continue
        if isinstance(e, (ast.Offset, ast.Field)):
            ok = False
            sink.add(site.diagnostic(e.span, "not-a-param", "a constraint compares param values: offsets and "
                                     "fields read series", "write params, numbers and arithmetic, e.g. "
                                     "'slow >= 2 * fast'"))
            continue
        if isinstance(e, ast.Call) and e.name not in POINTWISE:
            ok = False
            sink.add(site.diagnostic(e.name_span, "not-a-param", f"'{e.name}' reads bars: a constraint compares "
                                     "param values", "use arithmetic, comparisons, and/or/not, and "
                                     + ", ".join(POINTWISE)))
            continue
        todo.extend(reversed(children(e)))
    return ok
