"""Real market data for a live node: NautilusTrader's venue adapters, from the policy's ``live:``.

Execution stays on paper (the sandbox exchange moves on the venue's bars); only the data client
changes. Credentials come from environment variables named in the policy, never from YAML.
"""

from __future__ import annotations

import os
from typing import Any

from autobot.diagnostics import Diagnostic, UserError


def credential(name: str, policy_path: str, key: str = "api_key_env") -> str:
    value = os.environ.get(name)
    if not value:
        raise UserError([_at(policy_path, key, "missing-credentials", f"environment variable {name} is not set",
                             f"export {name}=... (the policy's live: section names it)")])
    return value


def _at(policy_path: str, key: str, code: str, message: str, hint: str) -> Diagnostic:
    """A diagnostic at ``live.<key>`` in the policy (``live:`` when the key is not written there)."""
    from autobot.documents.load import load_file
    try:
        source = load_file(policy_path)
    except UserError:
        return Diagnostic(policy_path, 1, 1, 1, 2, code, message, hint)
    node, found = source.node_at(("live", key))
    if not found or node is None:
        root = source.root
        node = root.keys.get("live") if root is not None and root.kind == "mapping" else None
    if node is None:
        return source.diagnostic(0, 1, code, message, hint)
    return source.diagnostic(node.start, node.end, code, message, hint)


def data_client(live: Any, instrument_ids: list[str], policy_path: str) -> tuple[str, Any, Any]:
    """``(client name, data client config, factory)`` for the ``live:`` section."""
    from nautilus_trader.config import InstrumentProviderConfig

    provider = InstrumentProviderConfig(load_ids=frozenset(instrument_ids))
    venue = live.venue
    if venue in ("binance", "binance_futures"):
        from nautilus_trader.adapters.binance import BinanceAccountType, BinanceDataClientConfig
        from nautilus_trader.adapters.binance.common.enums import BinanceEnvironment
        from nautilus_trader.adapters.binance.factories import BinanceLiveDataClientFactory
        config = BinanceDataClientConfig(
            api_key=credential(live.api_key_env, policy_path), api_secret=credential(live.api_secret_env, policy_path, "api_secret_env"),
            account_type=BinanceAccountType.SPOT if venue == "binance" else BinanceAccountType.USDT_FUTURES,
            environment=BinanceEnvironment.TESTNET if live.testnet else BinanceEnvironment.LIVE,
            instrument_provider=provider)
        return "BINANCE", config, BinanceLiveDataClientFactory
    if venue in ("bybit", "bybit_linear"):
        from nautilus_trader.adapters.bybit import BybitDataClientConfig, BybitEnvironment, BybitProductType
        from nautilus_trader.adapters.bybit.factories import BybitLiveDataClientFactory
        config = BybitDataClientConfig(
            api_key=credential(live.api_key_env, policy_path), api_secret=credential(live.api_secret_env, policy_path, "api_secret_env"),
            product_types=(BybitProductType.SPOT if venue == "bybit" else BybitProductType.LINEAR,),
            environment=BybitEnvironment.TESTNET if live.testnet else BybitEnvironment.MAINNET,
            instrument_provider=provider)
        return "BYBIT", config, BybitLiveDataClientFactory
    try:
        from nautilus_trader.adapters.interactive_brokers.config import InteractiveBrokersDataClientConfig
        from nautilus_trader.adapters.interactive_brokers.factories import InteractiveBrokersLiveDataClientFactory
    except ImportError as exc:
        raise UserError([Diagnostic(policy_path, 1, 1, 1, 1, "missing-adapter",
                                    f"the Interactive Brokers adapter cannot load ({exc})",
                                    "pip install 'nautilus_trader[ib]' (it needs IB's ibapi package)")]) from None
    config = InteractiveBrokersDataClientConfig(ibg_host=live.host, ibg_port=live.port)
    return "IB", config, InteractiveBrokersLiveDataClientFactory
