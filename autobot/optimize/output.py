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


def study_json(res: StudyResult, st: dict[str, Any], extra: dict[str, Any], journal: Path,
               where: str) -> dict[str, Any]:
    from autobot.optimize import score as S
    p = res.plan
    o = p.options
    windows = [_window(p, w, S.score(o.objective, w.test.metrics) if w.test is not None and w.test.metrics else None)
               for w in res.windows]
    final = _window(p, res.final, None)
    best = SP.plain(p.dims, res.best_params) if res.best_params else None
    curve = extra.get("in_sample_curve")
    return {
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
        "importance": extra["importance"], "stability": extra["stability"], "heatmap": extra["heatmap"],
        "confirmation": extra["confirmation"],
        "trial_list": [{"number": r.number, "params": SP.plain(p.dims, r.params), "state": r.state,
                        "value": r.value, "reason": r.reason} for r in res.final.records],
        "journal": str(journal), "ran_on": where, "notes": p.notes,
    }
