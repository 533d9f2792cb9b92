"""Run one compiled strategy document in NautilusTrader's ``BacktestEngine``.

The engine gets one simulated venue (NETTING, margin or cash account, the instrument's
maker/taker fees, an optional slippage fill model), the instrument, the bars (ts_event = close)
and one :class:`~autobot.strategy.rule_strategy.RuleStrategy`. Results come from what the
strategy recorded (trades with decision traces, the equity curve) and Nautilus' account.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from autobot.backtest import metrics as M
from autobot.backtest.data import NS, bar_seconds, iso, prepare_bars, resample, to_nautilus  # noqa: F401 (re-exported)
from autobot.venue.instruments import (InstrumentSettings, account_currency, cost_model, make_instrument,
                                       market_note, quote_currency)
from autobot.venue.settings import VenueSettings, add_venue, bar_spec_text, logging_config
from autobot.data.bars import Bars
from autobot.language.compile import CompiledStrategy, compile_strategy_text
from autobot.strategy.clock import bar_open_ns
from autobot.strategy.plans import register
from autobot.strategy.sizing import capped_note, unsized_note


@dataclass
class BacktestResult:
    """Everything a backtest produced, ready for the table, the JSON and the report."""

    strategy: str
    document: str
    instrument: str
    bar: str
    bars: Bars
    bar_seconds: int
    capital: float
    currency: str
    final_equity: float
    final_balance: float               # the account's cash balance at the end (open position not marked)
    metrics: dict[str, Any]
    buy_and_hold: dict[str, Any]
    trades: list[dict[str, Any]]
    equity_ts: np.ndarray
    equity: np.ndarray
    exposure: np.ndarray
    fills: list[tuple[int, str, float, float, str]]
    notes: list[str] = field(default_factory=list)
    engine: str = "nautilus"           # or "fast" (autobot.fast)
    cost_model: str = ""               # what fills are charged (autobot.venue.instruments.cost_model)

    def to_json(self) -> dict[str, Any]:
        """The results JSON: metrics (fractions), comparison, success bar and the trade list."""
        return {
            "strategy": self.strategy, "document": self.document, "instrument": self.instrument,
            "engine": self.engine, "bar": self.bar, "bars": len(self.bars), "start": iso(int(self.bars.ts[0])) if len(self.bars) else None,
            "end": iso(int(self.bars.ts[-1]) + self.bar_seconds * NS) if len(self.bars) else None,
            "capital": self.capital, "currency": self.currency, "cost_model": self.cost_model,
            **self.metrics,
            "buy_and_hold": self.buy_and_hold,
            "success_bar": M.success_marks(self.metrics),
            "notes": self.notes,
            "trade_list": self.trades,
        }


def stopped_early(name: str, where: str, bar: int, n_bars: int, cause: str) -> Any:
    """The :class:`RunError` of a backtest whose trading stopped at ``bar`` (1-based) of
    ``n_bars``, closing at ``where``, because of ``cause`` (both engines word it the same)."""
    from autobot.diagnostics import RunError
    return RunError(f"{name}: trading stopped at the bar closing {where} (bar {bar:,} of {n_bars:,}): {cause}; "
                    "no metrics are reported. Size positions so that they and their fees fit the account "
                    "(sizing: equity_pct, risk_per_trade with a stop), or use a margin account.")


def check_run(name: str, strategy: Any, n_bars: int, account: Any) -> None:
    """Raise :class:`RunError` when ``strategy``'s numbers would not be what its document says:
    the engine stopped before the last bar (NautilusTrader halts a backtest whose account goes
    negative), or the risk engine or venue refused one of its orders."""
    from autobot.diagnostics import RunError

    seen = strategy.bars_seen
    where = iso(int(strategy.equity_ts[-1])) if strategy.equity_ts else "the start"
    if seen < n_bars:
        negative = [b for b in (account.balances().values() if account is not None else [])
                    if b.total.as_double() < 0]
        cause = (f"the account balance went negative ({negative[0].total.as_double():,.2f} {negative[0].total.currency}): "
                 "NautilusTrader stopped the backtest"
                 if negative else "NautilusTrader stopped the backtest (its log above says why)")
        raise stopped_early(name, where, seen, n_bars, cause)
    # orders denied because a portfolio breaker set the trading state are the breaker working
    refusals = [r for r in strategy.refusals if not str(r["reason"]).startswith("TradingState")]
    if refusals:
        first = refusals[0]
        raise RunError(f"{name}: an order was {first['how']} at the bar closing {iso(int(first['ts']))} "
                       f"({first['order'] or 'order'}: {first['reason']}); {len(refusals)} order(s) "
                       "refused in all, so the results would not be the document's; no metrics are reported.")


def run_backtest(compiled: CompiledStrategy, bars: Bars, venue: VenueSettings = VenueSettings(),
                 instrument: InstrumentSettings = InstrumentSettings(), instrument_id: str | None = None,
                 overrides: dict[str, float] | None = None,
                 progress: Callable[[int, int], None] | None = None,
                 purge_closed_orders: bool = True, regimes: Any = None, texts: Any = None) -> BacktestResult:
    """Backtest ``compiled`` on ``bars`` (see the module docstring).

    ``regimes`` (compiled regimes): when the strategy reads ``regime``, the regime of each bar,
    detected on the strategy's own bars (a strategy alone has no policy to supply it).
    ``texts`` (:func:`autobot.data.text.load_texts`): the feed of a strategy that reads ``sentiment``."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig
    from nautilus_trader.model.data import BarType
    from nautilus_trader.model.identifiers import TraderId
    from nautilus_trader.model.objects import Price

    from autobot.strategy.rule_strategy import STRATEGY_OMS, RuleStrategy, RuleStrategyConfig, StrategyHooks, held_value

    iid = instrument_id or compiled.document.market.instrument
    bars, seconds, notes = prepare_bars(compiled, bars)
    if len(bars) == 0:
        raise ValueError("no bars to backtest")
    from autobot.backtest.data import text_externals
    text_series = text_externals(compiled, bars, seconds, texts, iid)
    inst = make_instrument(iid, [bars.open, bars.high, bars.low, bars.close], instrument)
    costs = cost_model(inst)
    mismatch = market_note(iid, bars.close, float(inst.maker_fee), float(inst.taker_fee), bars.path)
    if mismatch is not None:
        notes.append(mismatch)
    quote = quote_currency(iid, instrument)
    bar_type = BarType.from_str(f"{iid}-{bar_spec_text(seconds)}-EXTERNAL")
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BACKTESTER-001"),
                                                 logging=logging_config(), run_analysis=False))
    try:
        cash = venue.account == "cash"
        currency = account_currency(quote, inst)
        add_venue(engine, inst.id.venue.value, currency, venue.capital, venue, cash)
        engine.add_instrument(inst)
        engine.add_data(to_nautilus(bars, bar_type, inst, seconds))
        params = {**compiled.params, **(overrides or {})}
        if params != compiled.params:           # compiled here, once, with the overrides the config carries
            compiled = compile_strategy_text(compiled.source.text, compiled.source.path, params)
        register(compiled, params)
        strategy = RuleStrategy(RuleStrategyConfig(
            document=compiled.source.text, document_name=compiled.source.path, instrument_id=inst.id,
            bar_type=bar_type, overrides=params, order_id_tag="001",
            purge_closed_orders=purge_closed_orders, oms_type=STRATEGY_OMS))
        hooks = StrategyHooks()
        if progress is not None:
            total = len(bars)
            hooks.on_progress = lambda done: progress(done, total)
        if cash:
            hooks.entry_allowed = lambda side, qty, price, bar: side == "long"
        if regimes is not None and "regime" in compiled.plan.externals:
            from autobot.evaluate.regime import RegimeDetector
            detector = RegimeDetector(regimes)

            def regime_now(bar: Any) -> dict[str, Any]:
                return {"regime": detector.update(bar_open_ns(bar), bar.open.as_double(), bar.high.as_double(),
                                                  bar.low.as_double(), bar.close.as_double(), bar.volume.as_double())}
            hooks.extra_externals = regime_now
            notes.append("regime detected on the strategy's bars by the project's regimes document")
        if text_series is not None:
            at = {int(t) + seconds * 1_000_000_000: k for k, t in enumerate(bars.ts.tolist())}
            before = hooks.extra_externals

            def sentiment_now(bar: Any) -> dict[str, Any]:
                k = at[int(bar.ts_event)]
                out = {name: float(series[k]) for name, series in text_series.items()}
                return {**before(bar), **out} if before is not None else out
            hooks.extra_externals = sentiment_now
            notes.append("sentiment from the text feed, each text counted from the first bar closing after it")
        strategy.connect(hooks)
        engine.add_strategy(strategy)
        engine.run()
        check_run(compiled.source.path, strategy, len(bars), engine.portfolio.account(inst.id.venue))
        last_close = float(bars.close[-1])
        position = strategy.position()
        account = engine.portfolio.account(inst.id.venue)
        final = account.balance_total(inst.quote_currency).as_double()
        balance = final
        if cash:
            final += held_value(account, inst, position, last_close)
        elif position is not None:
            final += position.unrealized_pnl(Price(last_close, inst.price_precision)).as_double()
        strategy.open_trade(last_close)
        trades = [t.to_json() for t in strategy.trades]
        equity_ts = np.array(strategy.equity_ts, dtype=np.int64)
        equity = np.array(strategy.equity, dtype=np.float64)
        exposure = np.array(strategy.exposure, dtype=np.int8)
        held = exposure != 0                  # held at some time in the bar: a stop filled inside it too
        held[np.array(strategy.held_inside, dtype=np.int64)] = True
        fills = list(strategy.fills)
        unsized_count = strategy.unsized
    finally:
        engine.dispose()
    bar_ns = seconds * NS
    metrics = M.compute(equity, bars.ts, bar_ns, venue.capital, final, trades, held)
    bh = M.buy_and_hold(bars.close, bars.ts, bar_ns, venue.capital, float(inst.taker_fee))
    if progress is not None:
        progress(len(bars), len(bars))
    capped = capped_note(*compiled.sizing, fills, float(inst.size_increment))
    if capped is not None:
        notes.append(capped)
    unsized = unsized_note(unsized_count, float(inst.size_increment),
                           float(inst.min_quantity) if inst.min_quantity is not None else None)
    if unsized is not None:
        notes.append(unsized)
    return BacktestResult(compiled.id, compiled.source.path, iid, bar_spec_text(seconds), bars, seconds,
                          venue.capital, str(currency), final, balance, metrics, bh, trades, equity_ts, equity, exposure,
                          fills, notes, cost_model=costs)
