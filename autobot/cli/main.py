"""The ``autobot`` command: one small module per sub-command.

Typer (on Click) gives typed options, generated ``--help`` and shell completion;
Rich gives colour and tables on a terminal and plain text when piped. Heavy
imports (numpy, TA-Lib, Nautilus) happen inside the commands that need them, so
``autobot validate`` stays quick.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from autobot.cli import (backtest, challenge, discover, functions, live, optimize, report, schema, serve, signals,
                        status, validate)

# Typer raises Click's UsageError (its own vendored copy in recent releases): found from the public
# BadParameter, which derives from it, so both kinds of Typer work
_USAGE_ERROR = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


class OneLineErrors(TyperGroup):
    """Usage errors as one line, ``error: ...`` on stderr, exit code 2 (docs/cli.md), not a
    framework's boxed panel; everything else as Typer does it."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
            code = rv if isinstance(rv, int) else 0
        except _USAGE_ERROR as err:
            ctx = getattr(err, "ctx", None)
            command = ctx.command_path if ctx is not None else "autobot"
            typer.echo(f"error: {err.format_message()} (see '{command} --help')", err=True)
            code = 2
        except typer.Abort:
            typer.echo("error: interrupted", err=True)
            code = 130
        if not standalone_mode:
            return code
        sys.exit(code)


app = typer.Typer(
    cls=OneLineErrors,
    name="autobot",
    help="Declarative trading strategies: validate, inspect and run YAML strategies on NautilusTrader.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("validate")(validate.validate)
app.command("signals")(signals.signals)
app.command("backtest")(backtest.backtest)
app.command("optimize")(optimize.optimize)
app.command("discover")(discover.discover)
app.command("live")(live.live)
app.command("status")(status.status)
app.command("rollback")(status.rollback)
app.command("report")(report.report)
app.add_typer(challenge.app, name="challenge")
app.command("serve")(serve.serve)
app.command("schema")(schema.schema)
app.command("functions")(functions.functions)


if __name__ == "__main__":  # pragma: no cover
    app()
