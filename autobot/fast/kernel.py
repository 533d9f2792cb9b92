"""The fast engine's one compiled loop (numba, cached on disk): bars, position, orders, account.

It does, bar by bar, what NautilusTrader's backtest does with AutoBot's ``RuleStrategy`` on the
bar fill model (``autobot.venue.fills``):

1. the venue processes the bar: the resting protective orders of the open position (stop loss,
   take profit, trailing stop; one-cancels-the-others) meet the bar's price points open, high,
   low, close in that order (a point equal to the one before is skipped); a stop or trailing
   stop triggers at or through its trigger, a take profit at or through its limit; each fills
   whole at its trigger/limit, or at the open when the bar opens beyond it (the gap rule);
   a trailing stop ratchets after each point it survives;
2. the strategy sees the close: account equity (balance plus the position marked to the
   close), the position-dependent names, its rules; exits, then entries (a reversal closes,
   then opens), market orders filled whole at the close, sized by equity_pct / risk_per_trade /
   fixed_qty capped by leverage (margin) or free cash less the fee (cash), rounded down to the
   size increment; after an entry, its protective orders from the fill price.

Money is kept as whole units of the currency's precision (int64), as Nautilus' fixed-point
``Money`` is: a commission is the notional (rounded to the currency) times the fee rate, rounded;
a realised PnL is (exit - entry) x qty, rounded; prices are rounded to the price precision.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from autobot.fast import program as G

# fill and exit reasons (codes in the output arrays)
R_ENTRY_LONG, R_ENTRY_SHORT, R_EXIT_LONG, R_EXIT_SHORT, R_REVERSE, R_STOP, R_TAKE, R_TRAIL, R_OPEN = range(9)
REASONS = ("entry.long", "entry.short", "exit.long", "exit.short", "reverse", "stop_loss", "take_profit",
           "trailing_stop", "open")
# run status
OK, HALTED_NEGATIVE, REFUSED_CASH = 0, 1, 2
# integer parameters
I_CASH, I_SIZING, I_PP, I_SP, I_CP, I_TRAIL_BPS, I_LONG_ONLY, I_BP = range(8)
# float parameters
F_CAPITAL, F_LEVERAGE, F_MAKER, F_TAKER, F_MULT, F_MAXQ, F_MINQ, F_SIZE = range(8)
SIZING = {"equity_pct": 0, "risk_per_trade": 1, "fixed_qty": 2}


@njit(cache=True, inline="always")
def _dbl(k: float, digits: int) -> float:
    """The float Nautilus gives for ``k`` units of 10^-digits: its fixed-point raw value (16
    decimals) over 10^16, as ``Price/Quantity/Money.as_double()`` computes it."""
    return (k * 10.0 ** (16 - digits)) / 1e16


@njit(cache=True, inline="always")
def _count(x: float, digits: int) -> float:
    """``x`` in whole units of 10^-digits, rounded half away from zero (Nautilus' constructors)."""
    return math.copysign(math.floor(abs(x) * 10.0 ** digits + 0.5), x)


@njit(cache=True, inline="always")
def _price(x: float, digits: int) -> float:
    """``Price(x, digits).as_double()``."""
    return _dbl(_count(x, digits), digits)


@njit(cache=True, inline="always")
def _units(x: float, digits: int) -> int:
    """Whole currency units of ``Money(x)``."""
    return int(_count(x, digits))


@njit(cache=True)
def _floor_qty(qty: float, sp: int) -> float:
    """Round ``qty`` down to a multiple of 10^-sp, as ``Decimal(repr(qty))`` floored would."""
    scale = 10.0 ** sp
    k = math.floor(qty * scale)
    while (k + 1.0) / scale <= qty:
        k += 1.0
    while k > 0 and k / scale > qty:
        k -= 1.0
    return _dbl(k, sp)


@njit(cache=True)
def _eval_ops(ops: np.ndarray, vals: np.ndarray, t: int, last_true: np.ndarray) -> None:
    """The position-dependent nodes at bar ``t`` (plan order), with the batch evaluator's semantics."""
    for r in range(ops.shape[0]):
        op, out, a, b, n = ops[r, 0], ops[r, 1], ops[r, 2], ops[r, 3], ops[r, 4]
        x = vals[a, t]
        v = 0.0
        if op <= G.MAX:
            y = vals[b, t]
            if op == G.ADD:
                v = x + y
            elif op == G.SUB:
                v = x - y
            elif op == G.MUL:
                v = x * y
            elif op == G.DIV:
                v = x / y if y != 0.0 else (math.nan if x == 0.0 or x != x else math.copysign(math.inf, x) *
                                             math.copysign(1.0, y))
            elif op == G.MOD:
                if y == 0.0 or x != x or y != y or math.isinf(x):
                    v = math.nan
                else:
                    m = np.fmod(x, y)
                    if m != 0.0 and ((y < 0.0) != (m < 0.0)):
                        m += y
                    v = m
            elif op == G.MIN:
                v = math.nan if (x != x or y != y) else (x if x <= y else y)
            else:
                v = math.nan if (x != x or y != y) else (x if x >= y else y)
            if math.isinf(v):
                v = math.nan
            v += 0.0
        elif op <= G.LOG:
            if op == G.NEG:
                v = 0.0 - x
            elif op == G.ABS:
                v = abs(x)
            elif op == G.SQRT:
                v = math.sqrt(x) if x >= 0.0 else math.nan
            else:
                v = math.log(x) if x > 0.0 else math.nan
                if math.isinf(v):
                    v = math.nan
            if math.isinf(v):
                v = math.nan
            v += 0.0 if op != G.NEG and op != G.ABS else 0.0
        elif op <= G.BNE:
            y = vals[b, t]
            if op == G.LT:
                v = 1.0 if x < y else 0.0
            elif op == G.LE:
                v = 1.0 if x <= y else 0.0
            elif op == G.GT:
                v = 1.0 if x > y else 0.0
            elif op == G.GE:
                v = 1.0 if x >= y else 0.0
            elif op == G.EQ or op == G.BEQ:
                v = 1.0 if x == y else 0.0
            elif op == G.NE:
                v = 1.0 if (x != y and x == x and y == y) else 0.0
            else:
                v = 1.0 if x != y else 0.0
        elif op == G.AND:
            v = 1.0 if (x != 0.0 and vals[b, t] != 0.0) else 0.0
        elif op == G.OR:
            v = 1.0 if (x != 0.0 or vals[b, t] != 0.0) else 0.0
        elif op == G.NOT:
            v = 0.0 if x != 0.0 else 1.0
        elif op == G.SHIFT:
            if t >= n:
                v = vals[a, t - n]
            else:
                v = 0.0 if b == 1 else math.nan
        elif op <= G.CROSS_ANY:
            if t >= 1:
                a0, b0, a1, b1 = x, vals[b, t], vals[a, t - 1], vals[b, t - 1]
                up = a0 > b0 and a1 <= b1
                down = a0 < b0 and a1 >= b1
                hit = up if op == G.CROSS_ABOVE else (down if op == G.CROSS_BELOW else (up or down))
                v = 1.0 if hit else 0.0
        elif op == G.RISING or op == G.FALLING:
            if t >= n:
                ok = True
                for j in range(n):
                    newer, older = vals[a, t - j], vals[a, t - j - 1]
                    if not ((newer > older) if op == G.RISING else (newer < older)):
                        ok = False
                        break
                v = 1.0 if ok else 0.0
        elif op == G.BARS_SINCE:
            if x != 0.0:
                last_true[r] = t
            v = float(t - last_true[r]) if last_true[r] >= 0 else math.nan
        vals[out, t] = v


@njit(cache=True)
def simulate(o, h, l, c, vals, ext_slots, ops, rule_slots, rule_warmup, level_kind, level_value, level_slot,
             pi, pf, equity_out, exposure_out, inside_out, f_bar, f_side, f_qty, f_px, f_reason,
             f_fee, t_side, t_qty, t_entry_bar, t_entry_px, t_rule, t_exit_bar, t_exit_px, t_reason, t_pnl,
             t_bars, status):
    """Run the bars; fills and trades into the output arrays. ``status``: [code, bar, fills, trades,
    balance units, base currency units (cash)]."""
    n = c.shape[0]
    cash = pi[I_CASH] == 1
    sizing, pp, sp, cp = pi[I_SIZING], pi[I_PP], pi[I_SP], pi[I_CP]
    trail_bps = pi[I_TRAIL_BPS] == 1
    long_only = pi[I_LONG_ONLY] == 1
    leverage, maker, taker, mult = pf[F_LEVERAGE], pf[F_MAKER], pf[F_TAKER], pf[F_MULT]
    maxq, minq, size_value = pf[F_MAXQ], pf[F_MINQ], pf[F_SIZE]
    balance = _units(pf[F_CAPITAL], cp)       # quote currency units
    bp = pi[I_BP]                             # base currency precision (-1: none, e.g. a share)
    base = 0                                  # cash account: base currency held (units)
    side = 0                                  # +1 long, -1 short, 0 flat
    qty = 0.0
    entry_px = 0.0
    pos_realized = 0                          # the position's realised PnL so far (units): its entry fee
    entry_seen = 0
    bars_seen = 0
    peak = 0.0
    closed_inside = 0
    n_f = 0
    n_t = 0
    # resting protective orders of the open position: active flags and prices
    sl_on, tp_on, tr_on = False, False, False
    sl_px, tp_px, tr_px, tr_dist = 0.0, 0.0, 0.0, 0.0
    last_true = np.full(max(ops.shape[0], 1), -1, dtype=np.int64)
    fired = np.zeros(5, dtype=np.bool_)
    prev_px = c[0] if n > 0 else 0.0
    for t in range(n):
        # ---- 1. the venue processes bar t: the protective orders meet its price points
        if side != 0 and (sl_on or tp_on or tr_on):
            tr_open = tr_px
            hit = -1
            fill_px = 0.0
            for k in range(4):
                p = o[t] if k == 0 else (h[t] if k == 1 else (l[t] if k == 2 else c[t]))
                if p == prev_px:
                    continue
                prev_px = p
                if side > 0:
                    if sl_on and p <= sl_px:
                        hit, fill_px = R_STOP, (o[t] if o[t] < sl_px else sl_px)
                    elif tp_on and p >= tp_px:
                        hit, fill_px = R_TAKE, (o[t] if o[t] > tp_px else tp_px)
                    elif tr_on and p <= tr_px:
                        hit, fill_px = R_TRAIL, (o[t] if o[t] < tr_open else tr_px)
                else:
                    if sl_on and p >= sl_px:
                        hit, fill_px = R_STOP, (o[t] if o[t] > sl_px else sl_px)
                    elif tp_on and p <= tp_px:
                        hit, fill_px = R_TAKE, (o[t] if o[t] < tp_px else tp_px)
                    elif tr_on and p >= tr_px:
                        hit, fill_px = R_TRAIL, (o[t] if o[t] > tr_open else tr_px)
                if hit >= 0:
                    break
                if tr_on:                     # the trailing stop follows the price it survived
                    if side > 0:
                        cand = _price(p * (1.0 - tr_dist / 10_000.0) if trail_bps else p - tr_dist, pp)
                        if cand > tr_px:
                            tr_px = cand
                    else:
                        cand = _price(p * (1.0 + tr_dist / 10_000.0) if trail_bps else p + tr_dist, pp)
                        if cand < tr_px:
                            tr_px = cand
            if hit >= 0:
                fee_rate = maker if hit == R_TAKE else taker
                notional = _units(qty * fill_px * mult, cp)
                fee = _units(_dbl(notional, cp) * fee_rate, cp)
                pnl = _units((fill_px - entry_px) * qty * mult * side, cp)
                if cash:
                    balance += notional - fee
                    base -= _units(qty, bp) if bp >= 0 else 0
                else:
                    balance += pnl - fee
                f_bar[n_f], f_side[n_f], f_qty[n_f], f_px[n_f], f_reason[n_f] = t, -side, qty, fill_px, hit
                n_f += 1
                tr_ = n_t - 1
                t_exit_bar[tr_], t_exit_px[tr_], t_reason[tr_] = t, fill_px, hit
                t_pnl[tr_] = pos_realized + pnl - fee
                f_fee[n_f - 1] = fee
                t_bars[tr_] = bars_seen - entry_seen + 1
                closed_inside = side
                side, qty = 0, 0.0
                sl_on, tp_on, tr_on = False, False, False
                if balance < 0:
                    status[0], status[1] = HALTED_NEGATIVE, t
                    break
        else:
            prev_px = c[t]
        prev_px = c[t]
        # ---- 2. the strategy at the close
        close = c[t]
        unreal = _units((close - entry_px) * qty * mult * side, cp) if side != 0 else 0
        if cash:
            equity = _dbl(balance, cp) + (_dbl(base, bp) * close if bp >= 0 else 0.0)
        else:
            equity = _dbl(balance, cp) + _dbl(unreal, cp)
        bars_seen += 1
        equity_out[t] = equity
        exposure_out[t] = side
        if closed_inside != 0 and side == 0:
            inside_out[t] = True
        closed_inside = 0
        if equity == equity:
            peak = max(peak, equity)
        if ext_slots[0] >= 0:
            vals[ext_slots[0], t] = float(side)
        if ext_slots[1] >= 0:
            vals[ext_slots[1], t] = qty
        if ext_slots[2] >= 0:
            vals[ext_slots[2], t] = entry_px if side != 0 else math.nan
        if ext_slots[3] >= 0:
            vals[ext_slots[3], t] = ((close / entry_px - 1.0) * side if entry_px > 0 else math.nan) \
                if side != 0 else math.nan
        if ext_slots[4] >= 0:
            vals[ext_slots[4], t] = float(bars_seen - entry_seen) if side != 0 else math.nan
        if ext_slots[5] >= 0:
            vals[ext_slots[5], t] = equity
        if ext_slots[6] >= 0:
            vals[ext_slots[6], t] = (1.0 - equity / peak) if peak > 0 else 0.0
        _eval_ops(ops, vals, t, last_true)
        for k in range(5):
            s = rule_slots[k]
            fired[k] = s >= 0 and t >= rule_warmup[k] and vals[s, t] != 0.0
        # exits first
        if side != 0 and fired[2 if side > 0 else 3]:
            reason = R_EXIT_LONG if side > 0 else R_EXIT_SHORT
            n_f, n_t, balance, base = _close(t, close, reason, side, qty, entry_px, pos_realized, entry_seen,
                                             bars_seen, cash, mult, taker, cp, bp, balance, base, n_f, n_t, f_bar, f_side,
                                             f_qty, f_px, f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl,
                                             t_bars)
            side, qty = 0, 0.0
            sl_on, tp_on, tr_on = False, False, False
        want_long, want_short = fired[0], fired[1]
        if want_long == want_short:
            continue
        target = 1 if want_long else -1
        if target == side:
            continue
        if rule_slots[4] >= 0 and not fired[4]:
            continue
        # size
        raw = math.nan
        if sizing == 2:
            raw = size_value
        elif equity > 0 and close > 0:
            if sizing == 0:
                raw = equity * size_value / close
            else:
                d = math.nan
                if level_kind[0] == 1:
                    d = close * level_value[0]
                elif level_kind[0] == 2:
                    d = vals[level_slot[0], t]
                if d == d and d > 0:
                    raw = equity * size_value / d
        unit = close * mult
        if close > 0:
            if cash:
                free = _dbl(balance, cp)
                cap = max(min(equity, free), 0.0) / (unit * (1.0 + taker))
            else:
                cap = max(equity, 0.0) * leverage / unit
            if cap < raw or raw != raw:
                raw = cap if raw == raw else raw
        if not (raw > 0) or math.isinf(raw):
            continue
        if raw > maxq:
            raw = maxq
        q = _floor_qty(raw, sp)
        if q <= 0 or q < minq:
            continue
        if long_only and target < 0:
            continue
        if side != 0:                     # reversal: exit, then entry
            n_f, n_t, balance, base = _close(t, close, R_REVERSE, side, qty, entry_px, pos_realized, entry_seen,
                                             bars_seen, cash, mult, taker, cp, bp, balance, base, n_f, n_t, f_bar, f_side,
                                             f_qty, f_px, f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl,
                                             t_bars)
            side, qty = 0, 0.0
        # entry: a market order filled whole at the close
        notional = _units(q * close * mult, cp)
        fee = _units(_dbl(notional, cp) * taker, cp)
        if cash:
            if notional + fee > balance:
                status[0], status[1] = REFUSED_CASH, t
                break
            balance -= notional + fee
            base += _units(q, bp) if bp >= 0 else 0
        else:
            balance -= fee
        side, qty, entry_px, pos_realized, entry_seen = target, q, close, -fee, bars_seen
        f_bar[n_f], f_side[n_f], f_qty[n_f], f_px[n_f], f_reason[n_f] = t, target, q, close, \
            (R_ENTRY_LONG if target > 0 else R_ENTRY_SHORT)
        n_f += 1
        t_side[n_t], t_qty[n_t], t_entry_bar[n_t], t_entry_px[n_t] = target, q, t, close
        t_rule[n_t], t_exit_bar[n_t], t_reason[n_t], f_fee[n_f - 1] = (0 if target > 0 else 1), -1, R_OPEN, fee
        t_pnl[n_t], t_bars[n_t], t_exit_px[n_t] = 0.0, 0, math.nan
        n_t += 1
        # protective orders from the fill price, distances taken at the decision bar
        sl_on, tp_on, tr_on = False, False, False
        for k in range(3):
            if level_kind[k] == 0:
                continue
            d = close * level_value[k] if level_kind[k] == 1 else vals[level_slot[k], t]
            if not (d == d and d > 0):
                continue
            px = close - target * d if k != 1 else close + target * d
            if not px > 0:
                continue
            px = _price(px, pp)
            if k == 0:
                sl_on, sl_px = True, px
            elif k == 1:
                tp_on, tp_px = True, px
            else:
                tr_on, tr_px = True, px
                tr_dist = round(level_value[k] * 10_000.0, 6) if level_kind[k] == 1 else \
                    _price(d, pp)
        if balance < 0:
            status[0], status[1] = HALTED_NEGATIVE, t
            break
    status[2], status[3], status[4] = n_f, n_t, balance
    status[5] = base
    if status[0] == OK:
        status[1] = n


@njit(cache=True)
def _close(t, px, reason, side, qty, entry_px, pos_realized, entry_seen, bars_seen, cash, mult, taker, cp, bp,
           balance, base, n_f, n_t, f_bar, f_side, f_qty, f_px, f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl,
           t_bars):
    """A market order closing the position at ``px``; the trade's exit."""
    notional = _units(qty * px * mult, cp)
    fee = _units(_dbl(notional, cp) * taker, cp)
    pnl = _units((px - entry_px) * qty * mult * side, cp)
    if cash:
        balance += notional - fee
        base -= _units(qty, bp) if bp >= 0 else 0
    else:
        balance += pnl - fee
    f_bar[n_f], f_side[n_f], f_qty[n_f], f_px[n_f], f_reason[n_f] = t, -side, qty, px, reason
    n_f += 1
    tr_ = n_t - 1
    t_exit_bar[tr_], t_exit_px[tr_], t_reason[tr_] = t, px, reason
    t_pnl[tr_] = pos_realized + pnl - fee
    f_fee[n_f - 1] = fee
    t_bars[tr_] = bars_seen - entry_seen
    return n_f, n_t, balance, base
