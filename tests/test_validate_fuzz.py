"""Untrusted input: arbitrary text and arbitrary YAML only ever produce reported errors."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autobot.workspace import Workspace
from tests.expr_gen import bool_expr

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                         HealthCheck.function_scoped_fixture])
KEYS = ["strategy", "market", "instrument", "bar", "params", "indicators", "entry", "exit", "long", "short",
        "risk", "sizing", "stop_loss", "regimes", "policy", "allocations", "default", "min", "max", "confirm_bars"]
yaml_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
              st.text(max_size=30), st.sampled_from(["close > open", "ema(close, 3)", "1h", "A.B", "5%"])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children,
                                               max_size=5)),
    max_leaves=25,
)


def check_only_diagnostics(tmp_path: Path, text: str) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")
    ws = Workspace()
    ws.check([path])                      # must not raise
    for d in ws.diagnostics:
        assert d.file and d.line >= 1 and d.column >= 1 and d.message


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(tmp_path: Path, text: str) -> None:
    check_only_diagnostics(tmp_path, text)


@FUZZ
@given(doc=yaml_values)
def test_arbitrary_yaml(tmp_path: Path, doc: object) -> None:
    check_only_diagnostics(tmp_path, yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(expr=st.one_of(st.text(max_size=60), bool_expr(2)), mutation=st.integers(0, 60))
def test_arbitrary_and_mangled_expressions(tmp_path: Path, expr: str, mutation: int) -> None:
    mangled = expr[:mutation] + expr[mutation + 1:] if mutation < len(expr) else expr + "("
    for e in (expr, mangled):
        text = ("strategy: t\nmarket: {instrument: A.B, bar: 1h}\nindicators:\n  x: " +
                yaml.safe_dump(e, default_style='"').strip() + "\nentry:\n  long: x\n")
        check_only_diagnostics(tmp_path, text)
