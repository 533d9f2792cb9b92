"""The study's verdict from its statistics (definitions: docs/optimize.md).

* ``dsr``: Deflated Sharpe Ratio of the deployed choice (the final window's best trial), with
  N = the trials that window's selection chose from (pruned and unscored ones included) and V =
  the variance of its scored trials' per-bar Sharpe ratios.
* ``pbo``: CSCV over the final window's completed trials (S blocks of its train range).
* ``oos_psr``: P(true Sharpe > 0) of the stitched out-of-sample track; ``min_track_record``:
  the bars (and days) that track would need for that at 95%.
* ``wfe``: walk-forward efficiency, the objective out of sample over the mean in-sample
  objective of the windows' choices (None unless that mean is above 0).

``significant``: DSR >= 0.95 (the deployed choice beats the best of its N trials by luck), the
out-of-sample PSR >= 0.95 (the walk-forward track has a positive Sharpe) and at least the
minimum trade count out of sample. A PBO >= 0.5 then adds a warning: the edge is the
family's, the chosen point among its trials is not reliably better than the others.
``likely overfit``: otherwise, when PBO >= 0.5 (the in-sample best is at or below the median out
of sample in most CSCV splits), or the choice looked significant in sample (DSR >= 0.95) while
the out-of-sample objective is <= 0. Anything else, and any study without out-of-sample windows
(``--no-walk-forward``) that is not likely overfit, is ``not significant``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autobot.optimize import score as S
from autobot.optimize import stats
from autobot.optimize.study import StudyResult, WindowResult

SIGNIFICANT, NOT_SIGNIFICANT, OVERFIT = "significant", "not significant", "likely overfit"
CONFIDENCE = 0.95
PBO_LIMIT = 0.5


def selection_stats(wr: WindowResult) -> dict[str, Any]:
    """DSR and PBO of one window's selection."""
    complete = [r for r in wr.records if r.state == "complete" and r.moments is not None and r.sums is not None]
    scored = [r for r in complete if r.scored]
    sharpes = np.array([r.moments.sharpe for r in scored if r.moments is not None])
    variance = float(np.var(sharpes, ddof=1)) if len(sharpes) > 1 else 0.0
    n = len(wr.records)
    chosen = wr.chosen
    out: dict[str, Any] = {"trials": n, "scored": len(scored), "sharpe_variance": variance,
                           "expected_max_sharpe": stats.expected_max_sharpe(n, variance)}
    if chosen is not None and chosen.moments is not None:
        out["dsr"] = stats.dsr(chosen.moments, n, variance)
        out["chosen"] = chosen.moments.to_json()
    else:
        out["dsr"] = 0.0
        out["chosen"] = None
    p = stats.pbo([r.sums for r in scored if r.sums is not None])
    out["pbo"] = None if math.isnan(p.pbo) else p.pbo
    out["cscv"] = p.to_json() if not math.isnan(p.pbo) else None
    return out


def assess(res: StudyResult) -> dict[str, Any]:
    """Every statistic, the verdict and the reasons behind it."""
    o = res.plan.options
    final = selection_stats(res.final)
    per_window = [selection_stats(w) for w in res.windows]
    m_oos = stats.moments(res.oos_returns)
    oos_psr = stats.psr(m_oos, 0.0) if len(res.oos_returns) else None
    trl = stats.min_track_record(m_oos) if len(res.oos_returns) else math.inf
    bar_days = res.plan.seconds / 86_400
    is_scores = [w.chosen.value for w in res.windows if w.chosen is not None and w.chosen.value is not None]
    oos_score = S.score(o.objective, res.oos) if res.oos else None
    mean_is = float(np.mean(is_scores)) if is_scores else None
    wfe = oos_score / mean_is if oos_score is not None and mean_is is not None and mean_is > 0 else None
    dsr, pbo = final["dsr"], final["pbo"]
    oos_trades = int(res.oos["trades"]) if res.oos else 0
    reasons: list[str] = []
    checks = [(dsr >= CONFIDENCE, f"DSR {dsr:.3f} {'>=' if dsr >= CONFIDENCE else '<'} {CONFIDENCE}"),
              (oos_psr is not None and oos_psr >= CONFIDENCE,
               f"out-of-sample PSR {_g(oos_psr)} {'>=' if (oos_psr or 0) >= CONFIDENCE else '<'} {CONFIDENCE}"
               if res.oos is not None else "no out-of-sample windows (--no-walk-forward): in-sample results "
                                           "cannot be significant"),
              (oos_trades >= res.plan.min_trades,
               f"{oos_trades} out-of-sample trades {'>=' if oos_trades >= res.plan.min_trades else '<'} "
               f"{res.plan.min_trades}")]
    if res.oos is None:
        checks = checks[:2]                 # no out-of-sample trades to count
    overfit_pbo = pbo is not None and pbo >= PBO_LIMIT
    pbo_text = (f"PBO {pbo:.2f} >= {PBO_LIMIT}: the in-sample best is at or below the median out of sample in most "
                "CSCV splits" if overfit_pbo else f"PBO {_g(pbo)} < {PBO_LIMIT} (for context: the choice among the trials "
                "shows no sign of overfitting)" if pbo is not None
                else "PBO not computable (fewer than 2 scored trials)")
    if res.oos is not None and all(ok for ok, _ in checks):
        verdict = SIGNIFICANT
        reasons += [text for _, text in checks]
        reasons.append(pbo_text + ("; the edge is the strategy family's, the chosen point is not reliably better "
                                   "than its neighbours" if overfit_pbo else ""))
    elif overfit_pbo:
        verdict = OVERFIT
        reasons += [pbo_text] + [text for ok, text in checks if not ok]
    elif res.oos is not None and dsr >= CONFIDENCE and (oos_score is None or oos_score <= 0):
        verdict = OVERFIT
        reasons.append(f"DSR {dsr:.2f} looked significant in sample, but out of sample the {o.objective} is "
                       f"{_g(oos_score)}")
    else:
        verdict = NOT_SIGNIFICANT
        reasons += [text for ok, text in checks if not ok] + [pbo_text]
    return {"verdict": verdict, "reasons": reasons, "dsr": dsr, "pbo": pbo, "oos_psr": oos_psr,
            "min_track_record_bars": None if math.isinf(trl) else trl,
            "min_track_record_days": None if math.isinf(trl) else trl * bar_days,
            "oos_moments": m_oos.to_json(), "wfe": wfe, "oos_score": oos_score, "mean_in_sample_score": mean_is,
            "final": final, "windows": per_window}


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"
