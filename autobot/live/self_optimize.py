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

With ``self_optimize.discover`` the node also runs ``autobot discover`` (:mod:`autobot.discover`)
on the same window of its first market's bars, in the same child process. A ``discovered``
verdict's best survivor becomes a shadow ``discovered#d<n>`` that trades on paper through the
challenge as above (its holdout and the paper window are two looks the search never had). When it
passes, its document is written beside the policy, ``discovered/discovered_d<n>.yaml`` (never
over an existing file), journaled (``discovered``) and notified as a **candidate**: a person adds
it to the allocations to trade it; discovery never gives capital by itself.
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


DISCOVER = "@discover"            # the job key of a discovery search (strategy ids hold no '@')


def explore(policy_path: str, state: str, instrument: str, options: dict[str, Any]) -> dict[str, Any]:
    """``autobot discover`` on the journal's last ``window`` seconds of ``instrument``'s bars (run
    in a child process): the verdict and the survivors a shadow needs (their candidates too, which
    stay in the node's memory, never in the journal)."""
    from autobot.diagnostics import UserError
    from autobot.discover.run import discover, load_series
    from autobot.discover.search import Options
    from autobot.persistence.journal import open_readonly

    db = open_readonly(state)
    try:
        bars = _journal_series(db, instrument)
    finally:
        db.close()
    if bars is None or len(bars) < 2:
        return {"verdict": "error", "reasons": ["no bars journaled yet"]}
    bars = bars.slice(int(np.searchsorted(bars.ts, int(bars.ts[-1]) - int(options["window"] * NS))), len(bars))
    sides = ("long", "short") if options["sides"] == "both" else (options["sides"],)
    opts = Options(budget=options["budget"], seed=options["seed"], sides=sides, sizing=options["sizing"],
                   capital=options["capital"])
    try:
        series = load_series([(f"journal:{instrument}", bars, instrument)], options["holdout"], 1 / 3)
        found = discover(series, opts)
    except (UserError, ValueError) as exc:
        detail = "; ".join(d.message for d in exc.diagnostics) if isinstance(exc, UserError) else str(exc)
        return {"verdict": "error", "reasons": [detail[:500]]}
    s0 = series[0]
    return {"verdict": found.verdict, "reasons": found.reasons, "candidates": found.candidates,
            "spa_pvalue": found.spa_pvalue, "pbo": found.pbo, "seed": opts.seed, "bars": len(bars),
            "from": int(bars.ts[0]), "to": int(bars.ts[-1]), "instrument": instrument, "bar": s0.bar,
            "sizing": opts.sizing,
            "survivors": [{"name": v.name, "candidate": v.candidate, "oos": v.oos, "holdout_metrics": v.holdout_metrics,
                           "dsr": v.dsr, "complexity": v.complexity} for v in found.survivors]}


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
        self.discovery: dict[str, Any] | None = None
        if cfg.discover is not None:
            from autobot.workspace import share_value
            d = cfg.discover
            self.discovery = {"window": window, "budget": d.budget, "seed": d.seed, "sides": d.sides,
                              "sizing": f"equity_pct: {share_value(d.equity_pct) * 100:g}%",
                              "holdout": share_value(d.holdout),
                              "capital": float(controller.policy.document.capital or 100_000.0)}
        self.searches = 0
        self.next_run: int | None = None
        self.jobs: dict[str, Any] = {}
        self.shadows: dict[str, dict[str, Any]] = {}
        self.proposals = 0
        self._pool: Any = None

    def targets(self) -> list[str]:
        pol = self.c.policy
        return [s for s in (self.wanted if self.wanted is not None else pol.used)
                if s in self.c.strategies and s in pol.strategies
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
                self.jobs[sid] = self._submit(study, str(self.policy_path), str(self.state), sid, self.options)
            market = self.market()
            if self.discovery is not None and market is not None:
                options = {**self.discovery, "seed": self.discovery["seed"] + self.searches}
                self.searches += 1
                self.jobs[DISCOVER] = self._submit(explore, str(self.policy_path), str(self.state), market, options)
            if self.jobs:
                what = ", ".join("new strategies" if k == DISCOVER else k for k in self.jobs)
                self.c.notify(f"self-optimisation: studying {what} on the last "
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
                if sid == DISCOVER:
                    self._discovered(ts, result)
                else:
                    self._studied(ts, result)

    def market(self) -> str | None:
        """The instrument discovery searches: the first traded strategy's."""
        for sid in self.c.policy.used:
            cs = self.c.policy.strategies.get(sid)
            if cs is not None:
                return str(cs.document.market.instrument)
        return None

    def _submit(self, function: Any, *args: Any) -> Any:
        import concurrent.futures
        import multiprocessing
        if self._pool is None:
            self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool.submit(function, *args)

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

    def _discovered(self, ts: int, r: dict[str, Any]) -> None:
        """A discovery search's result: journaled and notified; a ``discovered`` verdict's best
        survivor becomes a shadow on paper (module docstring)."""
        c = self.c
        survivors = r.get("survivors") or []
        summary = {k: v for k, v in r.items() if k != "survivors"}
        summary["survivors"] = [{k: v for k, v in x.items() if k != "candidate"} for x in survivors]
        if c.journal is not None:
            c.journal.event("discover", ts, None, **summary)
        head = (f"discovery on {r.get('instrument', 'the node')}'s last {self.window / NS / 86_400:g} days: "
                f"{r['verdict']} ({r.get('candidates', 0)} candidates, SPA p {_g(r.get('spa_pvalue'))})")
        if r["verdict"] != "discovered" or not survivors:
            c.notify(head + "; no shadow: " + ("; ".join(r.get("reasons", [])) or "nothing survived")[:300])
            return
        from autobot.discover import genome as G
        self.proposals += 1
        best = survivors[0]
        name = f"discovered_d{self.proposals}"
        text = G.render_document(best["candidate"], name, r["instrument"], r["bar"], r["sizing"],
                                 f"found by the node's self_optimize.discover (seed {r['seed']}, "
                                 f"{r['candidates']} candidates)")
        subject = f"discovered#d{self.proposals}"
        proposal = {"subject": subject, "kind": "discover", "name": name, "text": text,
                    "instrument": r["instrument"], "ts": ts, "oos": best["oos"], "dsr": best["dsr"],
                    "holdout_metrics": best["holdout_metrics"], "params": {}}
        self.shadows[subject] = proposal
        c.challenge.join(subject, ts)
        if c.journal is not None:
            c.journal.event("proposal", ts, None, subject=subject, origin="discover", document=text,
                            oos=best["oos"], dsr=best["dsr"], holdout_metrics=best["holdout_metrics"])
            c.journal.set("challenge", c.challenge.snapshot())
        c.notify(head + f"; shadow {subject} trades on paper through the challenge (OOS Sharpe "
                 f"{_g(best['oos'].get('sharpe'))}, holdout Sharpe {_g(best['holdout_metrics'].get('sharpe'))}, "
                 f"DSR {_g(best['dsr'])}); it never gets capital by itself")

    # ------------------------------------------------------------------ shadows
    def _shadow(self, p: dict[str, Any]) -> tuple[Any, dict[str, float]]:
        """The compiled strategy a shadow trades and its param overrides."""
        if p.get("kind") == "discover":
            if "compiled" not in p:
                from autobot.language.compile import compile_strategy_text
                p["compiled"] = compile_strategy_text(p["text"], f"{p['name']}.yaml")
            return p["compiled"], {}
        return self.c.policy.strategies[p["strategy"]], {k: float(v) for k, v in p["params"].items()}

    def metrics(self, subject: str, start: int, end: int) -> dict[str, Any] | None:
        """The shadow's paper result over the bars closing in [start, end]: the proposed params
        (or the discovered document) on the node's own bars (the fast engine), from the proposal on
        (with the warm-up before it)."""
        from autobot.fast.engine import run_fast
        from autobot.optimize.trial import lead_bars
        from autobot.venue.settings import VenueSettings
        p = self.shadows.get(subject)
        c = self.c
        if p is None or c.journal is None:
            return {}
        cs, overrides = self._shadow(p)
        bars = _journal_series(c.journal.db, cs.document.market.instrument)
        if bars is None:
            return {}
        step = int(np.median(np.diff(bars.ts))) if len(bars) > 1 else 0
        k0 = max(int(np.searchsorted(bars.ts + step, p["ts"], side="left")) - lead_bars(cs), 0)
        k1 = int(np.searchsorted(bars.ts + step, end, side="right"))
        run = run_fast(cs, bars.slice(k0, k1), VenueSettings(capital=float(c.policy.document.capital or 100_000.0)),
                       overrides=overrides, traces=False)
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
        if p.get("kind") == "discover":
            self._adopt(p, move["ts"])
        else:
            self._apply(p, move["ts"])

    def _adopt(self, p: dict[str, Any], ts: int) -> None:
        """A discovered shadow that passed: its document written beside the policy (never over a
        file), a candidate a person may add to the allocations."""
        c = self.c
        del self.shadows[p["subject"]]
        c.challenge.tracks.pop(p["subject"], None)
        c.challenge.changed()
        folder = self.policy_path.parent / "discovered"
        try:
            folder.mkdir(exist_ok=True)
            path = folder / f"{p['name']}.yaml"
            k = 1
            while path.exists():
                k += 1
                path = folder / f"{p['name']}_{k}.yaml"
            with open(path, "x", encoding="utf-8") as fh:
                fh.write(p["text"])
        except OSError as exc:
            c.notify(f"discovered {p['subject']} passed the paper challenge but cannot be written: {exc}")
            if c.journal is not None:
                c.journal.event("apply_refused", ts, None, proposal=p["subject"], error=str(exc)[:500])
            return
        if c.journal is not None:
            c.journal.event("discovered", ts, None, proposal=p["subject"], file=str(path.resolve()),
                            oos=p["oos"], dsr=p["dsr"], holdout_metrics=p["holdout_metrics"])
        c.notify(f"discovered {p['subject']} passed the paper challenge: written to {path}; a candidate, not "
                 "capital: add it to the policy's allocations to trade it")

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
