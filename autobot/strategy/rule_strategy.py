"""The one generic Nautilus strategy every AutoBot strategy document runs through.

``RuleStrategy`` compiles its document in ``on_start`` (the config carries only what Nautilus
can serialise: the document text, its name, param overrides, instrument and bar type), so the
same config runs in a ``BacktestEngine`` and in a ``TradingNode``. On each closed bar it:

1. reads the position-dependent names from Nautilus' own cache and account
   (``position.*``, ``equity``, ``drawdown``),
2. feeds the bar to the streaming evaluator (one ``talib.stream`` handle per indicator),
3. evaluates the exit rules, then the entry rules, and submits market orders: an exit closes
   the position; an entry on the other side reverses it (exit, then entry);
4. after an entry fills, places the protective orders of ``risk:`` as real Nautilus orders
   (stop market, limit take profit, trailing stop market), all reduce-only; whichever fills
   first closes the position and the others are cancelled.

Every trade is recorded with its decision trace (the rule that fired and its conditions'
values), because closed orders are purged from Nautilus' cache as the run goes (keeping a long
backtest linear in its bars, see ``docs/backtest.md``) and vanish from Nautilus' reports.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from nautilus_trader.config import StrategyConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OrderSide, PositionSide, TrailingOffsetType
from nautilus_trader.model.events import OrderFilled, PositionClosed
from nautilus_trader.model.identifiers import ClientOrderId, InstrumentId, PositionId
from nautilus_trader.model.objects import Price
from nautilus_trader.trading.strategy import Strategy

from autobot.evaluate.semantics import NAN
from autobot.evaluate.stream import StreamEvaluator
from autobot.language.compile import CompiledStrategy, PriceLevel
from autobot.strategy import trace as T
from autobot.strategy.sizing import max_order_qty, raw_quantity, round_quantity
from autobot.strategy.costs import affordable_cash_qty, unit_fees_of
from autobot.strategy.clock import bar_open_ns
from autobot.strategy.plans import compiled_for
from autobot.strategy.records import Trade


#: every RuleStrategy nets its own position (see RuleStrategyConfig's oms_type)
STRATEGY_OMS = "NETTING"

#: closed trades between resets of Nautilus' portfolio analyzer (see ``purge_closed_orders``)
ANALYZER_RESET_EVERY = 256


class RuleStrategyConfig(StrategyConfig, frozen=True):
    """What a :class:`RuleStrategy` needs; everything serialisable.

    document : the strategy document's YAML text; document_name : shown in errors and logs.
    overrides : param values replacing the document's defaults.
    instrument_id, bar_type : what it trades and which bars drive it.
    capital_share : the fraction of account equity this strategy sizes from (1.0 alone).
    oms_type : (Nautilus' field) always ``STRATEGY_OMS``, NETTING: one position per (instrument, strategy), id ``{instrument}-{strategy}``, on a
        HEDGING venue (:func:`autobot.venue.settings.add_venue`): each strategy's position, orders,
        protective orders, PnL and fees are its own, as in a sub-account, and every order it sends
        names that position (see ``docs/portfolio.md``, "Several strategies on one market").
    purge_closed_orders : drop its own closed orders (those closed by its previous entry) from the
        cache at each entry, and every
        ``ANALYZER_RESET_EVERY`` closed trades reset Nautilus' portfolio analyzer, whose per-trade
        PnL record grows by a ``pd.concat`` per closed position (quadratic; NautilusTrader 1.231,
        nautechsystems/nautilus_trader#4434). AutoBot records its own trades and never reads it.
    """

    document: str
    document_name: str
    instrument_id: InstrumentId
    bar_type: BarType
    overrides: dict[str, float] = {}
    capital_share: float = 1.0
    purge_closed_orders: bool = True


@dataclass
class _Pending:
    """An order the strategy sent, and why."""

    kind: str          # "entry", "exit", "protect"
    reason: str        # rule name or protective order kind
    side: str = ""
    why: T.Why | None = None


def held_value(account: Any, instrument: Any, position: Any, close: float) -> float:
    """What a cash account holds besides its quote currency, marked to ``close``: the base
    currency's balance for a currency pair (the venue books it there), else the open position's
    units (a share, a fund, a future: no base currency) times the contract multiplier."""
    base = getattr(instrument, "base_currency", None)
    if base is not None:
        held = account.balance_total(base)
        return (held.as_double() if held is not None else 0.0) * close
    if position is None:
        return 0.0
    return float(position.signed_qty) * float(instrument.multiplier) * close


def stream_evaluator(compiled: CompiledStrategy) -> StreamEvaluator:
    """The streaming evaluator a running strategy uses: its rules, plus the nodes its reports and
    decision traces read."""
    return StreamEvaluator(compiled.plan, observe=compiled.reported_nodes() | T.trace_nodes(compiled.plan))


def feed(evaluator: StreamEvaluator, bars: list[Bar]) -> list[tuple[int, tuple[bool, ...]]]:
    """Feed Nautilus bars to an evaluator without trading (the market alone: flat position);
    what its rules decide on each bar."""
    from autobot.evaluate.semantics import flat_externals
    ext = flat_externals()
    return [(bar.ts_event, evaluator.update(bar_open_ns(bar), bar.open.as_double(), bar.high.as_double(),
                                            bar.low.as_double(), bar.close.as_double(), bar.volume.as_double(), ext))
            for bar in bars]


@dataclass
class StrategyHooks:
    """What a runner plugs into a :class:`RuleStrategy` (all optional; none when it runs alone).

    on_progress(bars_seen): every 1,000 bars. extra_externals(bar): more names for the rules
    (``regime``...). entry_allowed(side, qty, price, bar): the portfolio's gate. portfolio_equity():
    the portfolio's equity (the strategy sizes from its share of it). on_trade_opened(name, trade),
    on_trade_closed(trade): trade events for the portfolio's breakers and notifications."""

    on_progress: Callable[[int], None] | None = None
    extra_externals: Callable[[Bar], dict[str, Any]] | None = None
    entry_allowed: Callable[[str, float, float, Bar], bool] | None = None
    portfolio_equity: Callable[[], float] | None = None
    on_trade_opened: Callable[[str, "Trade"], None] | None = None
    on_trade_closed: Callable[["Trade"], None] | None = None


class RuleStrategy(Strategy):
    """Runs one compiled AutoBot strategy document (see the module docstring)."""

    def __init__(self, config: RuleStrategyConfig) -> None:
        super().__init__(config)
        self.compiled: CompiledStrategy | None = None
        self.evaluator: StreamEvaluator | None = None
        self.trades: list[Trade] = []
        self.equity_ts: list[int] = []
        self.equity: list[float] = []
        self.exposure: list[int] = []          # -1 short, 0 flat, 1 long at each bar (before its orders)
        self.decisions: list[dict[str, Any]] = []
        self.fills: list[tuple[int, str, float, float, str]] = []   # ts, BUY/SELL, qty, price, why
        self.hooks = StrategyHooks()            # what the backtest or the portfolio plugs in (connect())
        self.share = float(config.capital_share)
        self.journal: Any = None               # autobot.persistence.journal.Journal on a live node
        self.journal_name = config.document_name
        self._bar_ts = 0
        self.recent: deque[tuple[int, tuple[bool, ...]]] = deque(maxlen=500)   # (bar ts, rules fired)
        self.refusals: list[dict[str, Any]] = []
        self.unsized = 0                        # entries whose size rounded to no order
        self._closing: Any = None               # the close order in flight (one at a time)
        self.stop_action = "keep"               # policy on_stop: keep, cancel_orders or flatten
        self.handing_over = False               # set while a hot reload replaces this instance
        self.realized = 0.0
        self.pnl: list[float] = []             # own realised + unrealised PnL at each bar
        self.bars_seen = 0
        self._orders: dict[ClientOrderId, _Pending] = {}
        self._purge_next: set[ClientOrderId] = set()   # closed at the previous entry: purged at the next
        self._open: Trade | None = None
        self._peak = 0.0
        self._bar_ns = 0
        self._entry_seen: int | None = None     # bars_seen at the bar whose entry opened the position
        self._pos: Any = None
        self._pos_known = False                 # until then, ask the cache (an adopted position)
        self._account: Any = None
        self._whole = NAN                       # the account's (portfolio's) equity, unscaled by the share
        self._closed_inside = 0                 # side (+1/-1) of a position a stop/target closed since the last bar
        self.held_inside: list[int] = []        # bars flat at their close whose position a stop/target closed

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        self.compiled = compiled_for(cfg.document, cfg.document_name, cfg.overrides)    # compiled once
        plan = self.compiled.plan
        self.evaluator = stream_evaluator(self.compiled)
        self._rule_index = {name: k for k, name in enumerate(self.evaluator.rule_names)}
        idx = self._rule_index
        self._k_exit = {"long": idx.get("exit.long"), "short": idx.get("exit.short")}
        self._k_long, self._k_short, self._k_conf = idx.get("entry.long"), idx.get("entry.short"), idx.get("confidence")
        self._reads_externals = bool(plan.externals)
        self._conditions = {name: T.conditions(plan, root) for name, root in plan.rules.items()}
        self.instrument = self.cache.instrument(cfg.instrument_id)
        if self.instrument is None:
            self.log.error(f"no instrument {cfg.instrument_id} in the cache")
            self.stop()
            return
        self._bar_ns = cfg.bar_type.spec.timedelta.value
        self._min_qty = float(self.instrument.min_quantity) if self.instrument.min_quantity is not None else None
        self._max_qty = max_order_qty(self.instrument)
        self.subscribe_bars(cfg.bar_type)

    def on_stop(self) -> None:
        """Stop listening; on a node shutting down, cancel or flatten as the policy says (not when
        a hot reload hands this instance's orders and position over to its successor)."""
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        self.unsubscribe_bars(cfg.bar_type)
        if self.handing_over or self.stop_action == "keep":
            return
        if self.stop_action == "flatten":
            self.flatten("node_stop", self._bar_ts)
        else:
            self.cancel_own_orders()

    # ------------------------------------------------------------------ market state
    @property
    def position_id(self) -> PositionId:
        """This strategy's own position on the instrument (NETTING per strategy on a HEDGING venue):
        every order it sends carries it, so the venue checks a reduce-only order against this
        position and no other strategy's."""
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        return PositionId(f"{cfg.instrument_id}-{self.id}")

    def cancel_own_orders(self) -> None:
        """Cancel this strategy's open orders, one by one. Not ``cancel_all_orders``: the venue's
        cancel-all (NautilusTrader's simulated exchange, as a real one) cancels every order on the
        instrument, another strategy's stops included."""
        from nautilus_trader.model.enums import ContingencyType

        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        lists: set[Any] = set()
        for order in self.cache.orders_open(instrument_id=cfg.instrument_id, strategy_id=self.id):
            if order.is_pending_cancel:
                continue
            if order.contingency_type == ContingencyType.OCO and order.order_list_id is not None:
                if order.order_list_id in lists:
                    continue                    # the venue cancels an OCO order's siblings with it
                lists.add(order.order_list_id)
            self.cancel_order(order)

    def connect(self, hooks: StrategyHooks) -> None:
        """Plug a runner's hooks in (before the strategy starts)."""
        self.hooks = hooks

    def position(self) -> Any:
        """This strategy's open Nautilus position (tracked from position events; None when flat)."""
        if self._pos_known:
            return self._pos
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        opened = self.cache.positions_open(instrument_id=cfg.instrument_id, strategy_id=self.id)
        self._pos, self._pos_known = (opened[0] if opened else None), True
        return self._pos

    def on_position_opened(self, event: Any) -> None:
        self._pos, self._pos_known = self.cache.position(event.position_id), True

    def on_position_changed(self, event: Any) -> None:
        self._pos, self._pos_known = self.cache.position(event.position_id), True

    def _venue_account(self) -> Any:
        """The venue's account (looked up once; None until the venue has registered it)."""
        if self._account is None:
            self._account = self.portfolio.account(self.instrument.id.venue)
        return self._account

    def _equity(self, close: float, unrealized: float) -> float:
        """Account equity at this close, in the instrument's quote currency, times our share
        (``self._whole`` keeps it unscaled: ``drawdown`` is measured on it, so a change of share
        is not a loss)."""
        if self.hooks.portfolio_equity is not None:
            self._whole = self.hooks.portfolio_equity()
            return self._whole * self.share
        account = self._venue_account()
        if account is None:
            return NAN
        balance = account.balance_total(self.instrument.quote_currency)
        total = balance.as_double() if balance is not None else 0.0
        if account.type == AccountType.CASH:
            total += held_value(account, self.instrument, self._pos if self._pos_known else self.position(), close)
        else:
            total += unrealized
        self._whole = total
        return total * self.share

    def _externals(self, bar: Bar, close: float, position: Any, equity: float) -> dict[str, Any]:
        if position is None:
            ext: dict[str, Any] = {"position.side": "flat", "position.qty": 0.0, "position.entry_price": NAN,
                                   "position.pnl_pct": NAN, "position.bars_held": NAN}
        else:
            long = position.side == PositionSide.LONG
            entry = position.avg_px_open
            ext = {
                "position.side": "long" if long else "short",
                "position.qty": float(position.quantity),
                "position.entry_price": entry,
                "position.pnl_pct": ((close / entry - 1.0) * (1.0 if long else -1.0)) if entry > 0 else NAN,
                "position.bars_held": self._bars_held(bar, position),
            }
        whole = self._whole
        self._peak = max(self._peak, whole) if whole == whole else self._peak
        ext["equity"] = equity
        ext["drawdown"] = (1.0 - whole / self._peak) if self._peak > 0 else 0.0
        ext["regime"] = None
        if self.hooks.extra_externals is not None:
            ext.update(self.hooks.extra_externals(bar))
        return ext

    def _bars_held(self, bar: Bar, position: Any) -> float:
        """Bars since the entry bar, counted (a replay runs faster than its bars' timestamps); for a
        position this instance did not open (adopted after a restart), from the timestamps."""
        if self._entry_seen is not None:
            return float(self.bars_seen - self._entry_seen)
        return float(max(0, bar.ts_event - position.ts_opened) // self._bar_ns)

    # ------------------------------------------------------------------ the bar
    def on_bar(self, bar: Bar) -> None:
        ev = self.evaluator
        if ev is None:
            return
        close = bar.close.as_double()
        self._bar_ts = bar.ts_event
        position = self._pos if self._pos_known else self.position()
        unrealized = 0.0 if position is None else position.unrealized_pnl(bar.close).as_double()
        equity = self._equity(close, unrealized)
        side = "flat" if position is None else ("long" if position.side == PositionSide.LONG else "short")
        self.bars_seen += 1
        self.equity_ts.append(bar.ts_event)
        self.equity.append(equity)
        self.exposure.append(0 if side == "flat" else (1 if side == "long" else -1))
        if self._closed_inside and side == "flat":
            self.held_inside.append(len(self.exposure) - 1)
        self._closed_inside = 0
        self.pnl.append(self.realized + unrealized)
        fired = ev.update(bar_open_ns(bar), bar.open.as_double(), bar.high.as_double(), bar.low.as_double(), close,
                          bar.volume.as_double(),
                          self._externals(bar, close, position, equity) if self._reads_externals else None)
        self.recent.append((bar.ts_event, fired))
        if self.hooks.on_progress is not None and self.bars_seen % 1000 == 0:
            self.hooks.on_progress(self.bars_seen)
        # exits first
        if side != "flat":
            k = self._k_exit[side]
            if k is not None and fired[k]:
                self._close(position, f"exit.{side}", bar)
                side = "flat"
        k_long, k_short = self._k_long, self._k_short
        want_long = k_long is not None and fired[k_long]
        want_short = k_short is not None and fired[k_short]
        if want_long == want_short:     # neither, or both (ambiguous: no entry)
            return
        target = "long" if want_long else "short"
        if target == side:
            return
        if self._k_conf is not None and not fired[self._k_conf]:
            return
        qty = self._size(close, equity)
        if qty is None:
            self.log.warning(f"{bar.ts_event}: entry.{target} fired but the size rounds to no order")
            self.unsized += 1
            return
        if self.hooks.entry_allowed is not None and not self.hooks.entry_allowed(target, float(qty), close, bar):
            return
        if side != "flat":              # reversal: exit, then entry
            self._close(position, "reverse", bar)
        self._enter(target, qty, bar)

    # ------------------------------------------------------------------ orders
    def _trace(self, rule: str) -> T.Why | None:
        """Why ``rule`` fired: its conditions' values at this bar (rendered when needed)."""
        ev = self.evaluator
        assert ev is not None
        conds = self._conditions.get(rule)
        return T.Why(conds, ev.value) if conds is not None else None

    def _size(self, close: float, equity: float) -> Decimal | None:
        cs = self.compiled
        assert cs is not None
        method, value = cs.sizing
        distance = self._distance(cs.stop_loss, close) if method == "risk_per_trade" else None
        qty = min(raw_quantity(method, value, equity, close, distance), self._affordable(close, equity))
        return round_quantity(qty, self.instrument.size_precision, self._min_qty, self._max_qty)

    def _affordable(self, close: float, equity: float) -> float:
        """The most units an entry may buy or sell at ``close``: its notional at most equity x the
        account's leverage (margin), or what the free cash pays for with the taker fee (cash).
        ``equity`` is this strategy's (its share of the portfolio's)."""
        account = self._venue_account()
        if account is None or not close > 0:
            return float("inf")
        unit = close * float(self.instrument.multiplier)
        if account.type == AccountType.CASH:
            free = account.balance_free(self.instrument.quote_currency)
            cash = min(equity, free.as_double() if free is not None else 0.0)
            fees = unit_fees_of(self.instrument)
            return affordable_cash_qty(cash, unit, float(self.instrument.taker_fee), fees.per_unit, fees.minimum)
        leverage = float(account.leverage(self.instrument.id) or account.default_leverage or 1)
        return max(equity, 0.0) * leverage / unit

    def _distance(self, level: PriceLevel | None, price: float) -> float | None:
        """A stop/target level as a price distance at this bar (None: no level or undefined)."""
        if level is None:
            return None
        if level.kind == "percent":
            return price * float(level.fraction or 0.0)
        assert self.evaluator is not None and level.node is not None
        d = self.evaluator.value(level.node)
        return d if d == d and d > 0 else None

    def _enter(self, side: str, qty: Decimal, bar: Bar) -> None:
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        if cfg.purge_closed_orders:
            self._purge_closed()
        rule = f"entry.{side}"
        why = self._trace(rule)
        order = self.order_factory.market(cfg.instrument_id, OrderSide.BUY if side == "long" else OrderSide.SELL,
                                          self.instrument.make_qty(qty), tags=[rule])
        self._orders[order.client_order_id] = _Pending("entry", rule, side, why)
        # distances are taken at the decision bar; protective prices are set from the fill
        ev = self.evaluator
        assert ev is not None and self.compiled is not None
        self._protect_at = {name: self._distance(level, bar.close.as_double()) for name, level in
                            (("stop_loss", self.compiled.stop_loss), ("take_profit", self.compiled.take_profit),
                             ("trailing_stop", self.compiled.trailing_stop))}
        self.decisions.append({"ts": bar.ts_event, "action": rule, "why": why})
        self._record(order, "entry", rule, why)
        self.submit_order(order, position_id=self.position_id)

    def _purge_closed(self) -> None:
        """Drop this strategy's closed orders from the cache, those already closed at its previous
        entry: an order closed since may still get a late event (a cancel the venue processes at
        the next bar), and another strategy's orders are never touched."""
        for k in self._purge_next:
            self.cache.purge_order(k)
        self._orders = {k: v for k, v in self._orders.items() if k not in self._purge_next}
        self._purge_next = set()
        for k in self._orders:
            order = self.cache.order(k)
            if order is not None and order.is_closed:
                self._purge_next.add(k)

    def _close(self, position: Any, reason: str, bar: Bar) -> None:
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        if self._closing is not None:           # already closing (e.g. the portfolio flattened it)
            return
        why = self._trace(reason)
        self.cancel_own_orders()
        order = self.order_factory.market(cfg.instrument_id, position.closing_order_side(), position.quantity,
                                          reduce_only=True, tags=[reason])
        self._orders[order.client_order_id] = _Pending("exit", reason, why=why)
        self._closing = order.client_order_id
        self.decisions.append({"ts": bar.ts_event, "action": reason, "why": why})
        self._record(order, "exit", reason, why)
        self.submit_order(order, position_id=self.position_id)

    def _protect(self, side: str, qty: Any, fill_price: float) -> None:
        """Stop loss, take profit and trailing stop for a position just opened: reduce-only, and
        one-cancels-the-others when there are several (the exchange cancels the rest on a fill)."""
        from nautilus_trader.core.uuid import UUID4
        from nautilus_trader.model.enums import ContingencyType, TriggerType
        from nautilus_trader.model.identifiers import OrderListId
        from nautilus_trader.model.orders import LimitOrder, OrderList, StopMarketOrder, TrailingStopMarketOrder

        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        inst = self.instrument
        sign = 1.0 if side == "long" else -1.0
        closing = OrderSide.SELL if side == "long" else OrderSide.BUY
        dist = getattr(self, "_protect_at", {})
        level = self.compiled.trailing_stop if self.compiled is not None else None
        wanted: list[tuple[str, float]] = []
        sl, tp, tr = dist.get("stop_loss"), dist.get("take_profit"), dist.get("trailing_stop")
        if sl is not None and fill_price - sign * sl > 0:
            wanted.append(("stop_loss", fill_price - sign * sl))
        if tp is not None and fill_price + sign * tp > 0:
            wanted.append(("take_profit", fill_price + sign * tp))
        if level is not None and tr is not None and fill_price - sign * tr > 0:
            wanted.append(("trailing_stop", fill_price - sign * tr))
        if not wanted:
            return
        ids = [self.order_factory.generate_client_order_id() for _ in wanted]
        oco = len(wanted) > 1
        list_id = OrderListId(f"OL-{ids[0].value}") if oco else None
        common = dict(trader_id=self.trader_id, strategy_id=self.id, instrument_id=cfg.instrument_id,
                      order_side=closing, quantity=qty, init_id=UUID4(), ts_init=self.clock.timestamp_ns(),
                      reduce_only=True, contingency_type=ContingencyType.OCO if oco else ContingencyType.NO_CONTINGENCY,
                      order_list_id=list_id)
        orders = []
        for (name, price), coid in zip(wanted, ids):
            linked = [i for i in ids if i != coid] if oco else None
            if name == "stop_loss":
                order = StopMarketOrder(client_order_id=coid, trigger_price=inst.make_price(price),
                                        trigger_type=TriggerType.DEFAULT, linked_order_ids=linked, tags=[name],
                                        **common)
            elif name == "take_profit":
                order = LimitOrder(client_order_id=coid, price=inst.make_price(price), linked_order_ids=linked,
                                   tags=[name], **common)
            else:
                assert level is not None
                if level.kind == "percent":
                    offset = Decimal(str(round(float(level.fraction or 0) * 10_000, 6)))
                    kind = TrailingOffsetType.BASIS_POINTS
                else:
                    offset, kind = Decimal(str(inst.make_price(tr))), TrailingOffsetType.PRICE
                order = TrailingStopMarketOrder(client_order_id=coid, trigger_price=inst.make_price(price),
                                                trigger_type=TriggerType.DEFAULT, trailing_offset=offset,
                                                trailing_offset_type=kind, linked_order_ids=linked, tags=[name],
                                                **common)
            self._orders[coid] = _Pending("protect", name)
            self._record(order, "protect", name, "")
            orders.append(order)
        if oco:
            self.submit_order_list(OrderList(list_id, orders), position_id=self.position_id)
        else:
            self.submit_order(orders[0], position_id=self.position_id)

    def _record(self, order: Any, kind: str, reason: str, why: Any) -> None:
        """Journal an order (and the decision behind it) on a live node."""
        j = self.journal
        if j is None:
            return
        side = "BUY" if order.side == OrderSide.BUY else "SELL"
        new = j.order(self.journal_name, order.client_order_id, self._bar_ts, side, float(order.quantity), kind,
                      reason)
        if new and kind != "protect":
            j.event("decision", self._bar_ts, self.journal_name, action=reason, why=str(why or ""), side=side,
                    qty=float(order.quantity))

    # ------------------------------------------------------------------ events
    def on_order_denied(self, event: Any) -> None:
        self._refused("denied", event)

    def on_order_rejected(self, event: Any) -> None:
        self._refused("rejected", event)

    def _refused(self, how: str, event: Any) -> None:
        """An order the risk engine denied or the venue rejected: logged, kept, journaled."""
        pending = self._orders.get(event.client_order_id)
        if event.client_order_id == self._closing:
            self._closing = None
        record = {"ts": self._bar_ts, "how": how, "reason": str(event.reason),
                  "order": pending.reason if pending is not None else ""}
        self.refusals.append(record)
        self.log.warning(f"order {how}: {record['order']}: {record['reason']}")
        if self.journal is not None:
            self.journal.event(f"order_{how}", self._bar_ts, self.journal_name,
                               how=how, reason=record["reason"], order=record["order"])

    def on_order_filled(self, event: OrderFilled) -> None:
        pending = self._orders.get(event.client_order_id)
        fee = event.commission.as_double() if event.commission is not None else 0.0
        self.fills.append((event.ts_event, "BUY" if event.order_side == OrderSide.BUY else "SELL",
                           float(event.last_qty), float(str(event.last_px)),
                           pending.reason if pending is not None else ""))
        if self.journal is not None:
            filled = self.cache.order(event.client_order_id)
            self.journal.fill(self.journal_name, event.client_order_id,
                              float(filled.filled_qty) if filled is not None else float(event.last_qty),
                              event.ts_event, self.fills[-1][1], self.fills[-1][2], self.fills[-1][3],
                              self.fills[-1][4])
        if self._open is not None:
            self._open.fees += fee
        if pending is None or pending.kind != "entry":
            return
        price = float(str(event.last_px))
        qty = float(event.last_qty)
        trade = self._open
        if trade is not None and trade.exit_ts is None and trade.entry_ts == event.ts_event:
            # another partial fill of the same entry (a bar offers only part of its volume per price)
            trade.entry_price = (trade.entry_price * trade.qty + price * qty) / (trade.qty + qty)
            trade.qty += qty
        else:
            self._open = Trade(pending.side, qty, event.ts_event, price, pending.reason,
                               pending.why, fees=fee)
            self.trades.append(self._open)
            self._entry_seen = self.bars_seen
            if self.hooks.on_trade_opened is not None:
                self.hooks.on_trade_opened(self.journal_name, self._open)
        order = self.cache.order(event.client_order_id)
        if order is not None and order.leaves_qty.as_double() == 0:
            # protect the whole position once the entry is complete (a thin bar fills it in parts)
            self._protect(pending.side, order.filled_qty, float(self.instrument.make_price(order.avg_px)))

    def on_position_closed(self, event: PositionClosed) -> None:
        self._pos, self._pos_known = None, True
        self._closing = None
        trade = self._open
        if trade is None:
            return
        pending = self._orders.get(event.closing_order_id)
        trade.exit_ts = event.ts_closed
        trade.exit_price = round(event.avg_px_close, self.instrument.price_precision)
        trade.exit_reason = pending.reason if pending is not None else "closed"
        if pending is not None:
            trade.exit_cause = pending.why
        trade.pnl = event.realized_pnl.as_double()
        # a stop or target fills inside a bar the strategy has not been given yet: count that bar too
        inside = 1 if pending is not None and pending.kind == "protect" else 0
        if inside:
            self._closed_inside = 1 if trade.side == "long" else -1
        trade.bars = self.bars_seen - self._entry_seen + inside if self._entry_seen is not None else \
            (int(event.duration_ns // self._bar_ns) if self._bar_ns else 0)
        self._entry_seen = None
        self.realized += trade.pnl
        self._open = None
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        if cfg.purge_closed_orders and len(self.trades) % ANALYZER_RESET_EVERY == 0:
            self.portfolio.analyzer.reset()     # public API; keeps 1.231's per-trade PnL record short
        self.cancel_own_orders()
        if self.hooks.on_trade_closed is not None:
            self.hooks.on_trade_closed(trade)

    def warm(self, bars: list[Bar]) -> list[tuple[int, tuple[bool, ...]]]:
        """Feed past bars to the evaluator without trading (a reloaded version catching up);
        returns what its rules would have decided on each (the market alone: flat position)."""
        assert self.evaluator is not None
        return feed(self.evaluator, bars)

    def take_over(self, old: "RuleStrategy") -> None:
        """Continue the records of the instance this one replaces (same StrategyId: its orders
        and position are ours now)."""
        for name in ("trades", "fills", "equity_ts", "equity", "exposure", "held_inside", "pnl", "decisions",
                     "recent"):
            setattr(self, name, getattr(old, name))
        self.realized, self.bars_seen, self._peak = old.realized, old.bars_seen, old._peak
        self._open, self._entry_seen, self._orders = old._open, old._entry_seen, old._orders
        self._purge_next = old._purge_next
        self._closing = old._closing
        self._pos_known = False                 # ask the cache: the adopted position is ours
        self._protect_at = getattr(old, "_protect_at", {})
        self.hooks = old.hooks

    def flatten(self, reason: str, ts: int | None = None) -> bool:
        """Close the position now (market, reduce-only) and cancel resting orders; True if there was one.
        ``ts``: the bar the decision belongs to (default: the last bar this strategy saw)."""
        if ts is not None:
            self._bar_ts = ts
        cfg: RuleStrategyConfig = self.config  # type: ignore[assignment]
        position = self.position()
        self.cancel_own_orders()
        if position is None or self._closing is not None:
            return False
        order = self.order_factory.market(cfg.instrument_id, position.closing_order_side(), position.quantity,
                                          reduce_only=True, tags=[reason])
        self._orders[order.client_order_id] = _Pending("exit", reason)
        self._closing = order.client_order_id
        self.decisions.append({"ts": self._bar_ts, "action": reason, "why": reason})
        self._record(order, "exit", reason, reason)
        self.submit_order(order, position_id=self.position_id)
        return True

    # ------------------------------------------------------------------ results
    def open_trade(self, last_close: float) -> Trade | None:
        """The trade still open at the end, marked to the last close (exit reason ``open``)."""
        trade = self._open
        position = self.position()
        if trade is None or position is None:
            return None
        trade.exit_reason = "open"
        trade.exit_price = last_close
        trade.pnl = position.unrealized_pnl(Price(last_close, self.instrument.price_precision)).as_double() \
            + position.realized_pnl.as_double()
        return trade
