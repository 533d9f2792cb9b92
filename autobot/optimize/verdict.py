"""The study's verdict from its statistics (definitions: docs/optimize.md).

* ``dsr``: Deflated Sharpe Ratio of the deployed choice (the final window's best trial), with
  N = the independent trials that every trial of that window that ran (scored, unscored and
  pruned; a trial whose params failed to run has no Sharpe) amounts to: rho + (1 - rho) x that
  count, rho the completed trials' average correlation (on their per-block returns;
  :func:`stats.effective_trials`), and V = the variance of those trials' whole-range per-bar
  Sharpe ratios, a pruned trial's predicted from the folds it ran (:func:`sharpe_variance`).
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
of sample in most CSCV splits) and the out-of-sample PSR is not significant (< 0.95: a significant
walk-forward track outweighs PBO), or the choice looked significant in sample (DSR >= 0.95) while
the out-of-sample objective is <= 0. Anything else, and any study without out-of-sample windows
(``--no-walk-forward``) that is not likely overfit, is ``not significant``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autobot.optimize import score as S
from autobot.optimize import stats
from autobot.optimize.study import Record, StudyResult, WindowResult

SIGNIFICANT, NOT_SIGNIFICANT, OVERFIT = "significant", "not significant", "likely overfit"
CONFIDENCE = 0.95
PBO_LIMIT = 0.5


def selection_stats(wr: WindowResult) -> dict[str, Any]:
    """DSR and PBO of one window's selection."""
    complete = [r for r in wr.records if r.state == "complete" and r.moments is not None and r.sums is not None]
    scored = [r for r in complete if r.scored]
    ran = [r for r in wr.records if r.moments is not None]     # complete (scored or not) and pruned
    variance = sharpe_variance(ran)
    n = len(ran)
    rho = stats.average_correlation([r.sums for r in complete if r.sums is not None])
    n_eff = stats.effective_trials(n, rho)
    chosen = wr.chosen
    out: dict[str, Any] = {"trials": n, "scored": len(scored), "pruned": sum(r.state == "pruned" for r in ran),
                           "failed": sum(r.state == "fail" for r in wr.records), "sharpe_variance": variance,
                           "average_correlation": rho, "trials_effective": n_eff,
                           "expected_max_sharpe": stats.expected_max_sharpe(n_eff, variance)}
    if chosen is not None and chosen.moments is not None:
        out["dsr"] = stats.dsr(chosen.moments, n_eff, variance)
        out["chosen"] = chosen.moments.to_json()
    else:
        out["dsr"] = 0.0
        out["chosen"] = None
    p = stats.pbo([r.sums for r in scored if r.sums is not None])
    out["pbo"] = None if math.isnan(p.pbo) else p.pbo
    out["cscv"] = p.to_json() if not math.isnan(p.pbo) else None
    return out


def sharpe_variance(ran: list[Record]) -> float:
    """V: the variance of the whole-train-range per-bar Sharpe ratios of every trial that ran.

    A completed trial's is measured. A pruned trial ran only its first k folds: its whole-range
    Sharpe is predicted from its Sharpe over those folds by the least-squares line, fitted over the
    completed trials, from their Sharpe after the same k folds to their whole-range Sharpe (the
    line carries the period those folds cover and the regression of a short track's Sharpe towards
    the mean); each prediction adds the line's residual variance, so a predicted Sharpe is as
    dispersed as a measured one. Fewer than 3 completed trials (or no spread among them): the
    pruned trial's own Sharpe over its folds stands in. docs/optimize.md gives the measurements
    behind this choice."""
    complete = [r for r in ran if r.state == "complete" and r.moments is not None]
    values = [r.moments.sharpe for r in complete if r.moments is not None]
    extra = 0.0
    lines: dict[int, tuple[float, float, float] | None] = {}
    for r in ran:
        if r.state == "complete" or r.moments is None:
            continue
        k = len(r.partial)
        if k not in lines:
            lines[k] = _line([(c.partial[k - 1], c.moments.sharpe) for c in complete
                              if k >= 1 and len(c.partial) >= k and c.moments is not None])
        line = lines[k]
        if line is None:
            values.append(r.moments.sharpe)
        else:
            a, b, residual = line
            values.append(a + b * r.partial[k - 1])
            extra += residual
    if len(values) < 2:
        return 0.0
    v = np.asarray(values, dtype=np.float64)
    return float((np.sum((v - v.mean()) ** 2) + extra) / (len(v) - 1))


def _line(pairs: list[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Intercept, slope and residual variance (ddof 2) of y on x; None under 3 pairs or no spread."""
    if len(pairs) < 3:
        return None
    x, y = (np.array(c, dtype=np.float64) for c in zip(*pairs))
    dx = x - x.mean()
    sxx = float(np.sum(dx * dx))
    if not sxx > 0:
        return None
    b = float(np.sum(dx * (y - y.mean()))) / sxx
    a = float(y.mean()) - b * float(x.mean())
    residual = y - (a + b * x)
    return a, b, float(np.sum(residual * residual)) / (len(pairs) - 2)


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
    oos_trades = int(res.oos["trades"]) if res.oos else None
    verdict, reasons = decide(dsr, pbo, oos_psr if res.oos is not None else None, oos_trades, res.plan.min_trades,
                              oos_score, o.objective)
    return {"verdict": verdict, "reasons": reasons, "dsr": dsr, "pbo": pbo, "oos_psr": oos_psr,
            "min_track_record_bars": None if math.isinf(trl) else trl,
            "min_track_record_days": None if math.isinf(trl) else trl * bar_days,
            "oos_moments": m_oos.to_json(), "wfe": wfe, "oos_score": oos_score, "mean_in_sample_score": mean_is,
            "final": final, "windows": per_window}


def decide(dsr: float, pbo: float | None, oos_psr: float | None, oos_trades: int | None, min_trades: int,
           oos_score: float | None, objective: str = "sharpe") -> tuple[str, list[str]]:
    """The verdict and its reasons from the study's numbers (``oos_psr`` and ``oos_trades`` None:
    no out-of-sample windows)."""
    has_oos = oos_trades is not None
    reasons: list[str] = []
    psr_ok = oos_psr is not None and oos_psr >= CONFIDENCE
    checks = [(dsr >= CONFIDENCE, f"DSR {dsr:.3f} {'>=' if dsr >= CONFIDENCE else '<'} {CONFIDENCE}"),
              (psr_ok, f"out-of-sample PSR {_g(oos_psr)} {'>=' if psr_ok else '<'} {CONFIDENCE}" if has_oos
               else "no out-of-sample windows (--no-walk-forward): in-sample results cannot be significant")]
    if oos_trades is not None:
        checks.append((oos_trades >= min_trades,
                       f"{oos_trades} out-of-sample trades {'>=' if oos_trades >= min_trades else '<'} {min_trades}"))
    high_pbo = pbo is not None and pbo >= PBO_LIMIT
    # PBO asks whether the in-sample ranking of the trials holds on other halves of the train range;
    # a significant walk-forward track (each window's choice run on bars it never saw) answers the
    # question PBO stands in for directly, so a high PBO beside it is not called overfitting
    # (docs/optimize.md, The verdict: measured on the honesty benchmark)
    overfit_pbo = high_pbo and not psr_ok
    pbo_text = (f"PBO {pbo:.2f} >= {PBO_LIMIT}: the in-sample best is at or below the median out of sample in most "
                "CSCV splits" if high_pbo else f"PBO {_g(pbo)} < {PBO_LIMIT} (for context: the choice among the "
                "trials shows no sign of overfitting)" if pbo is not None
                else "PBO not computable (fewer than 2 scored trials)")
    if has_oos and all(ok for ok, _ in checks):
        verdict = SIGNIFICANT
        reasons += [text for _, text in checks]
        reasons.append(pbo_text + ("; the edge is the strategy family's, the chosen point is not reliably better "
                                   "than its neighbours" if high_pbo else ""))
    elif overfit_pbo:
        verdict = OVERFIT
        reasons += [pbo_text] + [text for ok, text in checks if not ok]
    elif has_oos and dsr >= CONFIDENCE and (oos_score is None or oos_score <= 0):
        verdict = OVERFIT
        reasons.append(f"DSR {dsr:.2f} looked significant in sample, but out of sample the {objective} is "
                       f"{_g(oos_score)}")
    else:
        verdict = NOT_SIGNIFICANT
        reasons += [text for ok, text in checks if not ok]
        reasons.append(pbo_text + ("; not taken as overfitting: the out-of-sample track is significant (PSR "
                                   f"{_g(oos_psr)} >= {CONFIDENCE})" if high_pbo else ""))
    return verdict, reasons


def _g(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3g}"
