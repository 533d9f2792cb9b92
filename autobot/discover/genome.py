"""The candidates ``autobot discover`` searches: a small typed tree of conditions that renders to a
strategy document in AutoBot's own language.

Every node is a condition (a boolean series): an *atom* built from a TA-Lib indicator, a price or
a helper (``rising``, ``crosses_above``, ``highest(...)[1]``) compared with a threshold, or ``and``
/ ``or`` / ``not`` of conditions. Crossover swaps sub-trees of the same type and mutation redraws a
parameter within its documented range, an atom, or an operator; since every node is a condition
and every parameter stays in its range, every candidate type-checks and compiles, and the language
refuses lookahead by construction (atoms read only the current and past bars; offsets are >= 1).

A candidate trades one side: its entry condition, an exit (a condition, or a holding time in
bars), and an optional percent stop. Sizing is the user's (``--sizing``), never searched.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from typing import Union


@dataclass(frozen=True)
class AtomKind:
    """An atom's template: ``text`` with ``{name}`` slots, each a (low, high) integer range."""

    name: str
    text: str
    params: tuple[tuple[str, int, int], ...]
    ordered: tuple[str, str] | None = None       # two params kept strictly increasing (a fast and a slow)


ATOMS: dict[str, AtomKind] = {a.name: a for a in (
    AtomKind("above_sma", "close > sma(close, {n})", (("n", 5, 200),)),
    AtomKind("below_sma", "close < sma(close, {n})", (("n", 5, 200),)),
    AtomKind("above_ema", "close > ema(close, {n})", (("n", 5, 200),)),
    AtomKind("below_ema", "close < ema(close, {n})", (("n", 5, 200),)),
    AtomKind("rsi_below", "rsi(close, {n}) < {level}", (("n", 2, 30), ("level", 5, 50))),
    AtomKind("rsi_above", "rsi(close, {n}) > {level}", (("n", 2, 30), ("level", 50, 95))),
    AtomKind("ema_cross_up", "crosses_above(ema(close, {fast}), ema(close, {slow}))",
             (("fast", 2, 60), ("slow", 5, 200)), ("fast", "slow")),
    AtomKind("ema_cross_down", "crosses_below(ema(close, {fast}), ema(close, {slow}))",
             (("fast", 2, 60), ("slow", 5, 200)), ("fast", "slow")),
    AtomKind("breakout_up", "close > highest(high, {n})[1]", (("n", 5, 120),)),
    AtomKind("breakout_down", "close < lowest(low, {n})[1]", (("n", 5, 120),)),
    AtomKind("rising", "rising(close, {n})", (("n", 1, 5),)),
    AtomKind("falling", "falling(close, {n})", (("n", 1, 5),)),
    AtomKind("adx_above", "adx({n}) > {level}", (("n", 7, 30), ("level", 15, 40))),
    AtomKind("adx_below", "adx({n}) < {level}", (("n", 7, 30), ("level", 15, 40))),
    AtomKind("recent_low", "bars_since(close <= lowest(close, {n})) <= {within}", (("n", 5, 60), ("within", 1, 10))),
)}


@dataclass(frozen=True)
class Atom:
    kind: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class Op:
    op: str                       # "and", "or", "not"
    args: tuple["Node", ...]


Node = Union[Atom, Op]


@dataclass(frozen=True)
class Candidate:
    """One strategy: ``side`` ("long"/"short"), its entry, its exit (a condition, or None with
    ``hold`` bars), an optional percent stop (tenths of a percent; 0: none)."""

    side: str
    entry: Node
    exit: Node | None
    hold: int
    stop_tenths: int

    def key(self) -> str:
        return render_rules(self)


def complexity(c: Candidate) -> int:
    """Nodes: atoms, operators, the exit (a holding time counts one) and the stop."""
    def count(n: Node) -> int:
        return 1 if isinstance(n, Atom) else 1 + sum(count(a) for a in n.args)
    return count(c.entry) + (count(c.exit) if c.exit is not None else 1) + (1 if c.stop_tenths else 0)


# ---------------------------------------------------------------------------------------------- text
def _atom_text(a: Atom, names: list[str] | None = None) -> str:
    kind = ATOMS[a.kind]
    slots = {p[0]: (names[k] if names is not None else str(a.values[k])) for k, p in enumerate(kind.params)}
    return kind.text.format(**slots)


def _text(n: Node, names: dict[int, list[str]] | None = None, top: bool = True) -> str:
    if isinstance(n, Atom):
        return _atom_text(n, names.get(id(n)) if names is not None else None)
    if n.op == "not":
        return f"not ({_text(n.args[0], names, False)})"
    inner = f" {n.op} ".join(_text(a, names, False) for a in n.args)
    return inner if top else f"({inner})"


def render_rules(c: Candidate) -> str:
    """The candidate's rules with literal values (its identity: equal rules, equal candidate)."""
    exit_ = _text(c.exit) if c.exit is not None else f"position.bars_held >= {c.hold}"
    return f"{c.side}|{_text(c.entry)}|{exit_}|{c.stop_tenths}"


def render_document(c: Candidate, name: str, instrument: str, bar: str, sizing: str,
                    description: str = "") -> str:
    """A readable strategy document: each number a named param with its range."""
    params: list[tuple[str, int, int, int]] = []
    names: dict[int, list[str]] = {}
    used: dict[str, int] = {}

    def collect(n: Node) -> None:
        if isinstance(n, Atom):
            kind = ATOMS[n.kind]
            mine = []
            for (p, lo, hi), v in zip(kind.params, n.values):
                base = f"{n.kind}_{p}"
                used[base] = used.get(base, 0) + 1
                label = base if used[base] == 1 else f"{base}_{used[base]}"
                params.append((label, v, lo, hi))
                mine.append(label)
            names[id(n)] = mine
        else:
            for a in n.args:
                collect(a)
    collect(c.entry)
    if c.exit is not None:
        collect(c.exit)
    else:
        params.append(("hold_bars", c.hold, 1, 200))
    lines = [f"strategy: {name}"]
    if description:
        lines.append(f"description: {description}")
    lines += ["market:", f"  instrument: {instrument}", f"  bar: {bar}"]
    if params:
        lines.append("params:")
        lines += [f"  {label}: {{default: {v}, min: {lo}, max: {hi}}}" for label, v, lo, hi in params]
    exit_ = _text(c.exit, names) if c.exit is not None else "position.bars_held >= hold_bars"
    lines += ["entry:", f"  {c.side}: {_text(c.entry, names)}", "exit:", f"  {c.side}: {exit_}", "risk:",
              f"  stop_loss: {c.stop_tenths / 10:g}%" if c.stop_tenths else "  stop_loss: none",
              "  take_profit: none", "  trailing_stop: none", "sizing:", f"  {sizing}", ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------- search
def simplify(n: Node) -> Node:
    """Dead branches removed: ``not not x`` is x; ``x and x`` / ``x or x`` is x."""
    if isinstance(n, Atom):
        return n
    args = tuple(simplify(a) for a in n.args)
    if n.op == "not" and isinstance(args[0], Op) and args[0].op == "not":
        return args[0].args[0]
    if n.op in ("and", "or") and args[0] == args[1]:
        return args[0]
    return Op(n.op, args)


def _fix_order(kind: AtomKind, values: list[int]) -> tuple[int, ...]:
    if kind.ordered is not None:
        names = [p[0] for p in kind.params]
        i, j = names.index(kind.ordered[0]), names.index(kind.ordered[1])
        if values[i] >= values[j]:
            values[i], values[j] = min(values[i], values[j]), max(values[i], values[j])
            if values[i] == values[j]:
                values[j] = min(values[j] + 1, kind.params[j][2])
                values[i] = min(values[i], values[j] - 1)
    return tuple(values)


def random_atom(rng: random.Random) -> Atom:
    kind = ATOMS[rng.choice(sorted(ATOMS))]
    return Atom(kind.name, _fix_order(kind, [rng.randint(lo, hi) for _, lo, hi in kind.params]))


def random_node(rng: random.Random, depth: int = 2) -> Node:
    if depth <= 0 or rng.random() < 0.5:
        return random_atom(rng)
    op = rng.choice(("and", "and", "or", "not"))
    if op == "not":
        return simplify(Op("not", (random_atom(rng),)))
    return simplify(Op(op, (random_node(rng, depth - 1), random_node(rng, depth - 1))))


def random_candidate(rng: random.Random, sides: tuple[str, ...]) -> Candidate:
    exit_ = random_node(rng, 1) if rng.random() < 0.5 else None
    return Candidate(rng.choice(sides), random_node(rng), exit_, rng.randint(1, 100),
                     rng.choice((0, 0, 5, 10, 20, 30, 50)))


def _nodes(n: Node, path: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    out = [path]
    if isinstance(n, Op):
        for k, a in enumerate(n.args):
            out += _nodes(a, path + (k,))
    return out


def _get(n: Node, path: tuple[int, ...]) -> Node:
    for k in path:
        assert isinstance(n, Op)
        n = n.args[k]
    return n


def _put(n: Node, path: tuple[int, ...], sub: Node) -> Node:
    if not path:
        return sub
    assert isinstance(n, Op)
    args = list(n.args)
    args[path[0]] = _put(args[path[0]], path[1:], sub)
    return Op(n.op, tuple(args))


def _depth(n: Node) -> int:
    return 0 if isinstance(n, Atom) else 1 + max(_depth(a) for a in n.args)


MAX_DEPTH = 3


def mutate(c: Candidate, rng: random.Random) -> Candidate:
    """One change: a parameter redrawn near its value, an atom or a sub-tree replaced, the exit or
    the stop changed."""
    roll = rng.random()
    if roll < 0.7:
        which = "entry" if c.exit is None or rng.random() < 0.7 else "exit"
        tree = c.entry if which == "entry" else c.exit
        assert tree is not None
        path = rng.choice(_nodes(tree))
        node = _get(tree, path)
        if isinstance(node, Atom) and rng.random() < 0.6:
            kind = ATOMS[node.kind]
            k = rng.randrange(len(kind.params))
            _, lo, hi = kind.params[k]
            values = list(node.values)
            step = max(1, (hi - lo) // 8)
            values[k] = min(hi, max(lo, values[k] + rng.randint(-step, step)))
            new: Node = Atom(node.kind, _fix_order(kind, values))
        else:
            new = random_node(rng, 1)
        tree = simplify(_put(tree, path, new))
        if _depth(tree) > MAX_DEPTH:
            tree = random_node(rng)
        return replace(c, **{which: tree})
    if roll < 0.85:
        if c.exit is None:
            return replace(c, hold=min(200, max(1, c.hold + rng.randint(-10, 10))), exit=None) \
                if rng.random() < 0.6 else replace(c, exit=random_node(rng, 1))
        return replace(c, exit=None) if rng.random() < 0.3 else replace(c, exit=random_node(rng, 1))
    return replace(c, stop_tenths=rng.choice((0, 5, 10, 15, 20, 30, 50, 80)))


def crossover(a: Candidate, b: Candidate, rng: random.Random) -> Candidate:
    """``a`` with a sub-tree of its entry replaced by one of ``b``'s (the same type: a condition)."""
    pa, pb = rng.choice(_nodes(a.entry)), rng.choice(_nodes(b.entry))
    entry = simplify(_put(a.entry, pa, _get(b.entry, pb)))
    if _depth(entry) > MAX_DEPTH:
        entry = b.entry
    return replace(a, entry=entry)
