"""The policy's risk section as numbers (plain Python: the gate, the breakers and the allocation
read it; a reload replaces it whole)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Limits:
    """The policy's risk section as fractions (None: no limit)."""

    max_drawdown: float | None = None
    daily_loss_limit: float | None = None
    max_gross_exposure: float | None = None
    max_net_exposure: float | None = None
    max_position: float | None = None
    max_open_positions: int | None = None
    max_consecutive_losses: int | None = None
    target_volatility: float | None = None
    drawdown_scaling: bool = False
    max_instrument_exposure: float | None = None
    max_asset_class_exposure: dict[str, float] = field(default_factory=dict)


def limits_of(policy: Any) -> Limits:
    """The risk section of a compiled policy (:class:`autobot.workspace.CompiledPolicy`) as numbers."""
    from autobot.workspace import share_value
    risk = policy.document.risk
    shares = {k: (share_value(getattr(risk, k)) if getattr(risk, k) is not None else None)
              for k in ("max_drawdown", "daily_loss_limit", "max_gross_exposure", "max_net_exposure", "max_position",
                        "target_volatility", "max_instrument_exposure")}
    classes = {k: share_value(v) for k, v in (risk.max_asset_class_exposure or {}).items()}
    return Limits(**shares, max_open_positions=risk.max_open_positions,
                  max_consecutive_losses=risk.max_consecutive_losses, drawdown_scaling=risk.drawdown_scaling,
                  max_asset_class_exposure=classes)
