"""Load untrusted YAML safely, keeping the source position of every node.

Only PyYAML's ``SafeLoader`` composer is used (no Python object construction).
The node tree is converted to :class:`YNode` values that remember their span and,
for scalars, how each character of the value maps back to the source text, so an
error inside an expression can point at the right column of a plain, quoted or
block scalar. Duplicate keys, anchors/aliases, files over 1 MiB and nesting deeper
than 50 levels are refused with a diagnostic.
"""

from __future__ import annotations

import bisect
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from autobot.diagnostics import Diagnostic, Position, UserError

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 50


@dataclass
class YNode:
    """A YAML node with its source span (0-based index into the text)."""

    value: Any                      # str/int/float/bool/None for scalars, dict/list otherwise
    start: int
    end: int
    kind: str                       # "scalar", "mapping", "sequence"
    style: str | None = None        # scalar style: None (plain), "'", '"', "|", ">"
    keys: dict[str, "YNode"] = field(default_factory=dict)   # mapping: key nodes by key
    # a text scalar's source and YAML node: its character map is built when a diagnostic needs it
    # (building one for every value cost ~2 s on an 800 KB document)
    _chars_of: tuple[str, Any] | None = field(default=None, repr=False, compare=False)
    _chars: tuple[list[int], list[int]] | None = field(default=None, repr=False, compare=False)

    def _char_maps(self) -> tuple[list[int], list[int]] | tuple[None, None]:
        if self._chars is None and self._chars_of is not None:
            self._chars = _scalar_char_map(*self._chars_of)
        return self._chars if self._chars is not None else (None, None)

    @property
    def char_map(self) -> list[int] | None:
        """Scalar: the source index where each character of the value is written."""
        return self._char_maps()[0]

    @property
    def char_end(self) -> list[int] | None:
        """Scalar: the source index just after each value character (escapes span several)."""
        return self._char_maps()[1]

    def plain(self) -> Any:
        """The node as plain Python data (dicts, lists, scalars)."""
        if self.kind == "mapping":
            return {k: v.plain() for k, v in self.value.items()}
        if self.kind == "sequence":
            return [v.plain() for v in self.value]
        return self.value


@dataclass
class SourceFile:
    """A loaded document: its path as shown to users, its text and its node tree."""

    path: str
    text: str
    root: YNode | None
    _line_starts: list[int] = field(default_factory=list, repr=False)

    def position(self, index: int) -> Position:
        """1-based line/column of a 0-based character index."""
        if not self._line_starts:
            starts = [0]
            for i, ch in enumerate(self.text):
                if ch == "\n":
                    starts.append(i + 1)
            self._line_starts = starts
        line = bisect.bisect_right(self._line_starts, index) - 1
        return Position(line + 1, index - self._line_starts[line] + 1)

    def diagnostic(self, start: int, end: int, code: str, message: str, hint: str = "",
                   severity: str = "error") -> Diagnostic:
        """A diagnostic over the half-open character range [start, end)."""
        return Diagnostic.at(self.path, self.position(start), self.position(max(end, start + 1)),
                             code, message, hint, severity)

    def node_at(self, path: tuple[Any, ...]) -> tuple[YNode | None, bool]:
        """The deepest node along a key path, and whether the whole path was found."""
        node = self.root
        for part in path:
            if node is None:
                return None, False
            if node.kind == "mapping" and isinstance(part, str) and part in node.value:
                node = node.value[part]
            elif node.kind == "sequence" and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
            else:
                return node, False
        return node, True


def _escape_length(text: str, i: int) -> int:
    """Source length of the double-quoted escape starting with the backslash at ``i``."""
    return {"x": 4, "u": 6, "U": 10}.get(text[i + 1] if i + 1 < len(text) else "", 2)


def _scalar_char_map(text: str, node: yaml.ScalarNode) -> tuple[list[int], list[int]]:
    """Where each character of a scalar's value is written in the source: start and end indices.

    Walks the source span greedily: a value character is matched to its next
    occurrence in the source, and whitespace produced by line folding consumes the
    source's whitespace run. This covers plain, quoted and block scalars; an escape
    (``\\"`` in double quotes, ``''`` in single quotes) spans its whole spelling.
    """
    value: str = node.value
    src_start, src_end = node.start_mark.index, node.end_mark.index
    i = src_start
    if node.style in ("'", '"'):
        i += 1
    elif node.style in ("|", ">"):
        nl = text.find("\n", i, src_end)
        i = src_end if nl < 0 else nl + 1
    starts: list[int] = []
    ends: list[int] = []

    def put(start: int, end: int) -> None:
        starts.append(start)
        ends.append(end)
    last = max(src_end - 1, src_start)
    for ch in value:
        if ch in " \n\t":
            while i < src_end and text[i] in " \t\r\n\\" and text[i] != ch:
                i += 1
            put(min(i, last), min(i, last) + 1)
            if i < src_end and text[i] == ch:
                i += 1
            continue
        if i < src_end and text[i] != ch:
            if node.style == '"' and text[i] == "\\":
                n = _escape_length(text, i)
                put(i, i + n)
                i += n
                continue
        if node.style == "'" and ch == "'" and text.startswith("''", i):
            put(i, i + 2)
            i += 2
            continue
        j = text.find(ch, i, src_end)
        if j < 0:
            put(min(i, last), min(i, last) + 1)
            continue
        put(j, j + 1)
        i = j + 1
    return starts, ends


class _Converter:
    def __init__(self, path: str, text: str):
        self.path = path
        self.text = text
        self.source = SourceFile(path, text, None)
        self.seen: set[int] = set()

    def fail(self, node: yaml.Node, code: str, message: str, hint: str = "") -> UserError:
        return UserError([self.source.diagnostic(node.start_mark.index, node.end_mark.index,
                                                 code, message, hint)])

    def convert(self, node: yaml.Node, depth: int) -> YNode:
        if depth > MAX_DEPTH:
            raise self.fail(node, "yaml-depth", f"document is nested deeper than {MAX_DEPTH} levels",
                            "flatten the document; AutoBot documents need only a few levels")
        if id(node) in self.seen:
            raise self.fail(node, "yaml-alias", "YAML anchors and aliases are not supported",
                            "write the value out in full instead of using '*alias'")
        self.seen.add(id(node))
        start, end = node.start_mark.index, node.end_mark.index
        if isinstance(node, yaml.MappingNode):
            items: dict[str, YNode] = {}
            keys: dict[str, YNode] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise self.fail(key_node, "yaml-merge", "YAML merge keys ('<<') are not supported",
                                    "write the keys out in full")
                key = self.convert(key_node, depth + 1)
                if key.kind != "scalar" or isinstance(key.value, (list, dict)):
                    raise self.fail(key_node, "yaml-key", "mapping keys must be plain text")
                name = "" if key.value is None else str(key.value)
                if isinstance(key.value, bool):
                    name = key_node.value  # keep 'on'/'yes' as written
                if name in items:
                    first = self.source.position(keys[name].start)
                    raise self.fail(key_node, "yaml-duplicate-key", f"duplicate key '{name}'",
                                    f"'{name}' is already defined on line {first.line}; keep one of them")
                keys[name] = key
                items[name] = self.convert(value_node, depth + 1)
            return YNode(items, start, end, "mapping", keys=keys)
        if isinstance(node, yaml.SequenceNode):
            return YNode([self.convert(v, depth + 1) for v in node.value], start, end, "sequence")
        assert isinstance(node, yaml.ScalarNode)
        value = _construct_scalar(node)
        return YNode(value, start, end, "scalar", style=node.style,
                     _chars_of=(self.text, node) if isinstance(value, str) else None)


_CONSTRUCTOR = yaml.SafeLoader("")


def _construct_scalar(node: yaml.ScalarNode) -> Any:
    """Resolve a scalar with the safe constructor (int, float, bool, null or str)."""
    if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                    "tag:yaml.org,2002:null", "tag:yaml.org,2002:str"):
        return _CONSTRUCTOR.construct_object(node, deep=True)
    return node.value  # timestamps, binary, custom tags: keep the text


def load_text(text: str, path: str) -> SourceFile:
    """Parse YAML text into a :class:`SourceFile`; raises :class:`UserError` on bad input."""
    source = SourceFile(path, text, None)
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise UserError([source.diagnostic(0, 1, "file-too-large",
                                           f"file is larger than {MAX_BYTES // 1024} KiB",
                                           "AutoBot documents are small; split or trim the file")])
    if text.startswith("\ufeff"):
        text = text[1:]
        source = SourceFile(path, text, None)
    old_limit = sys.getrecursionlimit()
    try:
        sys.setrecursionlimit(max(old_limit, 4000))
        node = _compose_bounded(text, source)
    except yaml.MarkedYAMLError as exc:
        raise UserError([_syntax_diagnostic(exc, source)]) from None
    except yaml.YAMLError as exc:
        raise UserError([source.diagnostic(0, 1, "yaml-syntax", f"YAML error: {exc}",
                                           "the file must be UTF-8 YAML")]) from None
    finally:
        sys.setrecursionlimit(old_limit)
    if node is None:
        return source
    converter = _Converter(path, text)
    root = converter.convert(node, 1)
    return SourceFile(path, text, root)


#: PyYAML contexts naming something opened earlier and never closed: point at the opening.
_UNCLOSED = {
    "while scanning a quoted scalar": ("a quoted text is never closed", "close the quote opened here"),
    "while parsing a flow mapping": ("a '{' is never closed", "close the '{' opened here with '}'"),
    "while parsing a flow sequence": ("a '[' is never closed", "close the '[' opened here with ']'"),
}


def _syntax_diagnostic(exc: yaml.MarkedYAMLError, source: SourceFile) -> Diagnostic:
    """A YAML syntax error at the place to fix: an unclosed quote or bracket where it opened."""
    unclosed = _UNCLOSED.get(exc.context or "")
    if unclosed is not None and exc.context_mark is not None:
        index = exc.context_mark.index
        found = exc.problem_mark
        where = f" (noticed on line {found.line + 1})" if found is not None else ""
        return source.diagnostic(index, index + 1, "yaml-syntax", f"YAML syntax error: {unclosed[0]}{where}",
                                 unclosed[1])
    mark = exc.problem_mark or exc.context_mark
    index = mark.index if mark is not None else 0
    problem = exc.problem or exc.context or "invalid YAML"
    return source.diagnostic(index, index + 1, "yaml-syntax", f"YAML syntax error: {problem}",
                             "check indentation, colons and quotes on this line")


#: libyaml's safe loader (18x faster, the same nodes and marks, Unicode included); PyYAML's own
#: loader gives the diagnostics of a document libyaml refuses (its messages are the documented ones)
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _compose_bounded(text: str, source: SourceFile) -> yaml.Node | None:
    """Compose one document, refusing deep nesting before the recursive composer sees it."""
    if _FAST_LOADER is not None:
        try:
            return _compose_with(_FAST_LOADER, text, source)
        except yaml.YAMLError:
            pass                                 # PyYAML's loader says what is wrong, in its words
    return _compose_with(yaml.SafeLoader, text, source)


def _compose_with(loader_class: Any, text: str, source: SourceFile) -> yaml.Node | None:
    depth = 0
    loader = loader_class(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > MAX_DEPTH:
                    index = event.start_mark.index
                    raise UserError([source.diagnostic(index, index + 1, "yaml-depth",
                                                       f"document is nested deeper than {MAX_DEPTH} levels",
                                                       "flatten the document; AutoBot documents need only a few levels")])
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
            elif isinstance(event, yaml.AliasEvent):
                index = event.start_mark.index
                raise UserError([source.diagnostic(index, index + 1, "yaml-alias",
                                                   "YAML anchors and aliases are not supported",
                                                   "write the value out in full instead of using '*alias'")])
    finally:
        loader.dispose()
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        if "expected a single document" in str(exc):
            mark = exc.problem_mark
            index = mark.index if mark is not None else 0
            raise UserError([source.diagnostic(index, index + 1, "yaml-multi-document",
                                               "the file holds more than one YAML document",
                                               "put one document per file (remove the extra '---')")]) from None
        raise
    finally:
        loader.dispose()
    return node


def load_file(path: str | Path, display: str | None = None) -> SourceFile:
    """Read and parse a YAML file; the path is shown in diagnostics as ``display``."""
    shown = display or str(path)
    from autobot.safeio import ReadRefused, read_bounded
    try:
        raw = read_bounded(path, MAX_BYTES)
    except ReadRefused as exc:
        if "limit" in exc.reason:
            size = Path(path).stat().st_size
            raise UserError([Diagnostic(shown, 1, 1, 1, 2, "file-too-large",
                                        f"file is larger than {MAX_BYTES // 1024} KiB ({size} bytes)",
                                        "AutoBot documents are small; split or trim the file")]) from None
        raise UserError([Diagnostic(shown, 1, 1, 1, 2, "file-read", f"cannot read file: {exc.reason}",
                                    "AutoBot documents are regular text files; " + exc.hint)]) from None
    except OSError as exc:
        import errno
        hint = "it is a symbolic link loop (links that lead back to themselves): remove the link or point it at a file" \
            if exc.errno == errno.ELOOP else "check the path"
        raise UserError([Diagnostic(shown, 1, 1, 1, 2, "file-read", f"cannot read file: {exc.strerror}",
                                    hint)]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UserError([Diagnostic(shown, 1, 1, 1, 2, "file-encoding",
                                    f"file is not valid UTF-8 (byte {exc.start})", "save the file as UTF-8")]) from None
    return load_text(text, shown)
