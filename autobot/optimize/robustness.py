"""After the trials: how much each param matters, whether the chosen point sits on a plateau or
a cliff, the in-sample curve of the chosen params, and the Nautilus confirmation.

* importance: Optuna's PED-ANOVA (deterministic, no extra dependency) over the final
  window's scored trials.
* stability: the objective on the final window at the chosen point moved one and two steps
  along each param (others fixed). The point is on a *cliff* when a one-step neighbour scores
  less than half the chosen score (or nothing), i.e. a small change of that param loses most
  of the result. A neighbour that breaks a constraint is not run (``breaks`` says which).
* heatmap: the objective on a grid of the two most important params around the chosen point
  (cells that break a constraint are not run: ``broken``).
* confirmation: the top-K trials of the final window are run again on NautilusTrader, fold by
  fold on the same bars; every fill must equal the fast engine's, or the study fails.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any

import numpy as np

from autobot.diagnostics import RunError
from autobot.optimize import space as SP
from autobot.optimize.study import Plan, Record, StudyResult, WindowResult
from autobot.optimize.trial import Job, policy_runner, strategy_runner

CLIFF_SHARE = 0.5


def importance(p: Plan, wr: WindowResult) -> dict[str, float]:
    """PED-ANOVA importance of each param on the final window (empty when it cannot be computed)."""
    import optuna
    scored = [r for r in wr.records if r.scored]
    if len(p.dims) < 2 or len(scored) < 4:
        return {p.dims[0].name: 1.0} if len(p.dims) == 1 else {}
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.add_trials([r.frozen(p.dims) for r in scored])
        try:
            out = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
        except (RuntimeError, ValueError):
            return {}
    return {k: float(v) for k, v in out.items()}


def _score_points(p: Plan, executor: Any, wr: WindowResult, points: list[dict[str, float]]) -> list[float | None]:
    """Each point's objective; the points that break a constraint are not run (None)."""
    jobs = [p.job(wr.window, pt, number=k) for k, pt in enumerate(points) if not _broken(p, pt)]
    scores = {o.number: o.value for o in executor.map(jobs)} if jobs else {}
    return [scores.get(k) for k in range(len(points))]


def _broken(p: Plan, point: dict[str, float]) -> list[str]:
    return SP.violations(p.bounds, p.dims, point) if p.bounds else []


def stability(p: Plan, executor: Any, wr: WindowResult, steps: tuple[int, ...] = (-1, 1, -2, 2)) -> dict[str, Any]:
    chosen = wr.chosen
    if chosen is None:
        return {"params": {}, "cliff": [], "chosen_score": None}
    points: list[dict[str, float]] = []
    where: list[tuple[str, int]] = []
    seen: set[tuple[str, float]] = set()
    for d in p.dims:
        for j in steps:                           # nearest first: at an edge both clip to one point
            v = d.clip(chosen.params[d.name] + j * d.grid_step())
            if v != chosen.params[d.name] and (d.name, v) not in seen:
                seen.add((d.name, v))
                points.append({**chosen.params, d.name: v})
                where.append((d.name, j))
    scores = _score_points(p, executor, wr, points)
    out: dict[str, list[dict[str, Any]]] = {d.name: [{"step": 0, "value": chosen.params[d.name],
                                                       "score": chosen.value}] for d in p.dims}
    cliff = []
    for (name, j), pt, s in zip(where, points, scores):
        broken = _broken(p, pt)
        out[name].append({"step": j, "value": pt[name], "score": s} if not broken else
                         {"step": j, "value": pt[name], "score": None, "breaks": broken})
    for name, rows in out.items():
        rows.sort(key=lambda r: r["step"])
        near = [r["score"] for r in rows if abs(r["step"]) == 1 and "breaks" not in r]   # not run: no cliff
        best = chosen.value or 0.0
        if any(s is None or (best > 0 and s < CLIFF_SHARE * best) or (best <= 0 and s < best - abs(best))
               for s in near):
            cliff.append(name)
    return {"params": SP.plain(p.dims, chosen.params), "chosen_score": chosen.value, "neighbours": out,
            "cliff": cliff}


def heatmap(p: Plan, executor: Any, wr: WindowResult, ranked: list[str], size: int = 7) -> dict[str, Any] | None:
    """The objective over a size x size grid of the two most important params."""
    chosen = wr.chosen
    if chosen is None or len(p.dims) < 2:
        return None
    names = (ranked + [d.name for d in p.dims if d.name not in ranked])[:2]
    by = {d.name: d for d in p.dims}
    axes = []
    for name in names:
        d = by[name]
        half = size // 2
        values = sorted({d.clip(chosen.params[name] + j * d.grid_step()) for j in range(-half, half + 1)})
        axes.append(values)
    points = [{**chosen.params, names[0]: x, names[1]: y} for y in axes[1] for x in axes[0]]
    scores = _score_points(p, executor, wr, points)
    grid = np.array([np.nan if s is None else s for s in scores]).reshape(len(axes[1]), len(axes[0]))
    return {"x": names[0], "y": names[1], "x_values": axes[0], "y_values": axes[1],
            "scores": [[None if np.isnan(v) else float(v) for v in row] for row in grid],
            "chosen": [chosen.params[names[0]], chosen.params[names[1]]],
            "broken": [[pt[names[0]], pt[names[1]]] for pt in points if _broken(p, pt)]}


def in_sample_curve(p: Plan, executor: Any, wr: WindowResult) -> dict[str, Any] | None:
    """The chosen params run over every bar: the in-sample curve an optimiser without walk-forward shows."""
    if wr.chosen is None:
        return None
    out = executor.map([p.job(wr.window, wr.chosen.params, folds=[(0, len(p.bars))], keep=True)])[0]
    if out.returns is None:
        return None
    return {"ts": out.ts, "returns": out.returns, "metrics": out.metrics}


def finalists(wr: WindowResult, k: int) -> list[Record]:
    scored = sorted((r for r in wr.records if r.scored), key=lambda r: (-(r.value or 0.0), r.number))
    return scored[:k]


def confirm(p: Plan, wr: WindowResult, k: int) -> dict[str, Any]:
    """Re-run the top-``k`` trials on NautilusTrader, fold by fold; raise :class:`RunError` on any difference."""
    checked = []
    for rec in finalists(wr, k):
        job: Job = p.job(wr.window, rec.params, number=rec.number)
        runner = policy_runner if job.policy is not None else strategy_runner
        run_fast, lead = runner(job)                                 # the very runs the trial made
        run_nautilus, _ = runner(replace(job, engine="nautilus"))
        fills = 0
        for a, b in job.folds:
            start = max(0, a - lead)
            fast, ref = run_fast(start, b), run_nautilus(start, b)
            if fast.fills != ref.fills or abs(fast.final_equity - ref.final_equity) > 1e-6 * max(1.0, ref.final_equity):
                first = next((j for j, (x, y) in enumerate(zip(fast.fills, ref.fills)) if x != y),
                             min(len(fast.fills), len(ref.fills)))
                raise RunError(f"trial {rec.number} ({SP.plain(p.dims, rec.params)}): the fast engine and "
                               f"NautilusTrader disagree on bars {start}..{b}: {len(fast.fills)} vs {len(ref.fills)} "
                               f"fills, first difference at fill {first}; this is a bug in the fast engine: "
                               "please report it with the strategy and data")
            fills += sum(map(len, ref.fills.values())) if isinstance(ref.fills, dict) else len(ref.fills)
        checked.append({"trial": rec.number, "params": SP.plain(p.dims, rec.params), "fills": fills,
                        "runs": len(job.folds), "identical": True})
    return {"finalists": checked, "engine": "nautilus"}


def analyse(res: StudyResult, executor: Any, confirm_k: int) -> dict[str, Any]:
    """Everything above for the final window."""
    p, wr = res.plan, res.final
    imp = importance(p, wr)
    ranked = sorted(imp, key=lambda n: -imp[n])
    policy = p.policy is not None            # a portfolio trial costs more than a strategy's: a smaller neighbourhood
    out = {"importance": imp, "stability": stability(p, executor, wr, steps=(-1, 1) if policy else (-1, 1, -2, 2)),
           "heatmap": heatmap(p, executor, wr, ranked, size=5 if policy else 7),
           "in_sample_curve": in_sample_curve(p, executor, wr)}
    out["confirmation"] = confirm(p, wr, confirm_k) if confirm_k > 0 else {"finalists": [], "engine": None}
    return out
