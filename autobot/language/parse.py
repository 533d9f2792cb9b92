"""Parse expression text into the typed syntax tree (Lark LALR + a Transformer)."""

from __future__ import annotations

from typing import Any

from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import VisitError, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from autobot.language import ast

GRAMMAR_PATH = Path(__file__).with_name("grammar.lark")

_TOKEN_NAMES = {
    "NUMBER": "a number", "PERCENT": "a percentage", "STRING": "a quoted text", "NAME": "a name",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "DOT": "'.'",
    "EQUAL": "'='", "COMP_OP": "a comparison", "ADD_OP": "'+' or '-'", "MUL_OP": "'*', '/' or '%'",
    "AND": "'and'", "OR": "'or'", "NOT": "'not'", "TRUE": "'true'", "FALSE": "'false'", "$END": "end of text",
}


_WORDY = {"NUMBER", "PERCENT", "STRING", "NAME"}


class ParseError(Exception):
    """A syntax error at a span of the expression text."""

    def __init__(self, message: str, span: ast.Span, hint: str = ""):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR_PATH.read_text(), parser="lalr", propagate_positions=True,
                maybe_placeholders=True)


def _span(meta) -> ast.Span:
    return ast.Span(meta.start_pos, meta.end_pos)


def _tok_span(tok: Token) -> ast.Span:
    return ast.Span(tok.start_pos, tok.end_pos)


def _node_span(node: object) -> ast.Span:
    if isinstance(node, Token):
        return _tok_span(node)
    return node.span  # type: ignore[attr-defined]


@v_args(meta=True)
class _ToAst(Transformer):
    """Builds :mod:`autobot.language.ast` nodes; every node keeps its span."""

    def number(self, meta, children):
        tok = children[0]
        text = str(tok)
        is_int = text.isdigit()
        return ast.Number(_tok_span(tok), float(text), False, is_int)

    def percent(self, meta, children):
        tok = children[0]
        return ast.Number(_tok_span(tok), float(str(tok)[:-1]) / 100.0, True, False)

    def string(self, meta, children):
        tok = children[0]
        return ast.Text(_tok_span(tok), str(tok)[1:-1])

    def true(self, meta, children):
        return ast.Bool(_span(meta), True)

    def false(self, meta, children):
        return ast.Bool(_span(meta), False)

    def name(self, meta, children):
        tok = children[0]
        return ast.Name(_tok_span(tok), str(tok))

    def field(self, meta, children):
        value, tok = children
        return ast.Field(ast.Span(value.span.start, tok.end_pos), value, str(tok), _tok_span(tok))

    def offset(self, meta, children):
        value, off = children
        return ast.Offset(_span(meta), value, off)

    def method(self, meta, children):
        """``book.imbalance(3)``: a call of a qualified name (only the book namespaces have them)."""
        value, tok, arguments = children
        if not isinstance(value, ast.Name):
            raise ParseError(f"'.{tok}(...)' can follow only a namespace such as book or trades", value.span,
                             "e.g. book.imbalance(3) or trades.volume(10)")
        name = Token("NAME", f"{value.id}.{tok}", start_pos=value.span.start, end_pos=tok.end_pos)
        return self.call(meta, [name, arguments])

    def call(self, meta, children):
        tok, arguments = children
        args: list[ast.Expr] = []
        keywords: list[ast.Keyword] = []
        for arg in arguments or ():
            if isinstance(arg, ast.Keyword):
                keywords.append(arg)
            elif keywords:
                raise ParseError("positional argument after a named argument", arg.span,
                                 "put positional arguments first, e.g. f(close, period=14)")
            else:
                args.append(arg)
        return ast.Call(_span(meta), str(tok), _tok_span(tok), tuple(args), tuple(keywords))

    def arguments(self, meta, children):
        return [c for c in children if c is not None]

    def keyword(self, meta, children):
        tok, value = children
        return ast.Keyword(str(tok), value, ast.Span(tok.start_pos, value.span.end), _tok_span(tok))

    def unary(self, meta, children):
        op, operand = children
        return ast.Unary(_span(meta), str(op), operand)

    def binary(self, meta, children):
        left, op, right = children
        return ast.Binary(ast.Span(left.span.start, right.span.end), str(op), left, right, _tok_span(op))

    def compare(self, meta, children):
        operands = tuple(children[0::2])
        ops = tuple(str(t) for t in children[1::2])
        spans = tuple(_tok_span(t) for t in children[1::2])
        return ast.Compare(ast.Span(operands[0].span.start, operands[-1].span.end), operands, ops, spans)

    def and_(self, meta, children):
        left, right = children
        return ast.BoolOp(ast.Span(left.span.start, right.span.end), "and", left, right)

    def or_(self, meta, children):
        left, right = children
        return ast.BoolOp(ast.Span(left.span.start, right.span.end), "or", left, right)

    def not_(self, meta, children):
        return ast.Not(_span(meta), children[0])


def _expected(exc: UnexpectedInput) -> str:
    names = sorted({_TOKEN_NAMES.get(t, t.lower()) for t in (getattr(exc, "expected", None) or
                                                             getattr(exc, "allowed", None) or ())})
    if not names:
        return ""
    if len(names) > 6:
        names = names[:6] + ["..."]
    return "expected " + ", ".join(names)


def parse_expression(text: str) -> ast.Expr:
    """Parse one expression; raises :class:`ParseError` with a span and what was expected."""
    if not text.strip():
        raise ParseError("empty expression", ast.Span(0, max(1, len(text))),
                         "write an expression such as 'close > ema(close, 20)'")
    too_deep = ParseError(f"the expression nests more than {MAX_NESTING} levels of operators, calls or offsets",
                          ast.Span(0, max(1, len(text.rstrip()))),
                          "split it into named indicators (indicators: ...) and combine those")
    try:
        tree = _parser().parse(text)
    except RecursionError:
        raise too_deep from None
    except UnexpectedCharacters as exc:
        pos = exc.pos_in_stream
        ch = text[pos] if pos < len(text) else ""
        hint = _expected(exc)
        if ch == "%":
            hint = "a percentage is written right after its number, e.g. 2%; the modulo operator needs spaces: a % b"
        raise ParseError(f"unexpected character '{ch}'", ast.Span(pos, pos + 1), hint) from None
    except UnexpectedEOF as exc:
        end = len(text.rstrip())
        raise ParseError("unexpected end of expression", ast.Span(max(end - 1, 0), max(end, 1)),
                         _expected(exc)) from None
    except UnexpectedToken as exc:
        tok = exc.token
        if tok.type == "$END":
            end = len(text.rstrip())
            raise ParseError("unexpected end of expression", ast.Span(max(end - 1, 0), max(end, 1)),
                             _expected(exc)) from None
        start = tok.start_pos if tok.start_pos is not None else 0
        end = tok.end_pos if tok.end_pos is not None else start + 1
        hint = _expected(exc)
        if tok.type in ("NUMBER",) and start > 0 and text[start - 1] == "%":
            hint = "a percentage is written right after its number, e.g. 2%; the modulo operator needs spaces: a % b"
        what = _TOKEN_NAMES.get(tok.type, "token").removeprefix("a ").removeprefix("an ")
        raise ParseError(f"unexpected {what} '{tok}'" if tok.type in _WORDY else f"unexpected '{tok}'",
                         ast.Span(start, end), hint) from None
    try:
        expr = _ToAst().transform(tree)
    except RecursionError:
        raise too_deep from None
    except VisitError as exc:
        if isinstance(exc.orig_exc, ParseError):
            raise exc.orig_exc from None
        if isinstance(exc.orig_exc, RecursionError):
            raise too_deep from None
        raise
    if nesting(expr) > MAX_NESTING:
        raise too_deep
    return expr


#: the deepest expression accepted: every later stage (checker, plan, generated evaluator code, whose
#: Python source nests one parenthesis per level and Python allows 200) stays well inside its limits
MAX_NESTING = 100


def nesting(expr: ast.Expr) -> int:
    """Levels of operators, calls, fields and offsets in ``expr`` (parentheses add none), iteratively."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(expr, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in _children(node):
            stack.append((child, depth + 1))
    return deepest


def _children(node: Any) -> list[Any]:
    if isinstance(node, (ast.Binary, ast.BoolOp)):
        return [node.left, node.right]
    if isinstance(node, (ast.Unary, ast.Not)):
        return [node.operand]
    if isinstance(node, ast.Compare):
        return list(node.operands)
    if isinstance(node, ast.Field):
        return [node.value]
    if isinstance(node, ast.Offset):
        return [node.value, node.offset]
    if isinstance(node, ast.Call):
        return list(node.args) + [k.value for k in node.keywords]
    return []
