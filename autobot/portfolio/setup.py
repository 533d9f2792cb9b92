"""How a policy's strategies are configured, shared by the backtest and the live node."""

from __future__ import annotations

from typing import Any

from autobot.workspace import CompiledPolicy


def strategy_config(policy: CompiledPolicy, sid: str, bar_type: Any, index: int) -> Any:
    """The ``RuleStrategyConfig`` of strategy ``sid`` (the ``index``-th the policy uses)."""
    from nautilus_trader.model.identifiers import InstrumentId

    from autobot.strategy.rule_strategy import RuleStrategyConfig
    cs = policy.strategies[sid]
    return RuleStrategyConfig(document=cs.source.text, document_name=cs.source.path,
                              instrument_id=InstrumentId.from_str(cs.document.market.instrument),
                              bar_type=bar_type, overrides=dict(cs.params), order_id_tag=f"{index + 1:03d}",
                              capital_share=0.0)
