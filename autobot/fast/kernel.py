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
from autobot.strategy import costs as fees

# fill and exit reasons (codes in the output arrays)
R_ENTRY_LONG, R_ENTRY_SHORT, R_EXIT_LONG, R_EXIT_SHORT, R_REVERSE, R_STOP, R_TAKE, R_TRAIL, R_OPEN = range(9)
REASONS = ("entry.long", "entry.short", "exit.long", "exit.short", "reverse", "stop_loss", "take_profit",
           "trailing_stop", "open")
# run status
OK, HALTED_NEGATIVE, REFUSED_CASH, REFUSED_STOP = 0, 1, 2, 3
# integer parameters
I_CASH, I_SIZING, I_PP, I_SP, I_CP, I_TRAIL_BPS, I_BP, I_MAKER_D, I_TAKER_D = range(9)
# float parameters
F_CAPITAL, F_LEVERAGE, F_TAKER, F_MULT, F_MAXQ, F_MINQ, F_SIZE, F_TRAIL_BPS, F_MAKER_N, F_TAKER_N, F_UNIT, F_UNIT_MIN, \
    F_UNIT_CAP = range(13)
EQUITY_PCT, RISK_PER_TRADE, FIXED_QTY = 0, 1, 2
SIZING = {"equity_pct": EQUITY_PCT, "risk_per_trade": RISK_PER_TRADE, "fixed_qty": FIXED_QTY}


@njit(cache=True, inline="always")
def _dbl(k: float, digits: int) -> float:
    """The float Nautilus gives for ``k`` units of 10^-digits: its fixed-point raw value (16
    decimals) over 10^16, as ``Price/Quantity/Money.as_double()`` computes it."""
    return (k * 10.0 ** (16 - digits)) / 1e16


@njit(cache=True, inline="always")
def _count(x: float, digits: int) -> float:
    """``x`` in whole units of 10^-digits, rounded half away from zero (Nautilus' constructors)."""
    y = abs(x) * 10.0 ** digits
    r = math.floor(y)
    if y - r >= 0.5:                          # exact (no floor(y + 0.5): that rounds 0.49999999999999994 up)
        r += 1.0
    return math.copysign(r, x)


@njit(cache=True, inline="always")
def _price(x: float, digits: int) -> float:
    """``Price(x, digits).as_double()``."""
    return _dbl(_count(x, digits), digits)


@njit(cache=True, inline="always")
def _rounded_count(x: float, digits: int) -> float:
    """Python's ``round(x, digits)`` (correctly rounded from x's exact binary value, ties to even)
    as a count of 10^-digits: the product's rounding error is recovered exactly (Dekker), so a
    value just under a half (48295.215 is 48295.2149999...) rounds down as Python does."""
    s = 10.0 ** digits
    y = x * s
    # exact error of the product x * s (Veltkamp split, Dekker's two-product)
    c = 134217729.0 * x
    xh = c - (c - x)
    xl = x - xh
    c = 134217729.0 * s
    sh = c - (c - s)
    sl = s - sh
    err = ((xh * sh - y) + xh * sl + xl * sh) + xl * sl
    r = math.floor(y)
    frac = (y - r) + err
    if frac >= 1.0:
        r += 1.0
        frac -= 1.0
    elif frac < 0.0:
        r -= 1.0
        frac += 1.0
    if frac > 0.5 or (frac == 0.5 and r % 2.0 == 1.0):
        r += 1.0
    return r


@njit(cache=True, inline="always")
def _make_price(x: float, digits: int) -> float:
    """``instrument.make_price(x).as_double()``: ``Price(round(x, digits))``."""
    return _dbl(_rounded_count(x, digits), digits)


@njit(cache=True, inline="always")
def _units(x: float, digits: int) -> int:
    """Whole currency units of ``Money(x)``."""
    return int(_count(x, digits))


@njit(cache=True, inline="always")
def _commission(notional: int, fee_num: float, fee_digits: int, cp: int) -> int:
    """Nautilus' commission in currency units: ``Money(float(Decimal(notional) * fee))``, the
    fee rate being ``fee_num`` x 10^-fee_digits exactly (the product is exact below 2^53, and one
    division by an exact power of ten is correctly rounded, as ``float(Decimal)`` is)."""
    v = (notional * fee_num) / 10.0 ** (cp + fee_digits)
    return _units(v, cp)


_unit_commission = njit(cache=True, inline="always")(fees.unit_commission)
_affordable_cash_qty = njit(cache=True, inline="always")(fees.affordable_cash_qty)


@njit(cache=True, inline="always")
def _fee(notional: int, qty: float, fee_num: float, fee_digits: int, per_unit: float, unit_min: float,
         unit_cap: float, cp: int) -> int:
    """A fill's commission in currency units: the rate's (:func:`_commission`) plus the per-unit
    one (:func:`autobot.strategy.costs.unit_commission`, each rounded to the currency as Nautilus' Money)."""
    return _commission(notional, fee_num, fee_digits, cp) + \
        _units(_unit_commission(qty, _dbl(notional, cp), per_unit, unit_min, unit_cap), cp)


@njit(cache=True)
def _floor_qty(qty: float, sp: int) -> float:
    """``qty`` rounded down to a multiple of 10^-sp (as ``Decimal(repr(qty))`` floored would), as
    a count of 10^-sp."""
    scale = 10.0 ** sp
    k = math.floor(qty * scale)
    if k >= 9007199254740992.0:   # 2^53: no longer exact (sizes are capped below it: max_order_qty)
        return k
    while (k + 1.0) / scale <= qty:
        k += 1.0
    while k > 0 and k / scale > qty:
        k -= 1.0
    return k


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
            v += 0.0                              # no -0.0 (sqrt(-0.0)), as the batch evaluator's _finish
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
             f_fee, t_side, t_qty, t_entry_bar, t_entry_px, t_exit_bar, t_exit_px, t_reason, t_pnl,
             t_bars, status):
    """Run the bars; fills and trades into the output arrays. ``status``: [code, bar, fills, trades,
    balance units, base currency units (cash), entries whose size rounded to no order]."""
    n = c.shape[0]
    cash = pi[I_CASH] == 1
    sizing, pp, sp, cp = pi[I_SIZING], pi[I_PP], pi[I_SP], pi[I_CP]
    trail_bps = pi[I_TRAIL_BPS] == 1
    leverage, taker, mult = pf[F_LEVERAGE], pf[F_TAKER], pf[F_MULT]
    maxq, minq, size_value, bps = pf[F_MAXQ], pf[F_MINQ], pf[F_SIZE], pf[F_TRAIL_BPS]
    fees = np.array([pf[F_MAKER_N], pf[F_TAKER_N]])
    per_unit, unit_min, unit_cap = pf[F_UNIT], pf[F_UNIT_MIN], pf[F_UNIT_CAP]
    fee_digits = np.array([pi[I_MAKER_D], pi[I_TAKER_D]])
    balance = _units(pf[F_CAPITAL], cp)       # quote currency units
    bp = pi[I_BP]                             # base currency precision (-1: none, e.g. a share)
    base = 0                                  # cash account: base currency held (units)
    side = 0                                  # +1 long, -1 short, 0 flat
    qty = 0.0                                 # Quantity.as_double() of the position
    qe = 0.0                                  # the quantity its PnL is booked on
    entry_px = 0.0
    entry_fee = 0                             # the open position's entry commission (units)
    entry_seen = 0
    bars_seen = 0
    peak = 0.0
    closed_inside = 0
    unsized = 0                               # entries whose size rounded to no order
    n_f = 0
    n_t = 0
    # resting protective orders (0 stop loss, 1 take profit, 2 trailing stop): on, price, and the
    # order the venue checks them in (by their price when placed: ascending for sells, descending
    # for buys; ties in the order placed)
    on = np.zeros(3, dtype=np.bool_)
    px = np.zeros(3)
    order = np.arange(3)
    tr_off = 0.0
    last_true = np.full(max(ops.shape[0], 1), -1, dtype=np.int64)
    fired = np.zeros(5, dtype=np.bool_)
    last = c[0] if n > 0 else 0.0             # the venue's last price
    for t in range(n):
        # ---- 1. the venue processes bar t: the protective orders meet its price points
        if side != 0 and (on[0] or on[1] or on[2]):
            tr_open = px[2]
            hit = -1
            fill_px = 0.0
            for k in range(4):
                p = o[t] if k == 0 else (h[t] if k == 1 else (l[t] if k == 2 else c[t]))
                if (k == 0 and p == last) or (k == 1 and not p > last) or (k == 2 and not p < last) or \
                        (k == 3 and p == last):
                    continue
                for j in range(3):
                    w = order[j]
                    if not on[w]:
                        continue
                    if w == 1:            # take profit: a limit, at or through it
                        if (p >= px[1]) if side > 0 else (p <= px[1]):
                            gap = (o[t] > px[1]) if side > 0 else (o[t] < px[1])
                            hit, fill_px = R_TAKE, (o[t] if gap else px[1])
                            break
                    elif (p <= px[w]) if side > 0 else (p >= px[w]):     # a stop: at or through its trigger
                        at_open = px[0] if w == 0 else tr_open
                        gap = (o[t] < at_open) if side > 0 else (o[t] > at_open)
                        hit, fill_px = (R_STOP if w == 0 else R_TRAIL), (o[t] if gap else px[w])
                        break
                last = p
                if hit >= 0:
                    break
                if on[2]:                 # the trailing stop follows the price it survived
                    px[2] = _trail(px[2], p, side, trail_bps, bps, tr_off, pp)
            if hit >= 0:
                fee = _fee(_units(qty * mult * fill_px, cp), qty, fees[0 if hit == R_TAKE else 1],
                           fee_digits[0 if hit == R_TAKE else 1], per_unit, unit_min, unit_cap, cp)
                balance, base = _exit(t, fill_px, hit, side, qty, qe, entry_px, entry_fee, fee, bars_seen - entry_seen + 1,
                                      cash, mult, cp, bp, balance, base, n_f, n_t, f_bar, f_side, f_qty, f_px,
                                      f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl, t_bars)
                n_f += 1
                closed_inside = side
                side, qty = 0, 0.0
                on[:] = False
                if balance < 0:
                    status[0], status[1] = HALTED_NEGATIVE, t
                    break
        last = c[t]                               # the venue walked the whole bar
        # ---- 2. the strategy at the close
        close = c[t]
        unreal = _units(qe * 1.0 * (close - entry_px) * side, cp) if side != 0 else 0
        if cash:
            # a currency pair's base currency balance, else the position's units (a share has no base)
            equity = _dbl(balance, cp) + (_dbl(base, bp) * close if bp >= 0 else qty * mult * close * side)
        else:
            equity = _dbl(balance, cp) + _dbl(unreal, cp)
        free = _dbl(balance, cp)                  # orders go out after the bar: sizing sees this balance
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
            fee = _fee(_units(qty * mult * close, cp), qty, fees[1], fee_digits[1], per_unit, unit_min, unit_cap, cp)
            balance, base = _exit(t, close, R_EXIT_LONG if side > 0 else R_EXIT_SHORT, side, qty, qe, entry_px, entry_fee,
                                  fee, bars_seen - entry_seen, cash, mult, cp, bp, balance, base, n_f, n_t, f_bar,
                                  f_side, f_qty, f_px, f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl, t_bars)
            n_f += 1
            side, qty = 0, 0.0
            on[:] = False
        want_long, want_short = fired[0], fired[1]
        if want_long == want_short:
            continue
        target = 1 if want_long else -1
        if target == side:
            continue
        if rule_slots[4] >= 0 and not fired[4]:
            continue
        q = _size(sizing, size_value, equity, close, level_kind[0], level_value[0],
                  vals[level_slot[0], t] if level_slot[0] >= 0 else math.nan, cash, free, taker, per_unit, unit_min,
                  leverage, mult, maxq, minq, sp)
        if q <= 0:
            unsized += 1                  # the rule fired; the size rounds to no order
            continue
        if cash and target < 0:          # a cash account is long only
            continue
        # the quantity as Nautilus holds it (Quantity.as_double), and the one its position books PnL
        # on: the smaller of that and the decimal (Position.signed_qty is rounded to the precision)
        q_dec = q / 10.0 ** sp
        q = _dbl(q, sp)
        if side != 0:                     # reversal: exit, then entry
            fee = _fee(_units(qty * mult * close, cp), qty, fees[1], fee_digits[1], per_unit, unit_min, unit_cap, cp)
            balance, base = _exit(t, close, R_REVERSE, side, qty, qe, entry_px, entry_fee, fee, bars_seen - entry_seen,
                                  cash, mult, cp, bp, balance, base, n_f, n_t, f_bar, f_side, f_qty, f_px, f_reason,
                                  f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl, t_bars)
            n_f += 1
            side, qty = 0, 0.0
        # entry: a market order filled whole at the close
        notional = _units(q * mult * close, cp)
        fee = _fee(notional, q, fees[1], fee_digits[1], per_unit, unit_min, unit_cap, cp)
        if cash:
            if _dbl(notional + fee, cp) > free:
                status[0], status[1] = REFUSED_CASH, t
                break
            balance -= notional + fee
            base += _units(q, bp) if bp >= 0 else 0
        else:
            balance -= fee
        side, qty, qe, entry_px, entry_fee, entry_seen = target, q, min(q, q_dec), close, fee, bars_seen
        f_bar[n_f], f_side[n_f], f_qty[n_f], f_px[n_f], f_reason[n_f] = t, target, q, close, \
            (R_ENTRY_LONG if target > 0 else R_ENTRY_SHORT)
        f_fee[n_f] = fee
        n_f += 1
        t_side[n_t], t_qty[n_t], t_entry_bar[n_t], t_entry_px[n_t] = target, q, t, close
        t_exit_bar[n_t], t_reason[n_t] = -1, R_OPEN
        t_pnl[n_t], t_bars[n_t], t_exit_px[n_t] = 0.0, 0, math.nan
        n_t += 1
        # protective orders from the fill price, distances taken at the decision bar
        on[:] = False
        for k in range(3):
            if level_kind[k] == 0:
                continue
            d = close * level_value[k] if level_kind[k] == 1 else vals[level_slot[k], t]
            if not (d == d and d > 0):
                continue
            level = close - target * d if k != 1 else close + target * d
            if not level > 0:
                continue
            on[k], px[k] = True, _make_price(level, pp)
            if k == 2 and level_kind[k] == 2:
                tr_off = _rounded_count(d, pp) / 10.0 ** pp     # float(Decimal(str(make_price(d))))
        # a stop already reached at the close is rejected by the venue (reject_stop_orders)
        if (on[0] and ((close <= px[0]) if target > 0 else (close >= px[0]))) or \
                (on[2] and ((close <= px[2]) if target > 0 else (close >= px[2]))) or \
                (on[1] and ((close >= px[1]) if target > 0 else (close <= px[1]))):
            status[0], status[1] = REFUSED_STOP, t
            break
        _sort_orders(order, on, px, target, pp)
        if on[2]:                         # the venue trails it at the close right away
            px[2] = _trail(px[2], close, target, trail_bps, bps, tr_off, pp)
        if balance < 0:
            status[0], status[1] = HALTED_NEGATIVE, t
            break
    status[2], status[3], status[4] = n_f, n_t, balance
    status[5] = base
    status[6] = unsized
    if status[0] == OK:
        status[1] = n


@njit(cache=True, inline="always")
def _trail(trigger, p, side, trail_bps, bps, off, pp):
    """A trailing stop's trigger after price ``p``: ``Price(p -/+ offset)`` (basis points of
    ``p``, or a price distance), moved only towards the price (Nautilus' trailing calculator)."""
    if trail_bps:
        off = p * (bps / 100.0) / 100.0
    cand = _price(p - off if side > 0 else p + off, pp)
    if side > 0:
        return cand if cand > trigger else trigger
    return cand if cand < trigger else trigger


@njit(cache=True, inline="always")
def _sort_key(x: float, pp: int) -> int:
    """The key Nautilus' matching core sorts resting orders by: the price's 128-bit raw value
    (16 decimals) cast to int64, i.e. its low 64 bits, which wrap for prices above ~922.
    NautilusTrader 1.231, ``execution/matching_core.pyx`` ``order_sort_key``."""
    k = np.uint64(np.int64(_count(x, pp)))
    raw = k * np.uint64(10 ** (16 - pp))           # wraps modulo 2^64, as the cast does
    return np.int64(raw)


@njit(cache=True)
def _sort_orders(order, on, px, side, pp):
    """The order the venue checks the protective orders in: a long's (sell orders) ascending by
    :func:`_sort_key`, a short's (buy orders) descending; ties in the order placed."""
    order[0], order[1], order[2] = 0, 1, 2
    keys = np.zeros(3, dtype=np.int64)
    for i in range(3):
        keys[i] = _sort_key(px[i], pp) if on[i] else 0
    for i in range(1, 3):
        j = i
        while j > 0:
            a, b = order[j - 1], order[j]
            before = (keys[b] < keys[a]) if side > 0 else (keys[b] > keys[a])
            if not before:
                break
            order[j - 1], order[j] = b, a
            j -= 1


@njit(cache=True)
def _size(sizing, value, equity, close, stop_kind, stop_fraction, stop_distance, cash, free, taker, per_unit, unit_min,
          leverage, mult, maxq, minq, sp):
    """The entry's quantity as a count of 10^-sp (0: no order): the sizing method, capped by the account (leverage, or
    free cash less the taker fee), the instrument's maximum, rounded down to the size increment."""
    raw = math.nan
    if sizing == FIXED_QTY:
        raw = value
    elif equity > 0 and close > 0:
        if sizing == EQUITY_PCT:
            raw = equity * value / close
        else:
            d = close * stop_fraction if stop_kind == 1 else (stop_distance if stop_kind == 2 else math.nan)
            if d == d and d > 0:
                raw = equity * value / d
    if close > 0:
        unit = close * mult
        if cash:
            cap = _affordable_cash_qty(min(equity, free), unit, taker, per_unit, unit_min)
        else:
            cap = max(equity, 0.0) * leverage / unit
        if raw == raw and cap < raw:
            raw = cap
    if not (raw > 0) or math.isinf(raw):
        return 0.0
    if raw > maxq:
        raw = maxq
    k = _floor_qty(raw, sp)
    if k <= 0 or _dbl(k, sp) < minq:
        return 0.0
    return k


@njit(cache=True)
def _exit(t, px, reason, side, qty, qe, entry_px, entry_fee, fee, bars, cash, mult, cp, bp, balance, base, n_f, n_t,
          f_bar, f_side, f_qty, f_px, f_reason, f_fee, t_exit_bar, t_exit_px, t_reason, t_pnl, t_bars):
    """The fill closing the position at ``px`` with commission ``fee``: the account, the fill, the
    trade's exit (its PnL as Nautilus' position books it). Returns (balance, base)."""
    points = (px - entry_px) if side > 0 else (entry_px - px)
    if cash:
        balance += _units(qty * mult * px, cp) - fee
        base -= _units(qty, bp) if bp >= 0 else 0
    else:
        balance += _units(qe * mult * points, cp) - fee
    f_bar[n_f], f_side[n_f], f_qty[n_f], f_px[n_f], f_reason[n_f], f_fee[n_f] = t, -side, qty, px, reason, fee
    k = n_t - 1
    t_exit_bar[k], t_exit_px[k], t_reason[k], t_bars[k] = t, px, reason, bars
    t_pnl[k] = _units(_dbl(-entry_fee, cp) + ((-_dbl(fee, cp)) + qe * mult * points), cp)
    return balance, base
