"""The study's JSON (``optimize --json``): the out-of-sample headline first, in-sample numbers
labelled as such."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from autobot.backtest import metrics as M
from autobot.backtest.data import NS, iso
from autobot.optimize import space as SP
from autobot.optimize.study import StudyResult, WindowResult
from autobot.venue.instruments import quote_currency


def _when(p: Any, k: int) -> str:
    bars = p.bars
    return iso(int(bars.ts[min(k, len(bars) - 1)]) + (p.seconds * NS if k >= len(bars) else 0))


def _window(p: Any, wr: WindowResult, oos_score: float | None) -> dict[str, Any]:
    d = wr.to_json(p.dims)
    d["train_start"], d["train_end"] = _when(p, wr.window.train[0]), _when(p, wr.window.train[1])
    if wr.window.test is not None:
        d["test_start"], d["test_end"] = _when(p, wr.window.test[0]), _when(p, wr.window.test[1])
    d["oos_score"] = oos_score
    return d


def oos_buy_and_hold(res: StudyResult) -> dict[str, Any] | None:
    """Buy-and-hold over the same out-of-sample bars (bought at the first test bar's close)."""
    if res.oos is None:
        return None
    p = res.plan
    pos = np.searchsorted(p.bars.ts + p.seconds * NS, res.oos_ts)
    close = p.bars.close[pos]
    from autobot.optimize import score as S
    from autobot.venue.instruments import make_instrument
    inst = make_instrument(p.instrument, [p.bars.open, p.bars.high, p.bars.low, p.bars.close],
                           p.options.instrument)
    fee = float(inst.taker_fee)
    r = np.concatenate(([-fee], close[1:] / close[:-1] - 1.0))
    return S.metrics_of_returns(r, res.oos_ts, p.seconds * NS, p.options.venue.capital,
                                [{"pnl": float(close[-1] / close[0] - 1), "exit_reason": "end"}], np.ones(len(r)))


MIN_IMPORTANCE_TRIALS = 30        # fewer trials per window: param importance is noise
FLAT = 0.10                       # a score range under 10% of the chosen score: flat


def headline(doc: dict[str, Any]) -> str:
    """The study in one plain sentence, under the verdict: deploy or not, and why."""
    dsr, pbo, psr = doc.get("dsr"), doc.get("pbo"), doc.get("oos_psr")
    n, objective = doc.get("trials"), doc.get("objective", "objective")
    n_eff = ((doc.get("statistics") or {}).get("final") or {}).get("trials_effective")
    draws = n                             # the independent draws the trials amount to (the DSR's N)
    if n_eff is not None and n is not None and n_eff < n:
        n, draws = f"{n} correlated", f"{n_eff:.0f} independent"
    oos = doc.get("oos")
    oos_score = (doc.get("statistics") or {}).get("oos_score")
    if doc["verdict"] == "significant":
        text = (f"Deployable: the chosen params beat the luck of picking the best of {n} trials (DSR {dsr:.2f}) "
                f"and held out of sample (PSR {psr:.2f}, {int(oos['trades']):,} trades)")
        if pbo is not None and pbo >= 0.5:
            text += "; but the edge is the strategy family's, the chosen point is not reliably better than others"
        return text + "."
    if doc["verdict"] == "likely overfit":
        if pbo is not None and pbo >= 0.5:
            why = (f"the in-sample best ranks at or below the median out of sample in {pbo:.0%} of the CSCV "
                   "splits (PBO): picking the best trial picked noise")
        else:
            why = (f"the choice looked significant in sample (DSR {dsr:.2f}) but out of sample its {objective} is "
                   + ("not computable" if oos_score is None else f"{oos_score:.2f}"))
        return f"Do not deploy: nothing survived out of sample, because {why}."
    if not doc.get("walk_forward") or oos is None:
        return ("Do not deploy: this study ran in sample only (--no-walk-forward), so nothing was tested on bars "
                "its params were not chosen on.")
    causes = []
    if dsr is None or dsr < 0.95:
        causes.append(f"the best of {n} trials is no better than the best of {draws} lucky draws would be (DSR "
                      f"{0.0 if dsr is None else dsr:.2f} < 0.95)")
    if psr is None or psr < 0.95:
        causes.append("the out-of-sample track is too short or too noisy to show a positive Sharpe at 95% (PSR "
                      + ("n/a" if psr is None else f"{psr:.2f}") + ")")
    if oos is not None and int(oos.get("trades") or 0) < int(doc.get("min_trades") or 0):
        causes.append(f"only {int(oos.get('trades') or 0):,} out-of-sample trades (at least "
                      f"{int(doc['min_trades']):,} needed)")
    return "Do not deploy: the result is not distinguishable from luck, because " + "; and ".join(causes or
                                                                                                   ["of the checks below"]) + "."


def importance_note(doc: dict[str, Any]) -> str | None:
    """Why the param importance is not meaningful, or None: too few trials (under
    MIN_IMPORTANCE_TRIALS per window), or the objective flat around the chosen point along the
    param it ranks first (its neighbourhood, or the heatmap, varies less than FLAT of the chosen score)."""
    imp = doc.get("importance") or {}
    if not imp:
        return None
    reasons = []
    if int(doc.get("trials") or 0) < MIN_IMPORTANCE_TRIALS:
        reasons.append(f"{doc['trials']} trials per window are too few to rank params (about "
                       f"{MIN_IMPORTANCE_TRIALS} or more are needed)")
    top = max(imp, key=lambda k: imp[k])
    st = doc.get("stability") or {}
    chosen = st.get("chosen_score")
    scores = [q["score"] for q in (st.get("neighbours") or {}).get(top, []) if q.get("score") is not None]
    hm = doc.get("heatmap") or {}
    if top in (hm.get("x"), hm.get("y")):
        grid = np.array([[np.nan if v is None else v for v in row] for row in hm.get("scores") or []], dtype=float)
        axis = 1 if top == hm.get("x") else 0                   # the scores along the top param, per row/column
        if grid.size and np.isfinite(grid).any():
            spread = np.nanmax(grid, axis=axis) - np.nanmin(grid, axis=axis)
            scores_flat = bool(np.nanmedian(spread) < FLAT * max(abs(chosen or 0.0), 1e-9))
        else:
            scores_flat = False
    else:
        scores_flat = False
    if (len(scores) > 1 and chosen is not None and max(scores) - min(scores) < FLAT * max(abs(chosen), 1e-9)) \
            or scores_flat:
        reasons.append(f"{top}, ranked first, barely moves the {doc.get('objective', 'objective')} around the "
                       "chosen point (its neighbourhood and the heatmap are flat)")
    return ("Param importance is not meaningful here: " + "; and ".join(reasons) + ".") if reasons else None


def window_comment(w: dict[str, Any]) -> str | None:
    """A walk-forward window whose chosen trial lost in sample: said, not passed over."""
    sharpe = (w.get("in_sample") or {}).get("sharpe")
    if w.get("chosen") and sharpe is not None and sharpe < 0:
        return (f"the best of its trials had an in-sample Sharpe of {sharpe:.2f}: no trial made money on the "
                "train bars, it was chosen only as the least bad")
    return None


def study_json(res: StudyResult, st: dict[str, Any], extra: dict[str, Any], journal: Path,
               where: str) -> dict[str, Any]:
    from autobot.optimize import score as S
    p = res.plan
    o = p.options
    windows = [_window(p, w, S.score(o.objective, w.test.metrics) if w.test is not None and w.test.metrics else None)
               for w in res.windows]
    for w in windows:
        w["comment"] = window_comment(w)
    final = _window(p, res.final, None)
    final["comment"] = window_comment(final)
    best = SP.plain(p.dims, res.best_params) if res.best_params else None
    curve = extra.get("in_sample_curve")
    doc = {
        "strategy": p.target, "policy": p.policy is not None, "document": p.name, "objective": o.objective, "sampler": o.sampler,
        "seed": o.seed, "walk_forward": o.walk_forward, "anchored": o.anchored, "limits": dict(o.limits),
        "currency": str(quote_currency(p.instrument, o.instrument)),
        "verdict": st["verdict"], "reasons": st["reasons"], "dsr": st["dsr"], "pbo": st["pbo"],
        "oos_psr": st["oos_psr"], "wfe": st["wfe"], "min_track_record_bars": st["min_track_record_bars"],
        "min_track_record_days": st["min_track_record_days"],
        "trials": o.trials, "trials_total": sum(len(w.records) for w in res.windows + [res.final]),
        "best_params": best,
        "oos": res.oos, "oos_buy_and_hold": oos_buy_and_hold(res), "success_bar": M.SUCCESS_BAR,
        "oos_success": M.success_marks(res.oos) if res.oos else None,
        "in_sample": {"label": "IN SAMPLE: the final window's best trial on the bars it was chosen on",
                      "metrics": res.final.chosen.metrics if res.final.chosen else None,
                      "whole_series": curve["metrics"] if curve else None},
        "statistics": {k: st[k] for k in ("oos_moments", "oos_score", "mean_in_sample_score", "final", "windows")},
        "windows": windows, "final_window": final,
        "bars": len(p.bars), "bar_seconds": p.seconds, "purge": p.purge, "min_trades": p.min_trades,
        "folds": o.folds, "batch": o.batch, "windows_count": len(res.windows),
        "params": [{"name": d.name, "low": d.low, "high": d.high, "step": d.step, "integer": d.integer,
                    "default": d.default} for d in p.dims],
        "constraints": [text for b in p.bounds for text in b.texts()],
        "importance": extra["importance"], "stability": extra["stability"], "heatmap": extra["heatmap"],
        "confirmation": extra["confirmation"],
        "trial_list": [{"number": r.number, "params": SP.plain(p.dims, r.params), "state": r.state,
                        "value": r.value, "reason": r.reason} for r in res.final.records],
        "journal": str(journal), "ran_on": where, "notes": p.notes,
    }
    doc["headline"] = headline(doc)
    doc["importance_note"] = importance_note(doc)
    return doc
