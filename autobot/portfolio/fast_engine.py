"""``autobot backtest --policy P --engine fast``: the portfolio of :mod:`autobot.portfolio.engine`
on the fast engine, with the same fills.

NautilusTrader runs a policy as one ``PortfolioController`` actor and one ``RuleStrategy`` per
member on one simulated venue. This engine replays what that engine does, event by event, in the
order NautilusTrader processes it, with the same rules:

* the bars of every series (the regimes', every member's) merged by close time, the regimes'
  series first at equal times, then the others in the order the Nautilus backtest adds them
  (:meth:`autobot.portfolio.setup.PortfolioSetup.nautilus_bars`); for each bar:

  1. the venue processes it, when it is its instrument's execution bar (the smallest bar size seen
     for the instrument, as Nautilus' matching engine picks it): every member's resting
     protective orders on the instrument meet its price points (:func:`autobot.fast.kernel.venue_bar`);
  2. the controller handles it: last closes, the regime (a switch reallocates, flattens leavers),
     and at a primary bar :meth:`PortfolioController.primary_bar` (breakers, equity, drawdown
     scaling, capital line, challenge);
  3. every member on that series decides at its close (:func:`autobot.fast.kernel.decide`) from
     its share of the portfolio's equity (cash plus every position marked to its last close), and
     its entries pass the controller's gate (``should_trade``: limits, this bar's pending entries);
  4. the orders sent on that bar fill in the order they were sent, at the instrument's last price
     (:func:`~autobot.fast.kernel.close_at`, :func:`~autobot.fast.kernel.enter`).

* One home for each rule: the controller's own methods (breakers, selection and allocation,
  drawdown scaling, capital line and challenge, entry gate, exposure) run here on this engine's
  state (:class:`FastController` borrows them from :class:`PortfolioController`); the members'
  money, sizing and orders are the kernel's; the result is assembled by the Nautilus path's
  :func:`autobot.portfolio.engine.collect`.

What it cannot reproduce exactly is refused (:class:`autobot.fast.program.Unsupported`), never
approximated: slippage, a text feed, two trades closing on one bar's venue pass with
``max_consecutive_losses`` (their order inside the matching engine decides the count).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from autobot.backtest.data import NS, TEXT_NAMES, iso
from autobot.backtest.engine import stopped_early
from autobot.data.bars import Bars
from autobot.evaluate.batch import evaluate
from autobot.evaluate.regime import regime_series
from autobot.evaluate.semantics import flat_externals
from autobot.fast import kernel as K
from autobot.fast import program as G
from autobot.fast.engine import (Outputs, check_supported, kernel_params, nautilus_doubles, values_at,
                                 why_at)
from autobot.fast.program import Unsupported
from autobot.portfolio.controller import PortfolioController
from autobot.portfolio.engine import PortfolioResult, alone_metrics, collect
from autobot.portfolio.setup import prepare
from autobot.strategy import trace as T
from autobot.strategy.records import Trade
from autobot.venue.instruments import InstrumentSettings
from autobot.venue.settings import VenueSettings
from autobot.workspace import CompiledPolicy

__all__ = ["run_portfolio_fast", "Unsupported"]


@dataclass(frozen=True)
class Held:
    """An open position as the controller reads it from Nautilus' cache."""

    instrument_id: str
    strategy_id: str
    signed_qty: float
    multiplier: float
    avg_px_open: float


@dataclass(frozen=True)
class BarAt:
    """The bar a member decides on, as the gate reads it (its close time)."""

    ts_event: int


@dataclass(frozen=True)
class Order:
    """A market order a member sent on this event; it fills when the event's orders are processed."""

    member: "Member"
    entry: bool
    reason: int                 # exit reason code (an exit), or 0
    target: int = 0             # entry side
    q: float = 0.0              # entry quantity (count of 10^-sp)
    close: float = 0.0          # the decision bar's close (protective distances)
    bar: int = 0                # the decision bar (the member's own index)


class _Log:
    """The controller logs; this engine keeps no log."""

    def info(self, text: str) -> None:
        pass

    warning = error = info


@dataclass(frozen=True)
class _Config:
    return_window: int = 500
    capital_scale: dict[str, float] | None = None
    wall_checks: bool = False


class _Account:
    def __init__(self, cash: bool) -> None:
        from nautilus_trader.model.enums import AccountType
        self.type = AccountType.CASH if cash else AccountType.MARGIN


class _Portfolio:
    def __init__(self, cash: bool) -> None:
        self._account = _Account(cash)

    def account(self, venue: Any) -> _Account:
        return self._account


@dataclass
class Member:
    """One strategy of the policy (a universe member ``strategy@INSTRUMENT``): its kernel state and
    arrays, and the records the controller and :func:`collect` read as they read a ``RuleStrategy``'s."""

    sid: str
    index: int
    compiled: Any
    instrument: Any
    iid: str
    key: tuple[str, int]
    ts_event: np.ndarray
    close: np.ndarray                 # its bars' closes as Nautilus holds them
    prog: G.Program
    pi: np.ndarray
    pf: np.ndarray
    values: list[Any]
    traces: bool
    si: np.ndarray = field(init=False)
    sx: np.ndarray = field(init=False)
    out: Outputs = field(init=False)
    last_true: np.ndarray = field(init=False)
    share: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    fills: list[tuple[int, str, float, float, str]] = field(default_factory=list)
    pnl: list[float] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    equity_ts: list[int] = field(default_factory=list)
    bars_seen: int = 0
    closing: bool = False             # a close order is in flight
    conds: dict[str, list[T.Condition]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.si, self.sx = K.new_state(self.pi, self.pf)
        self.out = Outputs(len(self.close))
        self.last_true = np.full(max(self.prog.ops.shape[0], 1), -1, dtype=np.int64)
        self.id = f"RuleStrategy-{self.index + 1:03d}"            # its StrategyId
        self.position_id = f"{self.iid}-{self.id}"                # the position it nets on
        self.pp, self.sp, self.cp = int(self.pi[K.I_PP]), int(self.pi[K.I_SP]), int(self.pi[K.I_CP])
        self.bp = int(self.pi[K.I_BP])
        self.mult = float(self.pf[K.F_MULT])
        self._value = values_at(self.compiled.plan, self.values, self.prog) if self.traces else None
        if self.traces:
            self.conds = {name: T.conditions(self.compiled.plan, root)
                          for name, root in self.compiled.plan.rules.items()}

    # what the controller reads
    @property
    def side(self) -> int:
        return int(self.si[K.S_SIDE])

    def signed_qty(self) -> float:
        """``Position.signed_qty``: the quantity rounded to the size precision, signed."""
        return self.side * round(float(self.sx[K.X_QTY]), self.sp)

    def position(self) -> Held | None:
        if self.side == 0:
            return None
        return Held(self.iid, self.id, self.signed_qty(), self.mult, float(self.sx[K.X_ENTRY_PX]))

    def unrealized(self, close: float) -> float:
        """``position.unrealized_pnl(Price(close)).as_double()``."""
        side = self.side
        if side == 0:
            return 0.0
        entry = float(self.sx[K.X_ENTRY_PX])
        points = (close - entry) if side > 0 else (entry - close)
        return K._dbl(K._units(float(self.sx[K.X_QE]) * self.mult * points, self.cp), self.cp)

    def why(self, rule: str, t: int) -> T.Why | None:
        return why_at(self.conds, rule, self._value, t) if self.traces else None

    def open_trade(self, last_close: float) -> Trade | None:
        """The trade still open at the end, marked to the last close (as ``RuleStrategy.open_trade``)."""
        if not self.trades or self.side == 0:
            return None
        trade = self.trades[-1]
        trade.exit_reason, trade.exit_price = "open", last_close
        trade.pnl = self.unrealized(last_close) + K._dbl(-int(self.si[K.S_ENTRY_FEE]), self.cp)
        return trade


class FastController:
    """The portfolio controller on the fast engine's state: the attributes
    :class:`~autobot.portfolio.controller.PortfolioController` keeps, and its own methods (borrowed
    below, one home for each rule), with what it reads from NautilusTrader (the account, the open
    positions, the last closes) answered from the members."""

    # the controller's rules, run on this object (autobot/portfolio/controller.py)
    primary_bar = PortfolioController.primary_bar
    _check_breakers = PortfolioController._check_breakers
    _breakers = PortfolioController._breakers
    _view = PortfolioController._view
    _tripped = PortfolioController._tripped
    _trip = PortfolioController._trip
    _end_cooldowns = PortfolioController._end_cooldowns
    _week = PortfolioController._week
    _scale_for_drawdown = PortfolioController._scale_for_drawdown
    _record_exposure = PortfolioController._record_exposure
    _value = PortfolioController._value
    _exposure = PortfolioController._exposure
    capital_share = PortfolioController.capital_share
    _capital_step = PortfolioController._capital_step
    _challenge_step = PortfolioController._challenge_step
    window_metrics = PortfolioController.window_metrics
    _moved = PortfolioController._moved
    _switch = PortfolioController._switch
    init_state = PortfolioController.init_state
    _rebalance = PortfolioController._rebalance
    _bars_per_year = PortfolioController._bars_per_year
    _recent_returns = staticmethod(PortfolioController._recent_returns)
    paused_until = PortfolioController.paused_until
    _trade_closed = PortfolioController._trade_closed
    apply_risk = PortfolioController.apply_risk
    challenge_status = PortfolioController.challenge_status
    notify = PortfolioController.notify
    should_trade = PortfolioController.should_trade

    def __init__(self, policy: CompiledPolicy, members: dict[str, Member], capital: float, cp: int,
                 cash: bool, bar_ns: int) -> None:
        self.strategies = members
        self.config = _Config()
        self.log = _Log()
        self.cache = self
        self.portfolio = _Portfolio(cash)
        self._set_state = None
        self.init_state(policy)
        self._bar_ns = bar_ns
        self.wall_breakers = []
        # the account
        self.cash = cash
        self.cp = cp
        self.capital_units = K._units(capital, cp)
        self.by_position = sorted(members.values(), key=lambda m: m.position_id)   # the cache's order
        self._open: list[Held] | None = None
        self._balance: int | None = None              # balance_units and portfolio_value until the state moves
        self._value_now: float | None = None
        # margin: the balance, then each member's unrealized PnL in the cache's order; the value is
        # their sum in that order (np.cumsum adds one after another, as the loop over positions
        # does), and a new close re-marks only its instrument's members
        self._marks = np.zeros(len(self.by_position) + 1)
        self._slot = {id(m): k + 1 for k, m in enumerate(self.by_position)}
        self._on_iid: dict[str, list[Member]] = {}
        for m in self.by_position:
            self._on_iid.setdefault(m.iid, []).append(m)
        self._stale: set[str] | None = None            # instruments to re-mark (None: every member)
        insts: dict[str, Member] = {}
        for m in members.values():
            insts.setdefault(m.iid, m)
        self._insts = list(insts.values())           # one member per instrument, in the strategies' order
        for m in members.values():
            m.share = self.shares.get(m.sid, 0.0) * self.risk_scale

    # what the controller reads from NautilusTrader
    def changed(self) -> None:
        """A fill changed the positions (and the balance: every fill is followed by this call)."""
        self._open = None
        self._balance = None
        self._value_now = None
        self._stale = None

    def set_close(self, iid: str, close: float) -> None:
        """An instrument's last close (the venue's mark for the portfolio's value)."""
        if self.closes.get(iid) != close:
            self.closes[iid] = close
            self._value_now = None
            if self._stale is not None:
                self._stale.add(iid)

    def positions_open(self, instrument_id: str | None = None) -> list[Held]:
        if self._open is None:
            self._open = [p for p in (m.position() for m in self.by_position) if p is not None]
        if instrument_id is None:
            return self._open
        return [p for p in self._open if p.instrument_id == instrument_id]

    def balance_units(self) -> int:
        if self._balance is None:
            self._balance = self.capital_units + sum(int(m.si[K.S_BALANCE]) for m in self.by_position)
        return self._balance

    def portfolio_value(self) -> float:
        """As :meth:`PortfolioController.portfolio_value`: the balance plus every open position
        marked to its instrument's last close (margin), or the cash plus every holding (cash), summed
        in the order NautilusTrader's cache lists them. Kept until a fill or a new close moves it."""
        if self._value_now is None:
            self._value_now = self._portfolio_value()
        return self._value_now

    def _portfolio_value(self) -> float:
        total = K._dbl(self.balance_units(), self.cp)
        if self.cash:
            bases: set[Any] = set()
            for first in self._insts:
                close = self.closes.get(first.iid)
                if close is None:
                    continue
                base = getattr(first.instrument, "base_currency", None)
                if base is not None:
                    if base not in bases:
                        bases.add(base)
                        held = sum(int(m.si[K.S_BASE]) for m in self.by_position
                                   if getattr(m.instrument, "base_currency", None) == base)
                        total += K._dbl(held, first.bp) * close
                else:
                    total += sum(p.signed_qty * p.multiplier * close for p in self.positions_open(first.iid))
            return total
        marks = self._marks
        for m in (self.by_position if self._stale is None else
                  [m for iid in self._stale for m in self._on_iid.get(iid, ())]):
            close = self.closes.get(m.iid)             # a flat or unpriced member adds 0.0: no sum changes
            marks[self._slot[id(m)]] = m.unrealized(close) if close is not None else 0.0
        self._stale = set()
        marks[0] = total
        return float(np.cumsum(marks)[-1])


def _refuse(policy: CompiledPolicy, venue: VenueSettings, text: Any) -> None:
    """Raise :class:`Unsupported` for what this engine cannot reproduce exactly."""
    check_supported(venue)
    for sid in policy.used:
        if set(TEXT_NAMES) & policy.strategies[sid].plan.externals and text is not None:
            raise Unsupported(f"'{sid}' reads a text feed (sentiment), which the fast portfolio engine does not "
                              "replay; run it on the Nautilus engine (the default)")


def run_portfolio_fast(policy: CompiledPolicy, data: dict[str, Bars], venue: VenueSettings = VenueSettings(),
                       instrument: InstrumentSettings = InstrumentSettings(),
                       progress: Callable[[int, int], None] | None = None, compare: bool = True,
                       text: Any = None, traces: bool = True, full_challenge: bool = True) -> PortfolioResult:
    """Backtest the policy on ``data`` (instrument id -> bars) as :func:`autobot.portfolio.engine.run_portfolio`
    does, with the same fills (see the module docstring). A study's trials leave out what their
    score does not read: ``traces=False`` the trades' decision traces, ``full_challenge=False``
    the paper challenge's checks of the members (the result's ``challenge`` is then partial; the
    equity, fills and trades are the same, see ``PortfolioController.init_state``)."""
    _refuse(policy, venue, text)
    setup = prepare(policy, data, instrument, texts=text is not None)
    used, market, seconds, series = setup.used, setup.market, setup.seconds, setup.series
    capital = float(policy.document.capital or venue.capital)
    cash = venue.account == "cash"
    insts, currency = setup.instruments, setup.currency
    cp = int(currency.precision)
    regime_key = setup.regime_key
    # the data as NautilusTrader's engine iterates it: one stream sorted (stably) by close time, the
    # regimes' series first at equal times, then the others in the order they were added
    keys = sorted(series, key=lambda k: k != regime_key)
    seen: dict[tuple[str, int], Bars] = {}
    for key in keys:
        b, inst = series[key], insts[key[0]]
        pp, sp = inst.price_precision, inst.size_precision
        seen[key] = Bars(b.path, b.ts, *(nautilus_doubles(x, pp) for x in (b.open, b.high, b.low, b.close)),
                         nautilus_doubles(b.volume, sp), b.format)
    stamps = [series[k].ts + k[1] * NS for k in keys]
    ev_series = np.concatenate([np.full(len(s), i, dtype=np.int64) for i, s in enumerate(stamps)])
    ev_bar = np.concatenate([np.arange(len(s), dtype=np.int64) for s in stamps])
    ev_ts = np.concatenate(stamps)
    order = np.argsort(ev_ts, kind="stable")
    ev_series, ev_bar, ev_ts = ev_series[order], ev_bar[order], ev_ts[order]
    n_ev = len(ev_ts)
    # the confirmed regime after each regime bar, and the regime each event sees (the last regime bar's)
    r_index = keys.index(regime_key)
    regimes = regime_series(policy.regimes, seen[regime_key])
    is_regime = ev_series == r_index
    last_regime_ev = np.where(is_regime, np.arange(n_ev), -1)
    np.maximum.accumulate(last_regime_ev, out=last_regime_ev)

    members: dict[str, Member] = {}
    for k, sid in enumerate(used):
        cs = policy.strategies[sid]
        key = (market[sid].instrument, seconds[sid])
        inst = insts[key[0]]
        ext: dict[str, Any] = dict(flat_externals())
        if "regime" in cs.plan.externals:
            mine = np.flatnonzero(ev_series == keys.index(key))
            at = last_regime_ev[mine]
            ext["regime"] = np.array([regimes[ev_bar[j]] if j >= 0 else None for j in at], dtype=object)
        values = evaluate(cs.plan, seen[key], ext)
        prog = G.build(cs, values)
        base = getattr(inst, "base_currency", None)
        pi, pf = kernel_params(cs, inst, venue, cp, int(base.precision) if base is not None else -1, 0.0)
        members[sid] = Member(sid, k, cs, inst, key[0], key, stamps[keys.index(key)], seen[key].close, prog, pi,
                              pf, values, traces)
    primary_ns = seconds[used[0]] * NS
    ctl = FastController(policy, members, capital, cp, cash, primary_ns)
    ctl.full_challenge = full_challenge
    reasons = list(K.REASONS)

    def reason_code(text_: str) -> int:
        if text_ not in reasons:
            reasons.append(text_)
        return reasons.index(text_)

    pending: list[Order] = []

    def flatten(m: Member, reason: str, ts: int | None = None) -> bool:
        """``RuleStrategy.flatten``: a market close, unless flat or already closing."""
        if m.side == 0 or m.closing:
            return False
        m.closing = True
        pending.append(Order(m, False, reason_code(reason)))
        return True

    for m in members.values():
        m.flatten = (lambda m_: (lambda reason, ts=None: flatten(m_, reason, ts)))(m)     # type: ignore[attr-defined]

    by_series: list[list[Member]] = [[m for m in members.values() if m.key == key] for key in keys]
    on_instrument: dict[str, list[Member]] = {}
    for m in members.values():
        on_instrument.setdefault(m.iid, []).append(m)
    execution: dict[str, int] = {}           # instrument -> the bar size its matching engine processes
    last_px: dict[str, float] = {}           # instrument -> the venue's last price
    primary_index = keys.index(setup.primary_key)
    losses = ctl.limits.max_consecutive_losses is not None

    def opened(m: Member, e: int, o: Order) -> None:
        k = int(m.si[K.S_NT]) - 1
        f = int(m.si[K.S_NF]) - 1
        side = "long" if o.target > 0 else "short"
        px = round(float(m.out.f_px[f]), m.pp)
        m.fills.append((int(ev_ts[e]), "BUY" if o.target > 0 else "SELL", float(m.out.f_qty[f]), px,
                        f"entry.{side}"))
        m.trades.append(Trade(side, float(m.out.t_qty[k]), int(ev_ts[e]), px, f"entry.{side}",
                              m.why(f"entry.{side}", o.bar), fees=K._dbl(m.out.f_fee[f], m.cp)))
        ctl.changed()

    def closed(m: Member, e: int, why: T.Why | None) -> None:
        k = int(m.si[K.S_NT]) - 1
        f = int(m.si[K.S_NF]) - 1
        reason = reasons[int(m.out.f_reason[f])]
        px = round(float(m.out.f_px[f]), m.pp)
        m.fills.append((int(ev_ts[e]), "BUY" if m.out.f_side[f] > 0 else "SELL", float(m.out.f_qty[f]), px, reason))
        trade = m.trades[-1]
        trade.exit_ts, trade.exit_price, trade.exit_reason = int(ev_ts[e]), px, reason
        trade.exit_cause, trade.pnl, trade.bars = why, K._dbl(m.out.t_pnl[k], m.cp), int(m.out.t_bars[k])
        trade.fees += K._dbl(m.out.f_fee[f], m.cp)
        m.closing = False
        ctl.changed()
        ctl._trade_closed(trade)

    def stop(m: Member, e: int, cause: str) -> None:
        own = int(np.searchsorted(m.ts_event, ev_ts[e], side="right"))
        raise stopped_early(f"{policy.path}: {m.sid}", iso(int(ev_ts[e])), max(own, 1), len(m.close), cause)

    total = len(setup.primary)
    for e in range(n_ev):
        s = int(ev_series[e])
        j = int(ev_bar[e])
        ts = int(ev_ts[e])
        key = keys[s]
        iid = key[0]
        b = seen[key]
        close = float(b.close[j])
        # 1. the venue: the instrument's execution bars move its resting orders
        step = execution.get(iid)
        if step is None or step >= key[1]:
            execution[iid] = key[1]
            prev = last_px.get(iid, float(b.open[j]))
            hits = 0
            for m in on_instrument.get(iid, ()):
                if m.side != 0:
                    if K.venue_bar(m.si, m.sx, e, float(b.open[j]), float(b.high[j]), float(b.low[j]), close, prev,
                                   m.pi, m.pf, m.out.fl, m.out.tr) >= 0:
                        hits += 1
                        if hits > 1 and losses:
                            raise Unsupported("two positions closed by their stops or targets on one bar with "
                                              "max_consecutive_losses: their order inside NautilusTrader's matching "
                                              "engine decides the count, which the fast engine does not replay")
                        closed(m, e, None)
                        if ctl.balance_units() < 0:
                            stop(m, e, "the account balance went negative: NautilusTrader stops the backtest there")
            last_px[iid] = close
        # 2. the controller
        ctl._last_bar_ts = ts
        ctl.set_close(iid, close)
        if s == r_index:
            regime = regimes[j]
            if regime != ctl.regime:
                ctl._switch(ts, regime)
        if s == primary_index:
            ctl.primary_bar(ts)
            if progress is not None and len(ctl.equity) % 1000 == 0:
                progress(len(ctl.equity), total)
        # 3. the members on this series decide at its close
        for m in by_series[s]:
            whole = ctl.portfolio_value()
            free = K._dbl(ctl.balance_units(), cp)
            exit_reason, target, q = K.decide(m.si, m.sx, j, close, False, whole, m.share, free, m.prog.vals,
                                              m.prog.ext_slots, m.prog.ops, m.prog.rule_slots, m.prog.rule_warmup,
                                              m.prog.level_kind, m.prog.level_value, m.prog.level_slot, m.last_true,
                                              m.pi, m.pf, m.out.rec)
            m.bars_seen += 1
            m.equity_ts.append(ts)
            m.equity.append(float(m.out.equity[j]))
            m.pnl.append(float(m.out.pnl[j]))
            side = m.side
            if exit_reason >= 0:
                if not m.closing:
                    m.closing = True
                    pending.append(Order(m, False, exit_reason, bar=j))
                side = 0
            if target == 0:
                continue
            qty = q / 10.0 ** m.sp
            if not ctl.should_trade(m.sid, "long" if target > 0 else "short", qty, close, BarAt(ts)):
                continue
            if side != 0 and not m.closing:          # a reversal: exit, then entry
                m.closing = True
                pending.append(Order(m, False, K.R_REVERSE, bar=j))
            if cash and K._dbl(K.entry_cost(q, close, m.pi, m.pf), cp) > free:
                stop(m, e, "an entry's cost and fee exceed the cash account's free balance")
            pending.append(Order(m, True, 0, target, q, close, j))
        # 4. the orders sent on this bar fill, in the order they were sent
        if pending:
            todo = list(pending)
            pending.clear()
            for o in todo:
                m = o.member
                px = last_px.get(m.iid)
                if px is None:
                    continue                          # no price yet: Nautilus cannot fill it either
                if not o.entry:
                    if m.side == 0:
                        continue
                    K.close_at(m.si, m.sx, e, px, o.reason, m.pi, m.pf, m.out.fl, m.out.tr)
                    rule = reasons[o.reason]
                    closed(m, e, m.why(rule, o.bar) if o.reason in (K.R_EXIT_LONG, K.R_EXIT_SHORT) else None)
                    continue
                status = K.enter(m.si, m.sx, e, o.target, o.q, px, o.close, o.bar, m.prog.vals, m.prog.level_kind,
                                 m.prog.level_value, m.prog.level_slot, m.pi, m.pf, m.out.fl, m.out.tr)
                opened(m, e, o)
                if m.si[K.S_ON] or m.si[K.S_ON + 1] or m.si[K.S_ON + 2]:
                    for other in on_instrument[m.iid]:        # the venue sorts that side of its book again
                        if other is not m and other.side == m.side:
                            K.resort(other.si, other.sx, other.pi)
                if status != K.OK:
                    stop(m, e, "a protective order's price rounds to the entry's price, so the venue rejects it "
                               "(a stop or target of less than one tick)")
            if ctl.balance_units() < 0:
                stop(next(iter(members.values())), e,
                     "the account balance went negative: NautilusTrader stops the backtest there")
    result = collect(policy, setup, ctl, members, capital)
    result.notes.append("run on the fast engine (fills as NautilusTrader's: docs/fast.md)")
    if compare:
        result.alone = alone_metrics(policy, used, data, market, capital, venue, instrument, None)
    if progress is not None:
        progress(total, total)
    return result
