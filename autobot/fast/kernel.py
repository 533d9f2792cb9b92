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
from autobot.strategy import sizing

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
EQUITY_PCT, RISK_PER_TRADE, FIXED_QTY = sizing.EQUITY_PCT, sizing.RISK_PER_TRADE, sizing.FIXED_QTY
SIZING = sizing.METHODS


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


_floor_qty = njit(cache=True)(sizing.floor_count)      # one home: autobot/strategy/sizing.py
_sized_units = njit(cache=True, inline="always")(sizing.units)


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


# ---------------------------------------------------------------------------------------------
# One strategy's position, orders and records as state arrays, advanced in phases. simulate()
# runs the phases bar by bar for a strategy alone; the portfolio engine
# (autobot.portfolio.fast_engine) runs the same phases for every member of a policy, in the
# order NautilusTrader processes the members' bars, with the portfolio's equity and gate between.

# The phases, and what they call, are compiled without numba's reference counting (NRT) and
# inlined (numba IR) into simulate's loop (_run, also without NRT): compiled with it, every call
# increfs and decrefs each array argument (decide takes 14) with atomic instructions that numba's
# refcount pruning does not remove on these branchy functions, ~80% of the loop's time (100,000
# bars: 60 ms, against 5-9 ms for the one-function loop before the phases). Inlined into a loop
# that keeps NRT, the increfs move into the loop instead. No phase allocates (none can without
# NRT); new_state, which does, and simulate keep it. Called from Python (the portfolio engine),
# a phase is an ordinary compiled function.
_phase = njit(cache=True, inline="always", _nrt=False)

# integer state (si)
S_SIDE, S_ENTRY_FEE, S_ENTRY_SEEN, S_BARS_SEEN, S_CLOSED_INSIDE, S_UNSIZED, S_NF, S_NT, S_BALANCE, S_BASE, \
    S_ON, S_ORDER = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13
N_SI = 16
# float state (sx)
X_QTY, X_QE, X_ENTRY_PX, X_PEAK, X_TR_OFF, X_PX, X_REALIZED = 0, 1, 2, 3, 4, 5, 8
N_SX = 9
# a fill (fl rows): stamp (the bar or event it filled at), side, quantity, price, reason, commission (units)
FL_BAR, FL_SIDE, FL_QTY, FL_PX, FL_REASON, FL_FEE = range(6)
# a trade (tr rows)
TR_SIDE, TR_QTY, TR_ENTRY_BAR, TR_ENTRY_PX, TR_EXIT_BAR, TR_EXIT_PX, TR_REASON, TR_PNL, TR_BARS = range(9)
# each of the strategy's own bars (rec rows): equity (its share), position side, closed inside, own PnL
REC_EQUITY, REC_EXPOSURE, REC_INSIDE, REC_PNL = range(4)


@njit(cache=True)
def new_state(pi, pf):
    """A flat member: the balance (units) starts at ``pf[F_CAPITAL]`` (0 for a portfolio member,
    whose cash flows are added to the shared account's)."""
    si = np.zeros(N_SI, dtype=np.int64)
    sx = np.zeros(N_SX)
    si[S_BALANCE] = _units(pf[F_CAPITAL], pi[I_CP])
    for k in range(3):
        si[S_ORDER + k] = k
    return si, sx


@_phase
def _exit(si, sx, stamp, px, reason, fee, bars, pi, pf, fl, tr):
    """The fill closing the position at ``px`` with commission ``fee``: the account, the fill, the
    trade's exit (its PnL as Nautilus' position books it); the member is flat after it."""
    side, qty, qe, entry_px = si[S_SIDE], sx[X_QTY], sx[X_QE], sx[X_ENTRY_PX]
    mult, cp, bp = pf[F_MULT], pi[I_CP], pi[I_BP]
    points = (px - entry_px) if side > 0 else (entry_px - px)
    if pi[I_CASH] == 1:
        si[S_BALANCE] += _units(qty * mult * px, cp) - fee
        si[S_BASE] -= _units(qty, bp) if bp >= 0 else 0
    else:
        si[S_BALANCE] += _units(qe * mult * points, cp) - fee
    n_f = si[S_NF]
    fl[n_f, FL_BAR], fl[n_f, FL_SIDE], fl[n_f, FL_QTY], fl[n_f, FL_PX] = stamp, -side, qty, px
    fl[n_f, FL_REASON], fl[n_f, FL_FEE] = reason, fee
    si[S_NF] = n_f + 1
    k = si[S_NT] - 1
    tr[k, TR_EXIT_BAR], tr[k, TR_EXIT_PX], tr[k, TR_REASON], tr[k, TR_BARS] = stamp, px, reason, bars
    pnl = _units(_dbl(-si[S_ENTRY_FEE], cp) + ((-_dbl(fee, cp)) + qe * mult * points), cp)
    tr[k, TR_PNL] = pnl
    sx[X_REALIZED] += _dbl(pnl, cp)
    si[S_SIDE] = 0
    sx[X_QTY] = 0.0
    for j in range(3):
        si[S_ON + j] = 0


@_phase
def venue_bar(si, sx, stamp, o, h, l, c, last, pi, pf, fl, tr):
    """The venue processes a bar (o, h, l, c; ``last``: its price before the bar): the resting
    protective orders meet the bar's price points. Returns the reason of the exit it filled (-1: none)."""
    side = si[S_SIDE]
    if side == 0 or not (si[S_ON] or si[S_ON + 1] or si[S_ON + 2]):
        return -1
    on, order, px = si[S_ON:S_ON + 3], si[S_ORDER:S_ORDER + 3], sx[X_PX:X_PX + 3]
    pp, cp = pi[I_PP], pi[I_CP]
    trail_bps, bps, tr_off = pi[I_TRAIL_BPS] == 1, pf[F_TRAIL_BPS], sx[X_TR_OFF]
    tr_open = px[2]
    hit = -1
    fill_px = 0.0
    for k in range(4):
        p = o if k == 0 else (h if k == 1 else (l if k == 2 else c))
        if (k == 0 and p == last) or (k == 1 and not p > last) or (k == 2 and not p < last) or \
                (k == 3 and p == last):
            continue
        for j in range(3):
            w = order[j]
            if not on[w]:
                continue
            if w == 1:            # take profit: a limit, at or through it
                if (p >= px[1]) if side > 0 else (p <= px[1]):
                    gap = (o > px[1]) if side > 0 else (o < px[1])
                    hit, fill_px = R_TAKE, (o if gap else px[1])
                    break
            elif (p <= px[w]) if side > 0 else (p >= px[w]):     # a stop: at or through its trigger
                at_open = px[0] if w == 0 else tr_open
                gap = (o < at_open) if side > 0 else (o > at_open)
                hit, fill_px = (R_STOP if w == 0 else R_TRAIL), (o if gap else px[w])
                break
        last = p
        if hit >= 0:
            break
        if on[2]:                 # the trailing stop follows the price it survived
            px[2] = _trail(px[2], p, side, trail_bps, bps, tr_off, pp)
    if hit >= 0:
        qty = sx[X_QTY]
        maker = hit == R_TAKE
        fee = _fee(_units(qty * pf[F_MULT] * fill_px, cp), qty, pf[F_MAKER_N] if maker else pf[F_TAKER_N],
                   pi[I_MAKER_D] if maker else pi[I_TAKER_D], pf[F_UNIT], pf[F_UNIT_MIN], pf[F_UNIT_CAP], cp)
        _exit(si, sx, stamp, fill_px, hit, fee, si[S_BARS_SEEN] - si[S_ENTRY_SEEN] + 1, pi, pf, fl, tr)
        si[S_CLOSED_INSIDE] = side
    return hit


@njit(cache=True, inline="always")
def _fired(vals, t, rule_slots, rule_warmup, k):
    """Whether rule ``k`` (entry long, entry short, exit long, exit short, entry filter) holds at bar ``t``."""
    s = rule_slots[k]
    return s >= 0 and t >= rule_warmup[k] and vals[s, t] != 0.0


@_phase
def decide(si, sx, t, close, own, whole, share, free, vals, ext_slots, ops, rule_slots, rule_warmup, level_kind,
           level_value, level_slot, last_true, pi, pf, rec):
    """The strategy at the close of its bar ``t``: its equity (``own``: from its own account; else
    ``whole`` x ``share``, the portfolio's equity), the position-dependent names, its rules. Records
    the bar (``rec``); returns (exit reason or -1, entry side or 0, entry quantity as a count of
    10^-sp). ``free``: the cash an entry may spend (a cash account)."""
    cash = pi[I_CASH] == 1
    cp, bp, sp = pi[I_CP], pi[I_BP], pi[I_SP]
    mult = pf[F_MULT]
    side = si[S_SIDE]
    qty, entry_px = sx[X_QTY], sx[X_ENTRY_PX]
    unreal = _units(sx[X_QE] * 1.0 * (close - entry_px) * side, cp) if side != 0 else 0
    if own:
        # a currency pair's base currency balance, else the position's units (a share has no base)
        if cash:
            equity = _dbl(si[S_BALANCE], cp) + (_dbl(si[S_BASE], bp) * close if bp >= 0 else qty * mult * close * side)
        else:
            equity = _dbl(si[S_BALANCE], cp) + _dbl(unreal, cp)
        whole = equity
    else:
        equity = whole * share
    si[S_BARS_SEEN] += 1
    bars_seen = si[S_BARS_SEEN]
    rec[t, REC_EQUITY] = equity
    rec[t, REC_EXPOSURE] = side
    if si[S_CLOSED_INSIDE] != 0 and side == 0:
        rec[t, REC_INSIDE] = 1.0
    si[S_CLOSED_INSIDE] = 0
    rec[t, REC_PNL] = sx[X_REALIZED] + (_dbl(unreal, cp) if side != 0 else 0.0)
    if whole == whole:
        sx[X_PEAK] = max(sx[X_PEAK], whole)
    peak = sx[X_PEAK]
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
        vals[ext_slots[4], t] = float(bars_seen - si[S_ENTRY_SEEN]) if side != 0 else math.nan
    if ext_slots[5] >= 0:
        vals[ext_slots[5], t] = equity
    if ext_slots[6] >= 0:
        vals[ext_slots[6], t] = (1.0 - whole / peak) if peak > 0 else 0.0
    _eval_ops(ops, vals, t, last_true)
    exit_reason = -1
    if side != 0 and _fired(vals, t, rule_slots, rule_warmup, 2 if side > 0 else 3):      # exits first
        exit_reason = R_EXIT_LONG if side > 0 else R_EXIT_SHORT
        side = 0
    want_long, want_short = _fired(vals, t, rule_slots, rule_warmup, 0), _fired(vals, t, rule_slots, rule_warmup, 1)
    if want_long == want_short:
        return exit_reason, 0, 0.0
    target = 1 if want_long else -1
    if target == side or (rule_slots[4] >= 0 and not _fired(vals, t, rule_slots, rule_warmup, 4)):
        return exit_reason, 0, 0.0
    q = _size(pi[I_SIZING], pf[F_SIZE], equity, close, level_kind[0], level_value[0],
              vals[level_slot[0], t] if level_slot[0] >= 0 else math.nan, cash, free, pf[F_TAKER], pf[F_UNIT],
              pf[F_UNIT_MIN], pf[F_LEVERAGE], mult, pf[F_MAXQ], pf[F_MINQ], sp)
    if q <= 0:
        si[S_UNSIZED] += 1                # the rule fired; the size rounds to no order
        return exit_reason, 0, 0.0
    return exit_reason, target, q


@_phase
def close_at(si, sx, stamp, px, reason, pi, pf, fl, tr):
    """A market order closing the position fills at ``px`` (an exit rule, a reversal, a flatten)."""
    qty, cp = sx[X_QTY], pi[I_CP]
    fee = _fee(_units(qty * pf[F_MULT] * px, cp), qty, pf[F_TAKER_N], pi[I_TAKER_D], pf[F_UNIT], pf[F_UNIT_MIN],
               pf[F_UNIT_CAP], cp)
    _exit(si, sx, stamp, px, reason, fee, si[S_BARS_SEEN] - si[S_ENTRY_SEEN], pi, pf, fl, tr)


@_phase
def entry_cost(q, px, pi, pf):
    """What an entry of ``q`` (a count of 10^-sp) at ``px`` costs a cash account: notional + commission, in units."""
    cp = pi[I_CP]
    qd = _dbl(q, pi[I_SP])
    notional = _units(qd * pf[F_MULT] * px, cp)
    return notional + _fee(notional, qd, pf[F_TAKER_N], pi[I_TAKER_D], pf[F_UNIT], pf[F_UNIT_MIN], pf[F_UNIT_CAP], cp)


@_phase
def enter(si, sx, stamp, target, q, px, dclose, tb, vals, level_kind, level_value, level_slot, pi, pf, fl, tr):
    """A market entry of ``q`` (a count of 10^-sp) filled whole at ``px``; its protective orders from
    the fill price, their distances taken at the decision bar ``tb`` (its close ``dclose``), trailed
    at ``px`` at once. Returns OK, or REFUSED_STOP when the venue rejects a protective order."""
    sp, pp, cp, bp = pi[I_SP], pi[I_PP], pi[I_CP], pi[I_BP]
    mult = pf[F_MULT]
    # the quantity as Nautilus holds it (Quantity.as_double), and the one its position books PnL
    # on: the smaller of that and the decimal (Position.signed_qty is rounded to the precision)
    q_dec = q / 10.0 ** sp
    q = _dbl(q, sp)
    notional = _units(q * mult * px, cp)
    fee = _fee(notional, q, pf[F_TAKER_N], pi[I_TAKER_D], pf[F_UNIT], pf[F_UNIT_MIN], pf[F_UNIT_CAP], cp)
    if pi[I_CASH] == 1:
        si[S_BALANCE] -= notional + fee
        si[S_BASE] += _units(q, bp) if bp >= 0 else 0
    else:
        si[S_BALANCE] -= fee
    si[S_SIDE], si[S_ENTRY_FEE], si[S_ENTRY_SEEN] = target, fee, si[S_BARS_SEEN]
    sx[X_QTY], sx[X_QE], sx[X_ENTRY_PX] = q, min(q, q_dec), px
    n_f = si[S_NF]
    fl[n_f, FL_BAR], fl[n_f, FL_SIDE], fl[n_f, FL_QTY], fl[n_f, FL_PX] = stamp, target, q, px
    fl[n_f, FL_REASON], fl[n_f, FL_FEE] = (R_ENTRY_LONG if target > 0 else R_ENTRY_SHORT), fee
    si[S_NF] = n_f + 1
    n_t = si[S_NT]
    tr[n_t, TR_SIDE], tr[n_t, TR_QTY], tr[n_t, TR_ENTRY_BAR], tr[n_t, TR_ENTRY_PX] = target, q, stamp, px
    tr[n_t, TR_EXIT_BAR], tr[n_t, TR_REASON], tr[n_t, TR_PNL], tr[n_t, TR_BARS] = -1, R_OPEN, 0.0, 0
    tr[n_t, TR_EXIT_PX] = math.nan
    si[S_NT] = n_t + 1
    # protective orders from the fill price, distances taken at the decision bar
    on, order, pxs = si[S_ON:S_ON + 3], si[S_ORDER:S_ORDER + 3], sx[X_PX:X_PX + 3]
    on[:] = 0
    for k in range(3):
        if level_kind[k] == 0:
            continue
        d = dclose * level_value[k] if level_kind[k] == 1 else vals[level_slot[k], tb]
        if not (d == d and d > 0):
            continue
        level = px - target * d if k != 1 else px + target * d
        if not level > 0:
            continue
        on[k], pxs[k] = 1, _make_price(level, pp)
        if k == 2 and level_kind[k] == 2:
            sx[X_TR_OFF] = _rounded_count(d, pp) / 10.0 ** pp     # float(Decimal(str(make_price(d))))
    # a stop already reached at the fill price is rejected by the venue (reject_stop_orders)
    if (on[0] and ((px <= pxs[0]) if target > 0 else (px >= pxs[0]))) or \
            (on[2] and ((px <= pxs[2]) if target > 0 else (px >= pxs[2]))) or \
            (on[1] and ((px >= pxs[1]) if target > 0 else (px <= pxs[1]))):
        return REFUSED_STOP
    _sort_orders(order, on, pxs, target, pp)
    if on[2]:                         # the venue trails it at the fill price right away
        pxs[2] = _trail(pxs[2], px, target, pi[I_TRAIL_BPS] == 1, pf[F_TRAIL_BPS], sx[X_TR_OFF], pp)
    return OK


@_phase
def resort(si, sx, pi):
    """The venue adds an order to the side of its book this member's resting orders are on (another
    member's protective order on the same instrument): NautilusTrader's matching core then sorts the
    whole side again by every order's current price key (a trailing stop by where it has trailed
    to), stably; this member's orders take their new relative order."""
    side = si[S_SIDE]
    if side == 0:
        return
    pp = pi[I_PP]
    order, on, px = si[S_ORDER:S_ORDER + 3], si[S_ON:S_ON + 3], sx[X_PX:X_PX + 3]
    _sort_by_keys(order, on, px, side, pp)


@njit(cache=True)
def simulate(o, h, l, c, vals, ext_slots, ops, rule_slots, rule_warmup, level_kind, level_value, level_slot,
             pi, pf, rec, fl, tr, status):
    """Run a strategy alone on its bars; fills, trades and each bar's record into ``fl``, ``tr``,
    ``rec``. ``status``: [code, bar, fills, trades, balance units, base currency units (cash),
    entries whose size rounded to no order]."""
    si, sx = new_state(pi, pf)
    last_true = np.full(max(ops.shape[0], 1), -1, dtype=np.int64)
    _run(si, sx, last_true, o, h, l, c, vals, ext_slots, ops, rule_slots, rule_warmup, level_kind, level_value,
         level_slot, pi, pf, rec, fl, tr, status)


@njit(cache=True, _nrt=False)
def _run(si, sx, last_true, o, h, l, c, vals, ext_slots, ops, rule_slots, rule_warmup, level_kind, level_value,
         level_slot, pi, pf, rec, fl, tr, status):
    """simulate's loop over the bars, the phases inlined, without reference counting (see :data:`_phase`)."""
    n = c.shape[0]
    cash = pi[I_CASH] == 1
    cp = pi[I_CP]
    last = c[0] if n > 0 else 0.0             # the venue's last price
    status[0] = OK
    for t in range(n):
        # ---- 1. the venue processes bar t: the protective orders meet its price points
        if venue_bar(si, sx, t, o[t], h[t], l[t], c[t], last, pi, pf, fl, tr) >= 0 and si[S_BALANCE] < 0:
            status[0], status[1] = HALTED_NEGATIVE, t
            break
        last = c[t]                           # the venue walked the whole bar
        # ---- 2. the strategy at the close; its market orders fill at the close
        close = c[t]
        free = _dbl(si[S_BALANCE], cp)        # orders go out after the bar: sizing sees this balance
        exit_reason, target, q = decide(si, sx, t, close, True, 0.0, 1.0, free, vals, ext_slots, ops, rule_slots,
                                        rule_warmup, level_kind, level_value, level_slot, last_true, pi, pf, rec)
        if exit_reason >= 0:
            close_at(si, sx, t, close, exit_reason, pi, pf, fl, tr)
        if target == 0 or (cash and target < 0):          # a cash account is long only
            continue
        if si[S_SIDE] != 0:                   # reversal: exit, then entry
            close_at(si, sx, t, close, R_REVERSE, pi, pf, fl, tr)
        if cash and _dbl(entry_cost(q, close, pi, pf), cp) > free:
            status[0], status[1] = REFUSED_CASH, t
            break
        if enter(si, sx, t, target, q, close, close, t, vals, level_kind, level_value, level_slot, pi, pf,
                 fl, tr) != OK:
            status[0], status[1] = REFUSED_STOP, t
            break
        if si[S_BALANCE] < 0:
            status[0], status[1] = HALTED_NEGATIVE, t
            break
    status[2], status[3], status[4] = si[S_NF], si[S_NT], si[S_BALANCE]
    status[5] = si[S_BASE]
    status[6] = si[S_UNSIZED]
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


@_phase
def _sort_by_keys(order, on, px, side, pp):
    """``order`` sorted again, stably (insertion), by each order's :func:`_sort_key` (0: not on):
    ascending for a long's (sell) orders, descending for a short's (buy)."""
    k0 = _sort_key(px[0], pp) if on[0] else 0
    k1 = _sort_key(px[1], pp) if on[1] else 0
    k2 = _sort_key(px[2], pp) if on[2] else 0
    for i in range(1, 3):
        j = i
        while j > 0:
            a, b = order[j - 1], order[j]
            ka = k0 if a == 0 else (k1 if a == 1 else k2)
            kb = k0 if b == 0 else (k1 if b == 1 else k2)
            before = (kb < ka) if side > 0 else (kb > ka)
            if not before:
                break
            order[j - 1], order[j] = b, a
            j -= 1


@_phase
def _sort_orders(order, on, px, side, pp):
    """The order the venue checks the protective orders in: a long's (sell orders) ascending by
    :func:`_sort_key`, a short's (buy orders) descending; ties in the order placed."""
    order[0], order[1], order[2] = 0, 1, 2
    _sort_by_keys(order, on, px, side, pp)


@njit(cache=True)
def _size(sizing, value, equity, close, stop_kind, stop_fraction, stop_distance, cash, free, taker, per_unit, unit_min,
          leverage, mult, maxq, minq, sp):
    """The entry's quantity as a count of 10^-sp (0: no order): the sizing method, capped by the account (leverage, or
    free cash less the taker fee), the instrument's maximum, rounded down to the size increment."""
    d = math.nan
    if sizing == RISK_PER_TRADE:
        d = close * stop_fraction if stop_kind == 1 else (stop_distance if stop_kind == 2 else math.nan)
    raw = _sized_units(sizing, value, equity, close, d)
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
