"""``autobot functions``: the language's functions with parameters, defaults and outputs."""

from __future__ import annotations

from typing import Optional

import typer

from autobot.cli.output import fail_usage


def functions(
    name: Optional[str] = typer.Argument(None, help="Show one function in detail."),
    group: Optional[str] = typer.Option(None, "--group", help="Only TA-Lib functions of this group "
                                        "(e.g. 'Momentum Indicators')."),
) -> None:
    """List the language's functions (TA-Lib, read from its abstract API, and the helpers)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from autobot.diagnostics import did_you_mean
    from autobot.language.check import signature
    from autobot.language.functions import HELPERS, TA_FUNCTIONS

    console = Console()
    if name is not None:
        key = name.lower()
        if key in HELPERS:
            h = HELPERS[key]
            console.print(f"[bold]{escape(h.signature)}[/bold] -> {h.result}\n  {escape(h.doc)}")
            return
        if key not in TA_FUNCTIONS:
            raise fail_usage(f"unknown function '{name}'{did_you_mean(key, list(TA_FUNCTIONS) + list(HELPERS))}")
        fn = TA_FUNCTIONS[key]
        console.print(f"[bold]{signature(fn)}[/bold]  ({fn.display_name}; {fn.group}; TA-Lib {fn.talib_name})")
        implicit = ", ".join(f"{i}={d}" for i, d in zip(fn.inputs, fn.input_defaults) if d)
        console.print(f"  inputs: {', '.join(fn.inputs)}" + (f" (default from the bar: {implicit})"
                                                               if fn.implicit_inputs else " (required)"))
        for p in fn.params:
            aliases = [a for a, targets in fn.param_aliases.items() if p.name in targets]
            kind = "integer" if p.integer else "number"
            console.print(f"  {p.name} = {p.default:g} ({kind}){' alias ' + ', '.join(aliases) if aliases else ''}"
                          f"  {p.help}")
        console.print("  outputs: " + "; ".join(fn.output_choices()) +
                      (" (bars ago)" if fn.index_output else ""))
        console.print(f"  lookback with defaults: {fn.lookback({p.name: p.default for p in fn.params})} bars")
        return
    groups = {fn.group.lower() for fn in TA_FUNCTIONS.values()}
    if group is not None and group.lower() not in groups:
        raise fail_usage(f"unknown group '{group}'; groups: " + ", ".join(sorted({fn.group for fn in TA_FUNCTIONS.values()})))
    table = Table(title="AutoBot functions", title_justify="left")
    for col in ("function", "inputs", "parameters (defaults)", "outputs"):
        table.add_column(col)
    if group is None:
        for h in HELPERS.values():
            table.add_row(h.name, "", escape(h.signature), h.result)
    for fn in TA_FUNCTIONS.values():
        if group is not None and fn.group.lower() != group.lower():
            continue
        params = ", ".join(f"{p.name}={p.default:g}" for p in fn.params)
        table.add_row(fn.name, ", ".join(fn.inputs), params, ", ".join(fn.outputs))
    console.print(table)
