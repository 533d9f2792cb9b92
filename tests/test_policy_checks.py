"""What `autobot validate` says about a policy before any run (issue 26: a `quote:` strategy in a
policy validated, then `backtest --policy` refused it with a hint naming an option `live` lacks)."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from autobot.cli.main import app
from tests.helpers import ROOT


def test_a_quoting_strategy_in_a_policy_is_refused_at_validate(tmp_path: Path) -> None:
    (tmp_path / "strategies").mkdir()
    shutil.copy(ROOT / "examples" / "strategies" / "mm_avellaneda.yaml", tmp_path / "strategies" / "mm.yaml")
    (tmp_path / "r.yaml").write_text("regimes:\n  always: true\n")
    (tmp_path / "policy.yaml").write_text("policy: p\nstrategies: [strategies/*.yaml]\nregimes: r.yaml\n"
                                          "allocations:\n  always: {mm_avellaneda: 100%}\n")
    out = CliRunner().invoke(app, ["validate", str(tmp_path)])
    assert out.exit_code == 1, out.output
    assert "policy.yaml:5:12: error: 'mm_avellaneda' is a quote: (market-making) strategy" in out.output
    assert "autobot live mm_avellaneda.yaml --replay BOOKFILE" in out.output
    for line in out.output.splitlines():       # every option the hint names exists on its command
        if "hint:" in line:
            assert "live mm_avellaneda.yaml --data" not in line
