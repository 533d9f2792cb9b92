"""Parse expression text into the typed syntax tree (Lark LALR + a Transformer)."""

from __future__ import annotations

from typing import Any

from functools import lru_cache, partial
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
    """Parse one expression; raises :class:`ParseError` with a span and what was expected.

    Lark's LALR tables parse it, driven by :class:`_Driver` (the same states, the same contextual
    lexer's terminals, the same tree shaping and positions, building the syntax tree as it reduces:
    about 15x faster than Lark's own loop with its parse tree, which a document of 40,000 expressions
    would pay for 10 s); errors are Lark's own (the same token, the same expected set).
    :func:`parse_with_lark` is the reference it is tested against."""
    if not text.strip():
        raise ParseError("empty expression", ast.Span(0, max(1, len(text))),
                         "write an expression such as 'close > ema(close, 20)'")
    try:
        expr = _driver().parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
    except _Unsupported:
        return parse_with_lark(text)
    if len(text) > MAX_NESTING and nesting(expr) > MAX_NESTING:   # a level takes a character at least
        raise _too_deep(text)
    return expr


def _too_deep(text: str) -> ParseError:
    return ParseError(f"the expression nests more than {MAX_NESTING} levels of operators, calls or offsets",
                      ast.Span(0, max(1, len(text.rstrip()))),
                      "split it into named indicators (indicators: ...) and combine those")


def _loose_percent(text: str, at: int) -> str:
    """The hint for ``2 %`` (a percentage whose ``%`` does not touch its number) just before ``at``."""
    import re
    match = re.search(r"(\d\.?\d*)\s+%\s*$", text[:at])
    if match is None:
        return ""
    return (f"a percentage touches its number: write {match.group(1)}% (with a space, '%' is the modulo "
            "operator and needs a right-hand side)")


def _syntax_error(exc: UnexpectedInput, text: str) -> ParseError:
    """The diagnostic of one of Lark's parse errors."""
    if isinstance(exc, UnexpectedCharacters):
        pos = exc.pos_in_stream
        ch = text[pos] if pos < len(text) else ""
        hint = _expected(exc)
        if ch == "%":
            hint = "a percentage is written right after its number, e.g. 2%; the modulo operator needs spaces: a % b"
        return ParseError(f"unexpected character '{ch}'", ast.Span(pos, pos + 1), hint)
    if isinstance(exc, UnexpectedEOF):
        end = len(text.rstrip())
        return ParseError("unexpected end of expression", ast.Span(max(end - 1, 0), max(end, 1)),
                          _loose_percent(text, end) or _expected(exc))
    assert isinstance(exc, UnexpectedToken)
    tok = exc.token
    if tok.type == "$END":
        end = len(text.rstrip())
        return ParseError("unexpected end of expression", ast.Span(max(end - 1, 0), max(end, 1)),
                          _loose_percent(text, end) or _expected(exc))
    start = tok.start_pos if tok.start_pos is not None else 0
    end = tok.end_pos if tok.end_pos is not None else start + 1
    hint = _expected(exc)
    if tok.type in ("NUMBER",) and start > 0 and text[start - 1] == "%":
        hint = "a percentage is written right after its number, e.g. 2%; the modulo operator needs spaces: a % b"
    elif tok.type == "EQUAL" or str(tok) == "=":
        hint = "to compare, write '==' (a single '=' only names a function's parameter, as in rsi(close, period=14))"
    elif _loose_percent(text, start):
        hint = _loose_percent(text, start)
    what = _TOKEN_NAMES.get(tok.type, "token").removeprefix("a ").removeprefix("an ")
    return ParseError(f"unexpected {what} '{tok}'" if tok.type in _WORDY else f"unexpected '{tok}'",
                      ast.Span(start, end), hint)


def parse_with_lark(text: str) -> ast.Expr:
    """:func:`parse_expression` by Lark's own parser and a Transformer (the reference: slower)."""
    if not text.strip():
        raise ParseError("empty expression", ast.Span(0, max(1, len(text))),
                         "write an expression such as 'close > ema(close, 20)'")
    too_deep = _too_deep(text)
    try:
        tree = _parser().parse(text)
    except RecursionError:
        raise too_deep from None
    except UnexpectedInput as exc:
        raise _syntax_error(exc, text) from None
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


class _Unsupported(Exception):
    """The driver met something it does not model (never expected): Lark parses the text instead."""


class _Tok(str):
    """A token as :class:`_ToAst` reads one (its text, ``type``, ``start_pos`` and ``end_pos``):
    lighter than Lark's ``Token``."""

    type: str
    start_pos: int
    end_pos: int

    def __new__(cls, kind: str, value: str, start: int, end: int) -> "_Tok":
        tok = str.__new__(cls, value)
        tok.type = kind
        tok.start_pos = start
        tok.end_pos = end
        return tok


class _Meta:
    __slots__ = ("start_pos", "end_pos")

    def __init__(self, start: int, end: int):
        self.start_pos = start
        self.end_pos = end


class _Driver:
    """Lark's LALR parse of one expression, without Lark's per-parse and per-node overheads.

    Mirrors ``lark.parsers.lalr_parser_state.ParserState.feed_token`` and Lark's contextual lexer
    (each parser state's own compiled terminal pattern, read from the Lark parser), and shapes the
    result as Lark's tree builder would (filtered tokens, ``_``-rules inlined, ``?``-rules expanded,
    ``[x]`` placeholders, positions propagated with their containers), handing each node to the
    same :class:`_ToAst` method. A stack entry is ``(value, start, end, container_start,
    container_end)``: a node's own span, and the span of the text that produced it (its
    parentheses included), which is what a parent node's position starts and ends with."""

    def __init__(self) -> None:
        from lark.lexer import ContextualLexer
        from lark.parsers.lalr_analysis import Shift
        lark = _parser()
        frontend = lark.parser
        lexer = frontend.lexer
        if not isinstance(lexer, ContextualLexer):
            raise _Unsupported("not a contextual lexer")
        table = frontend.parser._parse_table
        self.start = table.start_states["start"]
        self.end = table.end_states["start"]
        self.lexers: dict[int, Any] = {}
        self.allowed: dict[int, set[str]] = {}
        for state, basic in lexer.lexers.items():
            scanner = basic.scanner
            if len(scanner._mres) != 1 or basic.callback:
                raise _Unsupported("a lexer with callbacks")
            self.lexers[state] = scanner._mres[0]
            self.allowed[state] = (scanner.allowed_types - basic.ignore_types) or {"<END-OF-FILE>"}
        root = lexer.root_lexer
        if len(root.scanner._mres) != 1 or root.callback:
            raise _Unsupported("a lexer with callbacks")
        self.root = root.scanner._mres[0]
        self.ignore = frozenset(root.ignore_types)
        base = _ToAst()
        self.build: dict[str, Any] = {}
        for name in ("number", "percent", "string", "true", "false", "name", "field", "offset", "method", "call",
                     "arguments", "keyword", "unary", "binary", "compare", "and_", "or_", "not_"):
            method = getattr(type(base), name)
            func = getattr(method, "base_func", method)
            self.build[name] = partial(func, base)
        self.meta = _Meta(0, 0)
        # the table with plain-text keys (Lark's are Tokens, whose == is Python code) and each action
        # decoded: (True, next state) to shift, (False, plan) to reduce
        plans: dict[Any, tuple] = {}
        self.states: dict[int, dict[str, tuple]] = {}
        for state, actions in table.states.items():
            row = {}
            for key, (act, arg) in actions.items():
                if act is Shift:
                    row[str(key)] = (True, arg)
                else:
                    if arg not in plans:
                        plans[arg] = self._plan(arg)
                    row[str(key)] = (False, plans[arg])
            self.states[state] = row
        self.units: dict[tuple[int, int, str], int] = {}
        kept = {str(sym.name) for rule in plans for i, sym in enumerate(rule.expansion)
                if sym.is_term and (rule.options.keep_all_tokens or not sym.filter_out)}
        self.dropped = frozenset(str(t.name) for t in lark.terminals) - kept

    def _plan(self, rule: Any) -> tuple:
        """How Lark's tree builder shapes a reduction of ``rule`` (parse_tree_builder.py)."""
        expansion = rule.expansion
        options = rule.options
        flags = options.empty_indices
        if flags:
            s = "".join(str(int(b)) for b in flags)
            empty = [len(ones) for ones in s.split("0")]
        else:
            empty = [0] * (len(expansion) + 1)
        include = []
        nones = 0
        for i, sym in enumerate(expansion):
            nones += empty[i]
            if options.keep_all_tokens or not (sym.is_term and sym.filter_out):
                include.append((i, (not sym.is_term) and sym.name.startswith("_"), nones))
                nones = 0
        nones += empty[len(expansion)]
        origin = rule.origin.name
        name = rule.alias or options.template_source or origin
        expand1 = bool(options.expand1) and not rule.alias
        helper = origin.startswith("_")
        if not helper and not (expand1 and len(include) == 1 and nones == 0 and not include[0][2]) and \
                name not in self.build:
            raise _Unsupported(f"no node for rule {name}")
        unit = expand1 and len(expansion) == 1 and len(include) == 1 and not include[0][1] and not include[0][2] \
            and nones == 0
        direct = None                         # the children's places, when they are simply the ones kept
        if not helper and not (expand1 and len(include) == 1) and not nones and \
                not any(splice or before for _i, splice, before in include):
            direct = tuple(i for i, _splice, _before in include)
        return (len(expansion), tuple(include), nones, str(origin), name, expand1, helper, unit, direct,
                self.build.get(name))

    def parse(self, text: str) -> ast.Expr:
        states, lexers, ignore, end_state = self.states, self.lexers, self.ignore, self.end
        state_stack = [self.start]
        values: list[tuple] = []
        pos, size = 0, len(text)
        start = end = 0
        dropped = self.dropped
        failure: list[ParseError] = []
        reduce, units = self._reduce, self.units
        while True:
            if pos < size:
                m = lexers[state_stack[-1]].match(text, pos)
                if m is None:
                    self._lex_error(text, pos, state_stack[-1])
                kind = m.lastgroup
                end = m.end()
                if kind in ignore:
                    pos = end
                    continue
                start = pos
                pos = end
            else:
                kind = "$END"
            while True:                       # ParserState.feed_token
                row = states[state_stack[-1]]
                action = row.get(kind)
                if action is None:
                    token = Token(kind, text[start:end], start, None, None, None, None, end) if kind != "$END" \
                        else Token("$END", "", 0, 1, 1)
                    raise UnexpectedToken(token, {s for s in row if s.isupper()}, state=None, interactive_parser=None)
                if action[0]:
                    if kind == "$END":
                        raise _Unsupported("shifted the end")
                    state_stack.append(action[1])
                    if kind in dropped:       # a token every rule filters out: its place is all that counts
                        values.append((None, start, end, start, end))
                    else:
                        values.append((_Tok(kind, text[start:end], start, end), start, end, start, end))
                    break
                plan = action[1]
                if plan[7]:                   # ?rules of one symbol: the same node, the same container
                    key = (state_stack[-2], state_stack[-1], kind)
                    top = units.get(key)
                    if top is None:
                        top = units[key] = self._units(key)
                    state_stack[-1] = top
                else:
                    n = plan[0]
                    raw = values[-n:]
                    del state_stack[-n:]
                    del values[-n:]
                    values.append(reduce(plan, raw, failure))
                    state_stack.append(states[state_stack[-1]][plan[3]][1])
                if kind == "$END" and state_stack[-1] == end_state:
                    if failure:
                        raise failure[0]
                    value = values[-1][0]
                    if not isinstance(value, ast.Expr):
                        raise _Unsupported("not an expression")
                    return value
            if kind == "$END":
                raise _Unsupported("the end did not finish the parse")

    def _units(self, key: tuple[int, int, str]) -> int:
        """The state after every reduction of a one-symbol ?rule that ``kind`` causes in ``top``
        above ``below`` (they leave ``below`` and the value where they are: only the top state
        changes, so the chain is computed once for the three)."""
        below, top, kind = key
        while True:
            action = self.states[top].get(kind)
            if action is None or action[0] or not action[1][7] or (kind == "$END" and top == self.end):
                return top
            top = self.states[below][action[1][3]][1]

    def _reduce(self, plan: tuple, raw: list[tuple], failure: list[ParseError]) -> tuple:
        cstart, cend = raw[0][3], raw[-1][4]
        direct = plan[8]
        if direct is not None:
            meta = self.meta                  # read by the node's method only while it runs
            meta.start_pos, meta.end_pos = cstart, cend
            try:
                value = plan[9](meta, [raw[i][0] for i in direct])
            except ParseError as exc:         # Lark's transformer raises it after the parse: later syntax errors first
                failure.append(exc)
                value = ast.Name(ast.Span(cstart, cend), "")
            return (value, cstart, cend, cstart, cend)
        _n, include, append_none, _origin, name, expand1, helper, _unit, _direct, _build = plan
        children: list[tuple | None] = []
        for i, splice, nones in include:
            if nones:
                children.extend([None] * nones)
            if splice:
                children.extend(raw[i][0])
            else:
                children.append(raw[i])
        if append_none:
            children.extend([None] * append_none)
        if helper:                            # a _rule's children, inlined by its parent
            return (children, cstart, cend, cstart, cend)
        if expand1 and len(children) == 1:
            child = children[0]
            if child is None or child[0] is None or isinstance(child[0], str):
                raise _Unsupported("a ?rule expanded to a token")
            return (child[0], child[1], child[2], cstart, cend)
        build = self.build.get(name)
        if build is None:
            raise _Unsupported(f"no node for rule {name}")
        try:
            value = build(_Meta(cstart, cend), [None if c is None else c[0] for c in children])
        except ParseError as exc:             # Lark's transformer raises it after the parse: later syntax errors first
            failure.append(exc)
            value = ast.Name(ast.Span(cstart, cend), "")
        return (value, cstart, cend, cstart, cend)

    def _lex_error(self, text: str, pos: int, state: int) -> None:
        """What Lark's contextual lexer raises when no terminal of ``state`` matches at ``pos``."""
        allowed = self.allowed[state]
        m = self.root.match(text, pos)
        line = text.count("\n", 0, pos) + 1
        column = pos - (text.rfind("\n", 0, pos) + 1) + 1
        if m is not None and m.lastgroup not in self.ignore:
            token = Token(m.lastgroup, m.group(0), pos, line, column, None, None, m.end())
            raise UnexpectedToken(token, allowed, state=None, token_history=None)
        raise UnexpectedCharacters(text, pos, line, column, allowed=allowed)


@lru_cache(maxsize=1)
def _driver() -> _Driver:
    try:
        return _Driver()
    except _Unsupported:
        return _LarkOnly()       # type: ignore[return-value]


class _LarkOnly:
    @staticmethod
    def parse(text: str) -> ast.Expr:
        raise _Unsupported("the driver cannot read this Lark parser")


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
        for child in children(node):
            stack.append((child, depth + 1))
    return deepest


def children(node: Any) -> list[Any]:
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
