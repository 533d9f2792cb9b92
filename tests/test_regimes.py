"""Regime detection: first match wins, confirm_bars hysteresis, streaming equals batch."""

from __future__ import annotations

import numpy as np
import pytest

from autobot.data.bars import load_bars
from autobot.diagnostics import DiagnosticSink
from autobot.documents.load import load_text
from autobot.documents.validate import validate_document
from autobot.language.compile import compile_regimes
from autobot.evaluate.regime import Hysteresis, RegimeDetector, raw_regimes, regime_series
from tests.helpers import ROOT


def compile_regimes_text(text: str):
    source = load_text(text, "regimes.yaml")
    model, diags = validate_document(source)
    assert model is not None, diags
    sink = DiagnosticSink()
    compiled = compile_regimes(source, model, sink)
    assert compiled is not None, sink.items
    return compiled


class Closes:
    """Bars from a list of closes (o=h=l=c)."""

    def __init__(self, closes: list[float]) -> None:
        self.close = np.array(closes, dtype=float)
        self.open = self.high = self.low = self.close
        self.volume = np.ones(len(closes))
        self.ts = np.arange(len(closes), dtype=np.int64) * 3_600_000_000_000


def test_hysteresis_needs_confirm_bars_in_a_row() -> None:
    h = Hysteresis(3)
    raws = [None, "a", "a", "a", "b", "b", "a", "b", "b", "b", "b"]
    assert [h.step(r) for r in raws] == [None, None, None, "a", "a", "a", "a", "a", "a", "b", "b"]
    h1 = Hysteresis(1)
    assert [h1.step(r) for r in ["a", "b", None, "a"]] == ["a", "b", "b", "a"]


def test_first_matching_regime_wins_and_is_confirmed() -> None:
    compiled = compile_regimes_text("""regimes:
  high: close > 10
  up: close > close[1]
  rest: true
confirm_bars: 2
""")
    bars = Closes([5, 6, 7, 12, 13, 4, 3, 5, 6, 11, 4])
    assert raw_regimes(compiled, bars) == [None, "up", "up", "high", "high", "rest", "rest", "up", "up", "high", "rest"]
    #            confirmation needs two bars in a row of the same raw regime
    want = [None, None, "up", "up", "high", "high", "rest", "rest", "up", "up", "up"]
    assert regime_series(compiled, bars) == want
    detector = RegimeDetector(compiled)
    got = [detector.update(int(t), c, c, c, c, 1.0) for t, c in zip(bars.ts, bars.close)]
    assert got == want


def test_shipped_regimes_stream_equals_batch_on_real_data() -> None:
    text = (ROOT / "regimes" / "regimes.yaml").read_text()
    compiled = compile_regimes_text(text)
    bars = load_bars(ROOT / "examples" / "data" / "example_btcusdt_1h.csv")
    batch = regime_series(compiled, bars)
    detector = RegimeDetector(compiled)
    stream = [detector.update(int(bars.ts[k]), float(bars.open[k]), float(bars.high[k]), float(bars.low[k]),
                              float(bars.close[k]), float(bars.volume[k])) for k in range(len(bars))]
    assert stream == batch
    assert set(batch) - {None} == {"trending", "ranging", "volatile", "calm"}   # every regime occurs
    assert batch[:27] == [None] * 27                                            # ADX(14) warm-up + confirm
    with pytest.raises(AssertionError):
        compile_regimes_text("regimes:\n  x: position.side == 'long'\n")


def test_a_rule_naming_no_regime_is_an_error_whenever_regimes_are_in_play(tmp_path) -> None:
    import shutil

    from typer.testing import CliRunner

    from autobot.cli.main import app
    for sub in ("strategies", "regimes"):
        shutil.copytree(ROOT / sub, tmp_path / sub)
    shutil.copy(ROOT / "policy.yaml", tmp_path / "policy.yaml")
    doc = tmp_path / "strategies" / "trend.yaml"
    doc.write_text(doc.read_text().replace("  long:  crosses_above", "  long: regime == \"trendin\" and crosses_above"))
    runner = CliRunner()
    for args in (["validate", str(tmp_path)], ["backtest", str(doc)],
                 ["backtest", str(doc), "--regimes", str(tmp_path / "regimes" / "regimes.yaml")],
                 ["backtest", "--policy", str(tmp_path / "policy.yaml")]):
        out = runner.invoke(app, args)
        assert out.exit_code == 1, (args, out.output)
        assert "'trendin' is not a possible value (did you mean 'trending'?)" in out.output, args
    # the strategy alone is checked against its project's regimes too, as backtest runs it (issue 30)
    alone = runner.invoke(app, ["validate", str(doc)])
    assert alone.exit_code == 1 and "'trendin' is not a possible value" in alone.output, alone.output
