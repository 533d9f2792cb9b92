"""Risk-targeted allocation (issue 28): hierarchical risk parity and a target volatility from a
shrunk covariance (PyPortfolioOpt), and drawdown-aware exposure that lowers risk continuously
before the breaker trips."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.portfolio.allocation import allocate, drawdown_scale, target_scale
from tests.helpers import ROOT

def needs_pypfopt() -> None:
    pytest.importorskip("pypfopt", reason="hrp and target_volatility need PyPortfolioOpt: pip install -e "
                                          "\".[portfolio]\" (.ci/run installs it)")


def _returns(seed: int = 1, n: int = 500) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    common = rng.normal(0, 0.01, n)
    return {"a": list(common + rng.normal(0, 0.002, n)),          # a and b move together
            "b": list(common + rng.normal(0, 0.002, n)),
            "c": list(rng.normal(0, 0.01, n))}                     # c on its own


def test_hrp_keeps_the_total_and_spreads_risk_across_clusters() -> None:
    needs_pypfopt()
    base = {"a": 0.3, "b": 0.3, "c": 0.3}
    shares = allocate("hrp", base, _returns())
    assert sum(shares.values()) == pytest.approx(0.9)
    assert shares["c"] > shares["a"] and shares["c"] > shares["b"]     # the lone cluster gets half the risk
    assert shares["c"] == pytest.approx(0.45, abs=0.06)
    few = allocate("hrp", base, {"a": _returns()["a"][:5]})           # too little history: risk parity's fill
    assert sum(few.values()) == pytest.approx(0.9)


def test_target_volatility_scales_down_never_up() -> None:
    needs_pypfopt()
    rng = np.random.default_rng(3)
    r = {"a": list(rng.normal(0, 0.01, 2000))}
    sigma = float(np.std(r["a"], ddof=1)) * math.sqrt(252)
    assert target_scale({"a": 1.0}, r, 0.10, 252) == pytest.approx(0.10 / sigma, rel=1e-9)
    assert target_scale({"a": 1.0}, r, 0.50, 252) == 1.0
    two = dict(r, b=list(rng.normal(0, 0.01, 2000)))
    assert target_scale({"a": 0.5, "b": 0.5}, two, 0.10, 252) > target_scale({"a": 1.0}, r, 0.10, 252)   # diversified


def test_the_drawdown_curve() -> None:
    assert drawdown_scale(0.0, 0.2) == 1.0 and drawdown_scale(0.1, 0.2) == pytest.approx(0.75)
    assert drawdown_scale(0.2, 0.2) == 0.0 and drawdown_scale(0.3, 0.2) == 0.0


def _project(tmp: Path, risk: str, method: str = "fixed") -> Path:
    for name in ("strategies", "regimes"):
        shutil.copytree(ROOT / name, tmp / name)
    text = (ROOT / "policy.yaml").read_text()
    text = text.replace("allocation_method: fixed", f"allocation_method: {method}") if "allocation_method" in text \
        else text + f"allocation_method: {method}\n"
    text = text.replace("risk:\n", f"risk:\n{risk}", 1)
    (tmp / "policy.yaml").write_text(text)
    return tmp / "policy.yaml"


def test_policies_with_risk_targets_run_and_say_what_they_did(tmp_path: Path) -> None:
    needs_pypfopt()
    import json
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = _project(tmp_path / "a", "")
    scaled = _project(tmp_path / "b", "  drawdown_scaling: true\n  target_volatility: 10%\n", method="hrp")
    text = scaled.read_text().replace("max_drawdown: 5%", "max_drawdown: 30%")
    scaled.write_text(text)
    plain.write_text(plain.read_text().replace("max_drawdown: 5%", "max_drawdown: 30%"))
    assert CliRunner().invoke(app, ["validate", str(scaled.parent)]).exit_code == 0
    out = {}
    for k, p in (("plain", plain), ("scaled", scaled)):
        r = CliRunner().invoke(app, ["backtest", "--policy", str(p), "--json", str(p.parent / "r.json")])
        assert r.exit_code == 0, r.output
        out[k] = json.loads((p.parent / "r.json").read_text())
    notes = " ".join(out["scaled"]["notes"])
    assert "drawdown scaling lowered every share" in notes and "target volatility 10%" in notes
    assert out["scaled"]["trade_list"] != out["plain"]["trade_list"]       # the sizes changed
    mean = {k: out[k]["exposures"]["portfolio"]["mean_gross"] for k in out}
    assert mean["scaled"] < mean["plain"]          # less risk on average: shares only ever scaled down


def test_validate_names_what_a_risk_target_needs(tmp_path: Path) -> None:
    p = _project(tmp_path, "  drawdown_scaling: true\n  target_volatility: 150%\n")
    text = "\n".join(line for line in p.read_text().splitlines() if "max_drawdown" not in line) + "\n"
    p.write_text(text)
    r = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert r.exit_code == 1
    assert "risk.drawdown_scaling scales toward risk.max_drawdown" in r.output
    assert "risk.target_volatility must be above 0% and at most 100%" in r.output


def test_evidence_gives_capital_only_beyond_noise_and_the_rest_stays_in_cash() -> None:
    rng = np.random.default_rng(9)
    n = 400
    returns = {"edge": list(rng.normal(0.002, 0.01, n)),        # t ~ 4
               "noise": list(rng.normal(0.0, 0.01, n)),
               "short_history": list(rng.normal(0.01, 0.01, 5))}
    base = {"edge": 0.4, "noise": 0.4, "short_history": 0.2}
    shares = allocate("evidence", base, returns)
    assert shares["edge"] == pytest.approx(0.4) and shares["noise"] == 0.0 and shares["short_history"] == 0.0
    assert sum(shares.values()) < sum(base.values())             # the rest is cash
    nothing = allocate("evidence", base, {"noise": returns["noise"]})
    assert sum(nothing.values()) == 0.0                          # cash is a legitimate answer
