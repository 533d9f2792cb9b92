"""Name resolution, type checking, warm-up and lowering of expressions into a :class:`Plan`.

Every problem becomes a :class:`Diagnostic` at the exact span of the offending
text inside its YAML scalar; compilation continues so that every error of a
document is reported, and an indicator that failed is not reported again where
it is used.
"""

from __future__ import annotations

import math

import dataclasses

from dataclasses import dataclass
from typing import Callable, Iterable

from autobot.diagnostics import Diagnostic, DiagnosticSink, did_you_mean
from autobot.documents.load import SourceFile, YNode
from autobot.language import ast
from autobot.language import book as B
from autobot.language import plan as P
from autobot.language.functions import BAR_FIELDS, HELPERS, TA_FUNCTIONS, TaFunction
from autobot.language.parse import ParseError, parse_expression

POSITION_FIELDS = {"side": P.TEXT, "qty": P.NUMBER, "entry_price": P.NUMBER, "pnl_pct": P.NUMBER,
                   "bars_held": P.NUMBER}
TIME_FIELDS = ("hour", "weekday")
POSITION_SIDES = ("long", "short", "flat")
DERIVED_PRICES = {"hl2": ("high", "low"), "hlc3": ("high", "low", "close"),
                  "ohlc4": ("open", "high", "low", "close")}
SCALAR_EXTERNALS = {"equity": P.NUMBER, "drawdown": P.NUMBER, "regime": P.TEXT, "sentiment": P.NUMBER,
                    "sentiment_mean": P.NUMBER, "sentiment_count": P.NUMBER}
BUILTIN_NAMES = (set(BAR_FIELDS) | set(DERIVED_PRICES) | set(SCALAR_EXTERNALS) | {"position", "time", "true",
                                                                                   "false"})
MAX_OFFSET = 100_000
#: the longest length or period any function takes (rising(x, n), highest(x, n), TA-Lib periods)
MAX_LENGTH = 100_000


@dataclass(frozen=True)
class ExprSite:
    """An expression's text and the YAML node it was read from."""

    text: str
    source: SourceFile
    node: YNode | None

    @staticmethod
    def of(source: SourceFile, node: YNode) -> "ExprSite":
        value = node.value
        text = ("true" if value else "false") if isinstance(value, bool) else ("" if value is None else str(value))
        return ExprSite(text, source, node)

    def diagnostic(self, span: ast.Span, code: str, message: str, hint: str = "",
                   severity: str = "error") -> Diagnostic:
        """A diagnostic under ``span`` of the expression text, placed in the YAML file."""
        node = self.node
        if node is None:
            return self.source.diagnostic(0, 1, code, message, hint, severity)
        cmap = node.char_map
        if not cmap or not isinstance(node.value, str):
            return self.source.diagnostic(node.start, node.end, code, message, hint, severity)
        start = min(max(span.start, 0), len(cmap) - 1)
        last = min(max(span.end - 1, start), len(cmap) - 1)
        end = node.char_end[last] if node.char_end else cmap[last] + 1
        return self.source.diagnostic(cmap[start], end, code, message, hint, severity)


@dataclass(frozen=True)
class Value:
    """A lowered expression: its node and type (``record`` carries the TA function)."""

    node: int
    type: str
    function: TaFunction | None = None


class _Failed(Exception):
    """Raised inside lowering after a diagnostic was recorded."""


#: indicators being lowered inside each other past this depth first lower what they depend on, one
#: by one (``ExprCompiler._resolve_first``): a chain of any length needs no deeper recursion
_DEEP = 32


def _subexpressions(node: ast.Expr) -> list[ast.Expr]:
    """The expressions directly inside ``node``, left to right."""
    from autobot.language.parse import children
    return children(node)


class ExprCompiler:
    """Lowers a document's expressions into one shared :class:`Plan`."""

    def __init__(self, sink: DiagnosticSink, params: dict[str, float] | None = None,
                 indicators: dict[str, ExprSite] | None = None, regime_names: tuple[str, ...] | None = None,
                 scalars: dict[str, str] | None = None, series: bool = True, plan: P.Plan | None = None,
                 failed: set[str] | None = None):
        self.sink = sink
        self.params = dict(params or {})
        self.indicator_sites = dict(indicators or {})
        self.regime_names = regime_names
        self.scalars = dict(scalars or {})   # extra names (e.g. metrics for promote_when)
        self.series = series                 # False: bar series and TA functions are not available
        self.plan = plan or P.Plan()
        self._indicator_values: dict[str, Value | None] = {name: None for name in failed or ()}
        self._stack: list[str] = []          # indicators being lowered, outermost first
        self._on_stack: set[str] = set()
        self._trees: dict[str, ast.Expr | tuple] = {}   # parsed texts (a syntax error: its parts)
        self._site: ExprSite | None = None
        self.forbidden: dict[str, str] = {}      # names not available in this document, with why
        self.models: dict[str, Value] = {}       # ml: predictions compiled so far
        self.pending_models: set[str] = set()    # ml: names not usable yet (a model's own, later ones)
        self.book = False                        # book, trades and inventory names (a quote: document)
        self.max_inventory: float | None = None  # quote.max_inventory, which inventory.share needs

    # ----------------------------------------------------------------- public
    def compile_indicators(self) -> None:
        """Lower every indicator (reporting its errors once) and name its outputs."""
        for name in self.indicator_sites:
            value = self._indicator(name, None, None)
            if value is None:
                continue
            if value.type == P.RECORD and value.function is not None:
                for i, out in enumerate(value.function.outputs):
                    alias = next((a for a, c in value.function.output_aliases.items() if c == out), out)
                    self.plan.named[f"{name}.{alias}"] = self._output(value, i)
            else:
                self.plan.named[name] = value.node

    def compile(self, site: ExprSite, expect: str | None = P.BOOL, what: str = "rule") -> int | None:
        """Lower one expression; ``expect`` is the required type (None: number or bool)."""
        value = self._lower_site(site)
        if value is None:
            return None
        if expect is not None and value.type != expect:
            self._report_type(site, value, expect, what)
            return None
        if value.type == P.RECORD:
            self._report_type(site, value, P.NUMBER, what)
            return None
        return value.node

    def constant(self, site: ExprSite, integer: bool = False, minimum: float | None = None,
                 what: str = "value") -> float | None:
        """Evaluate a constant expression (literals, params, arithmetic) at compile time."""
        try:
            tree = self._parse(site)
            self._site = site
            return self._const(tree, what, integer=integer, minimum=minimum)
        except _Failed:
            return None

    # ---------------------------------------------------------------- helpers
    def _did_you_mean(self, word: str, candidates: Iterable[str] | Callable[[], Iterable[str]]) -> str:
        """:func:`~autobot.diagnostics.did_you_mean`, skipped once the file's diagnostics are no longer
        kept (the error is counted, not shown); ``candidates`` may be a function giving them."""
        site = self._site
        if site is not None and self.sink.full(site.source.path):
            return ""
        return did_you_mean(word, candidates() if callable(candidates) else candidates)

    def _error(self, span: ast.Span, code: str, message: str, hint: str = "") -> _Failed:
        assert self._site is not None
        self.sink.add(self._site.diagnostic(span, code, message, hint))
        return _Failed()

    def _tree(self, text: str) -> ast.Expr:
        """:func:`~autobot.language.parse.parse_expression`, each text parsed once per compiler."""
        found = self._trees.get(text)
        if found is None:
            try:
                found = parse_expression(text)
            except ParseError as exc:
                found = (exc.message, exc.span, exc.hint)
            self._trees[text] = found
        if isinstance(found, tuple):
            raise ParseError(*found)
        return found

    def _parse(self, site: ExprSite) -> ast.Expr:
        try:
            return self._tree(site.text)
        except ParseError as exc:
            self.sink.add(site.diagnostic(exc.span, "syntax", f"syntax error: {exc.message}", exc.hint))
            raise _Failed() from None

    def _lower_site(self, site: ExprSite) -> Value | None:
        saved = self._site
        try:
            tree = self._parse(site)
            self._site = site
            return self._lower(tree)
        except _Failed:
            return None
        finally:
            self._site = saved

    def _report_type(self, site: ExprSite, value: Value, expect: str, what: str) -> None:
        span = ast.Span(0, len(site.text.rstrip()) or 1)
        if expect == P.BOOL:
            hint = "compare it with something, e.g. 'x > 0'" if value.type == P.NUMBER else ""
            msg = f"a {what} must be a condition (true/false), but this is a {self._type_name(value)}"
        else:
            hint = "pick an output with a field, e.g. '.upper'" if value.type == P.RECORD else ""
            msg = f"a {what} must be a number, but this is a {self._type_name(value)}"
        self.sink.add(site.diagnostic(span, "type", msg, hint))

    @staticmethod
    def _type_name(value: Value) -> str:
        if value.type == P.RECORD and value.function is not None:
            return f"multi-output value of {value.function.name} ({', '.join(value.function.outputs)})"
        return {P.BOOL: "condition", P.NUMBER: "number", P.TEXT: "text"}.get(value.type, value.type)

    def _add(self, node: P.Node, type_: str, warmup: int) -> Value:
        return Value(self.plan.add(node, type_, warmup), type_)

    def _w(self, *values: Value) -> int:
        return max((self.plan.warmup[v.node] for v in values), default=0)

    def _output(self, value: Value, index: int) -> int:
        return self.plan.add(P.Output(value.node, index), P.NUMBER, self.plan.warmup[value.node])

    # --------------------------------------------------------------- constants
    def _const(self, e: ast.Expr, what: str, integer: bool = False, minimum: float | None = None,
               maximum: float | None = None) -> float:
        value = self._const_value(e, what)
        if not math.isfinite(value):
            raise self._error(e.span, "out-of-range", f"{what} is not a finite number", "write an ordinary number")
        if maximum is not None and value > maximum:
            raise self._error(e.span, "out-of-range", f"{what} must be at most {maximum:g}, got {value:g}",
                              f"lengths and periods are at most {MAX_LENGTH:,} bars")
        if integer and value != int(value):
            raise self._error(e.span, "not-integer", f"{what} must be a whole number, got {value:g}")
        if minimum is not None and value < minimum:
            raise self._error(e.span, "out-of-range", f"{what} must be at least {minimum:g}, got {value:g}")
        return value

    def _const_value(self, e: ast.Expr, what: str) -> float:
        if isinstance(e, ast.Number):
            if not math.isfinite(e.value):
                raise self._error(e.span, "out-of-range", "this number is too large (beyond 1.8e308)",
                                  "write an ordinary number")
            return e.value
        if isinstance(e, ast.Name) and e.id in self.params:
            return float(self.params[e.id])
        if isinstance(e, ast.Unary):
            v = self._const_value(e.operand, what)
            return -v if e.op == "-" else v
        if isinstance(e, ast.Binary):
            a, b = self._const_value(e.left, what), self._const_value(e.right, what)
            if e.op in "/%" and b == 0:
                raise self._error(e.span, "division-by-zero", "division by zero in a constant")
            out = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0, "%": a % b if b else 0.0}[e.op]
            if not math.isfinite(out):
                raise self._error(e.span, "out-of-range", "this constant overflows (beyond 1.8e308)",
                                  "write an ordinary number")
            return out
        if isinstance(e, ast.Name):
            if e.id in self.indicator_sites or e.id in BUILTIN_NAMES:
                raise self._error(e.span, "not-constant", f"{what} must be a constant, but '{e.id}' is a series",
                                  "use a number or a param")
            raise self._error(e.span, "unknown-name", f"unknown name '{e.id}'{self._did_you_mean(e.id, self.params)}",
                              "params are declared under 'params:'" if self.series else
                              "write a number or a percentage such as 60%")
        raise self._error(e.span, "not-constant", f"{what} must be a constant (a number or a param)",
                          "series values cannot be used here")

    # ----------------------------------------------------------------- lowering
    def _lower(self, e: ast.Expr) -> Value:
        method: Callable[[ast.Expr], Value] = getattr(self, "_lower_" + type(e).__name__.lower())
        return method(e)

    def _lower_number(self, e: ast.Number) -> Value:
        if not math.isfinite(e.value):
            raise self._error(e.span, "out-of-range", "this number is too large (beyond 1.8e308)",
                              "write an ordinary number")
        return self._add(P.Const(float(e.value)), P.NUMBER, 0)

    def _lower_text(self, e: ast.Text) -> Value:
        return self._add(P.Const(e.value), P.TEXT, 0)

    def _lower_bool(self, e: ast.Bool) -> Value:
        return self._add(P.Const(bool(e.value)), P.BOOL, 0)

    def _lower_name(self, e: ast.Name) -> Value:
        name = e.id
        if name in self._indicator_values and self._indicator_values[name] is None:
            raise _Failed()  # already reported where the indicator is defined
        if name in self.forbidden and name not in self.indicator_sites:
            raise self._error(e.span, "not-available", f"'{name}' cannot be used here", self.forbidden[name])
        if name in self.scalars:
            return self._add(P.External(name), self.scalars[name], 0)
        if name in self.models:
            return self.models[name]
        if name in self.pending_models:
            raise self._error(e.span, "model-feature", f"'{name}' is a model's prediction: a model cannot learn "
                              "from its own prediction or a later model's", "use market series as features, or an "
                              "earlier model of the ml: section")
        if name in self.params:
            return self._add(P.Const(float(self.params[name])), P.NUMBER, 0)
        if name in self.indicator_sites:
            value = self._indicator(name, e.span, self._site)
            if value is None:
                raise _Failed()
            return value
        if self.series:
            if name in BAR_FIELDS:
                return self._add(P.Source(name), P.NUMBER, 0)
            if name in DERIVED_PRICES:
                parts = [self._add(P.Source(f), P.NUMBER, 0) for f in DERIVED_PRICES[name]]
                total = parts[0]
                for part in parts[1:]:
                    total = self._add(P.Arith("+", total.node, part.node), P.NUMBER, 0)
                div = self._add(P.Const(float(len(parts))), P.NUMBER, 0)
                return self._add(P.Arith("/", total.node, div.node), P.NUMBER, 0)
            if name in SCALAR_EXTERNALS:
                return self._add(P.External(name), SCALAR_EXTERNALS[name], 0)
            if name == "position":
                raise self._error(e.span, "namespace", "'position' needs a field",
                                  "use one of: " + ", ".join(f"position.{f}" for f in POSITION_FIELDS))
            if name == "time":
                raise self._error(e.span, "namespace", "'time' needs a field", "use time.hour or time.weekday")
        if name in B.SPACES and name not in self.indicator_sites and name not in self.params:
            return self._book_name(e)
        if name in TA_FUNCTIONS or name in HELPERS:
            raise self._error(e.span, "not-called", f"'{name}' is a function; call it with arguments",
                              f"e.g. {name}(...); see 'autobot functions {name}'")
        def known() -> list[str]:
            names = list(self.indicator_sites) + list(self.params) + list(self.scalars) + list(self.models)
            return names + sorted(BUILTIN_NAMES - {"true", "false"}) if self.series else names
        glued = _glued_call(name)
        if glued:
            raise self._error(e.span, "unknown-name", f"unknown name '{name}' (did you mean {glued}?)",
                              "an indicator is a call with its period in parentheses, or a name defined under "
                              "indicators:")
        if self.series:
            hint = "names are indicators, params or built-ins (open, high, low, close, volume, ...)"
        elif self.scalars:
            hint = "available names: " + ", ".join(self.scalars)
        else:
            hint = "write a number or a percentage such as 60%"
        raise self._error(e.span, "unknown-name", f"unknown name '{name}'{self._did_you_mean(name, known)}", hint)

    def _indicator(self, name: str, span: ast.Span | None, site: ExprSite | None) -> Value | None:
        if name in self._indicator_values:
            return self._indicator_values[name]
        if name in self._on_stack:
            self._cycle(self._stack[self._stack.index(name):] + [name], span, site)
            return None
        if len(self._stack) >= _DEEP:
            self._resolve_first(name)         # its dependencies, bottom-up, instead of recursing deeper
            if name in self._indicator_values:
                return self._indicator_values[name]
        return self._lower_indicator(name)

    def _cycle(self, cycle: list[str], span: ast.Span | None, site: ExprSite | None) -> None:
        """Report indicators referring to each other in a cycle (at the reference closing it) and
        mark them failed, so nothing more is reported where they are used."""
        if span is not None and site is not None:
            shown = cycle if len(cycle) <= 21 else \
                cycle[:10] + [f"... ({len(cycle) - 20:,} more) ..."] + cycle[-10:]
            self.sink.add(site.diagnostic(span, "cycle", f"indicators refer to each other in a cycle: "
                                          f"{' -> '.join(shown)}", "break the cycle: an indicator cannot "
                                          "depend on itself (use an offset such as x[1] on a base series)"))
        for member in cycle:
            self._indicator_values.setdefault(member, None)

    def _references(self, name: str) -> list[tuple[str, ast.Span]]:
        """The unresolved indicators ``name``'s expression names, left to right, with where."""
        try:
            tree = self._tree(self.indicator_sites[name].text)
        except ParseError:
            return []
        out: list[tuple[str, ast.Span]] = []
        todo: list[ast.Expr] = [tree]
        while todo:
            node = todo.pop()
            if isinstance(node, ast.Name):
                if node.id in self.indicator_sites and node.id not in self._indicator_values:
                    out.append((node.id, node.span))
            else:
                todo.extend(reversed(_subexpressions(node)))
        return out

    def _resolve_first(self, root: str) -> None:
        """Lower the indicators ``root`` depends on, each after its own dependencies (an iterative
        depth-first walk), so that a chain of thousands of indicators written from its end
        (``a: b + 1``, ``b: c + 1``, ...) needs no deeper recursion than one written from its start.
        A cycle found on the way is reported where recursion would have found it."""
        order: list[str] = []
        path: list[str] = [root]
        on_path = {root}
        done: set[str] = set()
        walks = [iter(self._references(root))]
        while walks:
            for ref, span in walks[-1]:
                if ref in self._indicator_values or ref in done:
                    continue
                if ref in on_path or ref in self._on_stack:
                    chain = path[path.index(ref):] if ref in on_path else \
                        self._stack[self._stack.index(ref):] + path
                    site = self.indicator_sites[path[-1]]
                    self._cycle(chain + [ref], span, site)
                    continue
                path.append(ref)
                on_path.add(ref)
                walks.append(iter(self._references(ref)))
                break
            else:
                walks.pop()
                node = path.pop()
                on_path.discard(node)
                done.add(node)
                order.append(node)
        for name in order[:-1]:               # the root itself is lowered by the caller
            if name not in self._indicator_values:
                self._lower_indicator(name)

    def _lower_indicator(self, name: str) -> Value | None:
        """Lower one indicator's site and keep its value; None when lowering it found it part of a
        cycle (which marks it)."""
        self._stack.append(name)
        self._on_stack.add(name)
        try:
            value = self._lower_site(self.indicator_sites[name])
        finally:
            self._stack.pop()
            self._on_stack.discard(name)
        if name in self._indicator_values:  # marked as part of a cycle while lowering
            return None
        self._indicator_values[name] = value
        return value

    def _lower_field(self, e: ast.Field) -> Value:
        if isinstance(e.value, ast.Name) and e.value.id in self.models:
            if e.name != "value":
                raise self._error(e.span, "unknown-field", f"a model has one output, 'value', not '{e.name}'",
                                  f"use {e.value.id}.value (or {e.value.id})")
            return self.models[e.value.id]
        if isinstance(e.value, ast.Name) and e.value.id in ("position", "time") and \
                e.value.id not in self.indicator_sites and self.series:
            space = e.value.id
            if space in self.forbidden:
                raise self._error(e.value.span, "not-available", f"'{space}' cannot be used here",
                                  self.forbidden[space])
            fields = POSITION_FIELDS if space == "position" else {f: P.NUMBER for f in TIME_FIELDS}
            if e.name not in fields:
                raise self._error(e.name_span, "unknown-field",
                                  f"unknown field '{e.name}' of {space}{self._did_you_mean(e.name, fields)}",
                                  "valid fields: " + ", ".join(fields))
            if space == "time":
                return self._add(P.Clock(e.name), P.NUMBER, 0)
            return self._add(P.External(f"position.{e.name}"), fields[e.name], 0)
        if isinstance(e.value, ast.Name) and e.value.id in B.SPACES and e.value.id not in self.indicator_sites \
                and e.value.id not in self.params:
            return self._book_name(e.value, e.name, e.name_span)
        value = self._lower(e.value)
        if value.type != P.RECORD or value.function is None:
            raise self._error(e.name_span, "unknown-field",
                              f"a {self._type_name(value)} has no field '{e.name}'",
                              "fields select an output of a multi-output function, e.g. bbands(close).upper")
        fn = value.function
        index = fn.resolve_output(e.name)
        if index is None:
            names = list(fn.outputs) + list(fn.output_aliases)
            raise self._error(e.name_span, "unknown-field",
                              f"{fn.name} has no output '{e.name}'{self._did_you_mean(e.name, names)}",
                              "valid outputs: " + "; ".join(fn.output_choices()))
        return Value(self._output(value, index), P.NUMBER)

    def _lower_offset(self, e: ast.Offset) -> Value:
        value = self._lower(e.value)
        if value.type == P.RECORD:
            raise self._error(e.value.span, "type", "pick an output before taking an offset",
                              "e.g. bbands(close).upper[1]")
        if isinstance(e.offset, ast.Unary) and e.offset.op == "-" or \
                isinstance(e.offset, ast.Number) and e.offset.value < 0:
            raise self._error(e.offset.span, "lookahead", "negative offset would read the future",
                              "x[n] is the value n bars ago; n must be 0 or more")
        n = self._offset_value(e.offset)
        if n == 0:
            return value
        return self._add(P.Shift(value.node, n), value.type, self._w(value) + n)

    def _offset_value(self, off: ast.Expr) -> int:
        if isinstance(off, ast.Name) and off.id not in self.params and off.id not in self.indicator_sites and \
                off.id not in BUILTIN_NAMES:
            raise self._error(off.span, "unknown-name", f"unknown name '{off.id}'{self._did_you_mean(off.id, self.params)}",
                              "an offset is a whole number or a param declared under 'params:'")
        if not (isinstance(off, ast.Number) or isinstance(off, ast.Name) and off.id in self.params):
            raise self._error(off.span, "lookahead", "an offset must be a whole-number literal or a param",
                              "computed offsets could read the future; write x[1], x[2] or x[param]")
        n = self._const_value(off, "an offset")
        if n < 0:
            raise self._error(off.span, "lookahead", f"negative offset ({n:g}) would read the future",
                              "x[n] is the value n bars ago; n must be 0 or more")
        if n != int(n):
            raise self._error(off.span, "not-integer", f"an offset must be a whole number, got {n:g}")
        if n > MAX_OFFSET:
            raise self._error(off.span, "out-of-range", f"offset {n:g} is larger than {MAX_OFFSET}")
        return int(n)

    def _lower_unary(self, e: ast.Unary) -> Value:
        value = self._number(e.operand, f"unary '{e.op}'")
        if e.op == "+":
            return value
        return self._add(P.Func("neg", value.node), P.NUMBER, self._w(value))

    def _number(self, e: ast.Expr, what: str) -> Value:
        value = self._lower(e)
        if value.type != P.NUMBER:
            hint = "pick an output with a field, e.g. '.upper'" if value.type == P.RECORD else \
                "only numbers take part in arithmetic and ordering"
            raise self._error(e.span, "type", f"{what} needs a number, but this is a {self._type_name(value)}", hint)
        return value

    def _condition(self, e: ast.Expr, what: str) -> Value:
        value = self._lower(e)
        if value.type != P.BOOL:
            raise self._error(e.span, "type", f"{what} needs a condition (true/false), but this is a "
                              f"{self._type_name(value)}", "compare it, e.g. 'x > 0'")
        return value

    @staticmethod
    def _each(*steps: Callable[[], Value]) -> list[Value]:
        """Run every step even when one fails, so one bad operand does not hide another's error."""
        out: list[Value] = []
        failed = False
        for step in steps:
            try:
                out.append(step())
            except _Failed:
                failed = True
        if failed:
            raise _Failed()
        return out

    def _lower_binary(self, e: ast.Binary) -> Value:
        a, b = self._each(lambda: self._number(e.left, f"'{e.op}'"), lambda: self._number(e.right, f"'{e.op}'"))
        return self._add(P.Arith(e.op, a.node, b.node), P.NUMBER, self._w(a, b))

    def _lower_compare(self, e: ast.Compare) -> Value:
        values = self._each(*(lambda o=o: self._lower(o) for o in e.operands))
        result: Value | None = None
        for i, op in enumerate(e.ops):
            a, b = values[i], values[i + 1]
            self._check_comparable(e, i, op, a, b)
            cmp = self._add(P.Cmp(op, a.node, b.node), P.BOOL, self._w(a, b))
            result = cmp if result is None else self._add(P.Logic("and", result.node, cmp.node), P.BOOL,
                                                          self._w(result, cmp))
        assert result is not None
        return result

    def _check_comparable(self, e: ast.Compare, i: int, op: str, a: Value, b: Value) -> None:
        left, right = e.operands[i], e.operands[i + 1]
        for side, v in ((left, a), (right, b)):
            if v.type == P.RECORD:
                raise self._error(side.span, "type", f"cannot compare a {self._type_name(v)}",
                                  "pick an output with a field, e.g. '.upper'")
        if a.type != b.type:
            raise self._error(e.op_spans[i], "type", f"cannot compare {self._type_name(a)} with "
                              f"{self._type_name(b)}", "both sides of a comparison must have the same type")
        if a.type in (P.TEXT, P.BOOL) and op not in ("==", "!="):
            raise self._error(e.op_spans[i], "type", f"'{op}' does not apply to a {self._type_name(a)}",
                              "texts and conditions can only be compared with == or !=")
        if a.type == P.TEXT:
            for lit, other in ((left, right), (right, left)):
                if isinstance(lit, ast.Text):
                    self._check_text_literal(lit, other)

    def _check_text_literal(self, lit: ast.Text, other: ast.Expr) -> None:
        allowed: tuple[str, ...] | None = None
        if isinstance(other, ast.Field) and isinstance(other.value, ast.Name) and other.value.id == "position":
            allowed = POSITION_SIDES
        elif isinstance(other, ast.Name) and other.id == "regime" and self.regime_names is not None:
            allowed = self.regime_names
        if allowed is not None and lit.value not in allowed:
            raise self._error(lit.span, "unknown-value", f"'{lit.value}' is not a possible value"
                              f"{self._did_you_mean(lit.value, allowed)}", "possible values: " + ", ".join(allowed))

    def _lower_boolop(self, e: ast.BoolOp) -> Value:
        # a chain of one operator (a and b and c ...) is walked iteratively, so long chains need no
        # deep recursion; every operand is checked, so one bad operand hides no other's error
        chain: list[ast.Expr] = []
        node: ast.Expr = e
        while isinstance(node, ast.BoolOp) and node.op == e.op:
            chain.append(node.right)
            node = node.left
        chain.append(node)
        chain.reverse()
        values = self._each(*(lambda o=o: self._condition(o, f"'{e.op}'") for o in chain))
        acc = values[0]
        for v in values[1:]:
            acc = self._add(P.Logic(e.op, acc.node, v.node), P.BOOL, self._w(acc, v))
        return acc

    def _lower_not(self, e: ast.Not) -> Value:
        a = self._condition(e.operand, "'not'")
        return self._add(P.Negate(a.node), P.BOOL, self._w(a))

    # ------------------------------------------------------------------ calls
    def _lower_call(self, e: ast.Call) -> Value:
        name = e.name
        if "." in name:
            return self._book_call(e)
        if name in HELPERS:
            return self._helper(e)
        if name in TA_FUNCTIONS and self.series:
            return self._ta_call(e, TA_FUNCTIONS[name])
        names = list(HELPERS) + (list(TA_FUNCTIONS) if self.series else [])
        if name in self.indicator_sites or name in self.params:
            raise self._error(e.name_span, "not-callable", f"'{name}' is not a function",
                              "indicators and params are used by name, without parentheses")
        raise self._error(e.name_span, "unknown-function",
                          f"unknown function '{name}'{self._did_you_mean(name, names)}",
                          "run 'autobot functions' for the list")

    def _helper(self, e: ast.Call) -> Value:
        h = HELPERS[e.name]
        if e.keywords:
            args = list(e.args)
            for kw in e.keywords:   # the length may be named: highest(x, n=5)
                if kw.name == "n" and h.int_args and len(args) == h.int_args[0]:
                    args.append(kw.value)
                    continue
                named = "only its length as n=" if h.int_args else "no named arguments"
                raise self._error(kw.name_span, "unknown-keyword", f"{h.name} takes {named}",
                                  f"call it as {h.signature}")
            e = dataclasses.replace(e, args=tuple(args), keywords=())
        n = len(e.args)
        if n < h.min_args or (h.max_args is not None and n > h.max_args):
            expected = str(h.min_args) if h.max_args == h.min_args else \
                (f"{h.min_args} or more" if h.max_args is None else f"{h.min_args} to {h.max_args}")
            raise self._error(e.span, "arity", f"{h.name} takes {expected} arguments, got {n}",
                              f"call it as {h.signature}")
        ints = [self._int_arg(e.args[i], h.name) if i < n else None for i in h.int_args]
        name = e.name
        if name in ("crosses_above", "crosses_below", "crosses"):
            a, b = self._number(e.args[0], name), self._number(e.args[1], name)
            direction = {"crosses_above": "above", "crosses_below": "below", "crosses": "any"}[name]
            return self._add(P.Cross(direction, a.node, b.node), P.BOOL, self._w(a, b) + 1)
        if name in ("highest", "lowest"):
            x = self._number(e.args[0], name)
            if (ints[0] or 0) < 2:
                raise self._error(e.args[1].span, "out-of-range", f"{name} needs n >= 2, got {ints[0]}",
                                  f"{name}(x, 1) is x itself")
            return self._ta_node(TA_FUNCTIONS["max" if name == "highest" else "min"], [x],
                                 {"timeperiod": float(ints[0] or 0)}, e.args[1].span, single=True)
        if name in ("change", "pct_change"):
            x = self._number(e.args[0], name)
            k = ints[0] if ints[0] is not None else 1
            prev = self._add(P.Shift(x.node, k), P.NUMBER, self._w(x) + k) if k else x
            if name == "change":
                return self._add(P.Arith("-", x.node, prev.node), P.NUMBER, self._w(x) + k)
            ratio = self._add(P.Arith("/", x.node, prev.node), P.NUMBER, self._w(x) + k)
            one = self._add(P.Const(1.0), P.NUMBER, 0)
            return self._add(P.Arith("-", ratio.node, one.node), P.NUMBER, self._w(x) + k)
        if name in ("rising", "falling"):
            x = self._number(e.args[0], name)
            k = ints[0] if ints[0] is not None else 1
            if k < 1:
                raise self._error(e.args[1].span, "out-of-range", f"{name} needs n >= 1, got {k}")
            return self._add(P.Monotone(name, x.node, k), P.BOOL, self._w(x) + k)
        if name == "bars_since":
            c = self._condition(e.args[0], name)
            return self._add(P.BarsSince(c.node), P.NUMBER, self._w(c))
        if name in ("bullish_divergence", "bearish_divergence"):
            price, osc = self._number(e.args[0], name), self._number(e.args[1], name)
            k = ints[0] if ints[0] is not None else 14
            if k < 2:
                raise self._error(e.args[2].span, "out-of-range", f"{name} needs n >= 2, got {k}")
            fn = TA_FUNCTIONS["minindex" if name.startswith("bull") else "maxindex"]
            extreme = self._ta_node(fn, [price], {"timeperiod": float(k)}, e.span, single=True)
            ago = self._add(P.Shift(extreme.node, 1), P.NUMBER, self._w(extreme) + 1)
            kind = "bullish" if name.startswith("bull") else "bearish"
            return self._add(P.Divergence(kind, price.node, osc.node, ago.node, k), P.BOOL,
                             max(self._w(price), self._w(osc)) + k)
        if name in ("min", "max"):
            values = [self._number(a, name) for a in e.args]
            acc = values[0]
            for v in values[1:]:
                acc = self._add(P.Arith(name, acc.node, v.node), P.NUMBER, self._w(acc, v))
            return acc
        x = self._number(e.args[0], name)  # abs, sqrt, log
        return self._add(P.Func(name, x.node), P.NUMBER, self._w(x))

    # ----------------------------------------------------------------- book names (quote: documents)
    def _book_space(self, name: ast.Name) -> str:
        if not self.book:
            raise self._error(name.span, "not-available", f"'{name.id}' names the order book, the trades or the "
                              "inventory, which only a market-making strategy reads",
                              "use them in a quote: section's expressions (docs/language.md, Market making)")
        return name.id

    def _book_name(self, name: ast.Name, member: str | None = None, span: ast.Span | None = None) -> Value:
        space = self._book_space(name)
        fields = B.fields(space)
        if member is None:
            if space == "inventory":
                return self._add(P.External("inventory"), P.NUMBER, 0)
            raise self._error(name.span, "namespace", f"'{space}' needs a field",
                              "use one of: " + ", ".join([f"{space}.{f}" for f in fields] +
                                                         [f"{space}.{m}(...)" for m in B.methods(space)]))
        if member in B.methods(space):
            raise self._error(span or name.span, "not-called", f"{space}.{member} takes arguments",
                              f"e.g. {space}.{member}({', '.join(B.methods(space)[member][0])})")
        if member not in fields:
            known = list(fields) + list(B.methods(space))
            raise self._error(span or name.span, "unknown-field",
                              f"unknown field '{member}' of {space}{self._did_you_mean(member, known)}",
                              "valid: " + ", ".join(known))
        if (space, member) == ("inventory", "share") and self.max_inventory is None:
            raise self._error(span or name.span, "needs-limit", "inventory.share is the inventory as a share of "
                              "quote.max_inventory, which is not set", "set quote.max_inventory (base units)")
        return self._add(P.External(B.external_name(space, member)), P.NUMBER, 0)

    def _book_call(self, e: ast.Call) -> Value:
        space, _, member = e.name.partition(".")
        if space not in B.SPACES or (self.book and member not in B.methods(space)):
            names = [f"{s}.{m}" for s in B.SPACES for m in B.methods(s)]
            raise self._error(e.name_span, "unknown-function",
                              f"unknown function '{e.name}'{self._did_you_mean(e.name, names)}",
                              "the book's functions: " + ", ".join(names))
        self._book_space(ast.Name(ast.Span(e.name_span.start, e.name_span.start + len(space)), space))
        kinds, _meaning = B.methods(space)[member]
        if e.keywords or len(e.args) != len(kinds):
            raise self._error(e.span, "arity", f"{e.name} takes {len(kinds)} argument{'s' if len(kinds) > 1 else ''}"
                              f" ({', '.join(kinds)})", f"call it as {e.name}({', '.join(kinds)})")
        args: list[object] = []
        for kind, a in zip(kinds, e.args):
            if kind == "side":
                side = a.id if isinstance(a, ast.Name) else a.value if isinstance(a, ast.Text) else None
                if side not in B.SIDES:
                    raise self._error(a.span, "bad-argument", f"the side of {e.name} is bid or ask",
                                      f"e.g. {e.name}(bid, 5)")
                args.append(side)
            else:
                top = B.MAX_LEVELS if kind == "levels" else B.MAX_WINDOW
                v = self._const(a, f"the {kind} of {e.name}", integer=True, minimum=1, maximum=top)
                args.append(int(v))
        return self._add(P.External(B.external_name(space, member, tuple(args))), P.NUMBER, 0)

    def _int_arg(self, e: ast.Expr, fname: str) -> int:
        return int(self._const(e, f"the length argument of {fname}", integer=True, minimum=0, maximum=MAX_LENGTH))

    def _ta_call(self, e: ast.Call, fn: TaFunction) -> Value:
        args = list(e.args)
        for a in args:   # a misspelt name must not be mistaken for an input or a parameter
            if isinstance(a, ast.Name) and a.id not in self.params and a.id not in self.indicator_sites and \
                    a.id not in BUILTIN_NAMES and a.id not in self.scalars:
                self._lower_name(a)
        n_inputs = 0
        while n_inputs < len(args) and not self._is_constant(args[n_inputs]):
            n_inputs += 1
        if n_inputs == 0 and not fn.implicit_inputs:
            raise self._error(e.span, "arity", f"{fn.name} needs its inputs ({', '.join(fn.inputs)}) given explicitly",
                              f"call it as {signature(fn)}")
        if n_inputs not in (0, len(fn.inputs)):
            raise self._error(e.span, "arity", f"{fn.name} takes {len(fn.inputs)} input series "
                              f"({', '.join(fn.inputs)}), got {n_inputs}",
                              f"give all of them or none (then they come from the bar); call it as {signature(fn)}")
        param_args = args[n_inputs:]
        if len(param_args) > len(fn.params):
            extra = param_args[len(fn.params)]
            raise self._error(extra.span, "arity", f"{fn.name} takes at most {len(fn.params)} parameter{'s' if len(fn.params) != 1 else ''} "
                              f"after its inputs, got {len(param_args)}", f"call it as {signature(fn)}")
        inputs: list[Value] = []
        if n_inputs:
            for a, input_name in zip(args[:n_inputs], fn.inputs):
                inputs.append(self._number(a, f"input '{input_name}' of {fn.name}"))
        else:
            inputs = [self._add(P.Source(d), P.NUMBER, 0) for d in fn.input_defaults if d is not None]
        values: dict[str, float] = {p.name: p.default for p in fn.params}
        given: dict[str, ast.Expr] = {}
        for p, a in zip(fn.params, param_args):
            given[p.name] = a
        for kw in e.keywords:
            targets = fn.resolve_param(kw.name)
            if not targets:
                names = [p.name for p in fn.params] + list(fn.param_aliases)
                valid = ", ".join(p.name + "".join(f" (or {a})" for a, targets in fn.param_aliases.items()
                                                   if p.name in targets) for p in fn.params) or "none"
                raise self._error(kw.name_span, "unknown-keyword",
                                  f"{fn.name} has no parameter '{kw.name}'{self._did_you_mean(kw.name, names)}",
                                  f"its parameters are: {valid}")
            for t in targets:
                if t in given:
                    raise self._error(kw.name_span, "duplicate-argument", f"parameter '{t}' of {fn.name} is given twice")
                given[t] = kw.value
        for pname, expr in given.items():
            p = fn.param(pname)
            assert p is not None
            v = self._const(expr, f"parameter '{pname}' of {fn.name}", integer=p.integer,
                            maximum=MAX_LENGTH if p.integer else None)
            if p.choices and int(v) not in p.choices:
                raise self._error(expr.span, "bad-parameter", f"{pname} must be one of {', '.join(map(str, p.choices))}"
                                  f", got {v:g}", "moving average types: " + ma_type_names())
            values[pname] = v
        lookback = fn.lookback(values)
        if lookback < 0:
            span = e.span
            for pname, expr in given.items():
                trial = {p.name: p.default for p in fn.params}
                trial[pname] = values[pname]
                if fn.lookback(trial) < 0:
                    span = expr.span
                    break
            shown = ", ".join(f"{k}={v:g}" for k, v in values.items())
            raise self._error(span, "bad-parameter", f"TA-Lib refuses these parameters of {fn.name}: {shown}",
                              "periods are usually at least 2; see 'autobot functions " + fn.name + "'")
        return self._ta_node(fn, inputs, values, e.span, lookback=lookback)

    def _ta_node(self, fn: TaFunction, inputs: list[Value], values: dict[str, float], span: ast.Span,
                 single: bool = False, lookback: int | None = None) -> Value:
        if lookback is None:
            lookback = fn.lookback(values)
            if lookback < 0:
                raise self._error(span, "bad-parameter", f"the length must be at least 2 for {fn.name}")
        node = P.TaCall(fn.name, tuple(v.node for v in inputs), tuple(sorted(values.items())), lookback)
        record = Value(self.plan.add(node, P.RECORD, self._w(*inputs) + lookback), P.RECORD, fn)
        if single or len(fn.outputs) == 1:
            return Value(self._output(record, 0), P.NUMBER)
        return record

    def _is_constant(self, e: ast.Expr) -> bool:
        if isinstance(e, ast.Number):
            return True
        if isinstance(e, ast.Name):   # params, and unknown names (reported where constants are read)
            return e.id not in self.indicator_sites and e.id not in BUILTIN_NAMES and e.id not in self.scalars
        if isinstance(e, ast.Unary):
            return self._is_constant(e.operand)
        if isinstance(e, ast.Binary):
            return self._is_constant(e.left) and self._is_constant(e.right)
        return False


def ma_type_names() -> str:
    """``0=SMA, 1=EMA, ...`` as TA-Lib names them."""
    from autobot.language.talib_import import talib
    lookup = getattr(getattr(talib, "MA_Type", None), "_lookup", {})
    return ", ".join(f"{k}={v}" for k, v in sorted(lookup.items()))


def signature(fn: TaFunction) -> str:
    """``name(input, ..., param=default, ...)`` for messages and ``autobot functions``."""
    parts = list(fn.inputs) + [f"{p.name}={p.default:g}" for p in fn.params]
    return f"{fn.name}({', '.join(parts)})"


def _glued_call(name: str) -> str:
    """``atr14`` -> ``atr(14)``, ``rsi_14`` -> ``rsi(14)``: a function name with its period glued on."""
    import re
    match = re.fullmatch(r"([a-z][a-z0-9]*?)_?(\d+)", name)
    if match is None or match.group(1) not in TA_FUNCTIONS:
        return ""
    fn = TA_FUNCTIONS[match.group(1)]
    return f"{fn.name}({match.group(2)})" if fn.implicit_inputs else f"{fn.name}(close, {match.group(2)})"
