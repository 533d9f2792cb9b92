"""What a market maker asks of a backtest: PnL split into where it came from, and how it quoted.

For fills ``i`` (side ``s`` +1 buy / -1 sell, quantity ``q``, price ``p``, fee ``f``, at time
``t`` with book mid ``m(t)``) and the mid at the end ``M``:

* ``pnl`` = sum of s q (M - p) - sum of f: cash flows plus the inventory marked at the last mid;
* ``spread_capture`` = sum of s q (m(t) - p): bought below the mid, sold above it;
* ``adverse_selection`` = sum of s q (m(t + H) - m(t)): how the mid moved against (negative) or
  with the fill over the markout horizon ``H`` (5 s by default);
* ``inventory`` = sum of s q (M - m(t + H)): the mark-to-market of holding the inventory after that;
* ``fees`` = -sum of f.

The four parts add up to ``pnl`` by construction (a telescoping sum per fill), and ``pnl``
equals the Nautilus account's change plus its open position marked at ``M`` (the tests check
both). ``m(t)`` is the mid the strategy saw at the fill; later mids are read off the quoting
steps' mids (the last at or before the time, the last step's after the end). Markouts at several
horizons are reported per fill in basis points of the fill price: s (m(t + h) - p) / p.

Quoting: ``fill_ratio`` (orders with a fill / orders placed), ``order_to_trade`` (order messages,
new orders and cancels, per fill), ``quote_uptime`` (share of the time both sides were quoted; ``one_sided_uptime`` at least
one), inventory (max |inventory|, time-weighted mean |inventory|, share of time at the limit).
"""

from __future__ import annotations

import math
import numpy as np

from autobot.strategy.quote_records import Fill, Steps

HORIZON_S = 5.0
MARKOUTS_S = (1.0, 5.0, 30.0, 60.0)


def _mid_at(ts: np.ndarray, mid: np.ndarray, t: np.ndarray) -> np.ndarray:
    k = np.searchsorted(ts, t, side="right") - 1
    return mid[np.clip(k, 0, len(mid) - 1)]


def compute(fills: list[Fill], steps: Steps, end_mid: float, orders_placed: int, orders_filled: int,
            max_inventory: float | None, end_ns: int, horizon_s: float = HORIZON_S, cancels: int = 0) -> dict:
    ts = np.asarray(steps.ts, dtype=np.int64)
    mid = np.asarray(steps.mid, dtype=np.float64)
    n = len(fills)
    s = np.array([f.side for f in fills], dtype=np.float64)
    q = np.array([f.qty for f in fills], dtype=np.float64)
    p = np.array([f.price for f in fills], dtype=np.float64)
    fee = np.array([f.fee for f in fills], dtype=np.float64)
    m0 = np.array([f.mid for f in fills], dtype=np.float64)
    t0 = np.array([f.ts for f in fills], dtype=np.int64)
    have_steps = len(ts) > 0

    def later(h: float) -> np.ndarray:
        return _mid_at(ts, mid, t0 + int(h * 1e9)) if have_steps and n else m0.copy()
    mh = later(horizon_s)
    if n and have_steps:                         # a fill after the last step: its mid is the last one known
        mh = np.where(t0 + int(horizon_s * 1e9) > ts[-1], end_mid, mh)
    sq = s * q
    spread = float(np.sum(sq * (m0 - p)))
    adverse = float(np.sum(sq * (mh - m0)))
    inventory = float(np.sum(sq * (end_mid - mh)))
    fees = -float(np.sum(fee))
    pnl = float(np.sum(sq * (end_mid - p))) + fees
    markouts = {}
    for h in MARKOUTS_S:
        mk = later(h)
        markouts[f"{h:g}s"] = float(np.mean(s * (mk - p) / p) * 1e4) if n else None
    # time-weighted quoting and inventory over the steps (each step holds until the next)
    if have_steps:
        edges = np.append(ts, max(end_ns, int(ts[-1])))
        dur = np.diff(edges).astype(np.float64)
        total = float(dur.sum()) or 1.0
        bid = np.asarray(steps.bid, dtype=np.float64)
        ask = np.asarray(steps.ask, dtype=np.float64)
        inv = np.abs(np.asarray(steps.inventory, dtype=np.float64))
        both = float(dur[np.isfinite(bid) & np.isfinite(ask)].sum()) / total
        one = float(dur[np.isfinite(bid) | np.isfinite(ask)].sum()) / total
        tw_inv = float((inv * dur).sum()) / total
        max_inv = float(inv.max()) if len(inv) else 0.0
        at_limit = float(dur[inv >= max_inventory * (1 - 1e-9)].sum()) / total if max_inventory else 0.0
    else:
        both = one = tw_inv = max_inv = at_limit = 0.0
    return {
        "pnl": pnl,
        "pnl_breakdown": {"spread_capture": spread, "adverse_selection": adverse, "inventory": inventory,
                          "fees": fees},
        "markout_horizon_s": horizon_s,
        "markouts_bp": markouts,
        "fills": n,
        "maker_fills": int(sum(1 for f in fills if f.maker)),
        "volume": float(np.sum(q)) if n else 0.0,
        "turnover": float(np.sum(q * p)) if n else 0.0,
        "orders": orders_placed,
        "cancels": cancels,
        "fill_ratio": orders_filled / orders_placed if orders_placed else 0.0,
        "order_to_trade": (orders_placed + cancels) / n if n else (math.inf if orders_placed else 0.0),
        "quote_uptime": both,
        "one_sided_uptime": one,
        "inventory_max": max_inv,
        "inventory_time_weighted": tw_inv,
        "time_at_limit": at_limit,
        "end_inventory": float(np.sum(sq)) if n else 0.0,
        "end_mid": end_mid,
    }
