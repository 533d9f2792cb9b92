"""Allocation maths on hand-made return series."""

from __future__ import annotations

import math

import pytest

from autobot.portfolio.allocation import allocate, inverse_volatility, performance


def series(sd: float, n: int = 40, mean: float = 0.0) -> list[float]:
    """Alternating mean + sd, mean - sd: sample sd = sd * sqrt(n / (n - 1))."""
    return [mean + (sd if k % 2 == 0 else -sd) for k in range(n)]


def test_fixed_is_as_written() -> None:
    assert allocate("fixed", {"a": 0.6, "b": 0.4}, {}) == {"a": 0.6, "b": 0.4}


def test_inverse_volatility_is_risk_parity_and_keeps_the_total() -> None:
    shares = inverse_volatility({"a": 0.6, "b": 0.4}, {"a": series(0.01), "b": series(0.03)})
    assert shares["a"] == pytest.approx(0.75) and shares["b"] == pytest.approx(0.25)   # 1/0.01 : 1/0.03 = 3 : 1
    assert sum(shares.values()) == pytest.approx(1.0)
    # a strategy without history gets the others' average weight
    shares = inverse_volatility({"a": 0.25, "b": 0.25, "c": 0.5}, {"a": series(0.01), "b": series(0.02)})
    w = {"a": 100.0, "b": 50.0, "c": 75.0}
    assert shares == {k: pytest.approx(1.0 * v / 225.0) for k, v in w.items()}
    assert inverse_volatility({"a": 0.5, "b": 0.5}, {}) == {"a": 0.5, "b": 0.5}
    assert inverse_volatility({}, {}) == {}


def test_performance_tilts_with_floors_and_caps() -> None:
    good, bad = series(0.01, mean=0.01), series(0.01, mean=-0.01)       # sharpe ~ +1 and -1 (clipped at 2)
    shares = performance({"a": 0.5, "b": 0.5}, {"a": good, "b": bad})
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["a"] > 0.5 > shares["b"] >= 0.25                      # tilted, floor = half the written share
    sa = 0.01 / (0.01 * math.sqrt(40 / 39))
    wa, wb = 0.5 * math.exp(min(2, sa) / 2), 0.5 * math.exp(-min(2, sa) / 2)
    assert shares["a"] == pytest.approx(wa / (wa + wb))
    # a very good strategy is capped: twice its written share, 80% of the total, and the others keep their floor
    great = series(0.001, mean=0.01)
    shares = performance({"a": 0.45, "b": 0.45}, {"a": great, "b": bad})
    assert shares["a"] == pytest.approx(0.675) and shares["b"] == pytest.approx(0.225)
    shares = performance({"a": 0.3, "b": 0.3, "c": 0.3}, {"a": great, "b": bad, "c": bad})
    assert shares["a"] == pytest.approx(0.6) and shares["b"] == shares["c"] == pytest.approx(0.15)
    assert sum(shares.values()) == pytest.approx(0.9)
    assert performance({"a": 0.3}, {"a": great}) == {"a": pytest.approx(0.3)}
    assert allocate("performance", {}, {}) == {}


def test_performance_keeps_the_total_when_the_caps_cannot_all_hold() -> None:
    great, bad = series(0.001, mean=0.01), series(0.01, mean=-0.01)
    shares = performance({"a": 0.95, "b": 0.05}, {"a": great, "b": bad})
    # a is capped at 80% of the total; b's cap of twice its 5% gives way so nothing sits idle
    assert shares == {"a": pytest.approx(0.8), "b": pytest.approx(0.2)}
    assert sum(shares.values()) == pytest.approx(1.0)


def test_evidence_counts_an_optimize_prior_with_the_run_record() -> None:
    """evidence_priors (issue 28): a study's out-of-sample record counts beside the strategy's own
    record in the run, each by the time it covers (on one per-bar scale). A strong prior alone
    earns capital; a weak one does not; a strong prior is pulled down by a long losing record."""
    from autobot.documents.priors import Prior
    from autobot.portfolio.allocation import evidence
    bpy = 252.0
    base = {"a": 0.5, "b": 0.5}
    strong = {"a": Prior(1.5, 4.0, "a.json")}               # t = 1.5 x sqrt(4) = 3 > 1.645
    weak = {"a": Prior(0.3, 1.0, "a.json")}                 # t = 0.3
    assert evidence(base, {}, priors=strong, bars_per_year=bpy) == {"a": 0.5, "b": 0.0}
    assert evidence(base, {}, priors=weak, bars_per_year=bpy) == {"a": 0.0, "b": 0.0}
    assert evidence(base, {}) == {"a": 0.0, "b": 0.0}        # no record at all: cash
    rng = [(-1) ** k * 0.01 - 0.002 for k in range(2000)]   # 8 years of losing days: Sharpe per bar -0.2
    assert evidence(base, {"a": rng}, priors=strong, bars_per_year=bpy)["a"] == 0.0
    from autobot.portfolio.evidence import combine
    sharpe, n = combine(strong["a"], -0.2, 2000, bpy)
    assert n == pytest.approx(4 * 252 + 2000)
    assert sharpe == pytest.approx((1.5 / math.sqrt(bpy) * 1008 - 0.2 * 2000) / 3008)


def test_evidence_priors_are_checked_and_read(tmp_path) -> None:
    """validate: an unknown strategy, a missing study and a file without an out-of-sample record
    are errors at their lines; a good study loads as the strategy's prior."""
    import json
    import shutil

    from typer.testing import CliRunner

    from autobot.cli.main import app
    from autobot.workspace import load_policy
    from tests.helpers import ROOT
    shutil.copytree(ROOT / "strategies", tmp_path / "strategies")
    shutil.copytree(ROOT / "regimes", tmp_path / "regimes")
    (tmp_path / "good.json").write_text(json.dumps({"strategy": "trend_ema", "oos": {"sharpe": 1.2, "span_days": 730.5}}))
    (tmp_path / "bad.json").write_text(json.dumps({"strategy": "trend_ema", "verdict": "x"}))
    head = ("policy: p\nregimes: regimes/regimes.yaml\nallocation_method: evidence\nallocations:\n"
            "  trending: {trend_ema: 50%, bollinger_rsi: 50%}\n  ranging: {}\n  volatile: {}\n  calm: {}\n")
    (tmp_path / "policy.yaml").write_text(head + "evidence_priors:\n  trend_ema: good.json\n  nope: good.json\n"
                                          "  bollinger_rsi: bad.json\n  momentum_breakout: missing.json\n")
    r = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 1
    assert "policy.yaml:11:3: error: evidence_priors names 'nope', which is not a strategy of this policy" in r.output
    assert "policy.yaml:12:18: error: study 'bad.json': it holds no out-of-sample record" in r.output
    assert "policy.yaml:13:22: error: study 'missing.json' not found" in r.output
    (tmp_path / "policy.yaml").write_text(head + "evidence_priors:\n  trend_ema: good.json\n")
    policy = load_policy(tmp_path / "policy.yaml")
    assert policy.priors["trend_ema"].sharpe == 1.2 and policy.priors["trend_ema"].years == pytest.approx(2.0)
