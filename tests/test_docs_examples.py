"""Every example in docs/language.md goes through the real compiler.

* An ```autobot-expr block holds expressions, one a line, that must compile. A line
  ``# rule`` or ``# indicator`` says how the lines below it are used: as ``entry.long``
  of the documented fixture strategy, or as an extra indicator named ``example``.
* An ```autobot-invalid block is written the same way, but each expression must fail
  to compile, with every error pointing at the example's own line.
* A ```yaml block is a complete document that must validate without errors or warnings:
  a strategy is checked together with the shipped ``regimes/regimes.yaml`` (so regime
  names are checked), a regimes document alone, and a policy in a folder holding copies
  of the shipped ``strategies/`` and ``regimes/``.

The fixture strategy (``FIXTURE``) is shown in docs/language.md as a yaml block of
its own; ``test_fixture_is_documented`` keeps the two identical.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from autobot.diagnostics import Diagnostic
from autobot.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "language.md"

FIXTURE = """\
strategy: docs_example
market:
  instrument: BTCUSDT.BINANCE
  bar: 1h
params:
  fast: {default: 12, min: 5, max: 30}
  slow: {default: 26, min: 20, max: 100}
indicators:
  ema_fast: ema(close, fast)
  ema_slow: ema(close, slow)
  rsi14: rsi(close, 14)
entry:
  long: crosses_above(ema_fast, ema_slow)
"""
EXAMPLE_INDICATOR = "example"
EXPR_KINDS = ("autobot-expr", "autobot-invalid")
KNOWN_TAGS = {*EXPR_KINDS, "yaml", "text", "console", "json", "csv", "bash", ""}
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.M | re.S)


@dataclass(frozen=True)
class Block:
    tag: str
    body: str
    line: int          # 1-based line of the block's first content line in the doc


@dataclass(frozen=True)
class Expr:
    kind: str          # autobot-expr or autobot-invalid
    mode: str          # rule or indicator
    text: str
    line: int          # 1-based line in the doc


def _blocks() -> list[Block]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start(2)) + 1
        out.append(Block(m.group(1).strip(), m.group(2), line))
    return out


def _expressions() -> list[Expr]:
    exprs: list[Expr] = []
    for block in _blocks():
        if block.tag not in EXPR_KINDS:
            continue
        mode = None
        for i, raw in enumerate(block.body.splitlines()):
            line = raw.strip()
            if not line:
                continue
            if line.startswith("#"):
                mode = line.lstrip("#").strip()
                assert mode in ("rule", "indicator"), \
                    f"docs/language.md:{block.line + i}: comment lines must be '# rule' or '# indicator'"
                continue
            assert mode is not None, f"docs/language.md:{block.line + i}: say '# rule' or '# indicator' first"
            exprs.append(Expr(block.tag, mode, line, block.line + i))
    return exprs


def _yaml_blocks() -> list[Block]:
    return [b for b in _blocks() if b.tag == "yaml"]


def _strategy_text(mode: str, expr: str) -> str:
    """The fixture with ``expr`` as ``entry.long`` or as indicator ``example`` (on its own line)."""
    quoted = json.dumps(expr)   # a JSON string is a valid YAML double-quoted scalar
    if mode == "rule":
        return FIXTURE.replace("long: crosses_above(ema_fast, ema_slow)", f"long: {quoted}")
    return FIXTURE.replace("entry:\n", f"  {EXAMPLE_INDICATOR}: {quoted}\nentry:\n")


def _check(paths: list[Path]) -> list[Diagnostic]:
    ws = Workspace()
    ws.check(paths)
    return ws.diagnostics


def _shown(diagnostics: list[Diagnostic]) -> str:
    return "\n".join(f"{d.file}:{d.line}:{d.column}: {d.severity}: [{d.code}] {d.message}" for d in diagnostics)


def _copy_shipped(folder: Path, *names: str) -> None:
    for name in names:
        shutil.copytree(ROOT / name, folder / name)


EXPRESSIONS = _expressions()
VALID = [e for e in EXPRESSIONS if e.kind == "autobot-expr"]
INVALID = [e for e in EXPRESSIONS if e.kind == "autobot-invalid"]
YAML_BLOCKS = _yaml_blocks()


def _id(e: Expr) -> str:
    return f"L{e.line}-{e.mode}-{e.text[:40]}"


def test_examples_were_found() -> None:
    assert len(VALID) >= 150, len(VALID)
    assert len(INVALID) >= 40, len(INVALID)
    assert len(YAML_BLOCKS) >= 10, len(YAML_BLOCKS)
    assert {e.mode for e in VALID} == {"rule", "indicator"}
    assert {e.mode for e in INVALID} == {"rule", "indicator"}


def test_only_known_fence_tags() -> None:
    unknown = {b.tag for b in _blocks()} - KNOWN_TAGS
    assert not unknown, f"unknown code block tags in docs/language.md: {unknown}"


def test_fixture_is_documented() -> None:
    assert any(b.body == FIXTURE for b in YAML_BLOCKS), "docs/language.md must show the test fixture verbatim"


def test_fixture_compiles(tmp_path: Path) -> None:
    path = tmp_path / "fixture.yaml"
    path.write_text(FIXTURE)
    assert _check([path]) == []


@pytest.mark.parametrize("example", VALID, ids=_id)
def test_valid_expression(example: Expr, tmp_path: Path) -> None:
    _copy_shipped(tmp_path, "regimes")
    path = tmp_path / "example.yaml"
    path.write_text(_strategy_text(example.mode, example.text))
    diagnostics = _check([path, tmp_path / "regimes" / "regimes.yaml"])
    assert diagnostics == [], f"docs/language.md:{example.line}: {example.text!r} as a {example.mode}:\n" \
                              + _shown(diagnostics)


@pytest.mark.parametrize("example", INVALID, ids=_id)
def test_invalid_expression(example: Expr, tmp_path: Path) -> None:
    _copy_shipped(tmp_path, "regimes")
    path = tmp_path / "example.yaml"
    text = _strategy_text(example.mode, example.text)
    path.write_text(text)
    quoted = json.dumps(example.text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if ln.endswith(quoted))
    diagnostics = _check([path, tmp_path / "regimes" / "regimes.yaml"])
    errors = [d for d in diagnostics if d.severity == "error"]
    assert errors, f"docs/language.md:{example.line}: {example.text!r} as a {example.mode} compiled, " \
                   "but the docs say it must fail"
    elsewhere = [d for d in errors if d.line != line or Path(d.file).name != path.name]
    assert not elsewhere, f"docs/language.md:{example.line}: errors away from the example:\n" + _shown(elsewhere)


@pytest.mark.parametrize("block", YAML_BLOCKS, ids=lambda b: f"L{b.line}")
def test_yaml_document(block: Block, tmp_path: Path) -> None:
    data = yaml.safe_load(block.body)
    assert isinstance(data, dict), f"docs/language.md:{block.line}: a yaml block must be a whole document"
    if "strategy" in data:
        _copy_shipped(tmp_path, "regimes")
        path = tmp_path / "strategy.yaml"
        paths = [path, tmp_path / "regimes" / "regimes.yaml"]
    elif "policy" in data:
        _copy_shipped(tmp_path, "regimes", "strategies")
        path = tmp_path / "policy.yaml"
        paths = [path]
    elif "regimes" in data:
        path = tmp_path / "regimes.yaml"
        paths = [path]
    else:
        pytest.fail(f"docs/language.md:{block.line}: not a strategy, regimes or policy document")
    path.write_text(block.body)
    diagnostics = _check(paths)
    assert diagnostics == [], f"docs/language.md:{block.line}:\n" + _shown(diagnostics)
