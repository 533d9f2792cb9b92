"""``autobot backtest --engine fast``: the same backtest as :mod:`autobot.backtest.engine`, on
the batch evaluator's arrays and one compiled loop (:mod:`autobot.fast.kernel`) instead of
NautilusTrader's event-driven engine, with the same results (fills, fees, balance, trades with
their decision traces, equity curve, metrics). Nautilus stays the reference: the tests run both
on every shipped strategy and series and on random strategies, and compare them fill by fill.

Refused (:class:`~autobot.fast.program.Unsupported`), never approximated: slippage (Nautilus
draws it from its own random generator), and the few expressions the loop cannot compute
(see :mod:`autobot.fast.program`).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from autobot.backtest import metrics as M
from autobot.backtest.data import NS, iso, prepare_bars
from autobot.backtest.engine import BacktestResult, stopped_early
from autobot.data.bars import Bars
from autobot.strategy.sizing import capped_note, max_order_qty, unsized_note
from autobot.evaluate.batch import evaluate
from autobot.evaluate.semantics import flat_externals
from autobot.fast import kernel as K
from autobot.fast import program as G
from autobot.fast.program import Unsupported
from autobot.strategy.costs import unit_fees_of
from autobot.language import plan as P
from autobot.language.compile import CompiledStrategy, compile_strategy_text
from autobot.strategy import trace as T
from autobot.strategy.records import Trade
from autobot.venue.instruments import (InstrumentSettings, account_currency, cost_model, make_instrument, market_note,
                                       quote_currency)
from autobot.venue.settings import VenueSettings, bar_spec_text

__all__ = ["run_fast", "Unsupported", "check_supported", "kernel_params", "nautilus_doubles", "values_at", "why_at",
           "Outputs"]


def check_supported(venue: VenueSettings) -> None:
    """Raise :class:`Unsupported` for venue settings the fast engine cannot reproduce exactly (the
    document's own expressions are checked when its program is built)."""
    if venue.slippage > 0:
        raise Unsupported("--slippage: Nautilus draws each slip from its own random generator, which the fast "
                          "engine cannot replay; run it on the Nautilus engine (the default)")


def nautilus_doubles(x: np.ndarray, digits: int) -> np.ndarray:
    """``Price(x, digits).as_double()`` for every value: rounded half away from zero to
    ``digits`` decimals, then Nautilus' 16-decimal fixed point over 10^16 (40048.06 reads back as
    40048.060000000005, which the Nautilus strategy's indicators see)."""
    y = np.abs(np.asarray(x, dtype=np.float64)) * 10.0 ** digits
    k = np.floor(y)
    k += (y - k) >= 0.5
    return np.copysign(k * 10.0 ** (16 - digits), x) / 1e16


def run_fast(compiled: CompiledStrategy, bars: Bars, venue: VenueSettings = VenueSettings(),
             instrument: InstrumentSettings = InstrumentSettings(), instrument_id: str | None = None,
             overrides: dict[str, float] | None = None, progress: Callable[[int, int], None] | None = None,
             regimes: Any = None, cache: dict[Any, Any] | None = None, traces: bool = True,
             texts: Any = None) -> BacktestResult:
    """Backtest ``compiled`` on ``bars`` like :func:`autobot.backtest.engine.run_backtest`.

    ``cache``: TA-Lib results shared between runs on the same bars (a study's trials), keyed by
    the plan's structural keys (:func:`autobot.evaluate.batch.evaluate`); one cache per bars.
    ``traces=False`` leaves the trades' decision traces out (a study's trials: same fills and
    metrics, a fraction of the time)."""
    if overrides:
        compiled = compile_strategy_text(compiled.source.text, compiled.source.path, dict(overrides))
    check_supported(venue)
    iid = instrument_id or compiled.document.market.instrument
    bars, seconds, notes = prepare_bars(compiled, bars)
    n = len(bars)
    if n == 0:
        raise ValueError("no bars to backtest")
    inst = make_instrument(iid, [bars.open, bars.high, bars.low, bars.close], instrument)
    costs = cost_model(inst)
    mismatch = market_note(iid, bars.close, float(inst.maker_fee), float(inst.taker_fee), bars.path)
    if mismatch is not None:
        notes.append(mismatch)
    pp, sp = inst.price_precision, inst.size_precision
    currency = account_currency(quote_currency(iid, instrument), inst)
    cp = int(currency.precision)
    base_currency = getattr(inst, "base_currency", None)
    bp = int(base_currency.precision) if base_currency is not None else -1
    # the bars as the Nautilus strategy sees them (Price/Quantity.as_double()), for rules and money alike
    o, h, lo, c = (nautilus_doubles(x, pp) for x in (bars.open, bars.high, bars.low, bars.close))
    seen = Bars(bars.path, bars.ts, o, h, lo, c, nautilus_doubles(bars.volume, sp), bars.format)
    ext: dict[str, Any] = dict(flat_externals())
    if regimes is not None and "regime" in compiled.plan.externals:
        from autobot.evaluate.regime import regime_series
        ext["regime"] = np.array(regime_series(regimes, seen), dtype=object)
        notes.append("regime detected on the strategy's bars by the project's regimes document")
        cache = None                      # TA-Lib results only: the regime series is not keyed
    from autobot.backtest.data import text_externals
    text_series = text_externals(compiled, bars, seconds, texts, iid)
    if text_series is not None:
        ext.update(text_series)
        notes.append("sentiment from the text feed, each text counted from the first bar closing after it")
        cache = None
    values = evaluate(compiled.plan, seen, ext, cache=cache)
    prog = G.build(compiled, values)
    cash = venue.account == "cash"
    method, size_value = compiled.sizing
    pi, pf = kernel_params(compiled, inst, venue, cp, bp, venue.capital)
    out = Outputs(n)
    K.simulate(o, h, lo, c, prog.vals, prog.ext_slots, prog.ops, prog.rule_slots, prog.rule_warmup,
               prog.level_kind, prog.level_value, prog.level_slot, pi, pf, out.rec, out.fl, out.tr, out.status)
    code, stop_bar, n_f, n_t, balance_units, base_units, unsized_count = (int(x) for x in out.status)
    bar_ns = seconds * NS
    ts_event = bars.ts + bar_ns
    if code != K.OK:
        cause = {K.HALTED_NEGATIVE: "the account balance went negative: NautilusTrader stops the backtest there",
                 K.REFUSED_CASH: "an entry's cost and fee exceed the cash account's free balance",
                 K.REFUSED_STOP: "a protective order's price rounds to the entry's price, so the venue rejects it "
                                 "(a stop or target of less than one tick)"}[code]
        raise stopped_early(compiled.source.path, iso(int(ts_event[stop_bar])), stop_bar + 1, n, cause)
    value = values_at(compiled.plan, values, prog)
    conds = {name: T.conditions(compiled.plan, root) for name, root in compiled.plan.rules.items()} if traces else {}
    fills = [(int(ts_event[int(out.f_bar[k])]), "BUY" if out.f_side[k] > 0 else "SELL", float(out.f_qty[k]),
              round(float(out.f_px[k]), pp), K.REASONS[int(out.f_reason[k])]) for k in range(n_f)]
    trades = []
    last_raw = float(bars.close[-1])          # as the Nautilus run marks the end (its raw close)
    mult = float(inst.multiplier)
    for k in range(n_t):
        side = "long" if out.t_side[k] > 0 else "short"
        rule = f"entry.{side}"
        e_bar = int(out.t_entry_bar[k])
        fee_in = K._dbl(out.f_fee[2 * k], cp)          # fills go entry, exit, entry, exit...
        trade = Trade(side, float(out.t_qty[k]), int(ts_event[e_bar]), round(float(out.t_entry_px[k]), pp),
                      rule, why_at(conds, rule, value, e_bar), fees=fee_in)
        if out.t_exit_bar[k] >= 0:
            x_bar = int(out.t_exit_bar[k])
            reason = K.REASONS[int(out.t_reason[k])]
            trade.exit_ts, trade.exit_price = int(ts_event[x_bar]), round(float(out.t_exit_px[k]), pp)
            trade.exit_reason, trade.pnl, trade.bars = reason, K._dbl(out.t_pnl[k], cp), int(out.t_bars[k])
            trade.fees += K._dbl(out.f_fee[2 * k + 1], cp)
            trade.exit_cause = why_at(conds, reason, value, x_bar)
        else:                                 # still open: marked to the last close
            trade.exit_reason, trade.exit_price = "open", last_raw
            trade.pnl = K._dbl(_unrealized(out, k, c[-1], mult, cp, sp), cp) + K._dbl(-out.f_fee[2 * k], cp)
        trades.append(trade.to_json())
    balance = K._dbl(balance_units, cp)
    final = balance
    if cash:
        if bp >= 0:
            final += K._dbl(base_units, bp) * last_raw
        elif n_t and out.t_exit_bar[n_t - 1] < 0:     # a share held: its units at the last close
            final += float(out.t_qty[n_t - 1]) * mult * last_raw
    elif n_t and out.t_exit_bar[n_t - 1] < 0:
        final += K._dbl(_unrealized(out, n_t - 1, c[-1], mult, cp, sp), cp)
    equity = out.equity.copy()
    exposure = out.exposure.astype(np.int8)
    held = (exposure != 0) | (out.inside != 0)
    metrics = M.compute(equity, bars.ts, bar_ns, venue.capital, final, trades, held)
    bh = M.buy_and_hold(bars.close, bars.ts, bar_ns, venue.capital, float(inst.taker_fee))
    if progress is not None:
        progress(n, n)
    capped = capped_note(method, size_value, fills, float(inst.size_increment))
    if capped is not None:
        notes.append(capped)
    unsized = unsized_note(unsized_count, float(inst.size_increment),
                           float(inst.min_quantity) if inst.min_quantity is not None else None)
    if unsized is not None:
        notes.append(unsized)
    return BacktestResult(compiled.id, compiled.source.path, iid, bar_spec_text(seconds), bars, seconds,
                          venue.capital, str(currency), final, balance, metrics, bh, trades,
                          np.asarray(ts_event, dtype=np.int64), equity, exposure, fills, notes, engine="fast",
                          cost_model=costs)


def kernel_params(compiled: CompiledStrategy, inst: Any, venue: VenueSettings, cp: int, bp: int,
                  capital: float) -> tuple[np.ndarray, np.ndarray]:
    """The kernel's integer and float parameters (``K.I_*``, ``K.F_*``) of ``compiled`` trading
    ``inst`` on ``venue``, its account currency of precision ``cp`` (``bp``: the base currency's, -1
    none), starting with ``capital`` (0 for a portfolio's member: the account is shared)."""
    method, size_value = compiled.sizing
    trailing = compiled.trailing_stop
    (maker_n, maker_d), (taker_n, taker_d) = _fee_digits(inst.maker_fee), _fee_digits(inst.taker_fee)
    pi = np.array([1 if venue.account == "cash" else 0, K.SIZING[method], inst.price_precision,
                   inst.size_precision, cp, 1 if trailing is not None and trailing.kind == "percent" else 0, bp,
                   maker_d, taker_d], dtype=np.int64)
    maxq = max_order_qty(inst)
    minq = float(inst.min_quantity) if inst.min_quantity is not None else 0.0
    bps = round(float(trailing.fraction or 0) * 10_000, 6) if trailing is not None and trailing.kind == "percent" \
        else 0.0                          # the trailing offset in basis points, as the strategy sends it
    unit = unit_fees_of(inst)
    pf = np.array([capital, venue.leverage, float(inst.taker_fee),
                   float(inst.multiplier), maxq, minq, float(size_value), bps, maker_n, taker_n,
                   unit.per_unit, unit.minimum, unit.cap_rate], dtype=np.float64)
    return pi, pf


def _unrealized(out: "Outputs", k: int, close: float, mult: float, cp: int, sp: int) -> int:
    """Trade ``k``'s open PnL at ``close`` in currency units (Nautilus' ``unrealized_pnl``, on the
    smaller of the quantity's double and its decimal, as its position books it)."""
    q = float(out.t_qty[k])
    q = min(q, round(q, sp))
    points = (close - out.t_entry_px[k]) if out.t_side[k] > 0 else (out.t_entry_px[k] - close)
    return K._units(q * mult * points, cp)


def _fee_digits(rate: Any) -> tuple[float, int]:
    """A fee rate as (integer, decimals): 0.001 -> (1, 3); exact, as Nautilus multiplies Decimals."""
    from decimal import Decimal
    sign, digits, exponent = Decimal(str(rate)).normalize().as_tuple()
    whole = int("".join(map(str, digits)) or "0") * (-1 if sign else 1)
    assert isinstance(exponent, int)
    return (float(whole), -exponent) if exponent < 0 else (float(whole * 10 ** exponent), 0)


class Outputs:
    """The kernel's output arrays for ``n`` bars (at most two fills a bar: an exit and an entry), with
    named column views (``f_bar``, ``t_pnl``, ``equity``...)."""

    def __init__(self, n: int) -> None:
        self.rec = np.zeros((n, 4))
        self.fl = np.zeros((2 * n + 2, 6))
        self.tr = np.zeros((n + 1, 9))
        self.status = np.zeros(7, dtype=np.int64)
        self.equity, self.exposure, self.inside, self.pnl = (self.rec[:, k] for k in range(4))
        self.f_bar, self.f_side, self.f_qty, self.f_px, self.f_reason, self.f_fee = (self.fl[:, k] for k in range(6))
        (self.t_side, self.t_qty, self.t_entry_bar, self.t_entry_px, self.t_exit_bar, self.t_exit_px, self.t_reason,
         self.t_pnl, self.t_bars) = (self.tr[:, k] for k in range(9))


def values_at(plan: P.Plan, values: list[Any], prog: G.Program) -> Callable[[int, int], Any]:
    """value(node, bar) as the streaming evaluator reports it (Python floats, bools and text)."""
    codes = {v: k for k, v in G.SIDE_CODES.items()}

    def value(node: int, t: int) -> Any:
        kind = plan.types[node]
        if node in prog.dynamic:
            x = float(prog.vals[prog.slot[node], t])
            if kind == P.BOOL:
                return x != 0.0
            if kind == P.TEXT:
                return codes.get(x)
            return x
        x = values[node][t]
        if kind == P.BOOL:
            return bool(x)
        if kind == P.TEXT:
            return x
        return float(x)
    return value


def why_at(conds: dict[str, list[T.Condition]], rule: str, value: Callable[[int, int], Any], t: int) -> T.Why | None:
    found = conds.get(rule)
    return T.Why(found, lambda node: value(node, t)) if found is not None else None
