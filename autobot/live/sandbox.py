"""Paper execution: Nautilus' sandbox exchange, made to see bars.

The stock ``SandboxExecutionClient`` only listens to ``data.*.{venue}.*`` (quotes, trades,
books); bar topics (``data.bars.<bar type>``) do not match, so with bars alone every order is
rejected for "no market". This subclass also subscribes to the venue's bars, at a priority above
the strategies', so the simulated exchange moves on a bar before any strategy decides on it:
exactly the backtest's bar execution.
"""

from __future__ import annotations

from typing import Any

from nautilus_trader.adapters.sandbox.execution import SandboxExecutionClient
from nautilus_trader.adapters.sandbox.factory import SandboxLiveExecClientFactory


class BarSandboxExecutionClient(SandboxExecutionClient):
    """A sandbox execution client whose exchange also processes the venue's bars."""

    def connect(self) -> None:
        super().connect()
        self._msgbus.subscribe(f"data.bars.*.{self.venue}-*", handler=self.on_data, priority=100)


class BarSandboxExecClientFactory(SandboxLiveExecClientFactory):
    """Factory for :class:`BarSandboxExecutionClient`."""

    @staticmethod
    def create(loop: Any, name: str, config: Any, portfolio: Any, msgbus: Any, cache: Any,
               clock: Any) -> BarSandboxExecutionClient:
        return BarSandboxExecutionClient(loop=loop, portfolio=portfolio, msgbus=msgbus, cache=cache, clock=clock,
                                         config=config)


# Nautilus' node builder passes ``portfolio=`` only to a factory with exactly this name.
BarSandboxExecClientFactory.__name__ = "SandboxLiveExecClientFactory"
