"""What changed between two compiled versions of a strategy document, in one line (a hot reload
journals it; ``optimize --apply`` shows it before writing)."""

from __future__ import annotations

from typing import Any


def document_diff(old: Any, new: Any) -> str:
    """What changed between two compiled versions of a strategy, in one line."""
    parts = []
    for name in sorted(set(old.params) | set(new.params)):
        a, b = old.params.get(name), new.params.get(name)
        if a != b:
            parts.append(f"param {name} {a:g} -> {b:g}" if a is not None and b is not None else f"param {name}")
    od, nd = old.document, new.document
    for name in sorted(set(od.indicators) | set(nd.indicators)):
        if od.indicators.get(name) != nd.indicators.get(name):
            parts.append(f"indicator {name}")
    for section in ("entry", "exit"):
        for side in ("long", "short"):
            a = getattr(getattr(od, section), side, None) if getattr(od, section) else None
            b = getattr(getattr(nd, section), side, None) if getattr(nd, section) else None
            if a != b:
                parts.append(f"{section}.{side}")
    if od.risk != nd.risk:
        parts.append("risk")
    if od.sizing != nd.sizing:
        parts.append("sizing")
    return ", ".join(parts) or "no change to the rules (text only)"
