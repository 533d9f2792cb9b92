"""The ``autobot`` command: one small module per sub-command.

Typer (on Click) gives typed options, generated ``--help`` and shell completion;
Rich gives colour and tables on a terminal and plain text when piped. Heavy
imports (numpy, TA-Lib, Nautilus) happen inside the commands that need them, so
``autobot validate`` stays quick.
"""

from __future__ import annotations

import typer

from autobot.cli import backtest, functions, live, schema, signals, status, validate

app = typer.Typer(
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
app.command("live")(live.live)
app.command("status")(status.status)
app.command("rollback")(status.rollback)
app.command("schema")(schema.schema)
app.command("functions")(functions.functions)


if __name__ == "__main__":  # pragma: no cover
    app()
