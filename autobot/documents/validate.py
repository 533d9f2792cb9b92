"""Check a loaded YAML document against its pydantic model, with diagnostics at the right spot."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from autobot.diagnostics import Diagnostic, did_you_mean
from autobot.documents.load import SourceFile, YNode
from autobot.documents.models import DOCUMENT_MODELS

_KIND_KEYS = ("strategy", "policy", "regimes")


def document_kind(source: SourceFile) -> str | None:
    """``strategy``, ``policy`` or ``regimes`` from the document's top-level keys."""
    root = source.root
    if root is None or root.kind != "mapping":
        return None
    for key in _KIND_KEYS:
        if key in root.value:
            return key
    return None


def validate_document(source: SourceFile, kind: str | None = None) -> tuple[BaseModel | None, list[Diagnostic]]:
    """Validate against the model of ``kind`` (detected when None); returns the model or diagnostics."""
    root = source.root
    if root is None or root.kind != "mapping":
        node = root
        start, end = (node.start, node.end) if node is not None else (0, 1)
        return None, [source.diagnostic(start, end, "document-kind",
                                        "not an AutoBot document: expected a mapping with a 'strategy', "
                                        "'regimes' or 'policy' key",
                                        "start the file with 'strategy: <id>', 'regimes:' or 'policy: <name>'")]
    kind = kind or document_kind(source)
    if kind is None:
        keys = list(root.value)
        first = root.keys[keys[0]] if keys else root
        guess = did_you_mean(keys[0], _KIND_KEYS) if keys else ""
        return None, [source.diagnostic(first.start, first.end, "document-kind",
                                        f"not an AutoBot document: no 'strategy', 'regimes' or 'policy' key{guess}",
                                        "start the file with 'strategy: <id>', 'regimes:' or 'policy: <name>'")]
    model = DOCUMENT_MODELS[kind]
    plain = root.plain()
    try:
        return model.model_validate(plain), []
    except ValidationError as exc:
        diagnostics = _diagnostics(source, model, exc)
        # check the rest of the document too, so a bad id or an unknown key hides no expression error:
        # unknown and bad optional values are left out, a bad required id stands in as a valid one
        # (the diagnostics above stay, so the document still fails)
        errors = exc.errors(include_url=False)
        if all(_repairable(e) for e in errors):
            try:
                return model.model_validate(_repaired(plain, errors)), diagnostics
            except ValidationError:
                pass
        return None, diagnostics


def _repairable(err: dict[str, Any]) -> bool:
    """An error the rest of a document can be checked past without follow-on errors: an unknown key,
    or a bad id (a stand-in takes its place). A bad section (indicators as a list) is not: the
    names it defines would then be reported unknown wherever they are used."""
    loc = tuple(err["loc"])
    return err["type"] == "extra_forbidden" or (err["type"] == "string_pattern_mismatch" and bool(loc)
                                                 and loc[-1] in _STAND_INS)


# required ids that stand in for a bad one while the rest of a document is checked
_STAND_INS = {"strategy": "invalid_id", "instrument": "INVALID.VENUE", "policy": "invalid_id"}


def _repaired(plain: Any, errors: list[dict[str, Any]]) -> Any:
    """``plain`` with each erroneous leaf replaced by a stand-in (ids) or removed."""
    import copy
    out = copy.deepcopy(plain)
    drop: list[tuple[Any, ...]] = []
    for err in errors:
        loc = tuple(err["loc"])
        if not loc or err["type"] == "missing":
            continue
        key = loc[-1]
        if err["type"] == "string_pattern_mismatch" and isinstance(key, str) and key in _STAND_INS:
            parent = _walk(out, loc[:-1])
            if isinstance(parent, dict):
                parent[key] = _STAND_INS[key]
                continue
        drop.append(loc)
    return _without(out, drop)


def _walk(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            return None
    return node


def _without(plain: Any, locs: list[tuple[Any, ...]]) -> Any:
    """A copy of ``plain`` with the keys at ``locs`` removed."""
    import copy
    out = copy.deepcopy(plain)
    for loc in locs:
        node = out
        for part in loc[:-1]:
            node = node.get(part) if isinstance(node, dict) else (node[part] if isinstance(node, list)
                                                                   and isinstance(part, int) else None)
            if node is None:
                break
        if isinstance(node, dict):
            node.pop(loc[-1], None)
    return out


def _diagnostics(source: SourceFile, model: type[BaseModel], exc: ValidationError) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        if loc in seen:
            continue
        seen.add(loc)
        out.append(_one(source, model, err, loc))
    return out


def _one(source: SourceFile, model: type[BaseModel], err: dict[str, Any], loc: tuple[Any, ...]) -> Diagnostic:
    etype = err["type"]
    where = ".".join(str(p) for p in loc) or "document"
    if etype == "extra_forbidden":
        parent, _ = source.node_at(loc[:-1])
        key = str(loc[-1])
        allowed = _allowed_keys(model, loc[:-1])
        node = parent.keys.get(key) if parent is not None and parent.kind == "mapping" else None
        node = node or parent or source.root
        assert node is not None
        hint = "allowed keys here: " + ", ".join(allowed) if allowed else ""
        return source.diagnostic(node.start, node.end, "unknown-key",
                                 f"unknown key '{key}'{did_you_mean(key, allowed)}", hint)
    if etype == "missing":
        parent, _ = source.node_at(loc[:-1])
        node = _key_node(source, loc[:-1]) or parent or source.root
        assert node is not None
        end = node.end if node.kind == "scalar" else node.start + 1
        where_parent = ".".join(str(p) for p in loc[:-1])
        return source.diagnostic(node.start, end, "missing-key",
                                 f"missing required key '{loc[-1]}'" + (f" in '{where_parent}'" if where_parent else ""),
                                 f"add '{loc[-1]}:' here")
    node, found = source.node_at(loc)
    node = node or source.root
    assert node is not None
    msg = err["msg"]
    if etype in ("dict_type", "model_type", "model_attributes_type"):
        msg = f"'{where}' must be a mapping of keys to values, got {_kind(node)}"
    elif etype == "list_type":
        msg = f"'{where}' must be a list, got {_kind(node)}"
    elif etype == "string_pattern_mismatch":
        msg = f"'{where}': {node.value!r} is not a valid {loc[-1] if loc else 'value'}"
    elif etype.startswith("string"):
        msg = f"'{where}': {msg[0].lower() + msg[1:]}" if etype != "string_type" else \
            f"'{where}' must be text, got {_kind(node)}"
    elif etype == "value_error":
        msg = f"'{where}': {str(err.get('ctx', {}).get('error', msg))}"
    else:
        msg = f"'{where}': {msg[0].lower() + msg[1:] if msg else msg}"
    return source.diagnostic(node.start, node.end, "invalid-value", msg, _hint(etype, loc))


def _hint(etype: str, loc: tuple[Any, ...]) -> str:
    if etype == "string_pattern_mismatch" and loc and loc[-1] == "instrument":
        return "write SYMBOL.VENUE, e.g. BTCUSDT.BINANCE"
    if etype == "string_pattern_mismatch" and loc and loc[-1] == "strategy":
        return "use letters, digits, '_' and '-', starting with a letter"
    if etype == "literal_error":
        return "pick one of the listed values"
    if etype == "finite_number":
        return "write an ordinary number: .nan and .inf cannot be used"
    if etype == "greater_than" and loc and loc[-1] == "step":
        return "step is the distance between the values optimisation tries: give a number above 0, or leave it out"
    if etype in ("less_than_equal", "greater_than_equal") and loc and loc[0] == "params":
        from autobot.documents.models import MAX_PARAM
        return f"a param's default, min, max and step are at most {MAX_PARAM:g} in size"
    if etype == "less_than_equal" and loc == ("capital",):
        from autobot.documents.models import MAX_CAPITAL
        return f"capital is at most {MAX_CAPITAL:g} (NautilusTrader's money holds at most 1.7e13)"
    return ""


def _kind(node: YNode) -> str:
    if node.kind == "mapping":
        return "a mapping"
    if node.kind == "sequence":
        return "a list"
    if node.value is None:
        return "nothing"
    return f"{type(node.value).__name__} {node.value!r}"


def _key_node(source: SourceFile, path: tuple[Any, ...]) -> YNode | None:
    if not path:
        return None
    parent, found = source.node_at(path[:-1])
    if found and parent is not None and parent.kind == "mapping":
        return parent.keys.get(str(path[-1]))
    return None


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                return _unwrap(arg)
    return annotation


def _allowed_keys(model: type[BaseModel], path: tuple[Any, ...]) -> list[str]:
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []
