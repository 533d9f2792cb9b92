"""``autobot live --real``: allowed only in a capital stage of the paper challenge.

The gate reads the challenge from the paper node's state store: the portfolio must be in a
capital stage (``capital_1`` ...). A real node then trades each strategy's share x its stage's
capital x the portfolio's stage's capital (:mod:`autobot.portfolio.challenge`), with the venue's
execution client (NautilusTrader's adapter, credentials from the policy's ``AUTOBOT_*``
variables). Real venues cannot be reached from the machines AutoBot is tested on: the path is
tested up to the adapter's configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autobot.portfolio.challenge import PORTFOLIO


@dataclass(frozen=True)
class RealPlan:
    """What a real node may trade: the stages it starts in, and each strategy's capital scale."""

    allowed: bool
    reason: str
    portfolio_stage: str
    portfolio_capital: float                       # the share of the policy's capital
    scales: dict[str, float]                       # strategy -> stage capital x portfolio stage capital


def real_plan(state: Path) -> RealPlan:
    """The gate (module docstring), from the state store at ``state``."""
    from autobot.persistence.journal import open_readonly
    if not state.is_file():
        return RealPlan(False, f"no paper challenge recorded (no state store at {state}): run 'autobot live' "
                        "(paper) first", "none", 0.0, {})
    db = open_readonly(state)
    try:
        import json
        row = db.execute("SELECT value FROM meta WHERE key = 'challenge'").fetchone()
    finally:
        db.close()
    stages: dict[str, Any] = json.loads(row[0]) if row else {}
    if not stages:
        return RealPlan(False, "no paper challenge recorded", "none", 0.0, {})
    top = stages.get(PORTFOLIO, {})
    stage, capital = str(top.get("stage", "paper")), float(top.get("capital", 0.0))
    scales = {s: float(t.get("capital", 0.0)) * capital for s, t in stages.items() if s != PORTFOLIO}
    if not stage.startswith("capital_") or capital <= 0:
        return RealPlan(False, f"the portfolio is in the {stage} stage of the paper challenge, not a capital stage",
                        stage, capital, scales)
    if not any(v > 0 for v in scales.values()):
        return RealPlan(False, "no strategy is in a capital stage of the paper challenge", stage, capital, scales)
    return RealPlan(True, f"the portfolio is in {stage} ({capital:.0%} of its capital)", stage, capital, scales)


def exec_client(live: Any, policy_path: str) -> tuple[str, Any, Any]:
    """``(client name, execution client config, factory)`` for the ``live:`` section's venue."""
    from autobot.live.venues import credential
    venue = live.venue
    if venue in ("binance", "binance_futures"):
        from nautilus_trader.adapters.binance import BinanceAccountType, BinanceExecClientConfig
        from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
        from nautilus_trader.adapters.binance.factories import BinanceLiveExecClientFactory
        config = BinanceExecClientConfig(
            api_key=credential(live.api_key_env, policy_path),
            api_secret=credential(live.api_secret_env, policy_path, "api_secret_env"),
            account_type=BinanceAccountType.SPOT if venue == "binance" else BinanceAccountType.USDT_FUTURES,
            environment=BinanceEnvironment.TESTNET if live.testnet else BinanceEnvironment.LIVE)
        return "BINANCE", config, BinanceLiveExecClientFactory
    if venue in ("bybit", "bybit_linear"):
        from nautilus_trader.adapters.bybit import BybitEnvironment, BybitExecClientConfig, BybitProductType
        from nautilus_trader.adapters.bybit.factories import BybitLiveExecClientFactory
        config = BybitExecClientConfig(
            api_key=credential(live.api_key_env, policy_path),
            api_secret=credential(live.api_secret_env, policy_path, "api_secret_env"),
            product_types=(BybitProductType.SPOT if venue == "bybit" else BybitProductType.LINEAR,),
            environment=BybitEnvironment.TESTNET if live.testnet else BybitEnvironment.MAINNET)
        return "BYBIT", config, BybitLiveExecClientFactory
    from autobot.diagnostics import Diagnostic, UserError
    raise UserError([Diagnostic(policy_path, 1, 1, 1, 1, "real-venue",
                                f"real trading on {venue} is not wired (only binance and bybit adapters)",
                                "trade paper on this venue, or use binance / bybit")])
