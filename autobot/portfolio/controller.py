"""The autonomous layer: regime detection, strategy selection, capital allocation and circuit
breakers, as one Nautilus ``Actor`` beside the strategies it steers.

The controller subscribes to the regime's bars and to every strategy's bars. Actors start
before strategies, so for a bar both see, the controller sees it first: the strategies then
decide under the regime, shares and breaker state of that same bar.

* **Selection** (the seed's StrategySelector): when the confirmed regime changes, strategies
  leaving the policy's set for it get no new entries, and their positions are closed (policy
  option ``on_leave: close``, the default) or left to their own exit rules (``on_leave: keep``).
  Strategies joining start trading with their share. Every switch is logged with its bar, the
  old and new regimes, and the shares.
* **Allocation**: shares by the policy's ``allocation_method`` (:mod:`autobot.portfolio.allocation`)
  over each strategy's recent per-bar returns, recomputed at each switch. Each strategy sizes
  from its share of the current portfolio equity.
* **should_trade**: before any entry, the gate checks the breakers, the strategy being
  selected, ``max_open_positions``, ``max_position`` (the entry's value over equity) and
  ``max_gross_exposure`` (all open positions' value plus this entry's, over equity).
* **breakers** (:mod:`autobot.portfolio.breakers`, one class each): ``max_drawdown`` from the
  equity peak flattens everything and halts (or cools down, then trades again from a new peak);
  ``daily_loss_limit`` from the day's opening equity flattens and pauses until the next UTC day;
  ``max_consecutive_losses`` losing trades in a row pause new entries until the next UTC day;
  ``max_bar_gap`` (data quality) pauses new entries after a gap in the bars; ``risk.on_trip``
  changes any of these to ``halt``, ``next_day`` or ``{cooldown: DURATION}``. A kill file (when
  configured) or /stop flattens and halts for good (Nautilus' risk engine ``HALTED`` once the
  closing orders are through, ``REDUCING`` during a cooldown). Every trip is logged with its
  reason, bar and action, and the end of every cooldown too.

The decisions live in plain-Python parts a test builds alone; this actor feeds them what it
reads from NautilusTrader and applies their answers: the entry gate (:mod:`.gate`), the
selection of shares (:mod:`.selection`), the limits (:mod:`.limits`), the breakers
(:mod:`.breakers`, one class each), the challenge ledger (:mod:`.challenge`) and the operator's
command table (:mod:`.commands`). The live layer steers it through one interface:
:meth:`PortfolioController.swap_policy` (a reloaded policy, whole), ``withdraw``, ``retire``,
``record_move`` and ``last_bar_ts``; it writes none of its fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pathlib import Path

from nautilus_trader.config import ActorConfig
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, TradingState
from nautilus_trader.model.objects import Price
from nautilus_trader.trading.controller import Controller

from autobot.portfolio.allocation import drawdown_scale
from autobot.portfolio.commands import run_command
from autobot.portfolio.gate import Entry, EntryGate, Exposure
from autobot.portfolio.limits import limits_of
from autobot.portfolio.selection import select
import bisect

import numpy as np

from autobot.backtest import metrics as M
from autobot.strategy.clock import bar_open_ns
from autobot.portfolio.breakers import (Breaker, ConsecutiveLosses, DailyLoss, View, action_for, bar_breakers,
                                        wall_breakers)
from autobot.portfolio.challenge import NEVER, PORTFOLIO, Challenge, Rules
from autobot.evaluate.regime import RegimeDetector
from autobot.strategy.rule_strategy import StrategyHooks, held_value
from autobot.workspace import CompiledPolicy, load_runtime_policy

DAY_NS = 86_400_000_000_000


def _window_trade(t: Any) -> dict[str, Any]:
    """What a challenge window's metrics read of a trade (``Trade.to_json`` renders its decision
    traces too, which a daily check of every subject does not need)."""
    return {"entry_ts": t.entry_ts, "exit_ts": t.exit_ts, "exit_reason": t.exit_reason, "pnl": t.pnl,
            "fees": t.fees}


def _since(trades: list[Any], start: int) -> list[Any]:
    """A strategy's trades still open or closed after ``start``. Its trades follow one another (one
    position at a time), so they are the list's tail: walked from the end, a challenge check costs
    the window's trades, not the run's (every check walking every trade made long runs quadratic)."""
    k = len(trades)
    while k > 0 and (trades[k - 1].exit_ts is None or trades[k - 1].exit_ts > start):
        k -= 1
    return trades[k:]


class PortfolioControllerConfig(ActorConfig, frozen=True):
    """Serialisable settings. ``bar_types`` are the strategies' bar types, in ``policy.used`` order.

    With ``policy_path`` (a live node), the controller compiles the policy and creates the
    strategies itself; a backtest passes them in compiled.
    """

    regime_bar_type: BarType
    bar_types: list[BarType]
    return_window: int = 500
    policy_path: str | None = None
    watch: bool = False            # hot-reload the documents (a live node)
    warmup_bars: int = 0           # a node on a venue's data: bars of history to request at start
    wall_checks: bool = False      # a node on a venue's data: the stale-feed and clock-skew breakers
    capital_scale: dict[str, float] | None = None   # a real node: each strategy's challenge-stage capital
    text_path: str | None = None    # the text feed of strategies that read sentiment (docs/ml.md)
    text_tail: bool = False         # a node on a venue's data: read what is appended to it while running
    instrument_map: dict[str, str] | None = None    # --instrument / --venue: the documents' ids -> the traded ones
    universe: dict[str, str] | None = None          # --universe: instrument id -> file, replacing the policy's


@dataclass
class Trip:
    """A circuit breaker that tripped."""

    ts: int
    reason: str
    equity: float
    detail: str
    action: str = "halt"          # "halt", or "cooldown until <time>"

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Switch:
    """A change of the confirmed regime, and the shares that followed."""

    ts: int
    old: str | None
    new: str | None
    shares: dict[str, float] = field(default_factory=dict)
    kind: str = "switch"          # "switch" (the regime changed) or "rebalance" (policy rebalance_every)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class PortfolioController(Controller):
    """See the module docstring."""

    def __init__(self, trader: Any, config: PortfolioControllerConfig, policy: CompiledPolicy | None = None,
                 strategies: dict[str, Any] | None = None,
                 set_trading_state: Callable[[TradingState], None] | None = None) -> None:
        super().__init__(trader, config)
        if policy is None:
            assert config.policy_path is not None, "a policy or a policy_path is needed"
            policy = load_runtime_policy(Path(config.policy_path), config.instrument_map, config.universe)
        self.detector = RegimeDetector(policy.regimes)
        self.strategies: dict[str, Any] = dict(strategies or {})   # document id -> RuleStrategy
        risk_engine = getattr(trader, "_risk_engine", None)
        self._set_state = set_trading_state or (risk_engine.set_trading_state if risk_engine is not None else None)
        self._texts: Any = None                     # the text feed (autobot.data.text), when a strategy reads it
        self._tail: Any = None
        self._feeds: dict[Any, Any] = {}            # bar type -> SentimentFeed of its instrument's texts
        self._sentiment_at: dict[Any, tuple[int, dict[str, float]]] = {}
        if config.text_path is not None:
            from autobot.data.text import TextTail, load_texts
            self._texts = load_texts(config.text_path)
            self._tail = TextTail(config.text_path) if config.text_tail else None
        self.init_state(policy)
        self.reloads: list[dict[str, Any]] = []
        self.reloader: Any = None
        self.reloader_factory: Callable[[Any], Any] | None = None   # watches the documents (live nodes)
        self._loop: Any = None
        self._primary = config.bar_types[0] if config.bar_types else config.regime_bar_type
        self._bar_ns = int(self._primary.spec.timedelta.total_seconds() * 1_000_000_000)
        for name, strategy in self.strategies.items():
            self.steer(name, strategy)


    def init_state(self, policy: CompiledPolicy) -> None:
        """The portfolio's own state, from ``policy`` and the strategies already in
        ``self.strategies``: what both this Nautilus actor and the fast engine's controller
        (:mod:`autobot.portfolio.fast_engine`) run on, so a field added here serves both."""
        self.policy = policy
        self.allocations = policy.allocations
        self.allocation_method = policy.document.allocation_method
        self.on_leave = policy.document.on_leave
        self.regime: str | None = None
        self.shares: dict[str, float] = {name: 0.0 for name in self.strategies}
        self.trips: list[Trip] = []
        self.switches: list[Switch] = []
        self.halted = False
        self.cooling: dict[str, int] = {}           # breaker -> end of its cooldown (ns): no new entries before
        self.resumes: list[dict[str, Any]] = []     # cooldowns that ended
        self._last_bar_wall: int | None = None
        self.risk_scale = 1.0                       # risk.drawdown_scaling's factor now (1: full risk)
        self.risk_scales: list[float] = []          # ... at each primary bar
        self.vol_scale = 1.0                        # risk.target_volatility's factor at the last allocation
        self.challenge = Challenge(Rules.of(policy.document.challenge))
        # False in a study's trials: only the checks the headline equity depends on run (the
        # portfolio's own track once a breaker demoted it: the capital line follows its stage);
        # the members' tracks, which only the report and a real node read, are not checked
        self.full_challenge = True
        self.apply_risk(policy)
        # the live layer's parity ledger: (subject, start, end) -> tracking_error, slippage_bps,
        # fill_ratio, or None while it is being computed; None here: the run is the backtest
        self.parity: Callable[[str, int, int], dict[str, float] | None] | None = None
        self.self_optimizer: Any = None            # autobot.live.self_optimize.SelfOptimizer on a live node
        # what the real capital holds at each primary bar (docs/portfolio.md, "A demotion protects the
        # capital"): the portfolio's equity until a breaker demotes it; from the bar after the flatten,
        # only the share the challenge gives the portfolio back (0 on paper) follows the paper track
        self.capital_line: list[float] = []
        self.participation: list[float] = []        # the capital's share of the paper track, per bar
        self.position_values: dict[str, list[float]] = {}   # strategy -> signed position value per bar
        self._demoted_from: int | None = None       # first bar index whose return the demotion governs
        self._share_before = 1.0                    # the capital's share up to that bar
        self._on_paper = False                      # demoted and not yet promoted back (breakers rest)
        self.capital_equity: float | None = None    # the stages' capital (see _challenge_step)
        self.capital_curve: list[float] = []
        self._pnl_seen: dict[str, float] = {}
        self._joined = -1
        self._prev_primary_ts: int | None = None
        self.losses_in_row = 0
        self.peak = 0.0
        self.day = -1
        self.day_open = 0.0
        self.week = -1                              # Monday-based week number (weekly digest)
        self.week_open = 0.0
        self.week_trades = 0
        self.week_trips = 0
        self._prev_equity: float | None = None     # at the previous primary bar's close
        self.closes: dict[Any, float] = {}
        self.equity_ts: list[int] = []
        self.equity: list[float] = []
        self.regimes_at: list[str | None] = []
        self.open_counts: list[int] = []
        self._closed_inside = False                 # a stop/target closed a position since the last primary bar
        self.journal: Any = None                    # autobot.persistence.journal.Journal on a live node
        self.notifier: Any = None                   # autobot.notify.telegram.Notifier on a live node
        self.manual_pause = False                   # /pause from the operator
        self._halt_when_flat = False
        self._last_bar_ts = 0

    @staticmethod
    def _bar_seconds(config: PortfolioControllerConfig) -> float:
        primary = config.bar_types[0] if config.bar_types else config.regime_bar_type
        return primary.spec.timedelta.total_seconds()

    def steer(self, name: str, strategy: Any) -> None:
        """Connect a strategy to the portfolio: its share, equity, entry gate, regime and trade events."""
        strategy.share = self.shares.get(name, 0.0) * self.risk_scale
        strategy.connect(StrategyHooks(on_progress=strategy.hooks.on_progress, portfolio_equity=self.portfolio_value,
                                       entry_allowed=self._gate(name), extra_externals=self._externals,
                                       on_trade_closed=self._trade_closed, on_trade_opened=self._trade_opened))
        strategy.stop_action = self.policy.document.on_stop if self.config.watch else "keep"   # live only
        strategy.journal, strategy.journal_name = self.journal, name
        self.strategies[name] = strategy
        self.shares.setdefault(name, 0.0)

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        cfg: PortfolioControllerConfig = self.config  # type: ignore[assignment]
        if not self.strategies:          # a live node: create the strategies here (they start after us)
            from autobot.portfolio.setup import strategy_config
            from autobot.strategy.rule_strategy import RuleStrategy
            for k, sid in enumerate(self.policy.used):
                strategy = RuleStrategy(strategy_config(self.policy, sid, cfg.bar_types[k], k))
                self.create_strategy(strategy, start=False)
                self.steer(sid, strategy)
        import asyncio
        try:
            self._loop = asyncio.get_event_loop()
        except RuntimeError:
            self._loop = None
        if self.wall_breakers:
            import datetime as dt
            self.clock.set_timer("autobot-stale-feed", dt.timedelta(seconds=max(self._bar_ns / 2e9, 1.0)),
                                 callback=self._check_stale)
        if cfg.watch and self.reloader_factory is not None:     # given by the live layer (autobot.live.node)
            self.reloader = self.reloader_factory(self)
            self.reloader.start()
        seen = set()
        for bar_type in [cfg.regime_bar_type, *cfg.bar_types]:
            if str(bar_type) not in seen:
                seen.add(str(bar_type))
                if cfg.warmup_bars:
                    start = self.clock.utc_now() - bar_type.spec.timedelta * cfg.warmup_bars
                    self.request_bars(bar_type, start=start)
                self.subscribe_bars(bar_type)

    # ------------------------------------------------------------------ state
    def portfolio_value(self) -> float:
        """Account balance plus every open position marked to its instrument's last close."""
        total = 0.0
        venues = {s.instrument.id.venue for s in self.strategies.values() if getattr(s, "instrument", None)}
        margin = True
        for venue in venues:
            account = self.portfolio.account(venue)
            if account is not None and account.type == AccountType.CASH:
                total += self._cash_value(account)
                margin = False
            elif account is not None:
                balance = account.balance_total()
                total += balance.as_double() if balance is not None else 0.0
        if not margin:
            return total
        for position in self.cache.positions_open():
            close = self.closes.get(position.instrument_id)
            if close is not None:
                total += position.unrealized_pnl(Price(close, position.price_precision)).as_double()
        return total

    def _cash_value(self, account: Any) -> float:
        """A cash account's equity: its quote currencies' cash, plus every holding marked to its
        instrument's last close (a pair's base currency once, a share's units from the positions)."""
        insts = {s.instrument.id: s.instrument for s in self.strategies.values()
                 if getattr(s, "instrument", None) is not None and s.instrument.id.venue.value == account.id.get_issuer()}
        total = 0.0
        for quote in {inst.quote_currency for inst in insts.values()}:
            balance = account.balance_total(quote)
            total += balance.as_double() if balance is not None else 0.0
        bases: set[Any] = set()
        for iid, inst in insts.items():
            close = self.closes.get(iid)
            if close is None:
                continue
            base = getattr(inst, "base_currency", None)
            if base is not None:
                if base not in bases:
                    bases.add(base)
                    total += held_value(account, inst, None, close)
            else:
                total += sum(held_value(account, inst, p, close) for p in self.cache.positions_open(instrument_id=iid))
        return total

    def _value(self, position: Any) -> float:
        """A position's signed value: units x its instrument's last close x the multiplier."""
        close = self.closes.get(position.instrument_id, position.avg_px_open)
        return float(position.signed_qty) * close * float(position.multiplier)

    def _exposure(self, excluding: Any = None) -> Exposure:
        """Gross and net value of the strategies' open positions (at last closes), their count, and
        the gross value in each instrument and asset class, without one strategy's: each strategy's
        position is its own (a long and a short on one instrument add to the gross and offset in
        the net)."""
        from autobot.venue.instruments import asset_class
        gross, net, count = 0.0, 0.0, 0
        by_instrument: dict[str, float] = {}
        by_class: dict[str, float] = {}
        for position in self.cache.positions_open():
            if excluding is not None and position.strategy_id == excluding:
                continue
            value = self._value(position)
            gross += abs(value)
            net += value
            count += 1
            iid = str(position.instrument_id)
            by_instrument[iid] = by_instrument.get(iid, 0.0) + abs(value)
            kind = asset_class(iid)
            by_class[kind] = by_class.get(kind, 0.0) + abs(value)
        return Exposure(gross, net, count, by_instrument, by_class)

    def _externals(self, bar: Bar) -> dict[str, Any]:
        if self._texts is None:
            return {"regime": self.regime}
        key = bar.bar_type
        cached = self._sentiment_at.get(key)
        if cached is None or cached[0] != bar.ts_event:       # once a bar, whichever strategy asks first
            feed = self._feeds.get(key)
            if feed is None:
                from autobot.data.text import SentimentFeed, scores, symbols_of
                mine = self._texts.for_symbol(symbols_of(str(key.instrument_id)))
                feed = self._feeds[key] = SentimentFeed(mine.ts, scores(mine))
            if self._tail is not None:
                self._read_tail()
            cached = self._sentiment_at[key] = (bar.ts_event, feed.close(bar.ts_event))
        return {"regime": self.regime, **cached[1]}

    def _read_tail(self) -> None:
        """A live text feed: texts appended to the file since the last bar go to every feed."""
        from autobot.data.text import scores, symbols_of
        new = self._tail.read()
        for message in self._tail.errors:
            self.log.warning(message)
        self._tail.errors.clear()
        if len(new.ts):
            for key, feed in self._feeds.items():
                mine = new.for_symbol(symbols_of(str(key.instrument_id)))
                feed.add(mine.ts, scores(mine))

    # ------------------------------------------------------------------ bars
    def on_bar(self, bar: Bar) -> None:
        cfg: PortfolioControllerConfig = self.config  # type: ignore[assignment]
        if self.reloader is not None and (self.reloader.staged or self.reloader.policy_staged):
            self.reloader.schedule(bar.ts_event)    # once every strategy has handled this bar
        self._last_bar_ts = bar.ts_event
        self.closes[bar.bar_type.instrument_id] = bar.close.as_double()
        if self.journal is not None:                # the parity ledger re-runs these bars
            self.journal.bar(str(bar.bar_type), bar.ts_event, bar.open.as_double(), bar.high.as_double(),
                             bar.low.as_double(), bar.close.as_double(), bar.volume.as_double())
        if bar.bar_type == cfg.regime_bar_type:
            regime = self.detector.update(bar_open_ns(bar), bar.open.as_double(), bar.high.as_double(),
                                          bar.low.as_double(), bar.close.as_double(), bar.volume.as_double())
            if regime != self.regime:
                self._switch(bar.ts_event, regime)
        if bar.bar_type == self._primary:
            if self.journal is not None:            # commands from 'autobot serve' (another process)
                for command_id, text in self.journal.take_commands():
                    self.journal.answer(command_id, self._command(text, "autobot serve"))
            self.primary_bar(bar.ts_event)

    def primary_bar(self, ts: int) -> None:
        """What the portfolio does at each primary bar (closing at ``ts``), before the strategies
        decide on it: the breakers, the equity and exposure records, the drawdown scaling, the
        capital line, the challenge. The fast engine (:mod:`autobot.portfolio.fast_engine`) runs
        this same method on its own state."""
        self._rebalance(ts)
        self._check_breakers(ts)
        self._prev_primary_ts = ts
        self.equity_ts.append(ts)
        self.equity.append(self.portfolio_value())
        self._record_exposure()
        self._scale_for_drawdown()
        self._capital_step()
        self.regimes_at.append(self.regime)
        # a position a stop or target closed inside this bar was held during it
        self.open_counts.append(len(self.cache.positions_open()) or int(self._closed_inside))
        self._closed_inside = False
        if self.journal is not None:
            self.journal.equity(ts, self.equity[-1], self.regime)
        self._challenge_step(ts)
        if self.self_optimizer is not None:
            self._guarded("self-optimisation", self.self_optimizer.step, ts)
        if self.wall_breakers:
            self._last_bar_wall = self.clock.timestamp_ns()

    def _scale_for_drawdown(self) -> None:
        """risk.drawdown_scaling: every share times 1 - (drawdown / max_drawdown)^2 at this bar (new
        entries size from it; open positions keep their size and exits)."""
        limit = self.limits.max_drawdown
        if self.limits.drawdown_scaling and limit:
            equity = self.equity[-1]
            dd = 1.0 - equity / self.peak if self.peak > 0 and equity == equity else 0.0
            scale = drawdown_scale(dd, limit)
            if abs(scale - self.risk_scale) > 0.005 or (scale != self.risk_scale and scale in (0.0, 1.0)):
                self.risk_scale = scale
                for name, strategy in self.strategies.items():
                    strategy.share = self.shares.get(name, 0.0) * scale
        self.risk_scales.append(self.risk_scale)

    def _record_exposure(self) -> None:
        """Each strategy's signed position value (units x last close x multiplier) at this bar."""
        for name, strategy in self.strategies.items():
            position = strategy.position() if getattr(strategy, "instrument", None) is not None else None
            value = self._value(position) if position is not None else 0.0
            row = self.position_values.setdefault(name, [])
            row.extend([0.0] * (len(self.equity) - 1 - len(row)))      # a strategy a reload added
            row.append(value)

    def capital_share(self, k: int) -> float:
        """The share of the paper track's return at primary bar ``k`` that the capital earns: all of
        it until a demotion; through the tripping bar (the flatten fills at its close) the share it
        had; after that the portfolio's stage capital in the challenge (0 on paper)."""
        if self._demoted_from is None:
            return 1.0
        if k < self._demoted_from:
            return self._share_before
        return self.challenge.capital(PORTFOLIO)

    def _capital_step(self) -> None:
        k = len(self.equity) - 1
        share = self.capital_share(k)
        self.participation.append(share)
        if self._demoted_from is None or not self.capital_line:
            self.capital_line.append(self.equity[-1])
            return
        before = self.equity[-2]
        r = self.equity[-1] / before - 1.0 if before > 0 else 0.0
        self.capital_line.append(self.capital_line[-1] * (1.0 + share * r))

    def _check_stale(self, event: Any = None) -> None:
        """The stale-feed breaker, on a timer (there is no bar to check it at)."""
        if self.halted or self._last_bar_wall is None:
            return
        ts = self._last_bar_ts
        view = self._view(ts, self.portfolio_value())
        for breaker in self.wall_breakers:
            if breaker.name == "max_stale" and breaker.name not in self.cooling:
                detail = breaker.check(view)
                if detail is not None:
                    self._tripped(breaker, ts, view.equity, detail)

    # ------------------------------------------------------------------ the challenge
    def _challenge_step(self, ts: int) -> None:
        """At a primary bar: new subjects join on paper, the capital ledger moves, due checks run."""
        ch = self.challenge
        if not ch.tracks and self.journal is not None:
            saved = self.journal.get("challenge_at_start")
            if saved:                               # an earlier run's stages go on (time only moves forward)
                restored = Challenge(ch.rules)
                restored.restore(saved)
                if restored.latest <= ts:
                    ch.tracks, ch.origins = restored.tracks, restored.origins
                    ch.changed()
        if len(self.strategies) != self._joined:       # the first bar, or a reload added a strategy
            joined = [s for s in (PORTFOLIO, *self.strategies) if s not in ch.tracks]
            for subject in joined:
                ch.join(subject, ts)
            self._joined = len(self.strategies)
            if joined and self.journal is not None:
                self.journal.set("challenge", ch.snapshot())
        # what capital at the stages would have made: each bar, the return of every strategy's paper
        # PnL over the paper equity, times its real share (stage capital x portfolio stage capital)
        cap = ch.capital(PORTFOLIO)
        if self.capital_equity is None:
            self.capital_equity = self.equity[-1] if self.equity else 0.0
        base = self.equity[-2] if cap > 0 and len(self.equity) >= 2 else None
        r = 0.0
        seen = self._pnl_seen
        for name, strategy in self.strategies.items():
            pnl = strategy.pnl[-1] if strategy.pnl else 0.0
            if base:
                r += cap * ch.capital(name) * (pnl - seen.get(name, pnl)) / base
            seen[name] = pnl
        if r:
            self.capital_equity *= 1.0 + r
        self.capital_curve.append(self.capital_equity)
        if ch.next_check > ts:
            return
        for subject in ch.due(ts):
            if not self.full_challenge and (subject != PORTFOLIO or self._demoted_from is None):
                ch.tracks[subject].next_check = NEVER       # a demotion of the portfolio schedules it again
                ch.changed()
                continue
            start = ch.window_start(subject, ts)
            metrics = self.window_metrics(subject, start, ts)
            if metrics is None:
                continue                            # the parity ledger is still computing: next bar
            move = ch.check(subject, ts, metrics)
            if self.journal is not None and ch.tracks[subject].last:
                last = ch.tracks[subject].last
                self.journal.event("challenge_check", ts, strategy=subject, stage=ch.tracks[subject].stage,
                                   failed=last["failed"], metrics=last["metrics"])
            if move is not None:
                self._moved(move)

    def record_move(self, move: dict[str, Any] | None) -> None:
        """Record a challenge transition made outside the controller (the self-optimiser's)."""
        self._moved(move)

    def _moved(self, move: dict[str, Any] | None) -> None:
        """Record a challenge transition: journal (with its numbers), notification, log."""
        if move is None:
            return
        m = move["metrics"]
        numbers = ", ".join(f"{k} {m[k]:.3g}" for k in ("sharpe", "max_drawdown", "win_rate", "trades",
                                                         "tracking_error") if m.get(k) is not None)
        text = (f"challenge {move['subject']}: {move['from']} -> {move['to']} ({move['reason']}"
                + (f"; {numbers}" if numbers else "") + f"); capital {move['capital']:.0%}")
        if self.journal is not None:
            self.journal.event("challenge", move["ts"], strategy=move["subject"], **{k: v for k, v in move.items()
                                                                                     if k not in ("ts", "subject")})
            self.journal.set("challenge", self.challenge.snapshot())
        self.notify(text)
        self.log.info(text)
        if self.self_optimizer is not None:
            self._guarded("applying a proposal", self.self_optimizer.moved, move)

    def _guarded(self, what: str, call: Callable[..., Any], *args: Any) -> Any:
        """Run an optional part (self-optimisation); a failure is reported and trading goes on."""
        try:
            return call(*args)
        except Exception as exc:     # noqa: BLE001 - never the end of the node
            import traceback
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()[:500]
            self.log.error(f"{what} failed: {detail}")
            if self.journal is not None:
                self.journal.event("failure", self._last_bar_ts, part=what, cause=detail,
                                   where=traceback.format_exc()[-1500:])
            self.notify(f"{what} failed: {detail}; trading goes on")
            return None

    def window_metrics(self, subject: str, start: int, end: int) -> dict[str, Any] | None:
        """The challenge's evidence for ``subject`` over the bars closing in [start, end]: the
        backtest metrics (annualised even over two weeks: the docs say how little that proves),
        breaker trips, and the parity ledger's numbers."""
        if subject == PORTFOLIO:
            ts, curve = self.equity_ts, self.equity
            i0, i1 = max(bisect.bisect_right(ts, start) - 1, 0), bisect.bisect_right(ts, end)
            t, equity = np.array(ts[i0:i1], dtype=np.int64), np.array(curve[i0:i1], dtype=np.float64)
            trades = [_window_trade(t_) for s in self.strategies.values() for t_ in _since(s.trades, start)]
            exposure = np.array(self.open_counts[i0:i1])
        else:
            strategy = self.strategies.get(subject)
            if strategy is None:                    # a self-optimisation shadow (or a strategy gone)
                if self.self_optimizer is None:
                    return {}
                found = self._guarded("a shadow's metrics", self.self_optimizer.metrics, subject, start, end)
                return found if isinstance(found, dict) else {"trades": 0}
            j0 = max(bisect.bisect_right(self.equity_ts, start) - 1, 0)
            base = (self.equity[j0] if self.equity else 0.0) * max(
                (shares.get(subject, 0.0) for shares in self.allocations.values()), default=0.0)
            ts = strategy.equity_ts
            i0, i1 = max(bisect.bisect_right(ts, start) - 1, 0), bisect.bisect_right(ts, end)
            t = np.array(ts[i0:i1], dtype=np.int64)
            pnl = np.array(strategy.pnl[i0:i1], dtype=np.float64)
            equity = base + pnl - (pnl[0] if len(pnl) else 0.0)
            trades = [_window_trade(t_) for t_ in _since(strategy.trades, start)]
            exposure = np.zeros(len(t), dtype=np.int64)
            for x in trades:                        # bars with a position of its own open
                stop = len(t) if x["exit_ts"] is None else np.searchsorted(t, x["exit_ts"], side="left")
                exposure[np.searchsorted(t, x["entry_ts"], side="left"):stop] = 1
        closed = [x for x in trades if x["exit_ts"] is not None and x["exit_reason"] != "open"
                  and start < x["exit_ts"] <= end]
        if len(equity) < 2 or equity[0] <= 0:
            m: dict[str, Any] = {"trades": len(closed), "days": 0.0}
        else:
            m = M.compute(equity, t, self._bar_ns, float(equity[0]), float(equity[-1]), closed, exposure,
                          min_annual_days=0.0)
            m["days"] = m.pop("span_days")
            for k in ("final_equity", "fees"):
                m.pop(k, None)
        m["breaker_trips"] = sum(start < trip.ts <= end for trip in self.trips)
        if self.parity is None:
            m.update(tracking_error=0.0, slippage_bps=0.0, fill_ratio=1.0)
        else:
            found = self.parity(subject, start, end)
            if found is None:
                return None
            m.update(found)
        return m

    def challenge_command(self, verb: str, subject: str | None, ts: int) -> str:
        """``autobot challenge start|promote|demote`` at the bar ``ts`` (a human's decision)."""
        ch = self.challenge
        if verb == "start":
            for move in ch.restart(ts, "started again by the operator"):
                self._moved(move)
            return "challenge started again: every strategy and the portfolio on paper"
        subjects = [subject] if subject else [PORTFOLIO]
        unknown = [s for s in subjects if s not in ch.tracks]
        if unknown:
            return f"unknown subject {unknown[0]!r}: one of " + ", ".join(ch.tracks)
        for s in subjects:
            move = (ch.promote(s, ts, "promoted by the operator") if verb == "promote"
                    else ch.demote(s, ts, "demoted by the operator"))
            if move is None:
                return f"{s}: already in its last stage ({ch.tracks[s].stage})"
            if verb == "demote" and s == PORTFOLIO:
                for strategy in self.strategies.values():
                    strategy.flatten("demoted", ts)
            self._moved(move)
        return "; ".join(f"{s}: {ch.tracks[s].stage} (capital {ch.capital(s):.0%})" for s in subjects)

    def on_historical_data(self, data: Any) -> None:
        """History requested at start (a venue's data): warm the regime detector and the
        strategies without trading."""
        cfg: PortfolioControllerConfig = self.config  # type: ignore[assignment]
        if not isinstance(data, Bar):
            return
        if data.bar_type == cfg.regime_bar_type:
            self.regime = self.detector.update(bar_open_ns(data), data.open.as_double(), data.high.as_double(),
                                               data.low.as_double(), data.close.as_double(), data.volume.as_double())
        for strategy in self.strategies.values():
            if strategy.config.bar_type == data.bar_type and strategy.evaluator is not None:
                strategy.warm([data])

    def bar_done(self, ts: int) -> None:
        """A bar and everything it caused has been handled: record the progress durably."""
        if self.journal is not None:
            self.journal.progress(ts)
            self.journal.commit()

    def notify(self, text: str) -> None:
        """A message for the human (Telegram on a live node); never blocks trading."""
        if self.notifier is not None:
            self.notifier.send(text)

    def on_dispose(self) -> None:
        # Disposing the node clears Nautilus' cache and accounts; keep the last picture for readers
        # after the run (``autobot live --json``, the status view's final frame).
        self._final_status = self.status()

    def on_stop(self) -> None:
        if self.reloader is not None:
            self.reloader.stop()
        if self.journal is not None:
            self.journal.event("stop", self._last_bar_ts, reason="node stopped")
            self.journal.commit()

    def reallocate(self, ts: int) -> None:
        """Apply the current regime's shares now (a reloaded policy's allocations)."""
        self._switch(ts, self.regime)

    def _rebalance(self, ts: int) -> None:
        """policy rebalance_every: every N primary bars (counted from the first), the current
        regime's shares are computed again from the strategies' recent returns (the allocation
        method and the risk targets), as at a regime switch."""
        every = self.policy.document.rebalance_every
        k = len(self.equity)                   # primary bars before this one
        if every and k and k % every == 0 and self.regime is not None:
            self._switch(ts, self.regime, kind="rebalance")

    def _switch(self, ts: int, regime: str | None, kind: str = "switch") -> None:
        cfg: PortfolioControllerConfig = self.config  # type: ignore[assignment]
        base = self.allocations.get(regime, {}) if regime is not None else {}
        returns = {name: self._recent_returns(s, cfg.return_window) for name, s in self.strategies.items()
                   if name in base}
        priors = self.policy.priors if self.allocation_method == "evidence" else None
        chosen = select(regime, self.allocations, self.allocation_method, returns, self.limits.target_volatility,
                        self._bars_per_year() if self.limits.target_volatility is not None or priors else 0.0,
                        priors)
        shares = chosen.shares                  # scaled down (never up) to a volatility target
        if self.limits.target_volatility is not None and shares:
            self.vol_scale = chosen.vol_scale
        scale = cfg.capital_scale
        for name, strategy in self.strategies.items():
            new = shares.get(name, 0.0) * (scale.get(name, 0.0) if scale is not None else 1.0)
            if self.shares.get(name, 0.0) > 0 and new == 0.0 and self.on_leave == "close":
                strategy.flatten("regime_switch" if kind == "switch" else kind, ts)
            strategy.share = new * self.risk_scale
            self.shares[name] = new
        self.switches.append(Switch(ts, self.regime, regime, dict(shares), kind))
        if self.journal is not None:
            self.journal.event("regime_switch" if kind == "switch" else kind, ts, old=self.regime, new=regime,
                               shares=shares)
        if kind == "switch" and (self.regime is not None or regime is not None):
            self.notify(f"regime {self.regime} -> {regime}; shares " +
                        (", ".join(f"{k} {v:.0%}" for k, v in shares.items()) or "none (stand aside)"))
        self.log.info(f"regime {self.regime} -> {regime}: shares {shares}")
        self.regime = regime

    def _bars_per_year(self) -> float:
        """The primary bars present a year so far (:func:`M.periods_per_year`, the one annualisation
        rule: an FX hourly portfolio sees ~6,200 bars a year, not 8,766); the bar size's nominal
        count (a year / bar length) until they span ``M.MIN_ANNUAL_DAYS``."""
        if not self._bar_ns:
            return 0.0
        if len(self.equity_ts) > 1 and self.equity_ts[-1] - self.equity_ts[0] >= M.MIN_ANNUAL_DAYS * M.DAY_NS:
            return M.periods_per_year(self.equity_ts, self._bar_ns)
        return M.YEAR_NS / self._bar_ns

    @staticmethod
    def _recent_returns(strategy: Any, window: int) -> list[float]:
        """Per-bar returns of a strategy's own PnL over its starting share of the equity."""
        pnl = strategy.pnl[-window - 1:]
        equity = strategy.equity[-window - 1:]
        out = []
        for k in range(1, len(pnl)):
            base = equity[k - 1] if equity[k - 1] and equity[k - 1] > 0 else None
            if base:
                out.append((pnl[k] - pnl[k - 1]) / base)
        return out

    # ------------------------------------------------------------------ breakers
    @property
    def paused_until(self) -> int:
        """The end of the longest cooldown in force (0: none)."""
        return max(self.cooling.values(), default=0)

    def _trip(self, ts: int, reason: str, equity: float, detail: str, flatten: bool,
              state: TradingState | None, action: str = "halt") -> None:
        self.trips.append(Trip(ts, reason, equity, detail, action))
        self.week_trips += 1
        if self.journal is not None:
            self.journal.event("breaker", ts, reason=reason, equity=equity, detail=detail, action=action)
        self.notify(f"circuit breaker {reason}: {detail}; {action}")
        self.log.warning(f"circuit breaker {reason}: {detail}; {action}")
        if flatten:
            for strategy in self.strategies.values():
                strategy.flatten(reason, ts)
        if state == TradingState.HALTED:
            # Nautilus' HALTED also refuses closing orders, and a live node's orders pass its risk
            # engine later: reduce-only until the book is flat, then halt (our own gate refuses
            # every entry from now on either way)
            self._halt_when_flat = True
            state = TradingState.REDUCING
        if state is not None and self._set_state is not None:
            self._set_state(state)

    # ------------------------------------------------------------------ the live layer's control interface
    @property
    def last_bar_ts(self) -> int:
        """The last primary bar handled (ns; 0 before the first)."""
        return self._last_bar_ts

    def swap_policy(self, policy: CompiledPolicy, detector: RegimeDetector | None = None) -> None:
        """A reloaded policy, in force whole from the next bar: its allocations, method, on_leave,
        limits, breakers, kill file and challenge rules (and a new regime detector, already warmed,
        when its regimes changed). Nothing of the old policy stays stale."""
        self.policy = policy
        self.allocations = policy.allocations
        self.allocation_method = policy.document.allocation_method
        self.on_leave = policy.document.on_leave
        if detector is not None:
            self.detector = detector
        self.apply_risk(policy)

    def withdraw(self, sid: str) -> None:
        """Give strategy ``sid`` no share in any regime (a strategy the node cannot feed)."""
        self.allocations = {r: {k: v for k, v in shares.items() if k != sid} for r, shares in self.allocations.items()}

    def retire(self, strategy: Any) -> None:
        """Take a running strategy instance off the trader (a hot reload replacing it)."""
        self._trader.remove_strategy(strategy.id)

    def apply_risk(self, policy: CompiledPolicy) -> None:
        """The policy's limits, breakers, kill file and challenge rules, in force from the next bar
        (at start, and when a reloaded policy is applied: every limit of the edit takes effect)."""
        risk = policy.document.risk
        self.limits = limits_of(policy)
        if getattr(self, "gate", None) is None:
            self.gate = EntryGate(self.limits)
        self.gate.limits = self.limits                  # the entry gate reads the reloaded limits whole
        self.kill_file = str(policy.path.resolve().parent / risk.kill_file) if risk.kill_file else None
        self.bar_breakers: list[Breaker] = bar_breakers(risk, self.limits, self.kill_file)
        self.losses_breaker = (ConsecutiveLosses(self.limits.max_consecutive_losses)
                               if self.limits.max_consecutive_losses is not None else None)
        self.wall_breakers: list[Breaker] = (wall_breakers(risk, self._bar_seconds(self.config))
                                             if self.config.wall_checks else [])
        self.challenge.set_rules(Rules.of(policy.document.challenge))

    def store_failed(self, message: str) -> None:
        """The state store cannot be written any more (a full disk): nothing this node does could be
        recorded or recovered, so it flattens every position and halts, and says so."""
        self.halted = True
        self._trip(self._last_bar_ts or 0, "state_store", self.portfolio_value(), message, True,
                   TradingState.HALTED)

    def _view(self, ts: int, equity: float) -> View:
        """What the breakers see now."""
        now = self.clock.timestamp_ns() if self.wall_breakers else None
        return View(ts, equity, self.peak, self.day_open, self.losses_in_row, self._prev_primary_ts, self._bar_ns,
                    now, self._last_bar_wall)

    def _tripped(self, breaker: Breaker, ts: int, equity: float, detail: str) -> None:
        """Apply the breaker's action (the policy's on_trip, or its default)."""
        action = action_for(self.policy.document.risk, breaker)
        if action.kind == "demote":
            self._trip(ts, breaker.name, equity, detail, breaker.flatten, None, action.text(ts, self._bar_ns))
            k = len(self.equity)                # this bar's index (its equity is appended after the check)
            self._share_before = self.capital_share(k)
            self._demoted_from = k + 1          # this bar's return at the old share: the flatten fills at its close
            self._on_paper = True
            self.losses_in_row = 0
            if PORTFOLIO not in self.challenge.tracks:
                self.challenge.join(PORTFOLIO, ts)
            self._moved(self.challenge.demote(PORTFOLIO, ts, f"{breaker.name}: {detail}", {"equity": equity}))
            return
        end = action.until(ts, self._bar_ns)
        if end is None:
            self.halted = True
            self._trip(ts, breaker.name, equity, detail, True, TradingState.HALTED)
            return
        self.cooling[breaker.name] = end
        self._trip(ts, breaker.name, equity, detail, breaker.flatten,
                   TradingState.REDUCING if breaker.flatten else None, action.text(ts, self._bar_ns))

    def _end_cooldowns(self, ts: int, equity: float) -> None:
        ended = [name for name, end in self.cooling.items() if ts >= end]
        for name in ended:
            del self.cooling[name]
            if name == "max_drawdown":
                self.peak = equity              # the drawdown limit counts again from here
            self.losses_in_row = 0
            self.resumes.append({"ts": ts, "breaker": name, "equity": equity})
            if self.journal is not None:
                self.journal.event("breaker_resume", ts, reason=name, equity=equity)
            self.notify(f"circuit breaker {name}: cooldown over, trading again (equity {equity:,.2f})")
        if ended and not self.cooling and not self.halted and self._set_state is not None:
            self._set_state(TradingState.ACTIVE)

    def _check_breakers(self, ts: int) -> None:
        equity = self.portfolio_value()
        try:
            self._breakers(ts, equity)
        finally:
            self._prev_equity = equity

    def _breakers(self, ts: int, equity: float) -> None:
        day = ts // DAY_NS
        if day != self.day and self.day >= 0 and self.day_open > 0:
            self.notify(f"daily summary {_day_text(self.day)}: equity {equity:,.2f} "
                        f"({equity / self.day_open - 1:+.2%} on the day), regime {self.regime}, "
                        f"{len(self.cache.positions_open())} open position(s)"
                        + (", HALTED" if self.halted else ", paused" if self.paused_until else ""))
        if day != self.day:
            # the day opens with the equity at the previous bar's close (the last one of the day
            # before), so the first bar's own move counts towards the new day, on daily bars too
            self.day, self.day_open = day, (self._prev_equity if self._prev_equity is not None else equity)
            self._week(day)
        if not self.halted:
            self._end_cooldowns(ts, equity)
        self.peak = max(self.peak, equity)
        if self.halted:
            if self._halt_when_flat and not self.cache.positions_open():
                self._halt_when_flat = False
                if self._set_state is not None:
                    self._set_state(TradingState.HALTED)
            return
        if self._on_paper and self.challenge.capital(PORTFOLIO) > 0:
            # promoted back through the challenge: the limits measure the capital from its all-time
            # peak again, carried onto the paper track's level
            self._on_paper = False
            line = self.capital_line
            if line and line[-1] > 0:
                self.peak = equity * max(line) / line[-1]
        view = self._view(ts, equity)
        for breaker in [*self.bar_breakers, *(b for b in self.wall_breakers if b.name == "max_clock_skew")]:
            if breaker.name in self.cooling or (isinstance(breaker, DailyLoss) and self.cooling):
                continue                        # cooling down (a daily loss is not re-checked while paused)
            if self._on_paper and action_for(self.policy.document.risk, breaker).kind == "demote":
                continue                        # demoted: no capital trades; the paper track goes on
            detail = breaker.check(view)
            if detail is not None:
                self._tripped(breaker, ts, equity, detail)
                if self.halted:
                    return

    def _week(self, day: int) -> None:
        """At a new week (Mondays, UTC): the weekly digest of the week that ended."""
        week = (day + 3) // 7                   # 1970-01-01 was a Thursday
        if week == self.week:
            return
        if self.week >= 0 and self.week_open > 0:
            end = self.day_open                 # the equity at the week's last close
            year, number, _ = _monday(self.week).isocalendar()
            self.notify(f"weekly digest {year}-W{number:02d}: equity {end:,.2f} ({end / self.week_open - 1:+.2%} "
                        f"on the week), {self.week_trades} trade(s) closed, {self.week_trips} breaker trip(s), "
                        f"regime {self.regime}" + (", HALTED" if self.halted else ""))
        self.week, self.week_open, self.week_trades, self.week_trips = week, self.day_open, 0, 0

    def _trade_opened(self, name: str, trade: Any) -> None:
        self.notify(f"{name}: {trade.side} {trade.qty:g} @ {trade.entry_price:g} ({trade.entry_rule}: "
                    f"{trade.entry_why})")

    # ------------------------------------------------------------------ the operator
    def command(self, text: str, by: str = "operator") -> str:
        """Run an operator command (/status /pause /resume /stop) from any thread; its reply.
        ``by``: who sent it (journaled with it: ``autobot status`` says who paused the node)."""
        import concurrent.futures
        if self._loop is None or not self._loop.is_running():
            return self._command(text, by)
        done: concurrent.futures.Future[str] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(self._command(text, by))
            except Exception as exc:     # the reply says what went wrong
                done.set_result(f"{text} failed: {exc!r}")
        self._loop.call_soon_threadsafe(run)
        return done.result(timeout=10)

    def _command(self, text: str, by: str = "operator") -> str:
        ts = self._last_bar_ts
        if self.journal is not None:
            self.journal.event("command", ts, command=text, by=by)
        return run_command(self, text, ts)           # the table of autobot.portfolio.commands

    # the operator's verbs (autobot.portfolio.commands.Operable)
    def pause_entries(self) -> None:
        self.manual_pause = True

    def resume_entries(self) -> None:
        self.manual_pause = False

    def stop_trading(self, ts: int, why: str) -> None:
        self.halted = True
        self._trip(ts, "kill_switch", self.portfolio_value(), why, True, TradingState.HALTED)

    def status(self) -> dict[str, Any]:
        """The live picture: regime, shares, positions, PnL, equity, drawdown, breakers, decisions."""
        if getattr(self, "_final_status", None) is not None:
            return self._final_status
        equity = self.portfolio_value()
        positions = {}
        for name, strategy in self.strategies.items():
            position = strategy.position() if getattr(strategy, "instrument", None) is not None else None
            if position is not None:
                close = self.closes.get(position.instrument_id, position.avg_px_open)
                positions[name] = {"qty": float(position.signed_qty), "entry": position.avg_px_open,
                                   "unrealized": position.unrealized_pnl(Price(close, position.price_precision))
                                   .as_double()}
        realized = sum(getattr(s, "realized", 0.0) for s in self.strategies.values())
        last = sorted(({**d, "why": str(d["why"] or ""), "strategy": n}
                       for n, s in self.strategies.items() for d in s.decisions[-5:]), key=lambda d: d["ts"])[-5:]
        return {"bar": self._last_bar_ts, "regime": self.regime, "shares": dict(self.shares), "positions": positions,
                "realized": realized, "unrealized": sum(p["unrealized"] for p in positions.values()),
                "equity": equity, "drawdown": (1 - equity / self.peak) if self.peak > 0 else 0.0,
                # what the capital holds: the equity until a breaker demotes the portfolio, then flat
                # until the challenge promotes it again (the equity above is then the paper track's)
                "capital": self.capital_line[-1] if self.capital_line else equity,
                "on_paper": self._on_paper,
                "halted": self.halted, "paused": bool(self.paused_until) or self.manual_pause,
                "trips": [t.to_json() for t in self.trips[-3:]], "decisions": last,
                "reloads": self.reloads[-3:], "challenge": self.challenge_status()}

    def challenge_status(self) -> dict[str, Any]:
        ch = self.challenge
        return {s: {"stage": t.stage, "since": t.since, "capital": ch.capital(s),
                    "real_share": ch.real_share(s) if s != PORTFOLIO else ch.capital(s),
                    "failed": t.last.get("failed", [])} for s, t in ch.tracks.items()}

    def status_text(self) -> str:
        st = self.status()
        pos = "; ".join(f"{k} {v['qty']:+g} (uPnL {v['unrealized']:,.2f})" for k, v in st["positions"].items()) \
            or "flat"
        state = "HALTED" if st["halted"] else "paused" if st["paused"] else "trading"
        return (f"{state} | regime {st['regime']} | equity {st['equity']:,.2f} | drawdown {st['drawdown']:.2%} | "
                f"realised {st['realized']:,.2f} | {pos}")

    def _trade_closed(self, trade: Any) -> None:
        self.notify(f"closed {trade.side} {trade.qty:g} @ {trade.exit_price:g} ({trade.exit_reason}): "
                    f"PnL {trade.pnl:,.2f}")
        self.week_trades += 1
        if trade.exit_reason in ("stop_loss", "take_profit", "trailing_stop"):
            self._closed_inside = True
        self.losses_in_row = self.losses_in_row + 1 if trade.pnl < 0 else 0
        if self.losses_breaker is not None and not self.paused_until and not self.halted:
            ts = self._last_bar_ts     # bar time, not fill time: a replayed or live node fills on its own clock
            equity = self.portfolio_value()
            detail = self.losses_breaker.check(self._view(ts, equity))
            if detail is not None:
                self._tripped(self.losses_breaker, ts, equity, detail)

    # ------------------------------------------------------------------ the gate
    def _gate(self, name: str) -> Callable[[str, float, float, Bar], bool]:
        def should_trade(side: str, qty: float, price: float, bar: Bar) -> bool:
            return self.should_trade(name, side, qty, price, bar)
        return should_trade

    def should_trade(self, name: str, side: str, qty: float, price: float, bar: Bar) -> bool:
        """May strategy ``name`` enter ``side`` with ``qty`` at ``price`` now? The entry gate
        (:mod:`autobot.portfolio.gate`) decides, on what this reads from Nautilus' cache."""
        stopped = self.halted or self.manual_pause or bool(self.paused_until and bar.ts_event < self.paused_until)
        share = self.shares.get(name, 0.0)
        if stopped or share <= 0:
            return False
        strategy = self.strategies[name]
        account = self.portfolio.account(strategy.instrument.id.venue) if side == "short" else None
        long_only = account is not None and account.type == AccountType.CASH      # a cash account is long only
        value = qty * price * float(getattr(strategy.instrument, "multiplier", 1))
        from autobot.venue.instruments import asset_class
        iid = str(strategy.instrument.id)
        return self.gate.allow(Entry(name, side, value, bar.ts_event, iid, asset_class(iid)), self.portfolio_value(),
                               self._exposure(excluding=strategy.id), stopped=stopped, share=share,
                               long_only=long_only)


def _monday(week: int) -> Any:
    import datetime as dt
    return dt.date(1970, 1, 1) + dt.timedelta(days=week * 7 - 3)


def _day_text(day: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(day * 86_400, tz=dt.timezone.utc).strftime("%Y-%m-%d")
