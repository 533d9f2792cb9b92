"""``autobot backtest --policy``: the whole autonomous portfolio in one Nautilus engine.

Every strategy the policy allocates capital to runs as its own ``RuleStrategy`` (own StrategyId,
own orders: Nautilus attributes fills, fees and PnL to it), steered by one
:class:`~autobot.portfolio.controller.PortfolioController` on one simulated venue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from autobot.backtest import metrics as M
from autobot.backtest.data import NS, to_nautilus
from autobot.backtest.engine import BacktestResult, check_run, run_backtest
from autobot.venue.settings import VenueSettings, add_venue, bar_spec_text, logging_config
from autobot.venue.instruments import InstrumentSettings
from autobot.data.bars import Bars
from autobot.workspace import CompiledPolicy


@dataclass
class PortfolioResult:
    """What a portfolio backtest produced."""

    policy: str
    instruments: list[str]
    bar: str
    bars: Bars                                     # the primary series (the regime's instrument)
    bar_seconds: int
    capital: float
    currency: str
    final_equity: float
    metrics: dict[str, Any]
    buy_and_hold: dict[str, Any]
    equity_ts: np.ndarray
    equity: np.ndarray
    regimes: list[str | None]
    switches: list[dict[str, Any]]
    trips: list[dict[str, Any]]
    per_strategy: dict[str, dict[str, Any]]
    per_regime: dict[str, dict[str, Any]]
    trades: list[dict[str, Any]]
    strategy_pnl: dict[str, np.ndarray]
    alone: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    exposure: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))   # open positions per bar
    resumes: list[dict[str, Any]] = field(default_factory=list)   # breaker cooldowns that ended
    challenge: dict[str, Any] = field(default_factory=dict)       # the paper challenge's stages and moves
    fills: dict[str, list[tuple[int, str, float, float, str]]] = field(default_factory=dict)   # per strategy
    # after a demotion: the paper track's metrics (and its equity), the headline being the capital's
    paper_track: dict[str, Any] = field(default_factory=dict)
    cost_models: dict[str, str] = field(default_factory=dict)     # instrument -> what its fills pay
    exposure_report: dict[str, Any] = field(default_factory=dict)  # gross/net per strategy and instrument
    universe: list[dict[str, Any]] = field(default_factory=list)  # the instruments: id, class, bars, span
    sleeves: dict[str, Any] = field(default_factory=dict)         # member -> universe_report.Sleeve
    cash_share: float | None = None            # the equity no sleeve was allocated, averaged over the bars
    buy_and_hold_first: dict[str, Any] = field(default_factory=dict)   # a universe's first instrument alone

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy, "instruments": self.instruments, "bar": self.bar, "bars": len(self.bars),
            "capital": self.capital, "currency": self.currency, "cost_models": self.cost_models, **self.metrics,
            "buy_and_hold": self.buy_and_hold, "success_bar": M.success_marks(self.metrics),
            "per_strategy": self.per_strategy, "per_regime": self.per_regime, "alone": self.alone,
            "switches": self.switches, "breaker_trips": self.trips, "breaker_resumes": self.resumes,
            "challenge": self.challenge, "notes": self.notes, "exposures": self.exposure_report,
            "paper_track": {k: v for k, v in self.paper_track.items() if k != "equity"} or None,
            "universe": self.universe, "sleeves": {k: s.to_json() for k, s in self.sleeves.items()},
            "cash_share": self.cash_share, "buy_and_hold_first": self.buy_and_hold_first or None,
            "trade_list": self.trades,
        }


def run_portfolio(policy: CompiledPolicy, data: dict[str, Bars], venue: VenueSettings = VenueSettings(),
                  instrument: InstrumentSettings = InstrumentSettings(),
                  progress: Callable[[int, int], None] | None = None, compare: bool = True,
                  text: Any = None) -> PortfolioResult:
    """Backtest the policy on ``data`` (instrument id -> bars). See the module docstring. ``text``:
    the text feed (a file) of strategies that read ``sentiment``."""
    from nautilus_trader.backtest.engine import BacktestEngine
    from nautilus_trader.config import BacktestEngineConfig
    from nautilus_trader.model.identifiers import TraderId, Venue

    from autobot.portfolio.controller import PortfolioController, PortfolioControllerConfig
    from autobot.portfolio.setup import strategy_config
    from autobot.strategy.rule_strategy import RuleStrategy

    from autobot.portfolio.setup import prepare

    setup = prepare(policy, data, instrument, texts=text is not None)
    used, market, seconds, series = setup.used, setup.market, setup.seconds, setup.series
    primary = setup.primary
    regime_key = setup.regime_key
    capital = float(policy.document.capital or venue.capital)

    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BACKTESTER-001"),
                                                 logging=logging_config(), run_analysis=False))
    try:
        insts, currency = setup.instruments, setup.currency
        add_venue(engine, setup.venue, currency, capital, venue, cash=venue.account == "cash")
        for inst in insts.values():
            engine.add_instrument(inst)
        bar_types = setup.bar_types
        for key in sorted(series, key=lambda k: k != regime_key):     # the regime's bars first
            engine.add_data(to_nautilus(series[key], bar_types[key], insts[key[0]], key[1]))
        strategies: dict[str, Any] = {}
        for k, sid in enumerate(used):
            strategies[sid] = RuleStrategy(strategy_config(
                policy, sid, bar_types[(market[sid].instrument, seconds[sid])], k))
        strategy_bar_types = [bar_types[(market[sid].instrument, seconds[sid])] for sid in used]
        controller = PortfolioController(
            engine.trader, PortfolioControllerConfig(regime_bar_type=bar_types[regime_key], bar_types=strategy_bar_types,
                                                    text_path=None if text is None else str(text)),
            policy, strategies, set_trading_state=engine.kernel.risk_engine.set_trading_state)
        engine.add_actor(controller)
        for strategy in strategies.values():
            engine.add_strategy(strategy)
        if progress is not None:
            total = len(primary)
            strategies[used[0]].hooks.on_progress = lambda done: progress(done, total)
        engine.run()
        account = engine.portfolio.account(Venue(setup.venue))
        for sid, strategy in strategies.items():
            check_run(f"{policy.path}: {sid}", strategy, len(series[(market[sid].instrument, seconds[sid])]),
                      account)
        result = collect(policy, setup, controller, strategies, capital)
    finally:
        engine.dispose()
    if compare:
        texts = None
        if text is not None:
            from autobot.data.text import load_texts
            texts = load_texts(text)
        result.alone = alone_metrics(policy, used, data, market, capital, venue, instrument, texts)
    if progress is not None:
        progress(len(primary), len(primary))
    return result



def alone_metrics(policy: CompiledPolicy, used: list[str], data: dict[str, Bars], market: dict[str, Any],
                  capital: float, venue: VenueSettings, instrument: InstrumentSettings,
                  texts: Any) -> dict[str, dict[str, Any]]:
    """Each used strategy backtested alone with all the capital on its instrument's bars (the
    comparison table of both portfolio engines)."""
    alone = VenueSettings(capital=capital, leverage=venue.leverage, slippage=venue.slippage, account=venue.account)
    return {sid: _alone(policy.strategies[sid], data[market[sid].instrument], alone, instrument,
                        market[sid].instrument, texts) for sid in used}


def _alone(compiled: Any, bars: Any, venue: VenueSettings, instrument: InstrumentSettings, iid: str,
           texts: Any) -> dict[str, Any]:
    """A strategy's metrics backtested alone with all the capital (the comparison table): on the
    fast engine, which trades as NautilusTrader does (the parity tests) in a hundredth of the time
    (a policy backtest spent 44-53% of its time here), or on NautilusTrader for a strategy the fast
    engine cannot reproduce."""
    from autobot.fast.engine import run_fast
    from autobot.fast.program import Unsupported
    try:
        return run_fast(compiled, bars, venue, instrument, instrument_id=iid, texts=texts, traces=False).metrics
    except Unsupported:
        alone: BacktestResult = run_backtest(compiled, bars, venue, instrument, instrument_id=iid, texts=texts)
        return alone.metrics


def collect(policy: CompiledPolicy, setup: Any, controller: Any, strategies: dict[str, Any],
            capital: float) -> PortfolioResult:
    """Assemble the results of a finished run (backtest engine or live node) from what the
    controller and the strategies recorded."""
    used, series = setup.used, setup.series
    # strategies a live policy edit added are not in the setup the run started with
    market = {**{sid: policy.strategies[sid].document.market for sid in strategies if sid in policy.strategies},
              **setup.market}
    seconds = {**{sid: policy.strategies[sid].bar.seconds for sid in strategies if sid in policy.strategies},
               **setup.seconds}
    primary, primary_key, insts, currency = setup.primary, setup.primary_key, setup.instruments, setup.currency
    final = controller.portfolio_value()
    seen = {str(k): v for k, v in getattr(controller, "closes", {}).items()}   # the last closes handled
    last_closes = {iid: seen.get(iid, float(b.close[-1])) for (iid, _), b in series.items()}
    for sid, strategy in strategies.items():
        strategy.open_trade(last_closes[market[sid].instrument])
    equity_ts = np.array(controller.equity_ts, dtype=np.int64)
    equity = np.array(controller.equity, dtype=np.float64)
    regimes = list(controller.regimes_at)
    open_counts = np.array(controller.open_counts, dtype=np.int64)
    switches = [s.to_json() for s in controller.switches]
    trips = [t.to_json() for t in controller.trips]
    trades: list[dict[str, Any]] = []
    per_strategy: dict[str, dict[str, Any]] = {}
    pnl_curves: dict[str, np.ndarray] = {}
    for sid, strategy in strategies.items():
        ts_ = [dict(t.to_json(), strategy=sid) for t in strategy.trades]
        trades.extend(ts_)
        pnl = np.array(strategy.pnl + [sum(t["pnl"] for t in ts_)], dtype=np.float64)
        pnl_curves[sid] = pnl
        per_strategy[sid] = {"trades": sum(t["exit_reason"] != "open" for t in ts_),
                             "pnl": float(sum(t["pnl"] for t in ts_)),
                             "fees": float(sum(t["fees"] for t in ts_)),
                             # annualised with the strategy's own bars (a 4h strategy beside a 1h primary)
                             "sharpe": _sharpe(np.diff(pnl) / capital,
                                               series[(market[sid].instrument, seconds[sid])], seconds[sid])}
    trades.sort(key=lambda t: t["entry_ts"])
    total_pnl = sum(v["pnl"] for v in per_strategy.values())
    for v in per_strategy.values():
        v["share_of_pnl"] = (v["pnl"] / total_pnl) if total_pnl else None
    bar_ns = seconds[used[0]] * NS
    notes = list(setup.notes)
    if 0 < len(equity) < len(primary):      # a node stopped early (Ctrl-C): results over the bars handled
        notes.append(f"stopped after {len(equity):,} of {len(primary):,} bars; the results cover the bars handled")
        primary = primary.slice(0, len(equity))
    scales = [float(x) for x in getattr(controller, "risk_scales", [])]
    lowered = [x for x in scales if x < 1.0]
    if lowered:
        notes.append(f"drawdown scaling lowered every share on {len(lowered):,} of {len(scales):,} bars (lowest "
                     f"{min(lowered):.0%} of the allocation, as the drawdown neared max_drawdown)")
    if policy.document.risk.target_volatility is not None:
        notes.append(f"target volatility {policy.document.risk.target_volatility}: the last allocation's shares "
                     f"were scaled to {getattr(controller, 'vol_scale', 1.0):.0%} of the method's")
    # attribution (per strategy, per regime) is of the strategies' own trading: the paper track's
    per_regime = _per_regime(regimes, equity, final)
    paper: dict[str, Any] = {}
    line = np.array(getattr(controller, "capital_line", []), dtype=np.float64)
    if getattr(controller, "_demoted_from", None) is not None and len(line) == len(equity):
        # a breaker demoted the portfolio: the headline is what the capital did; the paper track
        # (the strategies trading on after the demotion) is reported beside it, labelled
        paper = M.compute(equity, primary.ts[:len(equity)], bar_ns, capital, final, trades, open_counts)
        shares = np.array(controller.participation, dtype=np.float64)
        end_share = controller.capital_share(len(equity))
        capital_final = float(line[-1] * (1.0 + end_share * (final / equity[-1] - 1.0))) if equity[-1] > 0 \
            else float(line[-1])
        bar_of = np.searchsorted(equity_ts, np.array([t["entry_ts"] for t in trades], dtype=np.int64), side="left")
        with_capital = [t for t, k in zip(trades, bar_of) if shares[min(k, len(shares) - 1)] > 0]
        paper["equity"] = [float(x) for x in equity]
        equity, final = line, capital_final
        metrics = M.compute(equity, primary.ts[:len(equity)], bar_ns, capital, final, with_capital,
                            np.where(shares > 0, open_counts, 0))
        notes.append(f"a breaker demoted the portfolio to paper at {_first_demotion(controller)}: the headline is the "
                     f"capital (flat from the flatten's fill until the challenge promotes it again); the paper "
                     f"track traded on and is reported beside it (paper_track); the per-strategy and per-regime "
                     f"tables are the strategies' own trading")
    else:
        metrics = M.compute(equity, primary.ts[:len(equity)], bar_ns, capital, final, trades, open_counts)
    bh = M.buy_and_hold(primary.close, primary.ts, bar_ns, capital, float(insts[primary_key[0]].taker_fee))
    from autobot.portfolio import universe_report as U
    from autobot.venue.instruments import asset_class
    own = {}                                  # each instrument's bars as its members trade them
    for sid in used:
        key = (market[sid].instrument, seconds[sid])
        own.setdefault(key[0], series[key])
    first_bh: dict[str, Any] = {}
    if policy.document.universe:              # the universe's benchmark: all its instruments, equal weight
        first_bh, bh = bh, (U.equal_weight_buy_and_hold(own, equity_ts, bar_ns, capital) or bh)
    sleeve_rows = U.sleeves(per_strategy, {sid: market[sid].instrument for sid in per_strategy if sid in market},
                            equity_ts, switches, scales)
    return PortfolioResult(policy.document.policy, setup.iids, bar_spec_text(seconds[used[0]]), primary,
                           seconds[used[0]], capital, str(currency), final, metrics, bh, equity_ts,
                           np.asarray(equity, dtype=np.float64), regimes,
                           switches, trips, per_strategy, per_regime, trades, pnl_curves, notes=notes,
                           exposure=open_counts, resumes=list(getattr(controller, "resumes", [])),
                           challenge=challenge_summary(controller, int(equity_ts[-1]) if len(equity_ts) else 0),
                           fills={sid: list(s.fills) for sid, s in strategies.items()}, paper_track=paper,
                           cost_models=dict(getattr(setup, "cost_models", {})),
                           exposure_report=exposures(getattr(controller, "position_values", {}), market,
                                                     np.asarray(paper.get("equity", equity), dtype=np.float64)),
                           universe=U.universe_rows(own, asset_class), sleeves=sleeve_rows,
                           cash_share=U.cash_share(sleeve_rows), buy_and_hold_first=first_bh)


def exposures(values: dict[str, list[float]], market: dict[str, Any], equity: np.ndarray) -> dict[str, Any]:
    """Gross and net exposure (position value over the equity at each primary bar: its mean and
    its largest) per strategy and per instrument, from each strategy's signed position value. A
    long and a short on one instrument add to its gross and cancel in its net."""
    n = len(equity)
    if not n or not values:
        return {}
    safe = np.where(equity > 0, equity, np.nan)

    def stats(gross: np.ndarray, net: np.ndarray) -> dict[str, float | None]:
        g, t = gross / safe, net / safe
        ok = np.isfinite(g)
        return {"mean_gross": float(np.mean(g[ok])) if ok.any() else None,
                "max_gross": float(np.max(g[ok])) if ok.any() else None,
                "mean_net": float(np.mean(t[ok])) if ok.any() else None,
                "max_net": float(np.max(np.abs(t[ok]))) if ok.any() else None}
    rows = {sid: np.asarray((v + [0.0] * n)[:n], dtype=np.float64) for sid, v in values.items()}
    per_strategy = {sid: stats(np.abs(v), v) for sid, v in rows.items()}
    per_instrument: dict[str, Any] = {}
    for iid in sorted({market[sid].instrument for sid in rows if sid in market}):
        mine = [v for sid, v in rows.items() if sid in market and market[sid].instrument == iid]
        per_instrument[iid] = stats(np.sum(np.abs(mine), axis=0), np.sum(mine, axis=0))
    everything = list(rows.values())
    return {"per_strategy": per_strategy, "per_instrument": per_instrument,
            "portfolio": stats(np.sum(np.abs(everything), axis=0), np.sum(everything, axis=0))}


def _first_demotion(controller: Any) -> str:
    """When the first demotion tripped (its breaker's bar), as an ISO time."""
    from autobot.backtest.data import iso
    trips = [t for t in controller.trips if "demote" in (t.action or "")]
    return iso(int(trips[0].ts)) if trips else "?"


def challenge_summary(controller: Any, end: int) -> dict[str, Any]:
    """The challenge's moves, the days each subject spent in each stage, and what the stages'
    capital would have made (each bar, each strategy's paper return x its real share: an estimate
    that scales fees and sizes linearly)."""
    ch = getattr(controller, "challenge", None)
    if ch is None:
        return {}
    days = ch.days_in_stages(end)
    return {"transitions": list(ch.transitions), "days": days,
            "days_with_capital": {s: sum(v for k, v in row.items() if k.startswith("capital_"))
                                  for s, row in days.items()},
            "capital_return": (controller.capital_curve[-1] / controller.capital_curve[0] - 1)
            if controller.capital_curve and controller.capital_curve[0] > 0 else None,
            "capital_max_drawdown": _max_dd(controller.capital_curve),
            "stages": controller.challenge_status()}


def _max_dd(curve: list[float]) -> float | None:
    if not curve:
        return None
    a = np.asarray(curve, dtype=np.float64)
    return float(np.max(1 - a / np.maximum.accumulate(a))) if a[0] > 0 else None

def _sharpe(returns: np.ndarray, bars: Bars, seconds: int) -> float | None:
    """Per-bar returns' Sharpe, annualised with the bars ``bars`` has a year (:func:`M.periods_per_year`)."""
    if len(returns) < 2:
        return None
    sd = float(np.std(returns, ddof=1))
    per_year = M.periods_per_year(bars.ts, seconds * NS)      # the one annualisation rule
    if sd <= 0 or per_year <= 0:
        return 0.0 if sd <= 0 else None
    value = float(np.mean(returns)) / sd * math.sqrt(per_year)
    return value if math.isfinite(value) else None


def _per_regime(regimes: list[str | None], equity: np.ndarray, final: float) -> dict[str, dict[str, Any]]:
    """Bars spent in each regime and the portfolio PnL made while it was in force."""
    out: dict[str, dict[str, Any]] = {}
    curve = np.append(equity, final)
    for k, regime in enumerate(regimes):
        name = regime or "undefined"
        row = out.setdefault(name, {"bars": 0, "pnl": 0.0})
        row["bars"] += 1
        row["pnl"] += float(curve[k + 1] - curve[k])
    return out
