"""One trial: a strategy with one set of params, run on the fast engine over the folds of a
range and scored on those bars only. A pure function of its :class:`Job` (documents as text,
bars as arrays: everything travels with the task), so a Ray worker on another machine computes
exactly what the driver would.

Each fold [a, b) is one run on bars [a - lead, b): the lead warms the indicators and is never
scored. The fold's per-bar returns (equity after bar t over equity after bar t - 1) are
stitched into the range's return series, from which every metric and the objective follow
(:mod:`autobot.optimize.score`). After each fold but the last the trial stops (pruned) when its
score so far is below the job's threshold for that fold. Every trial keeps its per-bar Sharpe after
each fold it ran (``partial``), and a pruned one the moments of its folds: the DSR's variance counts
pruned trials too (:func:`autobot.optimize.verdict.sharpe_variance`).
"""

from __future__ import annotations

import hashlib
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from autobot.backtest.data import NS
from autobot.data.bars import Bars
from autobot.diagnostics import UserError
from autobot.fast.engine import run_fast
from autobot.language.compile import CompiledStrategy, compile_strategy_text
from autobot.optimize import score as S
from autobot.optimize import stats
from autobot.venue.instruments import InstrumentSettings
from autobot.venue.settings import VenueSettings

LEAD_FACTOR = 3          # lead = 3 x the longest warm-up (an EMA has converged by then), at least MIN_LEAD
MIN_LEAD = 50


@dataclass(frozen=True)
class Job:
    """Everything a worker needs for one trial (picklable)."""

    text: str                          # the strategy document
    name: str                          # its file name, for diagnostics
    bars: Bars                         # the strategy's bars (already resampled), the whole series
    folds: tuple[tuple[int, int], ...]
    params: dict[str, float]
    objective: str = "sharpe"
    limits: dict[str, float] = field(default_factory=dict)
    min_trades: int = 0
    blocks: int = 16                   # CSCV blocks of the scored range
    thresholds: tuple[float | None, ...] = ()   # prune after fold k when the score so far is below
    venue: VenueSettings = VenueSettings()
    instrument: InstrumentSettings = InstrumentSettings()
    keep_returns: bool = False         # test windows and stability runs keep the series for the report
    number: int = -1                   # the Optuna trial number (for the driver)
    engine: str = "fast"               # or "nautilus": the same trial on the reference engine (benchmarks)
    policy: "PolicySpec | None" = None  # a policy study: the documents and data of the whole portfolio
    owner_params: dict[str, dict[str, float]] = field(default_factory=dict)   # policy: document -> params


@dataclass(frozen=True)
class PolicySpec:
    """A policy and everything it uses, as text, with its data: a worker rebuilds the project in a
    folder of its own (nothing is read from the driver's disk)."""

    files: tuple[tuple[str, str], ...]          # (path relative to the policy's folder, text)
    policy: str                                 # the policy's own relative path
    owners: tuple[tuple[str, str], ...]         # (strategy id or 'regimes', relative path)
    data: tuple[tuple[str, Bars], ...]          # instrument id -> bars
    universe: tuple[tuple[str, str], ...] = ()  # --universe: instrument id -> file (replaces the policy's)


@dataclass
class Outcome:
    number: int
    params: dict[str, float]
    value: float | None                # the objective (None: not scored: too few trades, or pruned)
    metrics: dict[str, Any]            # the range's metrics (backtest keys)
    constraints: list[float]           # <= 0 each when feasible (seed_bar's limits)
    intermediate: list[float]          # the score after each fold
    pruned: bool
    moments: stats.Moments | None
    sums: stats.BlockSums | None
    reason: str = ""
    returns: np.ndarray | None = None
    ts: np.ndarray | None = None       # ts of each scored bar (its close), with returns
    trades: list[dict[str, Any]] = field(default_factory=list)
    held: np.ndarray | None = None     # a position open at each scored bar, with returns
    partial: list[float] = field(default_factory=list)   # per-bar Sharpe of the folds so far, after each fold


def warmup_bars(compiled: CompiledStrategy) -> int:
    """Bars before the strategy's longest computation has its first value (the default purge)."""
    return max(compiled.plan.warmup, default=0) + 1


def lead_bars(compiled: CompiledStrategy) -> int:
    """Bars a run starts before its scored range."""
    return max(MIN_LEAD, LEAD_FACTOR * warmup_bars(compiled))


def compile_job(job: Job) -> CompiledStrategy:
    return compile_strategy_text(job.text, job.name, dict(job.params) or None)


_CACHES: dict[tuple[str, int, int], dict[Any, Any]] = {}
_DIGESTS: dict[int, tuple["weakref.ref[Bars]", str]] = {}     # id -> (the bars, their digest)


def _digest(bars: Bars) -> str:
    """What the bars hold (hashed once per Bars object): a worker that runs studies of several series
    of the same length and first bar (two instruments over one span, the benchmark's synthetic
    series) must not share their TA-Lib results."""
    found = _DIGESTS.get(id(bars))
    if found is not None and found[0]() is bars:
        return found[1]
    h = hashlib.blake2b(digest_size=16)
    for column in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume):
        h.update(np.ascontiguousarray(column).tobytes())
    if len(_DIGESTS) > 64:
        for k in [k for k, (ref, _) in _DIGESTS.items() if ref() is None]:
            del _DIGESTS[k]
    _DIGESTS[id(bars)] = (weakref.ref(bars), h.hexdigest())
    return _DIGESTS[id(bars)][1]


def _cache(bars: Bars, start: int, stop: int) -> dict[Any, Any]:
    """TA-Lib results shared by the trials a worker runs on the same slice of the same bars."""
    key = (_digest(bars), start, stop)
    if key not in _CACHES:
        if len(_CACHES) > 64:
            _CACHES.clear()
        _CACHES[key] = {}
    return _CACHES[key]


def strategy_runner(job: Job) -> tuple[Callable[[int, int], Any], int]:
    """run(start, stop) on the job's engine over bars [start, stop), and the lead a fold starts with."""
    compiled = compile_job(job)

    def run(start: int, stop: int) -> Any:
        part = job.bars.slice(start, stop)
        if job.engine == "nautilus":
            from autobot.backtest.engine import run_backtest
            return run_backtest(compiled, part, job.venue, job.instrument)
        return run_fast(compiled, part, job.venue, job.instrument, cache=_cache(job.bars, start, stop), traces=False)
    return run, lead_bars(compiled)


def compile_policy(spec: PolicySpec, owner_params: dict[str, dict[str, float]], expand: bool = True) -> Any:
    """The policy with each document's params set as its defaults, compiled from the job's texts
    (``expand`` False: its universe, replaced by the spec's, not yet expanded into members)."""
    import tempfile
    from pathlib import Path

    from autobot.optimize.apply import set_defaults
    from autobot.workspace import load_policy, with_universe
    by_path = {rel: owner for owner, rel in spec.owners}
    with tempfile.TemporaryDirectory(prefix="autobot-trial-") as tmp:
        root = Path(tmp)
        for rel, text in spec.files:
            owner = by_path.get(rel)
            if owner is not None and owner_params.get(owner):
                text = set_defaults(text, rel, owner_params[owner])
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        loaded = load_policy(root / spec.policy)
        return runtime_policy(loaded, spec.universe) if expand else \
            (with_universe(loaded, dict(spec.universe)) if spec.universe else loaded)


def runtime_policy(policy: Any, universe: tuple[tuple[str, str], ...] = ()) -> Any:
    """A loaded policy as its trials run it: its universe replaced by ``universe`` when given
    (``--universe``) and expanded into its members (:func:`autobot.workspace.expand_universe`)."""
    from autobot.workspace import expand_universe, with_universe
    return expand_universe(with_universe(policy, dict(universe)) if universe else policy)


def policy_warmup(policy: Any) -> int:
    """:func:`warmup_bars` of a policy: its regimes (with their confirmation) and every strategy it uses."""
    return max([max(policy.regimes.plan.warmup, default=0) + policy.regimes.confirm_bars] +
               [max(policy.strategies[s].plan.warmup, default=0) for s in policy.used]) + 1


def policy_lead(policy: Any) -> int:
    return max(MIN_LEAD, LEAD_FACTOR * policy_warmup(policy))


def policy_runner(job: Job) -> tuple[Callable[[int, int], Any], int]:
    from autobot.backtest.data import slice_bars
    from autobot.portfolio.engine import run_portfolio
    from autobot.workspace import expand_present, expand_universe
    assert job.policy is not None
    listed = compile_policy(job.policy, job.owner_params, expand=False)
    policy = expand_universe(listed)
    data = dict(job.policy.data)
    universe = dict(listed.document.universe or {})
    sitting_out: dict[frozenset[str], Any] = {}

    def members_for(part: dict[str, Any]) -> Any:
        """As ``backtest --policy`` on that range: a universe market without bars in it sits out
        (the others' members share its capital)."""
        present = frozenset(iid for iid, b in part.items() if len(b))
        if not universe or present >= set(universe):
            return policy
        if present not in sitting_out:
            sitting_out[present] = expand_present(listed, present)
        return sitting_out[present]
    primary = job.bars
    step = int(primary.ts[1] - primary.ts[0]) if len(primary) > 1 else NS

    refused: list[str] = []                 # the fast engine refused this policy: its trials run on Nautilus

    def run(start: int, stop: int) -> Any:
        t0 = int(primary.ts[start])
        t1 = int(primary.ts[stop - 1]) + step
        part = {iid: slice_bars(bars, t0, t1) for iid, bars in data.items()}
        chosen = members_for(part)
        if chosen is not policy:
            part = {iid: b for iid, b in part.items() if len(b)}
        if job.engine != "nautilus" and not refused:     # the same fills as NautilusTrader's (docs/fast.md)
            from autobot.fast.program import Unsupported
            from autobot.portfolio.fast_engine import run_portfolio_fast
            try:
                return run_portfolio_fast(chosen, part, job.venue, job.instrument, compare=False, traces=False,
                                          full_challenge=False)
            except Unsupported as err:
                refused.append(str(err))
        return run_portfolio(chosen, part, job.venue, job.instrument, compare=False)
    return run, policy_lead(policy)


def execute(job: Job) -> Outcome:
    """Run and score one trial (see the module docstring)."""
    try:
        run, lead = (policy_runner if job.policy is not None else strategy_runner)(job)
    except UserError as err:
        return _failed(job, "the params do not compile: " + "; ".join(d.message for d in err.diagnostics))
    parts: list[np.ndarray] = []
    stamps: list[np.ndarray] = []
    held: list[np.ndarray] = []
    trades: list[dict[str, Any]] = []
    intermediate: list[float] = []
    partial: list[float] = []
    for k, (a, b) in enumerate(job.folds):
        start = max(0, a - lead)
        try:
            result = run(start, b)
        except UserError as err:
            return _failed(job, "; ".join(d.message for d in err.diagnostics))
        except ValueError as err:
            return _failed(job, str(err))
        r, ts, h = S.range_returns(result, a - start, job.venue.capital)
        parts.append(r)
        stamps.append(ts)
        held.append(h)
        trades += S.trades_closed_in(result.trades, int(ts[0]) if len(ts) else 0, int(ts[-1]) if len(ts) else -1)
        so_far = S.score(job.objective, S.metrics_of_returns(np.concatenate(parts), np.concatenate(stamps),
                                                             result.bar_seconds * NS, job.venue.capital, trades,
                                                             np.concatenate(held)))
        intermediate.append(so_far if so_far is not None else S.UNSCORED)
        partial.append(stats.moments(np.concatenate(parts)).sharpe)
        threshold = job.thresholds[k] if k < len(job.thresholds) else None
        if k < len(job.folds) - 1 and threshold is not None and intermediate[-1] < threshold:
            # the moments of the folds it ran: a pruned trial is a tested strategy too (the DSR's
            # variance of trial Sharpes counts it: docs/optimize.md); no block sums (CSCV needs the whole range)
            return Outcome(job.number, job.params, None, {}, [], intermediate, True,
                           stats.moments(np.concatenate(parts)), None,
                           reason=f"pruned after fold {k + 1}: {intermediate[-1]:.4g} < median {threshold:.4g}",
                           partial=partial)
    r, ts = np.concatenate(parts), np.concatenate(stamps)
    exposure = np.concatenate(held)
    metrics = S.metrics_of_returns(r, ts, result.bar_seconds * NS, job.venue.capital, trades, exposure)
    value = S.score(job.objective, metrics)
    reason = ""
    if metrics["trades"] < job.min_trades:
        value, reason = None, f"{metrics['trades']} trades, fewer than --min-trades {job.min_trades}"
    elif value is None:
        reason = f"{job.objective} is not defined on this range"
    return Outcome(job.number, job.params, value, metrics, S.constraints(job.objective, job.limits, metrics),
                   intermediate, False, stats.moments(r), stats.block_sums(r, job.blocks), reason,
                   r.astype(np.float64) if job.keep_returns else None, ts if job.keep_returns else None,
                   trades if job.keep_returns else [], exposure if job.keep_returns else None, partial)


def _failed(job: Job, reason: str) -> Outcome:
    return Outcome(job.number, job.params, None, {}, [], [], False, None, None, reason=reason)
