"""Regime detection: the first matching regime wins, and a new regime counts only after it has
held ``confirm_bars`` bars in a row (hysteresis).

The regimes document is compiled by the same compiler as strategies and evaluated by the same
streaming evaluator, bar by bar (:class:`RegimeDetector`); :func:`regime_series` gives the same
answer for a whole series at once with the batch evaluator (tests check they agree). No regime
is tried before every regime condition is past its warm-up (a fallback such as ``calm: true``
must not win only because the others are not computed yet), and none counts before it is
confirmed: until then the regime is undefined (``None``).
"""

from __future__ import annotations

from autobot.evaluate.batch import BarArrays, evaluate, rule_series
from autobot.evaluate.stream import StreamEvaluator
from autobot.language.compile import CompiledRegimes


class Hysteresis:
    """Turns the raw first-matching regime of each bar into the confirmed regime."""

    def __init__(self, confirm_bars: int) -> None:
        self.confirm = max(1, int(confirm_bars))
        self.current: str | None = None
        self.candidate: str | None = None
        self.count = 0

    def step(self, raw: str | None) -> str | None:
        """Feed this bar's raw regime (None: no regime matched); returns the confirmed regime."""
        if raw is None or raw == self.current:
            self.candidate, self.count = None, 0
            return self.current
        if raw == self.candidate:
            self.count += 1
        else:
            self.candidate, self.count = raw, 1
        if self.count >= self.confirm:
            self.current, self.candidate, self.count = raw, None, 0
        return self.current


class RegimeDetector:
    """Streams bars through the regimes plan; :attr:`regime` is the confirmed regime."""

    def __init__(self, compiled: CompiledRegimes) -> None:
        self.compiled = compiled
        self.evaluator = StreamEvaluator(compiled.plan, observe=())
        order = self.evaluator.rule_names
        self._names = [name.removeprefix("regime.") for name in order]
        self._hysteresis = Hysteresis(compiled.confirm_bars)
        self.warmup = warmup(compiled)
        self.raw: str | None = None
        self.regime: str | None = None

    def update(self, ts: int, o: float, h: float, l: float, c: float, v: float) -> str | None:
        """Feed one closed bar; returns the confirmed regime after it."""
        fired = self.evaluator.update(ts, o, h, l, c, v)
        warm = self.evaluator.bar_index >= self.warmup
        self.raw = next((name for name, hit in zip(self._names, fired) if hit), None) if warm else None
        self.regime = self._hysteresis.step(self.raw)
        return self.regime


def warmup(compiled: CompiledRegimes) -> int:
    """Bars before every regime condition can be evaluated."""
    return max((compiled.plan.warmup[node] for node in compiled.plan.rules.values()), default=0)


def raw_regimes(compiled: CompiledRegimes, bars: BarArrays) -> list[str | None]:
    """The first matching regime of every bar (None before warm-up or when none matches)."""
    values = evaluate(compiled.plan, bars)
    hits = [(name, rule_series(compiled.plan, values, f"regime.{name}")) for name in compiled.names]
    first = warmup(compiled)
    return [next((name for name, series in hits if series[k]), None) if k >= first else None
            for k in range(len(bars.close))]


def regime_series(compiled: CompiledRegimes, bars: BarArrays) -> list[str | None]:
    """The confirmed regime after every bar, as :class:`RegimeDetector` would give it."""
    h = Hysteresis(compiled.confirm_bars)
    return [h.step(raw) for raw in raw_regimes(compiled, bars)]
