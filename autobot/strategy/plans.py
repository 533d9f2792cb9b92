"""Compiled strategies handed across the NautilusTrader boundary, so a document is compiled once.

A strategy's Nautilus config stays serialisable: it carries the document's text, its name and the
param values it overrides (as Nautilus' importable configs require). The process that builds the
config has already compiled that document, and :func:`register` keeps the compiled strategy under
the config's (text, name, overrides); ``RuleStrategy.on_start`` and ``QuoteStrategy.on_start`` take
it from :func:`compiled_for` instead of compiling the text again. A config built elsewhere (another
process, a config file) is not registered and is compiled from its text, which gives the same plan:
compiling is a pure function of (text, name, overrides).

The registry keeps the most recent :data:`KEEP` entries (a study registers one per trial).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

from autobot.language.compile import CompiledStrategy, compile_strategy_text

KEEP = 64
Key = tuple[str, str, tuple[tuple[str, float], ...]]
_PLANS: "OrderedDict[Key, CompiledStrategy]" = OrderedDict()
COUNTS = {"taken": 0, "compiled": 0}      # how configs got their plan (tests and benchmarks read it)


def _key(document: str, name: str, overrides: Mapping[str, float]) -> Key:
    return document, name, tuple(sorted((str(k), float(v)) for k, v in overrides.items()))


def register(compiled: CompiledStrategy, overrides: Mapping[str, float]) -> CompiledStrategy:
    """Keep ``compiled`` for a config carrying its text and name and ``overrides`` (which must be
    the overrides ``compiled`` was compiled with, or a subset equal to its params); returns it."""
    key = _key(compiled.source.text, compiled.source.path, overrides)
    _PLANS[key] = compiled
    _PLANS.move_to_end(key)
    while len(_PLANS) > KEEP:
        _PLANS.popitem(last=False)
    return compiled


def compiled_for(document: str, name: str, overrides: Mapping[str, float]) -> CompiledStrategy:
    """The compiled strategy of a config: the registered one, else compiled from its text."""
    hit = _PLANS.get(_key(document, name, overrides))
    if hit is not None:
        COUNTS["taken"] += 1
        return hit
    COUNTS["compiled"] += 1
    return compile_strategy_text(document, name, dict(overrides) or None)
