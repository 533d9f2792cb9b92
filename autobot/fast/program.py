"""A compiled strategy as the fast engine's loop runs it: market-only nodes evaluated once by the
batch evaluator, position-dependent nodes as a small program the loop interprets on each bar.

A node is *position-dependent* when it reads ``position.*``, ``equity`` or ``drawdown`` (directly
or through other nodes). Everything else (bars, indicators, clock, ``regime``) depends on the
market alone and is computed vectorised by :func:`autobot.evaluate.batch.evaluate`, exactly
the values the streaming evaluator gives the Nautilus strategy bar by bar.

The loop sees one float64 matrix ``vals`` (a row per *slot*, a column per bar): the market rows
it reads (rule roots, risk distances, operands of position-dependent nodes), the externals it
writes at each bar from its simulated position and account, and the position-dependent nodes it
computes from them, in plan order, with the batch evaluator's semantics (:data:`OPS`). Booleans
are 0.0/1.0, text (only ``position.side`` against text constants) a code (:data:`SIDE_CODES`).

What the loop cannot reproduce exactly is refused (:class:`Unsupported`), never approximated:
a TA-Lib function or divergence over a position-dependent value, text other than
``position.side`` in a position-dependent comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autobot.evaluate.batch import Values, rule_series
from autobot.language import plan as P
from autobot.language.compile import CompiledStrategy

#: externals the loop writes each bar, in slot order
EXTERNALS = ("position.side", "position.qty", "position.entry_price", "position.pnl_pct", "position.bars_held",
             "equity", "drawdown")
SIDE_CODES = {"flat": 0.0, "long": 1.0, "short": -1.0}
UNKNOWN_TEXT = 99.0
RULES = ("entry.long", "entry.short", "exit.long", "exit.short", "confidence")
LEVELS = ("stop_loss", "take_profit", "trailing_stop")

# op codes of the position-dependent program (the kernel dispatches on them)
ADD, SUB, MUL, DIV, MOD, MIN, MAX = 1, 2, 3, 4, 5, 6, 7
NEG, ABS, SQRT, LOG = 10, 11, 12, 13
LT, LE, GT, GE, EQ, NE, BEQ, BNE = 20, 21, 22, 23, 24, 25, 26, 27
AND, OR, NOT = 30, 31, 32
SHIFT = 40
CROSS_ABOVE, CROSS_BELOW, CROSS_ANY = 50, 51, 52
RISING, FALLING = 60, 61
BARS_SINCE = 70

_ARITH = {"+": ADD, "-": SUB, "*": MUL, "/": DIV, "%": MOD, "min": MIN, "max": MAX}
_FUNC = {"neg": NEG, "abs": ABS, "sqrt": SQRT, "log": LOG}
_CMP = {"<": LT, "<=": LE, ">": GT, ">=": GE, "==": EQ, "!=": NE}
_CROSS = {"above": CROSS_ABOVE, "below": CROSS_BELOW, "any": CROSS_ANY}
OPS = {**{f"arith {k}": v for k, v in _ARITH.items()}, **{f"func {k}": v for k, v in _FUNC.items()},
       **{f"cmp {k}": v for k, v in _CMP.items()}, "and": AND, "or": OR, "not": NOT, "shift": SHIFT,
       **{f"cross {k}": v for k, v in _CROSS.items()}, "rising": RISING, "falling": FALLING, "bars_since": BARS_SINCE}


class Unsupported(Exception):
    """A document the fast engine cannot reproduce exactly; the message says what and why."""


@dataclass
class Program:
    """What the kernel needs besides the bars (see the module docstring)."""

    vals: np.ndarray            # (slots, bars) float64
    slot: dict[int, int]        # plan node -> slot
    ext_slots: np.ndarray       # slot of each of EXTERNALS (-1 when the plan does not read it)
    ops: np.ndarray             # (k, 5) int64: op, out slot, a slot, b slot, n / fill flag
    rule_slots: np.ndarray      # slot of each of RULES (-1: absent)
    rule_warmup: np.ndarray     # warm-up of each of RULES
    level_kind: np.ndarray      # per LEVELS: 0 none, 1 percent, 2 distance node
    level_value: np.ndarray     # per LEVELS: the fraction (percent)
    level_slot: np.ndarray      # per LEVELS: slot of the distance node (-1)
    dynamic: set[int]           # position-dependent plan nodes


def dynamic_nodes(plan: P.Plan) -> set[int]:
    """Plan nodes that read the simulated position or account, directly or not."""
    out: set[int] = set()
    for i, node in enumerate(plan.nodes):
        if isinstance(node, P.External):
            if node.name in EXTERNALS:
                out.add(i)
        elif any(j in out for j in P.children(node)):
            out.add(i)
    return out


def build(compiled: CompiledStrategy, values: Values) -> Program:
    """The program of ``compiled`` over bars whose market values the batch evaluator gave."""
    plan = compiled.plan
    n = len(values[0]) if values else 0
    dyn = dynamic_nodes(plan)
    rows: list[np.ndarray] = []
    slot: dict[int, int] = {}

    def market(j: int, as_rule: str | None = None) -> int:
        key = j if as_rule is None else ("rule", as_rule)
        if key in slot:
            return slot[key]            # type: ignore[index]
        if as_rule is not None:
            row = rule_series(plan, values, as_rule).astype(np.float64)
        else:
            row = _market_row(plan, j, values[j], n)
        rows.append(row)
        slot[key] = len(rows) - 1       # type: ignore[index]
        return slot[key]                # type: ignore[index]

    def new_row(j: int) -> int:
        rows.append(np.zeros(n, dtype=np.float64))
        slot[j] = len(rows) - 1
        return slot[j]

    def operand(j: int) -> int:
        return slot[j] if j in dyn else market(j)

    ext_slots = np.full(len(EXTERNALS), -1, dtype=np.int64)
    ops: list[tuple[int, int, int, int, int]] = []
    for i, node in enumerate(plan.nodes):
        if i not in dyn:
            continue
        if isinstance(node, P.External):
            ext_slots[EXTERNALS.index(node.name)] = new_row(i)
            continue
        ops.append(_op(plan, i, node, operand, new_row))
    rule_slots = np.full(len(RULES), -1, dtype=np.int64)
    rule_warmup = np.zeros(len(RULES), dtype=np.int64)
    for k, name in enumerate(RULES):
        root = plan.rules.get(name)
        if root is None:
            continue
        rule_warmup[k] = plan.warmup[root]
        rule_slots[k] = slot[root] if root in dyn else market(root, as_rule=name)
    kinds = np.zeros(len(LEVELS), dtype=np.int64)
    fractions = np.zeros(len(LEVELS), dtype=np.float64)
    level_slots = np.full(len(LEVELS), -1, dtype=np.int64)
    for k, name in enumerate(LEVELS):
        level = getattr(compiled, name)
        if level is None:
            continue
        if level.kind == "percent":
            kinds[k], fractions[k] = 1, float(level.fraction or 0.0)
        else:
            kinds[k], level_slots[k] = 2, operand(level.node)
    vals = np.vstack(rows) if rows else np.zeros((1, n))
    return Program(np.ascontiguousarray(vals), {k: v for k, v in slot.items() if isinstance(k, int)}, ext_slots,
                   np.array(ops, dtype=np.int64).reshape(-1, 5), rule_slots, rule_warmup, kinds, fractions,
                   level_slots, dyn)


def _market_row(plan: P.Plan, j: int, value: np.ndarray, n: int) -> np.ndarray:
    if plan.types[j] == P.TEXT:
        node = plan.nodes[j]
        if not isinstance(node, P.Const):
            raise Unsupported("a position-dependent comparison of text other than position.side with a text "
                              f"constant ({type(node).__name__.lower()} '{node}')")
        return np.full(n, SIDE_CODES.get(str(node.value), UNKNOWN_TEXT))
    if plan.types[j] not in (P.NUMBER, P.BOOL):
        raise Unsupported("a multi-output indicator used whole in a position-dependent expression")
    return np.array(value, dtype=np.float64)      # a fresh row (constants are broadcast views)


def _op(plan: P.Plan, i: int, node: P.Node, operand, new_row) -> tuple[int, int, int, int, int]:
    """One position-dependent node as (op, out, a, b, n)."""
    if isinstance(node, P.Arith):
        a, b = operand(node.a), operand(node.b)
        return (_ARITH[node.op], new_row(i), a, b, 0)
    if isinstance(node, P.Func):
        a = operand(node.a)
        return (_FUNC[node.op], new_row(i), a, -1, 0)
    if isinstance(node, P.Cmp):
        a, b = operand(node.a), operand(node.b)
        op = _CMP[node.op]
        if plan.types[node.a] == P.BOOL and op in (EQ, NE):
            op = BEQ if op == EQ else BNE
        return (op, new_row(i), a, b, 0)
    if isinstance(node, P.Logic):
        a, b = operand(node.a), operand(node.b)
        return (AND if node.op == "and" else OR, new_row(i), a, b, 0)
    if isinstance(node, P.Negate):
        return (NOT, new_row(i), operand(node.a), -1, 0)
    if isinstance(node, P.Shift):
        if plan.types[i] == P.TEXT:
            raise Unsupported("an offset of position.side (position.side[n])")
        a = operand(node.a)
        # n in the low bits, and whether the undefined value is false (bool) rather than NaN
        return (SHIFT, new_row(i), a, 1 if plan.types[i] == P.BOOL else 0, node.n)
    if isinstance(node, P.Cross):
        a, b = operand(node.a), operand(node.b)
        return (_CROSS[node.direction], new_row(i), a, b, 0)
    if isinstance(node, P.Monotone):
        a = operand(node.a)
        return (RISING if node.direction == "rising" else FALLING, new_row(i), a, -1, node.n)
    if isinstance(node, P.BarsSince):
        return (BARS_SINCE, new_row(i), operand(node.c), -1, 0)
    what = {P.TaCall: "a TA-Lib function", P.Output: "a TA-Lib function", P.Divergence: "a divergence",
            P.Learn: "a model (ml:)"}.get(
        type(node), type(node).__name__)
    raise Unsupported(f"{what} of a position-dependent value (position.*, equity, drawdown): the fast engine "
                      "computes indicators once over the market; run it on the Nautilus engine")
