"""``optimize --apply``: new param defaults written into the YAML text, keeping its comments
and layout (ruamel.yaml's round trip), and checked by the same compiler as any edit before
anything is written. The command line then versions and writes it (the journal, so
``autobot rollback`` restores the previous version, and a running node reloads it)."""

from __future__ import annotations

import io
from typing import Any

from autobot.language.compile import CompiledStrategy, compile_strategy_text


class ApplyRefused(Exception):
    pass


def with_defaults(text: str, name: str, values: dict[str, int | float]) -> tuple[str, CompiledStrategy]:
    """``text`` with each ``params.<name>`` default set to ``values[name]`` (a bare number param
    stays a bare number), compiled (positioned errors as :class:`~autobot.diagnostics.UserError`)."""
    new = set_defaults(text, name, values)
    return new, compile_strategy_text(new, name)


def set_defaults(text: str, name: str, values: dict[str, int | float]) -> str:
    """:func:`with_defaults` for any document with ``params:`` (a strategy or a regimes document), unchecked."""
    from ruamel.yaml import YAML
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    doc: Any = yaml.load(text)
    params = doc.get("params") if hasattr(doc, "get") else None
    if params is None:
        raise ApplyRefused(f"{name} has no params: section")
    for key, value in values.items():
        if key not in params:
            raise ApplyRefused(f"{name} has no param '{key}'")
        if hasattr(params[key], "keys"):
            params[key]["default"] = value
        else:
            params[key] = value
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def check_regimes_text(text: str, name: str) -> Any:
    """Compile a regimes document given as text (positioned errors as UserError)."""
    from autobot.diagnostics import DiagnosticSink, UserError
    from autobot.documents.load import load_text
    from autobot.documents.models import RegimesDocument
    from autobot.documents.validate import validate_document
    from autobot.language.compile import compile_regimes
    source = load_text(text, name)
    model, diagnostics = validate_document(source)
    errors = [d for d in diagnostics if d.severity == "error"]
    if errors or not isinstance(model, RegimesDocument):
        raise UserError(errors or [source.diagnostic(0, 1, "wrong-document", "expected a regimes document",
                                                     "pass the policy's regimes document")])
    sink = DiagnosticSink()
    out = compile_regimes(source, model, sink)
    if out is None or sink.has_errors:
        raise UserError([d for d in sink.items if d.severity == "error"])
    return out
