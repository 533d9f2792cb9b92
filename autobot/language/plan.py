"""The compiled form of a document's expressions: a deduplicated DAG of series nodes.

Both evaluators (:mod:`autobot.evaluate.batch`, :mod:`autobot.evaluate.stream`) run
the same :class:`Plan`. Nodes are frozen and hashable, so identical subexpressions
(``ema(close, 12)`` used by two rules) compile to one node and one TA-Lib handle.
Children are referenced by node index; ``Plan.nodes`` is in topological order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

NUMBER, BOOL, TEXT, RECORD = "number", "bool", "text", "record"


@dataclass(frozen=True)
class Source:
    """A bar field: open, high, low, close or volume."""

    name: str


@dataclass(frozen=True)
class Const:
    """A constant number, bool or text."""

    value: Union[float, bool, str]


@dataclass(frozen=True)
class External:
    """A value the host supplies each bar: ``position.*``, ``equity``, ``drawdown``, ``regime``."""

    name: str


@dataclass(frozen=True)
class Clock:
    """``time.hour`` (0-23) or ``time.weekday`` (Monday 0) of the bar's timestamp, UTC."""

    field: str


@dataclass(frozen=True)
class Arith:
    """``a op b`` for op in ``+ - * / % min max``; non-finite results are undefined."""

    op: str
    a: int
    b: int


@dataclass(frozen=True)
class Func:
    """``op(a)`` for op in ``neg abs sqrt log``."""

    op: str
    a: int


@dataclass(frozen=True)
class Cmp:
    """A comparison; false when an operand is undefined."""

    op: str
    a: int
    b: int


@dataclass(frozen=True)
class Logic:
    """``a and b`` / ``a or b`` (bools are always defined)."""

    op: str
    a: int
    b: int


@dataclass(frozen=True)
class Negate:
    """``not a``."""

    a: int


@dataclass(frozen=True)
class Shift:
    """``a[n]``: the value n bars ago (undefined / false / no text before the first bar)."""

    a: int
    n: int


@dataclass(frozen=True)
class TaCall:
    """A TA-Lib function over input series; its value is the tuple of its outputs."""

    function: str                     # language name, e.g. "bbands"
    inputs: tuple[int, ...]
    params: tuple[tuple[str, float], ...]
    lookback: int


@dataclass(frozen=True)
class Output:
    """Output ``index`` of a :class:`TaCall`."""

    call: int
    index: int


@dataclass(frozen=True)
class Cross:
    """``crosses_above`` (``above``), ``crosses_below`` (``below``) or ``crosses`` (``any``)."""

    direction: str
    a: int
    b: int


@dataclass(frozen=True)
class Monotone:
    """``rising(a, n)`` / ``falling(a, n)``."""

    direction: str
    a: int
    n: int


@dataclass(frozen=True)
class BarsSince:
    """Bars since condition ``c`` was last true."""

    c: int


@dataclass(frozen=True)
class Divergence:
    """Bullish/bearish divergence of ``price`` against ``osc``.

    ``ago`` is the node giving, at bar t, how many bars before t-1 the extreme price
    of the n bars before t was (MININDEX/MAXINDEX shifted by one bar).
    """

    kind: str
    price: int
    osc: int
    ago: int
    n: int


@dataclass(frozen=True)
class Learn:
    """A walk-forward model's prediction (:mod:`autobot.evaluate.learn`): features ``inputs``,
    the target from the close ``price`` over ``horizon`` bars, retrained every ``step`` bars on
    the last ``train`` rows whose labels are known."""

    kind: str
    target: str
    horizon: int
    train: int
    step: int
    params: tuple[tuple[str, float], ...]
    seed: int
    start: int                 # the features' longest warm-up: no row before it counts
    price: int
    inputs: tuple[int, ...]
    embargo: int = 0           # bars between the last training label and the retraining bar


Node = Union[Source, Const, External, Clock, Arith, Func, Cmp, Logic, Negate, Shift, TaCall, Output,
             Cross, Monotone, BarsSince, Divergence, Learn]


def children(node: Node) -> tuple[int, ...]:
    """Indices of the nodes this node reads."""
    if isinstance(node, (Arith, Cmp, Logic, Cross)):
        return (node.a, node.b)
    if isinstance(node, (Func, Negate, Shift, Monotone)):
        return (node.a,)
    if isinstance(node, TaCall):
        return node.inputs
    if isinstance(node, Output):
        return (node.call,)
    if isinstance(node, BarsSince):
        return (node.c,)
    if isinstance(node, Divergence):
        return (node.price, node.osc, node.ago)
    if isinstance(node, Learn):
        return (node.price, *node.inputs)
    return ()


@dataclass
class Plan:
    """Nodes in topological order with their types and warm-ups, and the named roots."""

    nodes: list[Node] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    warmup: list[int] = field(default_factory=list)
    named: dict[str, int] = field(default_factory=dict)     # output column -> node
    rules: dict[str, int] = field(default_factory=dict)     # "entry.long" -> node
    _index: dict[tuple[Node, str], int] = field(default_factory=dict, repr=False)

    def add(self, node: Node, type_: str, warmup: int) -> int:
        """Intern a node; identical nodes share one index."""
        key = (node, type_)      # typed: Const(True) == Const(1.0) in Python, but a bool is not the number 1
        found = self._index.get(key)
        if found is not None:
            return found
        self.nodes.append(node)
        self.types.append(type_)
        self.warmup.append(warmup)
        idx = len(self.nodes) - 1
        self._index[key] = idx
        return idx

    @property
    def externals(self) -> set[str]:
        """Names of the host-supplied values the plan reads."""
        return {n.name for n in self.nodes if isinstance(n, External)}


def canonical_texts(plan: Plan) -> list[str]:
    """For every node, a text naming exactly what it computes (its kind, values and inputs,
    recursively), independent of node numbers and names: two plans share a text where they
    share a computation."""
    out: list[str] = []
    for node in plan.nodes:
        fields = []
        for name, value in vars(node).items():
            if name in ("a", "b", "c", "call", "price", "osc", "ago"):
                fields.append(f"{name}=<{out[value]}>")
            elif name == "inputs":
                fields.append("inputs=[" + ",".join(f"<{out[j]}>" for j in value) + "]")
            else:
                fields.append(f"{name}={value!r}")
        out.append(f"{type(node).__name__}({','.join(fields)})")
    return out
