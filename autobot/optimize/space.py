"""The search space: every ``params:`` entry with both ``min`` and ``max``.

Integers stay integers: a param whose default, min and max are whole and whose step is whole
(or absent) is searched over integers (step 1 when absent); any other is searched over floats,
on its step's grid when it has one. In a policy study names are qualified by their document:
``trend_ema.fast`` for a strategy's param, ``regimes.adx_min`` for the regimes document's.

A document's ``constraints:`` (e.g. ``slow > fast``) bound the space: :func:`violations` names
the constraints a point breaks, each evaluated with the point's values for the document's searched
params and the document's defaults for the rest. The study never runs such a point (it samples
again: docs/optimize.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution

from autobot.language.constraints import Constraints, describe


@dataclass(frozen=True)
class Dimension:
    name: str             # qualified name ('fast', or 'trend_ema.fast' in a policy study)
    owner: str            # the document: a strategy id, or 'regimes'
    param: str            # the name inside the document
    low: float
    high: float
    step: float | None
    integer: bool
    default: float

    def distribution(self) -> BaseDistribution:
        if self.integer:
            return IntDistribution(int(self.low), int(self.high), step=int(self.step or 1))
        return FloatDistribution(self.low, self.high, step=self.step)

    def grid_step(self) -> float:
        """One step of the neighbourhood (stability): the param's step, else 1/20 of its range."""
        if self.step:
            return float(self.step)
        return 1.0 if self.integer else (self.high - self.low) / 20.0

    def clip(self, value: float) -> float:
        """``value`` moved into the range and onto the grid."""
        v = min(max(value, self.low), self.high)
        if self.integer or self.step:
            step = self.grid_step()
            v = self.low + round((v - self.low) / step) * step
            v = min(v, self.high)
        return float(int(round(v))) if self.integer else tidy(v)


def tidy(v: float) -> float:
    """A float as 12 significant digits (1.4000000000000001 -> 1.4): what is run is what is shown."""
    return float(f"{float(v):.12g}")


def _whole(x: float | None) -> bool:
    return x is None or (math.isfinite(x) and float(x).is_integer())


def dimensions(owner: str, specs: dict[str, Any], qualify: bool) -> list[Dimension]:
    """The searchable params of one document (``specs``: its ``params:`` models)."""
    out = []
    for name, spec in specs.items():
        if spec.min is None or spec.max is None or not spec.max > spec.min:
            continue
        integer = _whole(spec.default) and _whole(spec.min) and _whole(spec.max) and _whole(spec.step)
        out.append(Dimension(f"{owner}.{name}" if qualify else name, owner, name, float(spec.min), float(spec.max),
                             float(spec.step) if spec.step else None, integer, float(spec.default)))
    return out


def overrides(dims: list[Dimension], values: dict[str, float]) -> dict[str, dict[str, float]]:
    """Qualified values -> {owner: {param: value}} (ints as whole floats, as the compiler takes them)."""
    out: dict[str, dict[str, float]] = {}
    for d in dims:
        if d.name in values:
            v = float(values[d.name])
            out.setdefault(d.owner, {})[d.param] = float(int(round(v))) if d.integer else v
    return out


def defaults(dims: list[Dimension]) -> dict[str, float]:
    return {d.name: d.clip(d.default) for d in dims}


def plain(dims: list[Dimension], values: dict[str, float]) -> dict[str, int | float]:
    """Values as JSON shows them: ints as ints."""
    by = {d.name: d for d in dims}
    return {k: (int(round(v)) if by[k].integer else tidy(v)) for k, v in values.items() if k in by}


@dataclass(frozen=True)
class Bound:
    """One document's constraints, as a study sees them."""

    owner: str                  # the document: a strategy id, or 'regimes'
    constraints: Constraints
    values: dict[str, float]    # the document's params as written (the defaults): what is not searched
    label: str = ""             # prefix of its constraints in messages ('regimes: ' in a policy study)

    def texts(self) -> list[str]:
        return [self.label + c.text for c in self.constraints.items]


def bound(owner: str, constraints: Constraints, values: dict[str, float], qualify: bool) -> list[Bound]:
    """``[Bound]`` for a document with constraints, ``[]`` without."""
    return [Bound(owner, constraints, dict(values), f"{owner}: " if qualify else "")] if constraints else []


def violations(bounds: list[Bound], dims: list[Dimension], values: dict[str, float]) -> list[str]:
    """The constraints ``values`` (qualified names) break, each shown with the values it read."""
    by_owner = overrides(dims, values)
    out = []
    for b in bounds:
        seen = {**b.values, **by_owner.get(b.owner, {})}
        out += [b.label + describe(item, seen) for item in b.constraints.violated(seen)]
    return out
