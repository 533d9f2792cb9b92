"""The language's function registry.

TA-Lib functions are read at import from TA-Lib's abstract API (inputs, parameters
with defaults and types, outputs); nothing here lists them by hand. Short aliases
are derived by rule and documented in ``docs/language.md``:

* parameters: ``period`` for ``timeperiod``; ``<x>`` for ``<x>period`` / ``<x>_period``
  (``fast``, ``slow``, ``signal``, ``fastk``...); ``dev`` for ``nbdev`` or for
  ``nbdevup`` + ``nbdevdn`` together; ``ma`` for ``matype``.
* outputs: the name without a ``band`` suffix (``upper``), without the function's
  own name or ``slow``/``fast`` as prefix (``signal``, ``hist``, ``k``, ``d``, ``up``).

The helper functions (``crosses_above`` ... ``log``) are described by :data:`HELPERS`;
their semantics live in the evaluators.
"""

from __future__ import annotations

import os

from dataclasses import dataclass, field
from functools import lru_cache

from autobot.language.talib_import import abstract, talib
import talib._ta_lib as _ta_lib  # noqa: E402  (already imported by talib_import)

BAR_FIELDS = ("open", "high", "low", "close", "volume")

# TA-Lib optional-input types (TA_OptInputParameterType)
_REAL_RANGE, _REAL_LIST, _INT_RANGE, _INT_LIST = 0, 1, 2, 3
MA_TYPES = tuple(sorted(talib.MA_Type._lookup)) if hasattr(talib, "MA_Type") else tuple(range(9))


@dataclass(frozen=True)
class TaParam:
    """One optional input (parameter) of a TA-Lib function."""

    name: str
    default: float
    integer: bool
    help: str
    choices: tuple[int, ...] = ()


@dataclass(frozen=True)
class TaFunction:
    """A TA-Lib function as the language sees it."""

    name: str                         # lower-case language name
    talib_name: str
    group: str
    display_name: str
    inputs: tuple[str, ...]           # input series names, in TA-Lib's order
    input_defaults: tuple[str | None, ...]  # bar field each input defaults to, or None
    params: tuple[TaParam, ...]
    outputs: tuple[str, ...]
    param_aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    output_aliases: dict[str, str] = field(default_factory=dict)
    integer_output: bool = False
    index_output: bool = False        # outputs are bar positions; the language reports bars ago

    @property
    def implicit_inputs(self) -> bool:
        """True when every input has a bar field to default to."""
        return all(d is not None for d in self.input_defaults)

    def param(self, name: str) -> TaParam | None:
        for p in self.params:
            if p.name == name:
                return p
        return None

    def resolve_param(self, name: str) -> tuple[str, ...]:
        """Canonical parameter names for a name or alias (empty when unknown)."""
        if self.param(name) is not None:
            return (name,)
        return self.param_aliases.get(name, ())

    def resolve_output(self, name: str) -> int | None:
        """Index of an output by its name or alias."""
        if name in self.outputs:
            return self.outputs.index(name)
        canonical = self.output_aliases.get(name)
        return None if canonical is None else self.outputs.index(canonical)

    def output_choices(self) -> list[str]:
        """Output names and aliases, for messages."""
        out: list[str] = []
        for o in self.outputs:
            aliases = [a for a, c in self.output_aliases.items() if c == o]
            out.append(o + (f" (or {', '.join(aliases)})" if aliases else ""))
        return out

    def lookback(self, params: dict[str, float]) -> int:
        """TA-Lib's own lookback for these parameters (-1 when TA-Lib refuses them)."""
        return _lookback(self.talib_name, tuple(sorted(params.items())))


@lru_cache(maxsize=4096)
def _lookback(talib_name: str, params: tuple[tuple[str, float], ...]) -> int:
    fn = abstract.Function(talib_name)
    integer = {p.name for p in TA_FUNCTIONS[talib_name.lower()].params if p.integer}
    fn.set_parameters({k: int(v) if k in integer else float(v) for k, v in params})
    return int(fn.lookback)


def _param_aliases(names: list[str]) -> dict[str, tuple[str, ...]]:
    aliases: dict[str, tuple[str, ...]] = {}
    candidates: dict[str, list[str]] = {}
    for n in names:
        if n == "timeperiod":
            candidates.setdefault("period", []).append(n)
        elif n.endswith("period") and n != "timeperiod":
            short = n[: -len("period")].rstrip("_")
            if short:
                candidates.setdefault(short, []).append(n)
        if n == "matype":
            candidates.setdefault("ma", []).append(n)
        if n == "nbdev":
            candidates.setdefault("dev", []).append(n)
    if "nbdevup" in names and "nbdevdn" in names:
        candidates.setdefault("dev", []).extend(["nbdevup", "nbdevdn"])
    for alias, targets in candidates.items():
        if alias not in names:
            aliases[alias] = tuple(targets)
    return aliases


def _output_aliases(fname: str, outputs: list[str]) -> dict[str, str]:
    proposals: dict[str, list[str]] = {}
    shared = os.path.commonprefix(outputs) if len(outputs) > 1 else ""   # macdext: macd|signal, macd|hist
    for o in outputs:
        for cand in {o.removesuffix("band"), o.removesuffix("idx"), o.removeprefix(fname),
                     o.removeprefix("slow"), o.removeprefix("fast"), o.removeprefix(shared) if len(shared) >= 3 else o}:
            if cand and cand != o and cand not in outputs:
                proposals.setdefault(cand, []).append(o)
    return {a: targets[0] for a, targets in proposals.items() if len(set(targets)) == 1}


def _build_registry() -> dict[str, TaFunction]:
    registry: dict[str, TaFunction] = {}
    for talib_name in talib.get_functions():
        info = abstract.Function(talib_name).info
        inputs: list[str] = []
        defaults: list[str | None] = []
        for key, value in info["input_names"].items():
            fields_ = value if isinstance(value, list) else [value]
            names = list(value) if isinstance(value, list) else [key]
            for nm, default in zip(names, fields_):
                inputs.append(nm)
                defaults.append(default if default in BAR_FIELDS else None)
        params: list[TaParam] = []
        for i, (pname, pdefault) in enumerate(info["parameters"].items()):
            meta = _ta_lib._ta_getOptInputParameterInfo(talib_name.encode(), i)
            kind = meta["type"]
            params.append(TaParam(pname, float(pdefault), kind in (_INT_RANGE, _INT_LIST), meta.get("help", ""),
                                  MA_TYPES if kind == _INT_LIST else ()))
        name = talib_name.lower()
        outputs = list(info["output_names"])
        registry[name] = TaFunction(
            name=name, talib_name=talib_name, group=info["group"], display_name=info["display_name"],
            inputs=tuple(inputs), input_defaults=tuple(defaults), params=tuple(params),
            outputs=tuple(outputs), param_aliases=_param_aliases([p.name for p in params]),
            output_aliases=_output_aliases(name, outputs),
            integer_output=any(o in ("integer",) for o in outputs) or "Output is a candlestick" in
            info.get("function_flags", []) or talib_name.endswith("INDEX"),
            index_output=talib_name.endswith("INDEX"),
        )
    return registry


TA_FUNCTIONS: dict[str, TaFunction] = _build_registry()


@dataclass(frozen=True)
class Helper:
    """A built-in helper function of the language."""

    name: str
    signature: str
    doc: str
    min_args: int
    max_args: int | None      # None: variadic
    result: str               # "number" or "bool"
    int_args: tuple[int, ...] = ()   # positions that must be constant non-negative integers


HELPERS: dict[str, Helper] = {h.name: h for h in (
    Helper("crosses_above", "crosses_above(a, b)",
           "true at t when a[t] > b[t] and a[t-1] <= b[t-1], all four defined", 2, 2, "bool"),
    Helper("crosses_below", "crosses_below(a, b)",
           "true at t when a[t] < b[t] and a[t-1] >= b[t-1], all four defined", 2, 2, "bool"),
    Helper("crosses", "crosses(a, b)", "crosses_above(a, b) or crosses_below(a, b)", 2, 2, "bool"),
    Helper("highest", "highest(x, n)", "highest x over bars t-n+1..t (TA-Lib MAX)", 2, 2, "number", (1,)),
    Helper("lowest", "lowest(x, n)", "lowest x over bars t-n+1..t (TA-Lib MIN)", 2, 2, "number", (1,)),
    Helper("change", "change(x, n=1)", "x - x[n]", 1, 2, "number", (1,)),
    Helper("pct_change", "pct_change(x, n=1)", "x / x[n] - 1", 1, 2, "number", (1,)),
    Helper("rising", "rising(x, n=1)", "each of the last n steps went up strictly: x[t] > x[t-1] > ... > x[t-n]",
           1, 2, "bool", (1,)),
    Helper("falling", "falling(x, n=1)", "each of the last n steps went down strictly", 1, 2, "bool", (1,)),
    Helper("bars_since", "bars_since(c)",
           "bars since c was last true: 0 when true now, undefined before it was ever true", 1, 1, "number"),
    Helper("abs", "abs(x)", "absolute value", 1, 1, "number"),
    Helper("min", "min(a, b, ...)", "smallest argument; undefined if any is undefined", 2, None, "number"),
    Helper("max", "max(a, b, ...)", "largest argument; undefined if any is undefined", 2, None, "number"),
    Helper("sqrt", "sqrt(x)", "square root; undefined for x < 0", 1, 1, "number"),
    Helper("log", "log(x)", "natural logarithm; undefined for x <= 0", 1, 1, "number"),
    Helper("bullish_divergence", "bullish_divergence(price, osc, n=14)",
           "price[t] is below the lowest price of the n bars before t while osc[t] is above osc at that "
           "earlier low (the bar TA-Lib MININDEX picks among ties)", 2, 3, "bool", (2,)),
    Helper("bearish_divergence", "bearish_divergence(price, osc, n=14)",
           "price[t] is above the highest price of the n bars before t while osc[t] is below osc at that "
           "earlier high (the bar TA-Lib MAXINDEX picks among ties)", 2, 3, "bool", (2,)),
)}

ALL_FUNCTION_NAMES: tuple[str, ...] = tuple(sorted(set(TA_FUNCTIONS) | set(HELPERS)))
