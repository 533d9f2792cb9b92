"""Committed schemas match the models; shipped documents validate; validate stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import jsonschema
import yaml
from typer.testing import CliRunner

from autobot.cli.main import app
from autobot.documents.schema import schema_texts
from tests.helpers import ROOT

SHIPPED = {
    "strategy": [*(ROOT / "strategies").glob("*.yaml"), *(ROOT / "examples" / "strategies").glob("*.yaml")],
    "regimes": list((ROOT / "regimes").glob("*.yaml")),
    "policy": [ROOT / "policy.yaml"],
}


def test_committed_schemas_are_in_sync_with_the_models() -> None:
    for name, text in schema_texts().items():
        committed = (ROOT / "schema" / name).read_text(encoding="utf-8")
        assert committed == text, f"schema/{name} is stale: run 'autobot schema'"


def test_shipped_documents_match_their_schema_and_name_it() -> None:
    for kind, paths in SHIPPED.items():
        schema = json.loads((ROOT / "schema" / f"{kind}.json").read_text())
        assert paths
        for path in paths:
            text = path.read_text()
            assert text.startswith("# yaml-language-server: $schema="), path
            target = (path.parent / text.splitlines()[0].split("$schema=")[1]).resolve()
            assert target == (ROOT / "schema" / f"{kind}.json").resolve(), path
            jsonschema.validate(yaml.safe_load(text), schema)


def test_schema_command_writes_the_three_schemas(tmp_path) -> None:
    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json", "regimes.json", "strategy.json"]


def test_validate_imports_neither_nautilus_nor_pandas() -> None:
    code = ("import sys; from autobot.cli.main import app\n"
            "try:\n    app(['validate'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
            "bad = [m for m in ('nautilus_trader', 'pandas', 'polars') if m in sys.modules]\n"
            "print('HEAVY', bad)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "HEAVY []" in out.stdout, out.stdout + out.stderr


def test_validate_shipped_project_exits_zero_and_json_is_a_list() -> None:
    out = subprocess.run([sys.executable, "-m", "autobot.cli.main", "validate", "--format", "json"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert json.loads(out.stdout) == []


def test_validate_usage_errors_exit_two(tmp_path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["validate", str(tmp_path / "missing.yaml")]).exit_code == 2
    assert runner.invoke(app, ["validate", "--format", "xml"]).exit_code == 2
    assert runner.invoke(app, ["validate", "--no-such-option"]).exit_code == 2


def test_functions_lists_every_talib_function_and_details_one() -> None:
    import talib
    runner = CliRunner()
    listing = runner.invoke(app, ["functions"], env={"COLUMNS": "200"})
    assert listing.exit_code == 0
    for name in talib.get_functions():
        assert f" {name.lower()} " in listing.stdout, name
    detail = runner.invoke(app, ["functions", "macd"], env={"COLUMNS": "200"})
    assert "macdsignal (or signal)" in detail.stdout and "fastperiod = 12" in detail.stdout
    assert runner.invoke(app, ["functions", "emma"]).exit_code == 2


def test_lower_layers_never_import_higher_ones() -> None:
    """Every import (function-level ones included) points down the pipeline for these layers."""
    import ast as pyast
    from pathlib import Path
    root = Path(__file__).resolve().parents[1] / "autobot"
    forbidden = {
        "documents": ("autobot.language", "autobot.evaluate", "autobot.strategy", "autobot.backtest",
                      "autobot.portfolio", "autobot.live", "autobot.cli", "autobot.workspace"),
        "language": ("autobot.evaluate", "autobot.strategy", "autobot.backtest", "autobot.portfolio", "autobot.live",
                     "autobot.cli", "autobot.workspace"),
        "evaluate": ("autobot.strategy", "autobot.backtest", "autobot.portfolio", "autobot.live", "autobot.cli"),
        "strategy": ("autobot.venue", "autobot.backtest", "autobot.portfolio", "autobot.live", "autobot.cli", "autobot.workspace"),
        "venue": ("autobot.backtest", "autobot.portfolio", "autobot.live", "autobot.cli", "autobot.workspace"),
        "backtest": ("autobot.fast", "autobot.portfolio", "autobot.live", "autobot.cli"),
        "fast": ("autobot.portfolio", "autobot.live", "autobot.cli", "autobot.workspace"),
        "portfolio": ("autobot.optimize", "autobot.live", "autobot.cli"),
        "optimize": ("autobot.live", "autobot.persistence", "autobot.notify", "autobot.report", "autobot.cli"),
        "report": ("autobot.serve", "autobot.cli"),
        "serve": ("autobot.cli",),
        "persistence": ("autobot.optimize", "autobot.report", "autobot.serve", "autobot.cli"),
    }
    bad = []
    for layer, banned in forbidden.items():
        for path in (root / layer).glob("*.py"):
            for node in pyast.walk(pyast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, pyast.Import) else \
                    [node.module or ""] if isinstance(node, pyast.ImportFrom) else []
                bad += [f"{path.relative_to(root)} imports {n}" for n in names if n.startswith(banned)]
    assert bad == []
