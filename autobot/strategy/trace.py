"""Decision traces: why a rule fired, as the conditions it is made of and their operands' values.

A rule's plan is walked from its root through ``and``/``or``/``not`` down to its *conditions*
(comparisons, crosses, rising/falling, divergences, named boolean indicators). Each
condition is shown with its operands by name (a named indicator, a bar field) or as text
rebuilt from the plan, with their values at the bar, e.g.
``ema_fast=101.2 > ema_slow=100.9, mom=0.8 > 0``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from autobot.language import plan as P
from autobot.language.functions import TA_FUNCTIONS

_BINARY = {"+", "-", "*", "/", "%"}


@dataclass(frozen=True)
class Condition:
    """One condition of a rule: its node, text, and the operand nodes shown with values."""

    node: int
    text: str
    operands: tuple[tuple[str, int], ...]   # (shown name, node)
    template: tuple[str | int, ...]         # literal text pieces, and operand indices where values go
                                            # (joined, never str.format: user text may hold braces)


def describe(plan: P.Plan, node: int, names: dict[int, str] | None = None) -> str:
    """The expression a node computes, as language text (named nodes by their name)."""
    names = names if names is not None else node_names(plan)
    if node in names:
        return names[node]
    n = plan.nodes[node]

    def d(j: int) -> str:
        return describe(plan, j, names)
    if isinstance(n, P.Source):
        return n.name
    if isinstance(n, P.Const):
        v = n.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return repr(v)
        return f"{v:g}"
    if isinstance(n, P.External):
        return n.name
    if isinstance(n, P.Clock):
        return f"time.{n.field}"
    if isinstance(n, P.Arith):
        if n.op in _BINARY:
            return f"({d(n.a)} {n.op} {d(n.b)})"
        return f"{n.op}({d(n.a)}, {d(n.b)})"
    if isinstance(n, P.Func):
        return f"-{d(n.a)}" if n.op == "neg" else f"{n.op}({d(n.a)})"
    if isinstance(n, P.Cmp):
        return f"{d(n.a)} {n.op} {d(n.b)}"
    if isinstance(n, P.Logic):
        return f"({d(n.a)} {n.op} {d(n.b)})"
    if isinstance(n, P.Negate):
        return f"not {d(n.a)}"
    if isinstance(n, P.Shift):
        return f"{d(n.a)}[{n.n}]"
    if isinstance(n, P.TaCall):
        params = ", ".join(f"{k}={v:g}" for k, v in n.params)
        return f"{n.function}({', '.join([d(j) for j in n.inputs] + ([params] if params else []))})"
    if isinstance(n, P.Output):
        call = plan.nodes[n.call]
        assert isinstance(call, P.TaCall)
        fn = TA_FUNCTIONS[call.function]
        inner = d(n.call)
        return inner if len(fn.outputs) == 1 else f"{inner}.{fn.outputs[n.index]}"
    if isinstance(n, P.Cross):
        name = {"above": "crosses_above", "below": "crosses_below", "any": "crosses"}[n.direction]
        return f"{name}({d(n.a)}, {d(n.b)})"
    if isinstance(n, P.Monotone):
        return f"{n.direction}({d(n.a)}, {n.n})"
    if isinstance(n, P.BarsSince):
        return f"bars_since({d(n.c)})"
    if isinstance(n, P.Divergence):
        return f"{n.kind}_divergence({d(n.price)}, {d(n.osc)}, {n.n})"
    return f"node{node}"


def node_names(plan: P.Plan) -> dict[int, str]:
    """Named indicators by node (the first name wins when two names share a node)."""
    out: dict[int, str] = {}
    for name, node in plan.named.items():
        out.setdefault(node, name)
    return out


def conditions(plan: P.Plan, root: int) -> list[Condition]:
    """The conditions a rule is made of, in reading order, without repeats."""
    names = node_names(plan)
    seen: set[int] = set()
    out: list[Condition] = []

    def operand(j: int) -> tuple[str, int]:
        return describe(plan, j, names), j

    def visit(i: int) -> None:
        n = plan.nodes[i]
        if isinstance(n, P.Logic) and i not in names:
            visit(n.a)
            visit(n.b)
            return
        if isinstance(n, P.Negate) and i not in names:
            visit(n.a)
            return
        if i in seen:
            return
        seen.add(i)
        if isinstance(n, P.Cmp) and i not in names:
            ops = [operand(n.a), operand(n.b)]
            shown = [k for k, j in enumerate((n.a, n.b)) if not isinstance(plan.nodes[j], P.Const)]
            template: list[str | int] = []
            for k in (0, 1):
                template += [f"{ops[k][0]}=", shown.index(k)] if k in shown else [ops[k][0]]
                if k == 0:
                    template.append(f" {n.op} ")
            out.append(Condition(i, describe(plan, i, names), tuple(ops[k] for k in shown), tuple(template)))
        elif isinstance(n, P.Cross) and i not in names:
            ops = (operand(n.a), operand(n.b))
            fn = describe(plan, i, names).split("(", 1)[0]
            out.append(Condition(i, describe(plan, i, names), ops,
                                 (f"{fn}({ops[0][0]}=", 0, f", {ops[1][0]}=", 1, ")")))
        elif isinstance(n, (P.Monotone, P.Divergence)) and i not in names:
            first = n.a if isinstance(n, P.Monotone) else n.osc
            ops = (operand(first),)
            out.append(Condition(i, describe(plan, i, names), ops,
                                 (f"{describe(plan, i, names)} ({ops[0][0]}=", 0, ")")))
        else:
            out.append(Condition(i, describe(plan, i, names), (), (describe(plan, i, names),)))
    visit(root)
    return out


def format_value(v: Any) -> str:
    """A value as a trace shows it: numbers to 6 significant digits, undefined as 'undefined'."""
    if v is None:
        return "undefined"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "undefined" if math.isnan(v) else f"{v:.6g}"
    return str(v)


def trace_nodes(plan: P.Plan) -> set[int]:
    """Every node a trace of any rule reads (to observe in the streaming evaluator)."""
    out: set[int] = set()
    for root in plan.rules.values():
        for c in conditions(plan, root):
            out.add(c.node)
            out.update(j for _, j in c.operands)
    return out


def summary(explained: list[dict[str, Any]]) -> str:
    """One line: the conditions that held (all of them when none did), comma-separated."""
    held = [e["shown"] for e in explained if e["holds"]]
    return ", ".join(held or [e["shown"] for e in explained])


class Why:
    """A decision's conditions and their values at the bar, captured cheaply; the trace and its
    one-line text are built only when asked for (most decisions are never looked at)."""

    __slots__ = ("conds", "holds", "values", "_explained")

    def __init__(self, conds: list[Condition], value: Callable[[int], Any]) -> None:
        self.conds = conds
        self.holds = tuple(value(c.node) for c in conds)
        self.values = tuple(tuple(value(j) for _, j in c.operands) for c in conds)
        self._explained: list[dict[str, Any]] | None = None

    def explained(self) -> list[dict[str, Any]]:
        """Each condition with its operand values and whether it holds, for the JSON trade list."""
        if self._explained is None:
            out = []
            for c, holds, values in zip(self.conds, self.holds, self.values):
                out.append({
                    "condition": c.text, "holds": bool(holds),
                    "values": {name: (None if isinstance(v, float) and math.isnan(v) else v)
                               for (name, _), v in zip(c.operands, values)},
                    "shown": "".join(part if isinstance(part, str) else format_value(values[part])
                                     for part in c.template),
                })
            self._explained = out
        return self._explained

    def __str__(self) -> str:
        return summary(self.explained())

    def __repr__(self) -> str:
        return f"Why({str(self)!r})"
