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
    new = out.getvalue()
    return new, compile_strategy_text(new, name)
