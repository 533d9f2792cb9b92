"""Issue 27: a document is compiled once per run. The command compiles it (with the regime names
in play), and the NautilusTrader strategy takes that plan from the registry its config is keyed
in (autobot/strategy/plans.py) instead of compiling the config's text again."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import autobot.language.compile as compile_module
import autobot.workspace as workspace_module
from autobot.cli.main import app
from autobot.strategy import plans
from tests.helpers import ROOT

EXAMPLE = ROOT / "examples" / "data" / "example_btcusdt_1h.csv"


@pytest.fixture
def compilations(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Every compilation of a strategy document, by file (the real compiler runs; it is counted)."""
    seen: Counter[str] = Counter()
    real = compile_module.compile_strategy

    def counted(source: Any, *args: Any, **kwargs: Any) -> Any:
        seen[Path(source.path).name] += 1
        return real(source, *args, **kwargs)
    monkeypatch.setattr(compile_module, "compile_strategy", counted)
    monkeypatch.setattr(workspace_module, "compile_strategy", counted)
    return seen


@pytest.mark.parametrize("engine", ["nautilus", "fast"])
def test_a_backtest_compiles_its_document_once(compilations: Counter[str], tmp_path: Path, engine: str) -> None:
    taken = plans.COUNTS["taken"]
    out = CliRunner().invoke(app, ["backtest", str(ROOT / "strategies" / "trend.yaml"), "--data", str(EXAMPLE),
                                   "--engine", engine, "--json", str(tmp_path / "r.json")])
    assert out.exit_code == 0, out.output
    assert compilations == Counter({"trend.yaml": 1})
    if engine == "nautilus":
        assert plans.COUNTS["taken"] == taken + 1          # RuleStrategy took the command's plan


def test_a_policy_backtest_compiles_each_document_once(compilations: Counter[str]) -> None:
    out = CliRunner().invoke(app, ["backtest", "--policy", str(ROOT / "policy.yaml"), "--data", str(EXAMPLE)])
    assert out.exit_code == 0, out.output
    assert compilations == Counter({"trend.yaml": 1, "mean_reversion.yaml": 1, "momentum.yaml": 1})


def test_a_rule_naming_no_regime_is_found_in_the_one_compilation(compilations: Counter[str], tmp_path: Path) -> None:
    doc = tmp_path / "r.yaml"
    doc.write_text("strategy: r\nmarket: {instrument: BTCUSDT.BINANCE, bar: 1h}\nentry:\n  long: regime == 'trendin'\n"
                   "sizing: {equity_pct: 10%}\n")
    out = CliRunner().invoke(app, ["backtest", str(doc), "--data", str(EXAMPLE), "--regimes",
                                   str(ROOT / "regimes" / "regimes.yaml")])
    assert out.exit_code == 1 and "'trendin' is not a possible value (did you mean 'trending'?)" in out.output
    assert compilations == Counter({"r.yaml": 1})


def test_a_config_built_elsewhere_is_compiled_from_its_text() -> None:
    from autobot.workspace import load_strategy
    compiled = load_strategy(ROOT / "strategies" / "trend.yaml")
    text, name = compiled.source.text, compiled.source.path
    before = plans.COUNTS["compiled"]
    other = plans.compiled_for(text, name, {"fast": 7.0})          # never registered: compiled here
    assert plans.COUNTS["compiled"] == before + 1 and other.params["fast"] == 7.0
    plans.register(compiled, {})
    assert plans.compiled_for(text, name, {}) is compiled          # registered: the same object


def test_the_warm_up_compiles_the_kernel_every_strategy_then_uses() -> None:
    """``python -m autobot.fast.warm`` (the README's install step): one small run compiles the
    kernel; a strategy of another shape on another account then runs on the compiled kernel."""
    import autobot.fast.kernel as K
    from autobot.data.bars import load_bars
    from autobot.fast.engine import run_fast
    from autobot.fast.warm import warm
    from autobot.venue.settings import VenueSettings
    from autobot.workspace import load_strategy
    assert warm() > 0
    compiled = K.simulate.signatures
    assert compiled
    result = run_fast(load_strategy(ROOT / "strategies" / "mean_reversion.yaml"), load_bars(EXAMPLE),
                      VenueSettings(account="cash"))
    assert result.engine == "fast" and K.simulate.signatures == compiled     # nothing compiled again
