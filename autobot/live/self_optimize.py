"""Self-optimisation in live: the node studies its strategies on its own recent bars, and a
significant result must pass the paper challenge as a shadow before it replaces anything.

With ``self_optimize:`` in the policy, once the journal holds ``window`` of bars and then every
``every``, the node runs ``autobot optimize`` (the walk-forward study, :mod:`autobot.optimize`) on
the last ``window`` of its journaled bars for each strategy with ``params:`` ranges, **in another
process** (the trading loop never waits; an accelerated replay waits for it, so its results land
at the bar they were asked at and a replay stays reproducible).

* Every study is journaled (``self_optimize``: verdict, DSR, PBO, OOS numbers) and notified.
* A ``significant`` study whose chosen params differ from the running ones becomes a
  **proposal** (journaled and notified with its OOS numbers, DSR and PBO) and a **shadow**: a
  challenge subject ``<strategy>#p<n>`` that starts on paper at that bar. Its paper result is the
  strategy with the proposed params on the node's own bars since the proposal (the fast engine,
  which trades as Nautilus does), checked by ``promote_when`` and the challenge's checks like any
  subject. It never gets capital.
* When the shadow passes (it becomes ``candidate``), its params are written as the strategy
  document's defaults (the same edit as ``optimize --apply``: comments kept, compiled and checked
  first, both versions in the journal so ``autobot rollback`` restores the old one) and
  hot-reloaded at the next bar; the strategy itself goes back to ``candidate`` so the new params
  climb the capital stages again. Never straight to capital.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from autobot.backtest import metrics as M

NS = 1_000_000_000


def _journal_series(db: Any, instrument: str, since: int | None = None) -> Any:
    """The journal's bars of ``instrument`` (its finest bar type) as :class:`Bars`."""
    from autobot.live.parity import journal_bars
    from autobot.persistence.journal import read_bars, read_run
    rows = read_bars(db, read_run(db))
    bars = journal_bars(rows).get(instrument)
    if bars is None or since is None:
        return bars
    k = int(np.searchsorted(bars.ts, since, side="left"))
    return bars.slice(k, len(bars))


def study(policy_path: str, state: str, strategy: str, options: dict[str, Any]) -> dict[str, Any]:
    """A walk-forward study of ``strategy`` on the journal's last ``window`` seconds of bars (run in
    a child process); the numbers a proposal needs."""
    import tempfile

    from autobot.optimize import space as SP
    from autobot.optimize import study as ST
    from autobot.optimize.executor import InProcess
    from autobot.optimize.verdict import assess
    from autobot.optimize.windows import WindowError
    from autobot.persistence.journal import open_readonly
    from autobot.workspace import load_policy

    policy = load_policy(Path(policy_path))
    cs = policy.strategies[strategy]
    db = open_readonly(state)
    try:
        bars = _journal_series(db, cs.document.market.instrument)
    finally:
        db.close()
    if bars is None or len(bars) < 2:
        return {"strategy": strategy, "verdict": "error", "reasons": ["no bars journaled yet"]}
    bars = bars.slice(int(np.searchsorted(bars.ts, int(bars.ts[-1]) - int(options["window"] * NS))), len(bars))
    opts = ST.Options(objective=options["objective"], trials=options["trials"], windows=options["windows"],
                      seed=options.get("seed", 42), batch=min(8, options["trials"]))
    try:
        plan = ST.plan(cs.source.text, cs.source.path, bars, opts)
        with tempfile.TemporaryDirectory() as tmp:
            result = ST.run(plan, InProcess(), Path(tmp) / "study.journal")
    except (WindowError, ValueError) as exc:
        return {"strategy": strategy, "verdict": "error", "reasons": [str(exc)]}
    stats = assess(result)
    params = SP.overrides(plan.dims, result.best_params).get(plan.target, {}) if result.best_params else {}
    return {"strategy": strategy, "verdict": stats["verdict"], "reasons": stats["reasons"], "dsr": stats["dsr"],
            "pbo": stats["pbo"], "oos": result.oos, "params": SP.plain(plan.dims, params) if params else {},
            "bars": len(bars), "from": int(bars.ts[0]), "to": int(bars.ts[-1])}


class SelfOptimizer:
    """The node's side (module docstring): the controller calls :meth:`step` at each primary bar,
    :meth:`metrics` for a shadow's window and :meth:`moved` for every challenge transition."""

    def __init__(self, controller: Any, policy_path: Path, state: Path, blocking: bool = False) -> None:
        cfg = controller.policy.document.self_optimize
        assert cfg is not None
        self.c, self.policy_path, self.state, self.blocking = controller, Path(policy_path), Path(state), blocking
        from autobot.portfolio.breakers import seconds_of
        every, window = seconds_of(cfg.every, 0.0), seconds_of(cfg.window, 0.0)      # h, d or w: no bars
        self.every, self.window = int(every * NS), int(window * NS)
        self.options = {"window": window, "trials": cfg.trials, "windows": cfg.windows,
                        "objective": cfg.objective}
        self.wanted = cfg.strategies
        self.next_run: int | None = None
        self.jobs: dict[str, Any] = {}
        self.shadows: dict[str, dict[str, Any]] = {}
        self.proposals = 0
        self._pool: Any = None

    def targets(self) -> list[str]:
        pol = self.c.policy
        return [s for s in (self.wanted or pol.used) if s in self.c.strategies and s in pol.strategies
                and any(p.min is not None and p.max is not None for p in pol.strategies[s].document.params.values())]

    # ------------------------------------------------------------------ studies
    def step(self, ts: int) -> None:
        if self.next_run is None:
            self.next_run = ts + self.window            # the first study once the window's bars are there
        if ts >= self.next_run and not self.jobs:
            self.next_run = ts + self.every
            if self.c.journal is not None:
                self.c.journal.commit()                 # the child reads the bars up to this one
            for sid in self.targets():
                self.jobs[sid] = self._submit(sid)
            if self.jobs:
                self.c.notify(f"self-optimisation: studying {', '.join(self.jobs)} on the last "
                              f"{self.window / NS / 86_400:g} days of bars")
        if self.jobs and self.blocking:
            import concurrent.futures
            concurrent.futures.wait(list(self.jobs.values()))
        for sid, job in list(self.jobs.items()):
            if job.done():
                del self.jobs[sid]
                try:
                    result = job.result()
                except Exception as exc:     # noqa: BLE001 - a failed study is reported, never the end
                    result = {"strategy": sid, "verdict": "error", "reasons": [f"{type(exc).__name__}: {exc}"]}
                self._studied(ts, result)

    def _submit(self, sid: str) -> Any:
        import concurrent.futures
        import multiprocessing
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(study, str(self.policy_path), str(self.state), sid, self.options)

    def _studied(self, ts: int, r: dict[str, Any]) -> None:
        c, sid = self.c, r["strategy"]
        oos = r.get("oos") or {}
        numbers = (f"OOS Sharpe {_g(oos.get('sharpe'))}, return {_g(oos.get('total_return'))}, "
                   f"DSR {_g(r.get('dsr'))}, PBO {_g(r.get('pbo'))}")
        if c.journal is not None:
            c.journal.event("self_optimize", ts, sid, **{k: v for k, v in r.items() if k != "strategy"})
        running = {k: v for k, v in c.strategies[sid].compiled.params.items()} if sid in c.strategies else {}
        same = bool(r.get("params")) and all(math.isclose(float(running.get(k, math.nan)), float(v))
                                             for k, v in r["params"].items())
        if r["verdict"] != "significant" or not r.get("params") or same:
            why = "the params it chose are the running ones" if same else "; ".join(r.get("reasons", []))[:300]
            c.notify(f"self-optimisation of {sid}: {r['verdict']} ({numbers}); no proposal: {why}")
            return
        self.proposals += 1
        subject = f"{sid}#p{self.proposals}"
        proposal = {"subject": subject, "strategy": sid, "params": r["params"], "ts": ts, "oos": oos,
                    "dsr": r.get("dsr"), "pbo": r.get("pbo")}
        self.shadows[subject] = proposal
        c.challenge.join(subject, ts)
        if c.journal is not None:
            c.journal.event("proposal", ts, sid, **{k: v for k, v in proposal.items() if k not in ("strategy", "ts")})
            c.journal.set("challenge", c.challenge.snapshot())
        c.notify(f"proposal {subject}: {', '.join(f'{k}={v}' for k, v in r['params'].items())} ({numbers}); "
                 "it trades as a shadow on paper through the challenge before it replaces anything")

    # ------------------------------------------------------------------ shadows
    def metrics(self, subject: str, start: int, end: int) -> dict[str, Any] | None:
        """The shadow's paper result over the bars closing in [start, end]: the proposed params on
        the node's own bars (the fast engine), from the proposal on (with the warm-up before it)."""
        from autobot.fast.engine import run_fast
        from autobot.optimize.trial import lead_bars
        from autobot.venue.settings import VenueSettings
        p = self.shadows.get(subject)
        c = self.c
        if p is None or c.journal is None:
            return {}
        cs = c.policy.strategies[p["strategy"]]
        bars = _journal_series(c.journal.db, cs.document.market.instrument)
        if bars is None:
            return {}
        step = int(np.median(np.diff(bars.ts))) if len(bars) > 1 else 0
        k0 = max(int(np.searchsorted(bars.ts + step, p["ts"], side="left")) - lead_bars(cs), 0)
        k1 = int(np.searchsorted(bars.ts + step, end, side="right"))
        run = run_fast(cs, bars.slice(k0, k1), VenueSettings(capital=float(c.policy.document.capital or 100_000.0)),
                       overrides={k: float(v) for k, v in p["params"].items()}, traces=False)
        ts, eq = np.asarray(run.equity_ts), np.asarray(run.equity, dtype=np.float64)
        i0 = max(int(np.searchsorted(ts, start, side="right")) - 1, 0)
        i1 = int(np.searchsorted(ts, end, side="right"))
        closed = [t for t in run.trades if t.get("exit_ts") is not None and t["exit_reason"] not in ("open", "end")
                  and start < t["exit_ts"] <= end]
        if i1 - i0 < 2:
            return {"trades": len(closed), "days": 0.0, "breaker_trips": 0}
        m = M.compute(eq[i0:i1], ts[i0:i1], step, float(eq[i0]), float(eq[i1 - 1]), closed,
                      np.asarray(run.exposure)[i0:i1], min_annual_days=0.0)
        m["days"] = m.pop("span_days")
        m.pop("final_equity", None)
        m.pop("fees", None)
        # the shadow is a simulation on the node's bars: its parity with the backtest is exact
        m.update(breaker_trips=0, tracking_error=0.0, slippage_bps=0.0, fill_ratio=1.0)
        return m

    def moved(self, move: dict[str, Any]) -> None:
        """A shadow that passed replaces the running params (module docstring)."""
        p = self.shadows.get(move["subject"])
        if p is None or move["to"] != "candidate":
            return
        self._apply(p, move["ts"])

    def _apply(self, p: dict[str, Any], ts: int) -> None:
        import os

        from autobot.diagnostics import UserError
        from autobot.language.compile import compile_strategy_text
        from autobot.optimize.apply import ApplyRefused, set_defaults
        c, sid = self.c, p["strategy"]
        del self.shadows[p["subject"]]
        c.challenge.tracks.pop(p["subject"], None)
        c.challenge.changed()
        path = Path(c.strategies[sid].config.document_name)
        old = path.read_text(encoding="utf-8")
        try:
            new = set_defaults(old, str(path), p["params"])
            compile_strategy_text(new, str(path))
        except (ApplyRefused, UserError) as exc:
            c.notify(f"proposal {p['subject']} passed but cannot be applied: {exc}")
            if c.journal is not None:
                c.journal.event("apply_refused", ts, sid, proposal=p["subject"], error=str(exc)[:500])
            return
        if c.journal is not None:
            c.journal.version(str(path), old)
        tmp = path.with_name(f".{path.name}.apply")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
        if c.journal is not None:
            sha = c.journal.version(str(path), new)
            c.journal.event("apply", ts, sid, file=str(path.resolve()), proposal=p["subject"], params=p["params"],
                            to=sha, source="self_optimize")
        if c.reloader is not None:
            c.reloader.check(path, sid)                 # staged now: swapped after this bar
        # new params climb the capital stages again
        c.record_move(c.challenge.to_candidate(sid, ts, f"new params from {p['subject']}"))
        c.notify(f"proposal {p['subject']} passed the challenge: {sid} now trades "
                 + ", ".join(f"{k}={v}" for k, v in p["params"].items()))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


def _g(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.3g}"
