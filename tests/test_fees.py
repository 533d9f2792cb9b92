"""The cost models (autobot.strategy.costs): a share pays Interactive Brokers' fixed rates, an FX pair
half a one-pip spread, a crypto venue its maker/taker rates, identically in both engines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.strategy.costs import PER_SHARE, UnitFees, affordable_cash_qty, unit_commission, unit_fees_for
from tests.helpers import ROOT, SHARED_DATA

SPY = SHARED_DATA / "spy_1d_19991101_20200828.csv"
needs_data = pytest.mark.skipif(not SPY.exists(), reason=f"needs the shared data ({SPY}); CI has it")


def cents(x: float) -> float:
    """Money's rounding to the currency: half up on the decimal text (1.065 -> 1.07)."""
    from decimal import ROUND_HALF_UP, Decimal
    return float(Decimal(repr(x)).quantize(Decimal("0.01"), ROUND_HALF_UP))


def ib(qty: float, price: float) -> float:
    return unit_commission(qty, qty * price, PER_SHARE.per_unit, PER_SHARE.minimum, PER_SHARE.cap_rate)


def test_interactive_brokers_fixed_rates() -> None:
    assert ib(100, 50.0) == 1.0                     # 0.50 a share-lot is below the 1.00 minimum
    assert ib(1000, 50.0) == pytest.approx(5.0)     # 0.005 a share
    assert ib(1000, 0.10) == pytest.approx(1.0)     # at most 1% of a 100-dollar trade
    assert ib(0, 50.0) == 0.0
    assert unit_fees_for("equity", "USD", 0.0, 0.0) == PER_SHARE
    assert unit_fees_for("equity", "USD", 0.0, 0.001) == UnitFees()          # a rate given replaces the model
    assert unit_fees_for("fx", "USD", 0.0, 0.0).per_unit == pytest.approx(0.00005)
    assert unit_fees_for("fx", "JPY", 0.0, 0.0).per_unit == pytest.approx(0.005)
    assert unit_fees_for("crypto", "USDT", 0.0002, 0.0004) == UnitFees()


@pytest.mark.parametrize("cash, unit, rate, per_unit, minimum", [
    (100_000.0, 97.87, 0.0, 0.005, 1.0), (150.0, 97.87, 0.0, 0.005, 1.0), (100_000.0, 1.1, 0.0, 0.00005, 0.0),
    (100_000.0, 30_000.0, 0.001, 0.0, 0.0), (0.5, 97.87, 0.0, 0.005, 1.0)])
def test_what_cash_buys_always_pays_its_commission(cash: float, unit: float, rate: float, per_unit: float,
                                                   minimum: float) -> None:
    q = affordable_cash_qty(cash, unit, rate, per_unit, minimum)
    assert q >= 0
    if q > 0:
        fee = unit_commission(q, q * unit, per_unit, minimum, 0.0) + q * unit * rate
        assert q * unit + fee <= cash * (1 + 1e-12)
        assert (q * 1.01) * unit * (1 + rate) + unit_commission(q * 1.01, q * 1.01 * unit, per_unit, minimum, 0.0) \
            > cash * 0.999 or minimum > 0    # not far below what the cash pays for


@needs_data
@pytest.mark.parametrize("engine", ["nautilus", "fast"])
def test_a_share_is_charged_per_share_in_both_engines(tmp_path: Path, engine: str) -> None:
    out = tmp_path / "r.json"
    r = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--data",
                                 str(SPY), "--instrument", "SPY.ARCA",
                                 "--account", "cash", "--engine", engine, "--json", str(out)])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert "Interactive Brokers' fixed rates" in doc["cost_model"]
    closed = [t for t in doc["trade_list"] if t["exit_reason"] != "open"]
    assert closed
    for t in closed:
        want = cents(ib(t["qty"], t["entry_price"])) + cents(ib(t["qty"], t["exit_price"]))
        assert t["fees"] == pytest.approx(want, abs=1e-9), t
