"""``autobot discover`` from data to verdict: cut the series, search, judge the top candidates out
of sample, run the survivors once on the holdout, and describe everything (typed records; the CLI
writes them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autobot.backtest.data import iso
from autobot.discover import genome as G
from autobot.discover.score import Series, bar_text, cut, run, segment_metrics
from autobot.discover.search import Options, Searched, run_search
from autobot.discover.verdict import Judged, judge, verdict


@dataclass
class Survivor:
    name: str
    candidate: G.Candidate
    document_text: str
    oos: dict[str, Any]
    holdout_metrics: dict[str, Any]
    dsr: float
    complexity: int
    origin: str
    document: str | None = None                 # the path written under --out


@dataclass
class Discovery:
    verdict: str
    reasons: list[str]
    candidates: int
    series: list[Series]
    spa_pvalue: float | None
    pbo: float | None
    survivors: list[Survivor]
    top: list[dict[str, Any]]
    seconds: float
    resumed: int
    options: Options
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        s0 = self.series[0]
        span = [{"file": s.path, "start": iso(s.holdout_span[0]), "end": iso(s.holdout_span[1]),
                 "bars": len(s.bars) - s.search_end} for s in self.series]
        return {
            "verdict": self.verdict, "reasons": self.reasons, "candidates": self.candidates,
            "holdout": {"start": span[0]["start"], "end": span[0]["end"], "bars": span[0]["bars"], "series": span},
            "search": [{"file": s.path, "in_sample": {"start": iso(int(s.bars.ts[0])),
                                                      "end": iso(int(s.bars.ts[s.is_end - 1]))},
                        "out_of_sample": {"start": iso(int(s.bars.ts[s.is_end])),
                                          "end": iso(int(s.bars.ts[s.search_end - 1]))}} for s in self.series],
            "spa_pvalue": self.spa_pvalue, "pbo": self.pbo,
            "survivors": [{"name": v.name, "document": v.document, "oos": v.oos, "holdout_metrics": v.holdout_metrics,
                           "dsr": v.dsr, "complexity": v.complexity, "lineage": v.origin,
                           "rules": {"side": v.candidate.side}} for v in self.survivors],
            "top": self.top, "instrument": s0.instrument, "bar": s0.bar,
            "seed": self.options.seed, "budget": self.options.budget, "seconds": round(self.seconds, 2),
            "resumed": self.resumed, "notes": self.notes,
            "settings": {"min_trades": self.options.min_trades, "complexity_penalty": self.options.penalty,
                         "top": self.options.top, "sizing": self.options.sizing},
        }


def load_series(files: list[tuple[str, Any, str]], holdout: float, oos: float) -> list[Series]:
    """(path, bars, instrument id) of each file, cut into search, out-of-sample and holdout."""
    from autobot.backtest.data import bar_seconds
    return [cut(path, iid, bars, bar_text(bar_seconds(bars)), holdout, oos) for path, bars, iid in files]


def discover(series: list[Series], opts: Options, journal: Path | None = None,
             progress: Callable[[int, int, float | None], None] | None = None,
             workers: int | None = None, address: str | None = None) -> Discovery:
    """``workers`` / ``address``: where the candidates are scored (:mod:`autobot.discover.workers`);
    the same seed gives the same search wherever it runs."""
    from autobot.discover.workers import make_pool
    s0 = series[0]
    pool = make_pool(series, opts, workers, address)
    try:
        found: Searched = run_search(series, opts, s0.instrument, s0.bar, progress, journal, pool)
    finally:
        pool.close()
    ranked = sorted((s for s in found.scored if s.fitness is not None), key=lambda s: s.fitness, reverse=True)
    top = ranked[: opts.top]
    notes = []
    failed = sum(1 for s in found.scored if s.error)
    if failed:
        notes.append(f"{failed} candidate(s) could not run (counted in N): e.g. {next(s.error for s in found.scored if s.error)}")
    if len(top) < 2:
        return Discovery("not significant", [f"only {len(top)} of {len(found.scored)} candidates made the minimum of "
                                             f"{opts.min_trades} in-sample trades: nothing to test"],
                         len(found.scored), series, None, None, [], [], found.seconds, found.resumed, opts, notes)
    oos = np.column_stack([s.oos_returns for s in top])
    search = [np.concatenate(s.search_returns) for s in top]
    judged: Judged = judge(oos, search, [s.is_sharpe_per_bar for s in found.scored if not s.error], opts.seed)
    from autobot.language.compile import compile_strategy_text
    survivors, holdout_sharpe = [], {}
    for j in judged.superior:                       # the holdout: run once, for the survivors only
        cand = found.candidates[top[j].key]
        name = f"discovered_{j + 1}"
        text = G.render_document(cand, name, s0.instrument, s0.bar, opts.sizing,
                                 f"found by autobot discover (seed {opts.seed}, {len(found.scored)} candidates)")
        compiled = compile_strategy_text(text, f"{name}.yaml")
        oos_m, hold_m = [], []
        for s in series:
            full = run(compiled, s, len(s.bars), {}, opts.capital)
            oos_m.append(segment_metrics(full, s.is_end, s.search_end))
            hold_m.append(segment_metrics(full, s.search_end, len(s.bars)))
        holdout_sharpe[j] = float(np.mean([m["sharpe"] or 0.0 for m in hold_m]))
        survivors.append(Survivor(name, cand, text, oos_m[0], hold_m[0], judged.dsr[j], top[j].complexity,
                                  top[j].origin))
    word, reasons = verdict(judged, holdout_sharpe, len(found.scored))
    table = [{"rank": k + 1, "rules": s.key, "is_sharpe": s.is_sharpe, "is_trades": s.is_trades,
              "complexity": s.complexity, "dsr": judged.dsr[k], "superior": k in judged.superior}
             for k, s in enumerate(top)]
    return Discovery(word, reasons, len(found.scored), series, judged.spa_pvalue, judged.pbo, survivors, table,
                     found.seconds, found.resumed, opts, notes)
