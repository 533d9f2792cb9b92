"""The honest verdict on a search (docs/discover.md):

* the **top K** candidates by in-sample fitness (K = ``top``) are judged on the out-of-sample part
  of the search segment, which their fitness never saw;
* **data snooping**: Hansen's SPA test (is the best of them better than cash, given that K were
  tried?) and Romano and Wolf's StepM (which of them are, at a 5% family-wise error rate), both from
  the ``arch`` package, with a stationary bootstrap of the per-bar returns;
* **DSR** of each survivor's out-of-sample returns, deflated by *every* candidate evaluated (N),
  with an unskilled candidate's Sharpe variance over the out-of-sample length (1/T); **PBO**
  (CSCV) across the top K;
* the **holdout** is run once, for the survivors only.

Verdicts: ``discovered`` when some survivor (StepM-superior to cash) has SPA p < 0.05, DSR >= 0.95,
a positive holdout Sharpe and PBO < 0.5; ``likely overfit`` when the search found in-sample
winners that fall apart out of sample (PBO >= 0.5, or survivors whose holdout loses);
``not significant`` otherwise. Cash is always a legitimate answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autobot.optimize import stats as S

ALPHA = 0.05
DSR_BAR = 0.95
PBO_BAR = 0.5


class ArchMissing(RuntimeError):
    """The ``arch`` package (the ``discover`` extra) is not installed."""


@dataclass
class Judged:
    spa_pvalue: float
    superior: list[int]                  # indices into the top K (StepM)
    dsr: dict[int, float]
    pbo: float | None
    reasons: list[str] = field(default_factory=list)


def arch_bootstrap() -> Any:
    try:
        from arch import bootstrap
    except ImportError:
        raise ArchMissing("autobot discover tests data snooping with the arch package (SPA and StepM), which is "
                          "not installed: pip install -e \".[discover]\"") from None
    return bootstrap


def judge(oos: np.ndarray, search: list[np.ndarray], all_per_bar_sharpes: list[float], seed: int,
          reps: int = 1000) -> Judged:
    """``oos``: T x K out-of-sample per-bar returns of the top K; ``search``: each one's whole
    search-segment returns (for PBO); ``all_per_bar_sharpes``: every candidate's in-sample per-bar
    Sharpe (for the DSR's N and variance)."""
    bootstrap = arch_bootstrap()
    import pandas as pd
    t, k = oos.shape
    block = max(1, int(round(t ** (1 / 3))))
    bench = np.zeros(t)
    losses = pd.DataFrame(-oos, columns=[f"c{j}" for j in range(k)])
    spa = bootstrap.SPA(bench, losses, block_size=block, reps=reps, bootstrap="stationary", seed=seed)
    spa.compute()
    p = float(spa.pvalues["consistent"])
    stepm = bootstrap.StepM(bench, losses, size=ALPHA, block_size=block, reps=reps, bootstrap="stationary",
                            seed=seed)
    try:
        stepm.compute()
        superior = sorted(int(str(name)[1:]) for name in stepm.superior_models)
    except ValueError:
        # arch's StepM fails once every model has been found superior (no model left for its next
        # step: an empty maximum): then all are, given the SPA test rejects for the best
        superior = [j for j in range(k) if float(np.mean(oos[:, j])) > 0] if p < ALPHA else []
    # N: every candidate evaluated. The variance is an unskilled candidate's: a per-bar Sharpe
    # estimated over T bars varies by 1/T around 0. (The candidates' own dispersion is no null here:
    # a guided search crowds around what it found, both its sides, so that dispersion measures the
    # edge, and it once deflated a planted out-of-sample Sharpe of 12 to a DSR of 1e-26.)
    n = max(len(all_per_bar_sharpes), 1)
    var = 1.0 / max(t, 1)
    dsr = {j: float(S.dsr(S.moments(oos[:, j]), n, var)) for j in range(k)}
    pbo = None
    if k >= 2 and all(len(r) >= 16 for r in search):
        length = min(len(r) for r in search)
        pbo = float(S.pbo([S.block_sums(r[:length], 8) for r in search]).pbo)
    return Judged(p, superior, dsr, pbo)


def verdict(j: Judged, holdout_sharpe: dict[int, float], candidates: int) -> tuple[str, list[str]]:
    """The verdict and its reasons (plain sentences)."""
    reasons: list[str] = []
    good = [i for i in j.superior if j.dsr[i] >= DSR_BAR and holdout_sharpe.get(i, -1.0) > 0]
    overfit = j.pbo is not None and j.pbo >= PBO_BAR
    if j.superior and j.spa_pvalue < ALPHA and good and not overfit:
        reasons.append(f"{len(good)} candidate(s) beat cash out of sample at a 5% family-wise error rate (StepM), "
                       f"the best of the top ones is significant given how many were tried (SPA p = "
                       f"{j.spa_pvalue:.3f}), their deflated Sharpe over all {candidates} candidates is >= "
                       f"{DSR_BAR}, and the untouched holdout confirms them")
        return "discovered", reasons
    if not j.superior:
        reasons.append("no candidate beat cash out of sample once the number tried is accounted for (StepM at 5%)")
    if j.spa_pvalue >= ALPHA:
        reasons.append(f"the best out-of-sample result is what the best of this many tries reaches by luck "
                       f"(SPA p = {j.spa_pvalue:.3f} >= {ALPHA})")
    weak = [i for i in j.superior if j.dsr[i] < DSR_BAR]
    if weak:
        reasons.append(f"{len(weak)} out-of-sample winner(s) fall below a deflated Sharpe of {DSR_BAR} once all "
                       f"{candidates} candidates are counted")
    lost = [i for i in j.superior if holdout_sharpe.get(i, -1.0) <= 0]
    if lost:
        reasons.append(f"{len(lost)} out-of-sample winner(s) lose money on the untouched holdout")
    if overfit:
        reasons.append(f"the in-sample ranking does not carry out of sample (PBO {j.pbo:.2f} >= {PBO_BAR})")
    if overfit or lost:
        return "likely overfit", reasons
    return "not significant", reasons
