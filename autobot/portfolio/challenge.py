"""The paper challenge: one state machine per strategy and one for the portfolio.

Stages (docs/challenge.md)::

    paper --(promote_when and the checks hold over the last paper_days)--> candidate
    candidate --(a day later with approval: auto, or 'autobot challenge promote')--> capital_1
    capital_k --(its days passed, no breaker trip in them, no drift)--> capital_k+1
    any --(a breaker whose on_trip is demote, drift from the backtest, or a human)--> demoted
    demoted: paper again (trading goes on, on paper), and the same way back

A stage's ``capital`` is the share of its capital it may trade for real: a strategy's real
capital is its allocated share x its stage's capital x the portfolio's stage's capital (paper,
candidate and demoted: none). A paper node trades everything on paper and computes the stages a
real node would trade at; ``autobot live --real`` starts only in a capital stage.

Checks happen at bars, never between them: a stage's first check is at the first primary bar
closing at least its duration after it began (``paper_days`` for paper, a day for candidate and
capital stages), and one day later after each check that changed nothing. The window's metrics
come from the host (:class:`~autobot.portfolio.controller.PortfolioController`), with the bars
up to and including the checking bar.

Nothing here knows Nautilus: the machine is fed metrics and answers with transitions, so it is
tested on hand-made paths.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Callable


DAY_NS = 86_400_000_000_000
PORTFOLIO = "portfolio"
NEVER = 2 ** 62
PAPER_STAGES = ("paper", "demoted")


@dataclass(frozen=True)
class Stage:
    capital: float
    days: float | None


@dataclass(frozen=True)
class Checks:
    min_trades: int = 5
    max_tracking_error: float = 0.01
    max_slippage_bps: float = 20.0
    min_fill_ratio: float = 0.95
    no_breaker_trip: bool = True
    max_drift: float = 0.03

    def failures(self, m: dict[str, Any]) -> list[str]:
        """What of the window's evidence fails (empty: all hold)."""
        out = []
        if (m.get("trades") or 0) < self.min_trades:
            out.append(f"trades {m.get('trades') or 0} < {self.min_trades}")
        out.extend(self.parity_failures(m, self.max_tracking_error))
        if self.no_breaker_trip and (m.get("breaker_trips") or 0) > 0:
            out.append(f"{m['breaker_trips']} breaker trip(s)")
        return out

    def parity_failures(self, m: dict[str, Any], max_te: float) -> list[str]:
        out = []
        te, slip, ratio = m.get("tracking_error"), m.get("slippage_bps"), m.get("fill_ratio")
        if te is not None and te > max_te:
            out.append(f"tracking error {te:.3%} > {max_te:.3%}")
        if slip is not None and slip > self.max_slippage_bps:
            out.append(f"slippage {slip:.1f} bps > {self.max_slippage_bps:g} bps")
        if ratio is not None and ratio < self.min_fill_ratio:
            out.append(f"fill ratio {ratio:.1%} < {self.min_fill_ratio:.0%}")
        return out


class Criterion:
    """``promote_when``, compiled once by the language's checker and evaluated with the batch
    evaluator's semantics (:func:`autobot.language.constraints.evaluate`) on one row of metrics (a metric that cannot be computed is undefined: its
    comparisons are false)."""

    def __init__(self, text: str) -> None:
        from autobot.diagnostics import DiagnosticSink
        from autobot.documents.load import SourceFile
        from autobot.language import plan as P
        from autobot.language.check import ExprCompiler, ExprSite
        from autobot.language.compile import METRIC_NAMES
        self.text = text
        sink = DiagnosticSink()
        self.compiler = ExprCompiler(sink, scalars={m: P.NUMBER for m in METRIC_NAMES}, series=False)
        self.node = self.compiler.compile(ExprSite(text, SourceFile("<promote_when>", text, None), None),
                                          expect=P.BOOL, what="promote_when condition")
        if self.node is None:
            raise ValueError(f"promote_when does not compile: {text!r}")   # validate refuses it first
        self.names = sorted({n.name for n in self.compiler.plan.nodes if isinstance(n, P.External)}
                            & set(METRIC_NAMES))              # the metrics it reads
        from autobot.language.constraints import compile_one
        self.run = compile_one(self.compiler.plan)

    def __call__(self, metrics: dict[str, Any]) -> bool:
        # the language's one-row evaluator (constants, names, arithmetic, comparisons, and/or/not,
        # with the batch evaluator's semantics; a test checks the two agree), compiled once: a
        # challenge checks every subject daily
        externals = {}
        for name in self.names:
            v = metrics.get(name)
            externals[name] = float(v) if v is not None and math.isfinite(float(v)) else math.nan
        return bool(self.run(externals)[self.node])


@dataclass(frozen=True)
class Rules:
    """The policy's ``challenge:`` section as numbers."""

    paper_days: float
    criterion: Callable[[dict[str, Any]], bool]
    checks: Checks
    stages: tuple[Stage, ...]
    approval: str = "auto"
    promote_when: str = ""

    @classmethod
    def of(cls, doc: Any) -> "Rules":
        from autobot.workspace import share_value
        c = doc.checks
        checks = Checks(c.min_trades, share_value(c.max_tracking_error), c.max_slippage_bps,
                        share_value(c.min_fill_ratio), c.no_breaker_trip, share_value(c.max_drift))
        stages = tuple(Stage(share_value(s.capital), s.days) for s in doc.stages)
        return cls(float(doc.paper_days), Criterion(doc.promote_when), checks, stages, doc.approval,
                   doc.promote_when)


@dataclass
class Track:
    """One subject's place in the challenge."""

    subject: str
    stage: str = "paper"           # paper | candidate | capital_<k> | demoted
    since: int = 0                 # when the stage began (bar close, ns)
    next_check: int = NEVER
    last: dict[str, Any] = field(default_factory=dict)   # the last check: its metrics and what failed

    @property
    def level(self) -> int:
        """The capital stage's index (-1: paper, candidate or demoted)."""
        return int(self.stage.split("_")[1]) - 1 if self.stage.startswith("capital_") else -1


@dataclass
class Challenge:
    """Every subject's track, and the transitions so far (module docstring)."""

    rules: Rules
    tracks: dict[str, Track] = field(default_factory=dict)
    transitions: list[dict[str, Any]] = field(default_factory=list)
    origins: dict[str, tuple[str, int]] = field(default_factory=dict)   # subject -> first stage and its start
    _next: int | None = None

    def set_rules(self, rules: Rules) -> None:
        """A reloaded policy's rules: the next check of every track is judged by them."""
        self.rules = rules
        self._next = None

    # ------------------------------------------------------------------ subjects
    def join(self, subject: str, ts: int) -> Track:
        """A subject starts the challenge on paper at ``ts`` (nothing happens if it already has)."""
        track = self.tracks.get(subject)
        if track is None:
            track = self.tracks[subject] = Track(subject, "paper", ts, ts + self._ns(self.rules.paper_days))
            self.origins[subject] = ("paper", ts)
            self._next = None
        return track

    def capital(self, subject: str) -> float:
        """The share of its capital ``subject`` trades for real in its stage (0 on paper)."""
        track = self.tracks.get(subject)
        if track is None or track.level < 0:
            return 0.0
        return self.rules.stages[min(track.level, len(self.rules.stages) - 1)].capital

    def real_share(self, subject: str) -> float:
        """A strategy's stage capital times the portfolio's (what a real node trades)."""
        return self.capital(subject) * self.capital(PORTFOLIO)

    @property
    def next_check(self) -> int:
        """The earliest check due (kept up to date by every change: a bar compares one number)."""
        return self._next if self._next is not None else self._refresh()

    def _refresh(self) -> int:
        self._next = min((t.next_check for t in self.tracks.values()), default=NEVER)
        return self._next

    def changed(self) -> None:
        self._next = None

    # ------------------------------------------------------------------ checks
    def due(self, ts: int) -> list[str]:
        return [s for s, t in self.tracks.items() if t.next_check <= ts]

    def window_start(self, subject: str, ts: int) -> int:
        """Where the metrics of a check at ``ts`` begin: the last ``paper_days`` on paper, the
        stage's start in a capital stage."""
        track = self.tracks[subject]
        if track.stage in PAPER_STAGES:
            return max(track.since, ts - self._ns(self.rules.paper_days))
        return track.since

    def check(self, subject: str, ts: int, metrics: dict[str, Any]) -> dict[str, Any] | None:
        """Check ``subject`` at ``ts`` on its window's ``metrics``; the transition, if any."""
        track = self.tracks[subject]
        rules, day = self.rules, self._ns(1)
        track.next_check = ts + day
        self._next = None
        if track.stage in PAPER_STAGES:
            failed = ([] if rules.criterion(metrics) else [f"promote_when ({rules.promote_when}) is false"])
            failed += rules.checks.failures(metrics)
            track.last = {"ts": ts, "metrics": metrics, "failed": failed}
            if not failed:
                return self._move(track, "candidate", ts, "promote_when and the checks held over the paper window",
                                  metrics, next_check=ts + day if rules.approval == "auto" else NEVER)
            return None
        if track.stage == "candidate":
            return self._move(track, "capital_1", ts, "approved automatically a day after passing", metrics)
        failed = rules.checks.parity_failures(metrics, rules.checks.max_drift)
        track.last = {"ts": ts, "metrics": metrics, "failed": failed}
        if failed:
            return self.demote(subject, ts, "drift from the backtest: " + "; ".join(failed), metrics)
        stage = rules.stages[track.level]
        if rules.checks.no_breaker_trip and (metrics.get("breaker_trips") or 0) > 0:
            track.since = ts                    # a trip restarts the stage's clock
            track.last["failed"] = [f"{metrics['breaker_trips']} breaker trip(s): the stage's days start again"]
            return None
        if stage.days is not None and ts - track.since >= self._ns(stage.days) and track.level + 1 < len(rules.stages):
            return self._move(track, f"capital_{track.level + 2}", ts, f"{stage.days:g} days at "
                              f"{stage.capital:.0%} without a trip or drift", metrics)
        return None

    # ------------------------------------------------------------------ moves
    def demote(self, subject: str, ts: int, reason: str, metrics: dict[str, Any] | None = None
               ) -> dict[str, Any] | None:
        track = self.tracks.get(subject)
        if track is None:
            return None
        return self._move(track, "demoted", ts, reason, metrics or {},
                          next_check=ts + self._ns(self.rules.paper_days))

    def promote(self, subject: str, ts: int, reason: str) -> dict[str, Any] | None:
        """A human's promotion: candidate (or paper, forced) to the first capital stage, or a
        capital stage to the next."""
        track = self.tracks.get(subject)
        if track is None:
            return None
        target = "capital_1" if track.level < 0 else f"capital_{min(track.level + 2, len(self.rules.stages))}"
        if target == track.stage:
            return None
        return self._move(track, target, ts, reason, {})

    def to_candidate(self, subject: str, ts: int, reason: str) -> dict[str, Any] | None:
        """A subject in a capital stage back to candidate (new params climb the stages again);
        None when it is not in a capital stage."""
        track = self.tracks.get(subject)
        if track is None or track.level < 0:
            return None
        return self._move(track, "candidate", ts, reason, {})

    def restart(self, ts: int, reason: str) -> list[dict[str, Any]]:
        """Everyone back to paper (``autobot challenge start``)."""
        out = []
        for track in self.tracks.values():
            out.append(self._move(track, "paper", ts, reason, {}, next_check=ts + self._ns(self.rules.paper_days)))
        return out

    def _move(self, track: Track, stage: str, ts: int, reason: str, metrics: dict[str, Any],
              next_check: int | None = None) -> dict[str, Any]:
        old = track.stage
        self._next = None
        track.stage, track.since = stage, ts
        track.next_check = next_check if next_check is not None else ts + self._ns(1)
        move = {"ts": ts, "subject": track.subject, "from": old, "to": stage, "reason": reason,
                "capital": self.capital(track.subject), "metrics": _plain(metrics)}
        self.transitions.append(move)
        return move

    # ------------------------------------------------------------------ state
    def snapshot(self) -> dict[str, Any]:
        """Every track (and its capital), for the journal: a node that starts later goes on from it."""
        return {s: {**{k: v for k, v in asdict(t).items() if k != "last"}, "capital": self.capital(s)}
                for s, t in self.tracks.items()}

    @property
    def latest(self) -> int:
        """The time of the last thing the tracks record."""
        return max((t.since for t in self.tracks.values()), default=0)

    def restore(self, saved: dict[str, Any]) -> None:
        self._next = None
        for subject, t in saved.items():
            self.tracks[subject] = Track(subject, str(t["stage"]), int(t["since"]), int(t["next_check"]))
            self.origins[subject] = (str(t["stage"]), int(t["since"]))

    def days_in_stages(self, end: int) -> dict[str, dict[str, float]]:
        """Days each subject spent in each stage, up to ``end``."""
        out: dict[str, dict[str, float]] = {}
        current = dict(self.origins)
        for move in self.transitions:
            stage, t0 = current.get(move["subject"], (move["from"], move["ts"]))
            row = out.setdefault(move["subject"], {})
            row[stage] = row.get(stage, 0.0) + (move["ts"] - t0) / DAY_NS
            current[move["subject"]] = (move["to"], move["ts"])
        for subject, (stage, t0) in current.items():
            row = out.setdefault(subject, {})
            row[stage] = row.get(stage, 0.0) + max(0, end - t0) / DAY_NS
        return out

    @staticmethod
    def _ns(days: float) -> int:
        return int(round(days * DAY_NS))


def _plain(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
