"""The overfitting statistics on hand-computed values (docs/optimize.md), the walk-forward
windows and the search space."""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from autobot.optimize import stats
from autobot.optimize.space import dimensions
from autobot.optimize.windows import WindowError, walk_forward

PHI = NormalDist().cdf
Z = NormalDist().inv_cdf


def test_moments_by_hand() -> None:
    r = [0.01, -0.02, 0.03, 0.0]
    mean = (0.01 - 0.02 + 0.03 + 0.0) / 4                        # 0.005
    sample_sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 3)
    pop_sd = math.sqrt(sum((x - mean) ** 2 for x in r) / 4)
    m = stats.moments(np.array(r))
    assert m.sharpe == pytest.approx(mean / sample_sd)
    assert m.skew == pytest.approx(sum((x - mean) ** 3 for x in r) / 4 / pop_sd ** 3)
    assert m.kurtosis == pytest.approx(sum((x - mean) ** 4 for x in r) / 4 / pop_sd ** 4)
    assert m.n == 4
    flat = stats.moments(np.zeros(10))
    assert (flat.sharpe, flat.skew, flat.kurtosis) == (0.0, 0.0, 3.0)


def test_psr_by_hand() -> None:
    # SR 0.1 per bar over 101 bars, normal returns: z = 0.1 * 10 / sqrt(1 + (3 - 1) / 4 * 0.01)
    m = stats.Moments(0.1, 0.0, 3.0, 101)
    assert stats.psr(m) == pytest.approx(PHI(1.0 / math.sqrt(1.005)), abs=1e-12)
    assert stats.psr(m) == pytest.approx(0.8407, abs=1e-4)
    # negative skew and fat tails widen the estimate's error: lower PSR
    assert stats.psr(stats.Moments(0.1, -2.0, 9.0, 101)) < stats.psr(m)


def test_deflated_sharpe_reproduces_the_paper_example() -> None:
    """Bailey & López de Prado (2014), section 5: annualised SR 2.5 over 1250 daily bars, skew -3,
    kurtosis 10, N = 100 trials with annualised SR variance 1/2: E[max SR] 1.7894 annualised
    and DSR 0.9004."""
    sr = 2.5 / math.sqrt(250)
    var = 0.5 / 250
    gamma = 0.5772156649015329
    e_max = math.sqrt(var) * ((1 - gamma) * Z(1 - 1 / 100) + gamma * Z(1 - 1 / (100 * math.e)))
    assert stats.expected_max_sharpe(100, var) == pytest.approx(e_max, rel=1e-9)
    assert stats.expected_max_sharpe(100, var) * math.sqrt(250) == pytest.approx(1.7894, abs=1e-3)
    m = stats.Moments(sr, -3.0, 10.0, 1250)
    z = (sr - e_max) * math.sqrt(1249) / math.sqrt(1 + 3 * sr + 9 / 4 * sr ** 2)
    assert stats.dsr(m, 100, var) == pytest.approx(PHI(z), abs=1e-9)
    assert stats.dsr(m, 100, var) == pytest.approx(0.9004, abs=1e-3)
    # more trials, higher bar: lower DSR; one trial: no deflation (DSR == PSR against 0)
    assert stats.dsr(m, 1000, var) < stats.dsr(m, 100, var)
    assert stats.dsr(m, 1, var) == pytest.approx(stats.psr(m, 0.0))


def test_min_track_record_by_hand() -> None:
    m = stats.Moments(0.1, 0.0, 3.0, 500)
    assert stats.min_track_record(m) == pytest.approx(1 + 1.005 * (Z(0.95) / 0.1) ** 2)
    assert stats.min_track_record(m) == pytest.approx(272.9, abs=0.1)
    assert stats.min_track_record(stats.Moments(-0.1, 0.0, 3.0, 500)) == math.inf


def _sums(blocks: list[list[float]]) -> stats.BlockSums:
    return stats.block_sums(np.array([x for b in blocks for x in b]), len(blocks))


def test_pbo_when_the_in_sample_best_always_loses_out_of_sample() -> None:
    """Two trials, four blocks of two bars: A wins the first half, B the second. Of the six ways
    to pick two blocks in sample, {0,1} picks A which ranks last on {2,3} (w = 1/3), {2,3} picks
    B, last on {0,1}; the four mixed splits tie (w = 1/2, lambda = 0). PBO = 6/6."""
    a = _sums([[0.02, 0.01], [0.02, 0.01], [-0.02, -0.01], [-0.02, -0.01]])
    b = _sums([[-0.02, -0.01], [-0.02, -0.01], [0.02, 0.01], [0.02, 0.01]])
    out = stats.pbo([a, b])
    assert out.combinations == 6
    assert out.pbo == 1.0
    assert np.allclose(sorted(out.logits), sorted([math.log(0.5)] * 2 + [0.0] * 4))


def test_pbo_when_one_trial_dominates_everywhere() -> None:
    """A beats B on every block: the in-sample best is the out-of-sample best in all six splits
    (rank 2 of 2, w = 2/3, lambda = ln 2 > 0): PBO = 0."""
    a = _sums([[0.03, 0.01]] * 4)
    b = _sums([[0.01, 0.0]] * 4)
    out = stats.pbo([a, b])
    assert out.pbo == 0.0
    assert np.allclose(out.logits, math.log(2.0))


def test_pbo_of_pure_noise_is_near_one_half() -> None:
    rng = np.random.default_rng(3)
    trials = [stats.block_sums(rng.standard_normal(1600) * 0.01, 16) for _ in range(40)]
    out = stats.pbo(trials)
    assert out.combinations == 12870
    assert 0.2 < out.pbo < 0.8


def test_walk_forward_windows() -> None:
    w = walk_forward(10_000, windows=5, ratio=3.0, purge=20)
    test = (10_000 - 20) // 8
    assert [x.test for x in w[:-1]] == [(3 * test + 20 + k * test, 4 * test + 20 + k * test) for k in range(5)]
    assert [x.train for x in w[:-1]] == [(k * test, k * test + 3 * test) for k in range(5)]
    for x in w[:-1]:                                  # the purge gap, and no test bar ever trained on before
        assert x.test[0] - x.train[1] == 20
    assert all(a.test[1] == b.test[0] for a, b in zip(w[:-2], w[1:-1]))   # one stitched OOS track
    assert w[-1].train == (10_000 - 3 * test, 10_000) and w[-1].test is None
    anchored = walk_forward(10_000, windows=5, ratio=3.0, purge=20, anchored=True)
    assert all(x.train[0] == 0 for x in anchored)
    assert [x.test for x in anchored] == [x.test for x in w]
    assert w[0].folds(3) == [(0, test), (test, 2 * test), (2 * test, 3 * test)]
    with pytest.raises(WindowError, match="too few"):
        walk_forward(300, windows=5)


def test_integer_params_stay_integers() -> None:
    from autobot.documents.models import ParamSpec
    dims = dimensions("s", {"fast": ParamSpec(default=12, min=5, max=30),
                            "k": ParamSpec(default=2.0, min=1.0, max=3.0, step=0.25),
                            "x": ParamSpec(default=0.5, min=0.1, max=0.9),
                            "fixed": ParamSpec(default=3)}, qualify=True)
    by = {d.param: d for d in dims}
    assert set(by) == {"fast", "k", "x"}                    # no range: not searched
    assert by["fast"].integer and by["fast"].name == "s.fast"
    assert not by["k"].integer and by["k"].step == 0.25
    assert by["fast"].clip(7.6) == 8.0 and by["k"].clip(2.1) == 2.0 and by["fast"].clip(99) == 30.0


def test_objectives_and_the_seed_bar_constraint() -> None:
    from autobot.optimize import score as S
    m = {"sharpe": 1.2, "sortino": 1.9, "annual_return": 0.12, "max_drawdown": 0.08}
    assert S.score("sharpe", m) == 1.2 and S.score("sortino", m) == 1.9
    assert S.score("annual_return", m) == 0.12
    assert S.score("calmar", m) == pytest.approx(0.12 / 0.08)
    assert S.score("calmar", {**m, "max_drawdown": 0.0}) is None
    assert S.score("seed_bar", m) == 1.2
    assert S.constraints("sharpe", {"max_drawdown": 0.05}, m) == []
    assert S.constraints("seed_bar", {"max_drawdown": 0.05}, m) == [pytest.approx(0.03)]       # infeasible
    assert S.constraints("seed_bar", {"max_drawdown": 0.10}, m) == [pytest.approx(-0.02)]      # feasible


def test_metrics_of_returns_are_the_backtest_metrics_of_that_curve() -> None:
    """A range's metrics are compute() of the equity curve capital * cumprod(1 + r): the same
    total return, drawdown and per-bar Sharpe as computed here by hand."""
    from autobot.optimize import score as S
    r = np.array([0.01, -0.02, 0.015, 0.0, 0.005] * 200)
    hour = 3600 * 1_000_000_000
    ts = np.arange(1, len(r) + 1, dtype=np.int64) * hour
    m = S.metrics_of_returns(r, ts, hour, 1000.0, [{"pnl": 5.0, "exit_reason": "x"}, {"pnl": -1.0, "exit_reason": "y"}])
    curve = 1000.0 * np.cumprod(1 + r)
    assert m["final_equity"] == pytest.approx(curve[-1])
    assert m["total_return"] == pytest.approx(curve[-1] / 1000.0 - 1)
    peak = np.maximum.accumulate(np.concatenate(([1000.0], curve)))
    assert m["max_drawdown"] == pytest.approx(float(np.max(1 - np.concatenate(([1000.0], curve)) / peak)))
    per_year = len(r) / (len(r) * hour / (365.25 * 86400e9))
    assert m["sharpe"] == pytest.approx(np.mean(r) / np.std(r, ddof=1) * np.sqrt(per_year))
    assert m["win_rate"] == 0.5 and m["trades"] == 2


def test_effective_trials_from_the_trials_correlation() -> None:
    """N of the DSR: rho + (1 - rho) N (Bailey and Lopez de Prado 2014): the same strategy run N
    times is one trial; independent trials are N; rho is measured on the trials' block returns."""
    import numpy as np

    from autobot.optimize import stats
    rng = np.random.default_rng(3)
    base = rng.normal(0, 1, 4000)
    same = [stats.block_sums(base * (1 + 0.1 * k), 16) for k in range(10)]
    alone = [stats.block_sums(rng.normal(0, 1, 4000), 16) for _ in range(200)]
    assert stats.average_correlation(same) == pytest.approx(1.0)
    assert stats.effective_trials(10, stats.average_correlation(same)) == pytest.approx(1.0)
    rho = stats.average_correlation(alone)
    assert rho is not None and rho < 0.02                      # clipped at 0; noise around it
    assert stats.effective_trials(200, rho) > 0.98 * 200
    mixed = [stats.block_sums(0.7 * base + 0.7 * rng.normal(0, 1, 4000), 16) for _ in range(100)]
    rho = stats.average_correlation(mixed)
    assert 0.3 < rho < 0.7                                     # true correlation 0.49 / 0.98 = 0.5
    assert stats.effective_trials(100, rho) == pytest.approx(rho + (1 - rho) * 100)
    assert stats.average_correlation(same[:2]) is None and stats.effective_trials(5, None) == 5
