"""A walk-forward study: one Optuna study per window, each trial scored on the window's train
folds, the window's chosen params run on its test window, the test windows stitched into the
out-of-sample track that is the study's headline.

Reproducible whatever runs the trials, and after a kill:

* trials are sampled in batches of ``batch``: trial k's params are a pure function of the seed,
  k and the trials of the batches before its own (a fresh sampler seeded with (seed, k) over
  that history, asked for the batch's trials in order), and so is its pruning threshold. Worker count and completion order change
  nothing.
* every finished trial is written to the Optuna ``JournalStorage`` file (params, value, state,
  intermediate values, constraints, and the numbers the statistics need as user attributes).
  ``--resume`` reads them back and recomputes only what had not finished; a torn last line of
  the journal (a kill mid-write) is cut first.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState, create_trial

from autobot.backtest.data import NS, strategy_bars
from autobot.backtest.metrics import SUCCESS_BAR
from autobot.data.bars import Bars
from autobot.diagnostics import RunError, UserError
from autobot.language.compile import CompiledStrategy, compile_strategy_text
from autobot.optimize import score as S
from autobot.optimize import space as SP
from autobot.optimize import stats
from autobot.optimize.trial import Job, Outcome, PolicySpec, policy_warmup, warmup_bars
from autobot.optimize.windows import Window, check_folds, in_sample_only, walk_forward
from autobot.venue.instruments import InstrumentSettings
from autobot.venue.settings import VenueSettings

optuna.logging.set_verbosity(optuna.logging.WARNING)
META = "autobot-meta"


@dataclass(frozen=True)
class Options:
    objective: str = "sharpe"
    trials: int = 100
    sampler: str = "tpe"
    seed: int = 42
    walk_forward: bool = True
    windows: int = 5
    ratio: float = 3.0
    purge: int | None = None          # default: the strategy's longest warm-up
    anchored: bool = False
    folds: int = 3
    min_trades: int | None = None     # default: one trade per 500 bars of a train window, at least 5
    blocks: int = 16
    batch: int = 8
    limits: dict[str, float] = field(default_factory=dict)
    venue: VenueSettings = VenueSettings()
    instrument: InstrumentSettings = InstrumentSettings()
    engine: str = "fast"              # trials on the fast engine; "nautilus" for the speed benchmark

    def fingerprint(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("objective", "trials", "sampler", "seed", "walk_forward", "windows",
                                            "ratio", "purge", "anchored", "folds", "min_trades", "blocks", "batch")}
        d["limits"] = dict(sorted(self.limits.items()))
        d["venue"] = repr(self.venue)
        d["instrument"] = repr(self.instrument)
        return d


SAMPLERS: dict[str, Callable[[int], optuna.samplers.BaseSampler]] = {
    "tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}
OBJECTIVES = tuple(S.OBJECTIVES)


@dataclass
class Record:
    """A finished trial, as the journal keeps it."""

    number: int
    params: dict[str, float]
    state: str                        # complete | pruned | fail
    value: float | None               # None: not scored
    metrics: dict[str, Any]
    constraints: list[float]
    intermediate: list[float]
    moments: stats.Moments | None
    sums: stats.BlockSums | None
    reason: str
    partial: list[float] = field(default_factory=list)   # per-bar Sharpe of the folds so far, after each fold

    @property
    def scored(self) -> bool:
        return self.state == "complete" and self.value is not None

    @property
    def feasible(self) -> bool:
        return all(c <= 0 for c in self.constraints)

    @classmethod
    def of(cls, o: Outcome) -> "Record":
        state = "pruned" if o.pruned else ("fail" if o.moments is None else "complete")
        return cls(o.number, dict(o.params), state, o.value, o.metrics, list(o.constraints), list(o.intermediate),
                   o.moments, o.sums, o.reason, list(o.partial))

    def frozen(self, dims: list[SP.Dimension]) -> FrozenTrial:
        state = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "fail": TrialState.FAIL}[self.state]
        attrs: dict[str, Any] = {"reason": self.reason, "metrics": self.metrics, "scored": self.scored}
        if self.moments is not None:        # a pruned trial's: of the folds it ran
            attrs["moments"] = [self.moments.sharpe, self.moments.skew, self.moments.kurtosis, self.moments.n]
        if self.partial:
            attrs["partial"] = list(self.partial)
        if self.sums is not None:
            attrs["sums"] = [self.sums.count.tolist(), self.sums.total.tolist(), self.sums.squares.tolist()]
        by = {d.name: d for d in dims}
        params = {k: (int(round(v)) if by[k].integer else float(v)) for k, v in self.params.items()}
        value = (self.value if self.value is not None else S.UNSCORED) if state == TrialState.COMPLETE else None
        cons = {f"c{k}": float(c) for k, c in enumerate(self.constraints)} if self.constraints else None
        return create_trial(state=state, value=value, params=params,
                            distributions={d.name: d.distribution() for d in dims}, user_attrs=attrs,
                            intermediate_values={k: float(v) for k, v in enumerate(self.intermediate)},
                            constraints=cons)

    @classmethod
    def thaw(cls, t: FrozenTrial) -> "Record":
        a = t.user_attrs
        state = {TrialState.COMPLETE: "complete", TrialState.PRUNED: "pruned"}.get(t.state, "fail")
        m = a.get("moments")
        s = a.get("sums")
        value = t.value if state == "complete" and a.get("scored") else None
        cons = [t.constraints[k] for k in sorted(t.constraints)] if t.constraints else []
        return cls(t.number, {k: float(v) for k, v in t.params.items()}, state, value, a.get("metrics", {}), cons,
                   [t.intermediate_values[k] for k in sorted(t.intermediate_values)],
                   stats.Moments(m[0], m[1], m[2], int(m[3])) if m else None,
                   stats.BlockSums(*(np.array(x, dtype=np.float64) for x in s)) if s else None, a.get("reason", ""),
                   [float(x) for x in a.get("partial", [])])


@dataclass
class WindowResult:
    window: Window
    records: list[Record]
    chosen: Record | None
    test: Outcome | None = None

    def to_json(self, dims: list[SP.Dimension]) -> dict[str, Any]:
        return {"window": self.window.name, "train": list(self.window.train),
                "test": list(self.window.test) if self.window.test else None,
                "trials": len(self.records), "pruned": sum(r.state == "pruned" for r in self.records),
                "chosen": SP.plain(dims, self.chosen.params) if self.chosen else None,
                "in_sample": self.chosen.metrics if self.chosen else None,
                "in_sample_score": self.chosen.value if self.chosen else None,
                "out_of_sample": self.test.metrics if self.test is not None else None}


def choose(records: list[Record]) -> Record | None:
    """The best scored trial: feasible ones first (seed_bar), then by value; ties to the earlier."""
    scored = [r for r in records if r.scored]
    if not scored:
        return None
    feasible = [r for r in scored if r.feasible]
    if feasible:
        return max(feasible, key=lambda r: (r.value, -r.number))
    return min(scored, key=lambda r: (sum(max(c, 0.0) for c in r.constraints), -(r.value or 0.0), r.number))


def thresholds(history: list[Record], folds: int, startup: int = 5) -> tuple[float | None, ...]:
    """The median rule: after fold k a trial stops when its score so far is below the median of
    the finished trials' scores after fold k (once ``startup`` trials have one)."""
    out: list[float | None] = []
    for k in range(max(folds - 1, 0)):
        seen = [r.intermediate[k] for r in history if r.state == "complete" and len(r.intermediate) > k]
        out.append(float(np.median(seen)) if len(seen) >= startup else None)
    return tuple(out)


def _trial_seed(seed: int, number: int, window: int) -> int:
    return (seed * 1_000_003 + (window + 2) * 7919 + number * 104_729) % (2 ** 31 - 1)


#: samples drawn for one trial before a study gives up on its constraints
MAX_SAMPLES = 1000


class ConstraintsTooTight(RunError):
    """:data:`MAX_SAMPLES` samples in a row broke the documents' constraints."""


def sample_batch(dims: list[SP.Dimension], history: list[Record], numbers: list[int], options: Options,
                 window: int, bounds: list[SP.Bound] | None = None) -> list[dict[str, float]]:
    """Params of trials ``numbers`` (one batch), from the history of the batches before it.

    A sample that breaks a constraint (``bounds``) is never a trial: it is told to this batch's
    sampler as failed (TPE and random sampling ignore failed trials, and the sampler's generator
    has moved on) and the trial is sampled again, until a sample satisfies every constraint. The
    rejected samples are not journalled, not counted and not reported; the result is still a pure
    function of the seed, k and the history."""
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.add_trials([r.frozen(dims) for r in history])
        dists = {d.name: d.distribution() for d in dims}
        by = {d.name: d for d in dims}
        out = []
        for k in numbers:
            study.sampler = SAMPLERS[options.sampler](_trial_seed(options.seed, k, window))
            for _ in range(MAX_SAMPLES):
                t = study.ask(fixed_distributions=dists)
                values = {name: by[name].clip(float(v)) for name, v in t.params.items()}
                broken = SP.violations(bounds, dims, values) if bounds else []
                if not broken:
                    break
                study.tell(t, state=TrialState.FAIL)
            else:
                raise ConstraintsTooTight(
                    f"trial {k}: none of {MAX_SAMPLES:,} samples satisfied the constraints (the last broke "
                    f"{broken[0]}): they leave almost nothing of the params' ranges; narrow the ranges to where "
                    "the constraints hold")
            out.append(values)
    return out


class JournalError(Exception):
    """The file named as the study's journal is not one (random bytes, another program's file, a
    pipe): nothing is read from it or written to it."""


def check_journal(path: Path) -> None:
    """``path`` is absent, or a regular file whose complete lines are Optuna journal records (a torn
    last line, from a kill, is allowed: :func:`_repair` cuts it); else :class:`JournalError`."""
    import os
    import stat as stat_
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise JournalError(f"{path}: cannot be read as a study journal ({err.strerror or err})") from None
    if not stat_.S_ISREG(st.st_mode):
        raise JournalError(f"{path} is not a regular file, so it cannot be a study journal; choose another "
                           "--journal")
    with open(path, "rb") as fh:
        data = fh.read()
    *lines, torn = data.split(b"\n")        # the part after the last newline is a torn line (or empty)
    if torn and not torn.lstrip().startswith(b"{"):
        lines.append(torn)                  # not the start of a record: reported as not a journal, never cut
    for number, line in enumerate(lines, 1):
        try:
            record = json.loads(line)
        except ValueError:                  # not JSON, or not UTF-8
            record = None
        if not (isinstance(record, dict) and isinstance(record.get("op_code"), int)):
            raise JournalError(f"{path} is not an Optuna study journal (line {number} is not a journal record): "
                               "choose another --journal to start a new study")


def _repair(path: Path) -> None:
    """Cut a torn last line (a kill while the journal was written)."""
    if not path.exists():
        return
    check_journal(path)
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])


def storage(path: Path) -> optuna.storages.JournalStorage:
    from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock
    _repair(path)
    return optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=JournalFileOpenLock(str(path),
                                                                                                    grace_period=5)))


@dataclass
class Plan:
    """Everything fixed before the first trial."""

    text: str                    # the strategy document ("" in a policy study: see ``policy``)
    name: str
    bars: Bars                   # the strategy's bars
    seconds: int
    dims: list[SP.Dimension]
    windows: list[Window]
    purge: int
    min_trades: int
    options: Options
    notes: list[str]
    target: str = ""                  # the strategy id, or the policy's name
    instrument: str = ""              # the primary instrument (currency, buy-and-hold)
    policy: PolicySpec | None = None  # a policy study
    bounds: list[SP.Bound] = field(default_factory=list)   # the documents' constraints: never broken by a trial

    def job(self, window: Window, params: dict[str, float], number: int = -1,
            thresholds: tuple[float | None, ...] = (), test: bool = False,
            folds: list[tuple[int, int]] | None = None, keep: bool = False) -> Job:
        o = self.options
        by_owner = SP.overrides(self.dims, params)
        values = {} if self.policy is not None else by_owner.get(self.target, {})
        if test:
            assert window.test is not None
            folds, min_trades = [window.test], 0
        else:
            folds, min_trades = folds or window.folds(o.folds), self.min_trades
        return Job(self.text, self.name, self.bars, tuple(folds), values, o.objective, dict(o.limits), min_trades,
                   o.blocks, thresholds, o.venue, o.instrument, keep_returns=keep or test, number=number,
                   engine=o.engine, policy=self.policy, owner_params=by_owner if self.policy is not None else {})


def plan(text: str, name: str, raw_bars: Bars, options: Options) -> Plan:
    compiled = compile_strategy_text(text, name)
    dims = SP.dimensions(compiled.id, compiled.document.params, qualify=False)
    if not dims:
        node = compiled.source.node_at(("params",))[0] or compiled.source.root
        assert node is not None
        raise UserError([compiled.source.diagnostic(
            node.start, node.end, "nothing-to-search", "no param has both min and max: there is nothing to optimise",
            "give a param a range, e.g. 'fast: {default: 12, min: 5, max: 30}'")])
    if options.objective not in S.OBJECTIVES:
        raise ValueError(f"unknown objective {options.objective!r}")
    bars, seconds, notes = strategy_bars(compiled, raw_bars)
    check_fast(compiled, bars)
    windows, purge, min_trades = _windows(len(bars), warmup_bars(compiled), options)
    return Plan(text, name, bars, seconds, dims, windows, purge, min_trades, options, notes,
                target=compiled.id, instrument=compiled.document.market.instrument,
                bounds=SP.bound(compiled.id, compiled.constraints, compiled.params, qualify=False))


def _windows(n: int, longest: int, options: Options) -> tuple[list[Window], int, int]:
    purge = options.purge if options.purge is not None else longest
    windows = walk_forward(n, options.windows, options.ratio, purge, options.anchored) if options.walk_forward \
        else in_sample_only(n)
    check_folds(windows, options.folds)
    if options.min_trades is not None:
        min_trades = options.min_trades
    else:
        train = windows[0].train
        min_trades = max(5, int(round((train[1] - train[0]) / 500)))
    return windows, purge, min_trades


def _portable_policy(path: Path, document: Any) -> str:
    """The policy's text for a trial's own folder (:class:`autobot.optimize.trial.PolicySpec`): its
    universe files and evidence studies as absolute paths, since a relative one names a file
    beside the policy, which that folder does not hold (the strategies and regimes it does)."""
    text = path.read_text(encoding="utf-8")
    if not document.universe and not document.evidence_priors:
        return text
    import yaml
    data = yaml.safe_load(text)                       # validated (bounded) by load_policy already
    base = path.resolve().parent
    for key in ("universe", "evidence_priors"):
        if isinstance(data.get(key), dict):
            data[key] = {k: v if Path(str(v)).is_absolute() else str((base / str(v)).resolve())
                         for k, v in data[key].items()}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def plan_policy(path: Path, data: dict[str, Bars], options: Options, only: str | None = None,
                universe: dict[str, str] | None = None) -> Plan:
    """A policy study: the params of every strategy the policy uses and of its regimes document
    (``only``: one of them), each trial a portfolio backtest on the fast engine
    (:mod:`autobot.portfolio.fast_engine`, NautilusTrader's fills; on NautilusTrader when the fast
    engine refuses the policy), the finalists confirmed on NautilusTrader."""
    from autobot.portfolio.setup import prepare
    from autobot.optimize.trial import runtime_policy
    from autobot.workspace import Workspace, load_policy
    policy = load_policy(path)        # the documents whose params are searched (a universe's members share them)
    chosen = tuple(sorted((universe or {}).items()))
    runtime = runtime_policy(policy, chosen)         # as the trials trade it: a universe's members
    base = path.resolve().parent
    regimes_path = (base / policy.document.regimes).resolve()
    files = {path.resolve(): path.name, regimes_path: _relative(regimes_path, base)}
    owners = [("regimes", files[regimes_path])]
    for f in Workspace._policy_strategy_files(base, policy.document):
        rel = _relative(f.resolve(), base)
        files[f.resolve()] = rel
        text = f.read_text(encoding="utf-8")
        sid = next((sid for sid, cs in policy.strategies.items() if cs.source.text == text), None)
        if sid is not None:
            owners.append((sid, rel))
    dims = SP.dimensions("regimes", policy.regimes.document.params, qualify=True)
    for sid in policy.used:
        dims += SP.dimensions(sid, policy.strategies[sid].document.params, qualify=True)
    names = ["regimes", *policy.used]
    if only is not None:
        if only not in names:
            raise ValueError(f"--only {only!r}: the policy's documents are {', '.join(names)}")
        dims = [d for d in dims if d.owner == only]
    if not dims:
        raise ValueError("no param of " + (only or "the policy's documents") + " has both min and max: nothing to "
                         "optimise (give a param a range, e.g. 'adx_min: {default: 25, min: 15, max: 35}')")
    setup = prepare(runtime, data, options.instrument)
    primary = setup.primary
    texts = {rel: (_portable_policy(p, policy.document) if p == path.resolve() else p.read_text(encoding="utf-8"))
             for p, rel in files.items()}
    spec = PolicySpec(tuple(texts.items()), path.name, tuple(owners), tuple(sorted(data.items())), chosen)
    seconds = setup.primary_key[1]
    windows, purge, min_trades = _windows(len(primary), policy_warmup(runtime), options)
    searched = {d.owner for d in dims}
    bounds = SP.bound("regimes", policy.regimes.constraints,
                      {n: spec.default for n, spec in policy.regimes.document.params.items()}, qualify=True) \
        if "regimes" in searched else []
    for sid in policy.used:
        if sid in searched:
            cs = policy.strategies[sid]
            bounds += SP.bound(sid, cs.constraints, cs.params, qualify=True)
    return Plan("", path.name, primary, seconds, dims, windows, purge, min_trades, options,
                list(setup.notes), target=policy.document.policy, instrument=setup.primary_key[0], policy=spec,
                bounds=bounds)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        raise ValueError(f"{path} is outside the policy's folder {base}: a policy study carries the policy's "
                         "folder to its workers, so keep the documents inside it") from None


def check_fast(compiled: CompiledStrategy, bars: Bars) -> None:
    """Raise :class:`~autobot.fast.program.Unsupported` now, not in a worker, for a strategy the
    fast engine cannot run exactly (trials run there)."""
    from autobot.evaluate.batch import evaluate
    from autobot.evaluate.semantics import flat_externals
    from autobot.fast import engine as F
    from autobot.fast import program as G
    F.check_supported(VenueSettings())
    G.build(compiled, evaluate(compiled.plan, bars.slice(0, min(len(bars), 64)), dict(flat_externals())))


def fingerprint(p: Plan) -> str:
    h = hashlib.sha256()
    h.update(p.text.encode())
    if p.policy is not None:
        h.update(json.dumps([p.policy.files, p.policy.owners, [d.name for d in p.dims]]).encode())
        for _, b in p.policy.data:
            h.update(np.ascontiguousarray(b.close).tobytes())
    for a in (p.bars.ts, p.bars.open, p.bars.high, p.bars.low, p.bars.close, p.bars.volume):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(json.dumps(p.options.fingerprint(), sort_keys=True, default=str).encode())
    return h.hexdigest()


class StudyExists(Exception):
    pass


class NoTrialScored(RunError):
    """Every trial of every window failed or scored nothing: there is no choice to test out of
    sample (testing the defaults instead would report numbers no trial earned)."""

    def __init__(self, results: list[WindowResult]) -> None:
        records = [(wr.window.name, r) for wr in results for r in wr.records]
        first = next(((name, r) for name, r in records if r.reason), records[0] if records else None)
        reason = (first[1].reason or first[1].state).split("; ")[0] if first is not None else ""
        why = f" (the first, trial {first[1].number} of {first[0]}: {reason})" if first is not None else ""
        super().__init__(f"no trial succeeded: all {len(records)} trials failed or scored nothing{why}; check the "
                         "params' ranges, --min-trades and the data")


def open_journal(path: Path, p: Plan, resume: bool) -> optuna.storages.JournalStorage:
    """The journal, new or resumed; a resumed one must belong to the same documents, data and options."""
    if path.exists() and path.stat().st_size > 0 and not resume:
        raise StudyExists(f"a study journal already exists at {path}: pass --resume to continue it, or remove it "
                          "(or choose another --journal) to start again")
    print_ = fingerprint(p)
    try:
        st = storage(path)
        names = {s.study_name for s in optuna.get_all_study_summaries(st)}
        meta = optuna.load_study(study_name=META, storage=st) if META in names else None
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as err:    # records of the wrong shape
        raise JournalError(f"{path} is not a journal AutoBot can read ({type(err).__name__}: {err}): choose "
                           "another --journal to start a new study") from None
    if meta is not None:
        if meta.user_attrs.get("fingerprint") != print_:
            raise StudyExists(f"{path} holds a study of other documents, data or options: it cannot be resumed "
                              "with these; remove it or choose another --journal")
    else:
        meta = optuna.create_study(study_name=META, storage=st)
        meta.set_user_attr("fingerprint", print_)
    return st


Progress = Callable[[dict[str, Any]], None]


def run_window(p: Plan, window: Window, st: Any, executor: Any, progress: Progress | None,
               state: dict[str, Any]) -> WindowResult:
    """All trials of one window (resuming from the journal), in batches."""
    o = p.options
    study = optuna.create_study(study_name=window.name, storage=st, direction="maximize", load_if_exists=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        records = sorted((Record.thaw(t) for t in study.get_trials(deepcopy=False)), key=lambda r: r.number)
    records = records[: o.trials]
    state["done"] += len(records)
    wi = window.index
    while len(records) < o.trials:
        first = len(records)
        batch_start = first - first % o.batch
        history = [r for r in records if r.number < batch_start]
        whole = list(range(batch_start, min(batch_start + o.batch, o.trials)))
        # the whole batch is sampled in order, also when a kill left part of it in the journal: a
        # trial's params depend on the asks before it in its batch
        params = sample_batch(p.dims, history, whole, o, wi, p.bounds)[first - batch_start:]
        numbers = whole[first - batch_start:]
        limit = thresholds(history, o.folds)
        jobs = [p.job(window, ps, number=k, thresholds=limit) for k, ps in zip(numbers, params)]
        outcomes = executor.map(jobs)
        for out in sorted(outcomes, key=lambda x: x.number):
            rec = Record.of(replace(out, params=params[numbers.index(out.number)]))   # by the study's names
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                study.add_trial(rec.frozen(p.dims))
            records.append(rec)
            state["done"] += 1
        if progress is not None:
            best = choose(records)
            progress({**state, "window": window.name, "best": best.value if best else None})
    return WindowResult(window, records, choose(records))


@dataclass
class StudyResult:
    plan: Plan
    windows: list[WindowResult]
    oos: dict[str, Any] | None
    oos_returns: np.ndarray
    oos_ts: np.ndarray
    final: WindowResult

    @property
    def best_params(self) -> dict[str, float] | None:
        return self.final.chosen.params if self.final.chosen else None


def run(p: Plan, executor: Any, journal: Path, resume: bool = False, progress: Progress | None = None) -> StudyResult:
    """Every window's trials, then the test runs and the out-of-sample track."""
    st = open_journal(journal, p, resume)
    state = {"done": 0, "total": p.options.trials * len(p.windows), "oos": None}
    results = []
    parts, stamps, held, trades = [], [], [], []
    for window in p.windows:
        wr = run_window(p, window, st, executor, progress, state)
        if window.test is not None:
            params = wr.chosen.params if wr.chosen is not None else SP.defaults(p.dims)
            wr.test = executor.map([p.job(window, params, test=True)])[0]
            if wr.test.returns is not None:
                parts.append(wr.test.returns)
                stamps.append(wr.test.ts)
                held.append(wr.test.held)
                trades += wr.test.trades
                state["oos"] = S.score(p.options.objective, _oos_metrics(p, parts, stamps, held, trades))
        results.append(wr)
    if not any(r.scored for wr in results for r in wr.records):
        raise NoTrialScored(results)
    final = results[-1]
    wf = results[:-1]
    oos = _oos_metrics(p, parts, stamps, held, trades) if parts else None
    r = np.concatenate(parts) if parts else np.zeros(0)
    ts = np.concatenate(stamps) if stamps else np.zeros(0, dtype=np.int64)
    return StudyResult(p, wf, oos, r, ts, final)


def _oos_metrics(p: Plan, parts: list[np.ndarray], stamps: list[np.ndarray], held: list[Any],
                 trades: list[dict[str, Any]]) -> dict[str, Any]:
    return S.metrics_of_returns(np.concatenate(parts), np.concatenate(stamps), p.seconds * NS,
                                p.options.venue.capital, trades, np.concatenate([h for h in held if h is not None]))


def seed_bar_limits(policy_limit: float | None) -> dict[str, float]:
    return {"max_drawdown": policy_limit if policy_limit is not None else SUCCESS_BAR["max_drawdown"][1]}

