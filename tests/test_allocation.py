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
