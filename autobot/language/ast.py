"""Typed syntax tree of the expression language: small frozen dataclasses with spans.

A :class:`Span` is a half-open character range in the expression text; the
compiler maps it back to the YAML file's line and column.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    """Half-open character range [start, end) in the expression text."""

    start: int
    end: int


@dataclass(frozen=True)
class Expr:
    """Base class of every expression node."""

    span: Span


@dataclass(frozen=True)
class Number(Expr):
    """A number literal; ``percent`` marks a literal written as ``2%`` (value already 0.02)."""

    value: float
    percent: bool = False
    is_integer: bool = False


@dataclass(frozen=True)
class Text(Expr):
    """A quoted text literal such as ``"trending"``."""

    value: str


@dataclass(frozen=True)
class Bool(Expr):
    """``true`` or ``false``."""

    value: bool


@dataclass(frozen=True)
class Name(Expr):
    """A bare name: an indicator, a param or a built-in series."""

    id: str


@dataclass(frozen=True)
class Field(Expr):
    """``value.name``: an output of a multi-output function, or ``position.side`` and friends."""

    value: Expr
    name: str
    name_span: Span


@dataclass(frozen=True)
class Offset(Expr):
    """``value[n]``: the value n bars before the current bar."""

    value: Expr
    offset: Expr


@dataclass(frozen=True)
class Keyword:
    """A named argument ``name=value`` of a call."""

    name: str
    value: Expr
    span: Span
    name_span: Span


@dataclass(frozen=True)
class Call(Expr):
    """A function call with positional and named arguments."""

    name: str
    name_span: Span
    args: tuple[Expr, ...]
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True)
class Unary(Expr):
    """Unary ``-x`` or ``+x``."""

    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    """Arithmetic ``a op b`` with op in ``+ - * / %``."""

    op: str
    left: Expr
    right: Expr
    op_span: Span


@dataclass(frozen=True)
class Compare(Expr):
    """A possibly chained comparison ``a < b <= c``: n operands, n-1 operators."""

    operands: tuple[Expr, ...]
    ops: tuple[str, ...]
    op_spans: tuple[Span, ...]


@dataclass(frozen=True)
class BoolOp(Expr):
    """``a and b`` or ``a or b``."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Not(Expr):
    """``not x``."""

    operand: Expr
