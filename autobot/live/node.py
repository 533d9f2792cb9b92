"""``autobot live``: the policy on a NautilusTrader ``TradingNode``, paper trading by default.

The node runs the same classes as the backtest: a
:class:`~autobot.portfolio.controller.PortfolioController` (the node's ``Controller``, so that
strategies can be created and replaced while it runs), which builds one ``RuleStrategy`` per
strategy of the policy. Orders go to Nautilus' sandbox exchange (simulated fills on the live
data, a paper account funded with the policy's capital). With ``replay`` the market data comes
from files (:mod:`autobot.live.replay`) and the node stops by itself at their end.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from autobot.venue.instruments import InstrumentSettings
from autobot.data.bars import Bars
from autobot.workspace import CompiledPolicy, load_policy


@dataclass
class LiveRun:
    """What a finished run leaves: the portfolio result and the node's own records."""

    result: Any
    controller: Any
    strategies: dict[str, Any]
    bars_published: int
    #: the replay reached its end (False: the node was stopped early, e.g. Ctrl-C; the run resumes)
    completed: bool = True


def build_node(policy: CompiledPolicy, setup: Any, feed_name: str, capital: float, leverage: float = 1.0,
               log_level: str = "ERROR", accelerated: bool = True, text: Path | None = None,
               instrument_map: dict[str, str] | None = None, universe: dict[str, str] | None = None) -> Any:
    """A TradingNode fed by the replay data client (see :func:`paper_node`)."""
    from autobot.live.replay import ReplayDataClientConfig, ReplayDataClientFactory

    controller = {"regime_bar_type": str(setup.bar_types[setup.regime_key]),
                  "bar_types": [str(b) for b in setup.strategy_bar_types()],
                  "text_path": None if text is None else str(text), "instrument_map": instrument_map or None,
                  "universe": universe or None}
    return paper_node(policy, setup.venue, str(setup.currency), capital, leverage, log_level, accelerated,
                      ("REPLAY", ReplayDataClientConfig(feed=feed_name, venue=setup.venue), ReplayDataClientFactory),
                      controller, replay=True)


def paper_node(policy: CompiledPolicy, venue: str, currency: str, capital: float, leverage: float, log_level: str,
               accelerated: bool, data: tuple[str, Any, Any], controller: dict[str, Any], replay: bool,
               execution: tuple[str, Any, Any] | None = None) -> Any:
    """A built TradingNode: one data client (``(name, config, factory)``), the bar-aware sandbox as
    paper execution funded with ``capital`` (or ``execution``: a real venue's execution client,
    ``(name, config, factory)``), and the portfolio controller, which watches the documents and
    builds the strategies (``controller``: its bar types and other settings)."""
    from nautilus_trader.adapters.sandbox.config import SandboxExecutionClientConfig
    from nautilus_trader.config import (ImportableControllerConfig, LiveExecEngineConfig, LiveRiskEngineConfig,
                                        TradingNodeConfig)

    from autobot.venue.settings import VENUE_OMS, logging_config
    from nautilus_trader.live.node import TradingNode

    from autobot.live.sandbox import BarSandboxExecClientFactory

    asyncio.set_event_loop(asyncio.new_event_loop())      # a node closes its loop when it is disposed
    name, data_config, data_factory = data
    cash = policy.document.account == "cash"
    # a replay ends by itself: no long waits for venues that are not there
    timeouts = dict(timeout_connection=10.0, timeout_reconciliation=1.0, timeout_portfolio=2.0,
                    timeout_disconnection=2.0, timeout_post_stop=0.5) if replay else \
        dict(timeout_connection=CONNECT_SECONDS, timeout_disconnection=5.0)
    config = TradingNodeConfig(
        trader_id="AUTOBOT-001",
        logging=logging_config(log_level),
        exec_engine=LiveExecEngineConfig(reconciliation=False),
        # a replay compresses hours into milliseconds: Nautilus' order-rate throttle (per second of
        # wall time) would deny orders the same strategy sends at most once a bar in real time
        risk_engine=LiveRiskEngineConfig(max_order_submit_rate="1000000/00:00:01",
                                         max_order_modify_rate="1000000/00:00:01") if accelerated
        else LiveRiskEngineConfig(),
        data_clients={name: data_config},
        # the policy's account: margin (one currency), or cash (multi-currency: a crypto or FX
        # holding is its base currency, as in a backtest, autobot.venue.settings.add_venue)
        exec_clients={execution[0]: execution[1]} if execution is not None else {venue: SandboxExecutionClientConfig(
            venue=venue, starting_balances=[f"{capital} {currency}"],
            base_currency=None if cash else currency, oms_type=VENUE_OMS,
            account_type="CASH" if cash else "MARGIN", default_leverage=_decimal(leverage),
            bar_execution=True, trade_execution=False)},
        controller=ImportableControllerConfig(
            controller_path="autobot.portfolio.controller:PortfolioController",
            config_path="autobot.portfolio.controller:PortfolioControllerConfig",
            config={**controller, "policy_path": str(policy.path.resolve()), "watch": True}),
        **timeouts,
    )
    node = TradingNode(config=config)
    node.add_data_client_factory(name, data_factory)
    if execution is not None:
        node.add_exec_client_factory(execution[0], execution[2])
        node.build()
        return node
    node.add_exec_client_factory(venue, BarSandboxExecClientFactory)
    node.build()
    book_paper_fills_at_once(node)
    return node


def _fingerprint(policy: CompiledPolicy, policy_text: str, data: dict[str, Bars] | None) -> str:
    """What a run is started with: the policy, regimes and strategy texts, and the data's bars."""
    import hashlib
    h = hashlib.sha256()
    for text in [policy_text, policy.regimes.source.text,
                 *(cs.source.text for _, cs in sorted(policy.strategies.items()))]:
        h.update(text.encode("utf-8"))
    for iid, bars in sorted((data or {}).items()):
        h.update(iid.encode())
        for column in (bars.ts, bars.open, bars.high, bars.low, bars.close, bars.volume):
            h.update(column.tobytes())
    return h.hexdigest()[:16]


def _open_journal(state: Path | None, policy: CompiledPolicy, data: dict[str, Bars] | None = None,
                  fresh: bool = False, **start: Any) -> Any:
    """The state store for a starting node: the run begun (or resumed when it was started with the
    same data and documents), the documents' versions recorded, a ``start`` event written. None
    without ``state``. ``fresh``: the store is locked, then set aside (never deleted) and a new one
    begun."""
    if state is None:
        return None
    from autobot.persistence.journal import Journal, set_aside_for_fresh
    handle = None
    if fresh:
        aside, handle = set_aside_for_fresh(state)
        if aside is not None:
            import logging
            logging.getLogger("autobot").warning(f"--fresh: the previous state store was set aside as {aside}")
    try:
        journal = Journal(state)
    except Exception:
        if handle is not None:
            handle.close()
        raise
    try:
        journal.lock(handle)
    except Exception:
        journal.db.close()
        raise
    policy_text = policy.path.read_text(encoding="utf-8")
    resumed = journal.begin(_fingerprint(policy, policy_text, data))
    if not resumed:            # the challenge goes on from where the last run left it (a resumed run re-runs to it)
        journal.set("challenge_at_start", journal.get("challenge"))
    import sys
    if journal.not_resumed:
        journal.event("new_run", None, reason=journal.not_resumed)
        sys.stderr.write(f"{journal.not_resumed}\n")
    elif resumed:                  # say it: a resumed run re-runs its handled bars first (from bar 1)
        from autobot.backtest.data import iso
        sys.stderr.write(f"resuming run {journal.run} of {state} (it was interrupted after the bar of "
                         f"{iso(journal.catch_up_until)}): its handled bars are re-run at full speed to rebuild "
                         "the paper venue, then it goes on; --fresh starts a new run instead\n")
    else:
        sys.stderr.write(f"starting run {journal.run} of {state}\n")
    journal.set("policy", str(policy.path.resolve()))      # which document the node ran (autobot report)
    journal.version(str(policy.path), policy_text)
    journal.version(policy.regimes.source.path, policy.regimes.source.text)
    for cs in policy.strategies.values():
        journal.version(cs.source.path, cs.source.text)
    journal.event("start", None, resume_after=journal.catch_up_until, **start)
    return journal


def _attach(controller: Any, journal: Any, notifier: Any, policy: CompiledPolicy) -> None:
    """Give the node's controller its journal, its document watcher and its Telegram notifier
    (started here); the models its strategies train are kept in the journal."""
    from autobot.live.reload import Reloader
    controller.journal = journal
    if journal is not None and any(cs.document.ml for cs in policy.strategies.values()):
        from autobot.evaluate.learn import Online, to_bytes, training_rows

        def keep(spec: Any, at: int, rows: int, sha: str, fitted: Any) -> None:
            journal.model(controller.last_bar_ts, repr(spec), at, rows, sha, to_bytes(fitted),
                          training_rows(at, spec))
        Online.recorder = keep
    controller.reloader_factory = Reloader
    if notifier is not None:
        notifier.on_command = lambda text: controller.command(text, by="telegram")
        controller.notifier = notifier.start()
        notifier.send(f"AutoBot paper node started: policy {policy.document.policy}, "
                      f"{len(policy.used)} strategies")


def _stop_on_store_failure(node: Any, controller: Any, journal: Any, failures: list[str],
                           replay: bool = False) -> None:
    """A state store that cannot be written any more (a full disk, an I/O error): the node
    flattens every position, halts, says so and stops (a replay's feed ends at its next bar on
    ``failures``); the command then exits non-zero."""
    if journal is None:
        return
    loop = node.get_event_loop()

    def failed(reason: str) -> None:
        message = f"{reason}: every position flattened and trading stopped (nothing more could be recorded)"
        failures.append(message)

        def stop() -> None:
            controller.store_failed(message)
            if not replay:          # the flattening orders fill first; a replay stops with its feed
                loop.call_later(0.5, lambda: loop.create_task(node.stop_async()))
        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:                        # the loop has closed: the node is ending anyway
            pass
    journal.on_failure = failed


def _close(journal: Any, notifier: Any) -> None:
    from autobot.evaluate.learn import Online
    Online.recorder = None
    if journal is not None:
        journal.close()
    if notifier is not None:
        notifier.send("AutoBot paper node stopped")
        notifier.close()


def book_paper_fills_at_once(node: Any) -> None:
    """Paper trading: the sandbox exchange's order events are booked as they happen, as in a
    backtest, instead of through the live execution engine's queue.

    The simulated exchange decides the next fills from the orders' state; when its fills wait in
    a queue, an order filled on one price of a bar is still open for the next price and fills
    twice. Only the sandbox sends events to this node (no real venue is connected).
    """
    from nautilus_trader.execution.engine import ExecutionEngine

    engine = node.kernel.exec_engine
    bus = node.kernel.msgbus
    bus.deregister("ExecEngine.process", engine.process)
    bus.register("ExecEngine.process", lambda event: ExecutionEngine.process(engine, event))


def engine_qsize(node: Any) -> Callable[[], int]:
    """What a replay waits on: every engine queue's length (data, orders and their events)."""
    kernel = node.kernel
    queues = (kernel.data_engine.cmd_qsize, kernel.data_engine.data_qsize, kernel.risk_engine.cmd_qsize,
              kernel.risk_engine.evt_qsize, kernel.exec_engine.cmd_qsize, kernel.exec_engine.evt_qsize)
    return lambda: sum(q() for q in queues)


def run_until_done(node: Any, feed: Any) -> None:
    """Run the node until its replay ``feed`` is done (or it is stopped early, e.g. Ctrl-C)."""
    loop = node.get_event_loop()

    async def stop_at_end() -> None:
        while not feed.done:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        await node.stop_async()
    stopper = loop.create_task(stop_at_end())
    node.run()
    if not stopper.done() and not loop.is_closed() and not loop.is_running():
        stopper.cancel()          # stopped early (Ctrl-C): end the watcher, leave no task pending
        loop.run_until_complete(asyncio.gather(stopper, return_exceptions=True))


def _decimal(x: float) -> Any:
    from decimal import Decimal
    return Decimal(str(x))


def run_replay(policy_path: Path, data: dict[str, Bars], speed: float | None = None,
               instrument: InstrumentSettings = InstrumentSettings(), leverage: float = 1.0,
               on_bar: Callable[[Any], None] | None = None, log_level: str = "ERROR",
               state: Path | None = None, notifier: Any = None, view: Any = None,
               text: Path | None = None, fresh: bool = False,
               instrument_map: dict[str, str] | None = None, universe: dict[str, str] | None = None) -> LiveRun:
    """Run the policy on a node fed by ``data`` (instrument id -> bars); returns when the replay ends.

    With ``state`` (a SQLite journal), everything the node does is recorded there. If the journal
    already holds a run of this replay that was interrupted (killed), the bars it had handled are
    re-run first, at full speed, to rebuild the paper venue, which starts empty: the orders and
    fills they cause are checked against the journal (keyed, so none is recorded twice), the
    positions are compared with the journal's, and the run goes on from where it stopped.
    """
    from autobot.live.replay import FEEDS, ReplayFeed
    from autobot.portfolio.engine import collect
    from autobot.portfolio.setup import prepare

    from autobot.workspace import load_runtime_policy
    policy = load_runtime_policy(policy_path, instrument_map, universe)
    setup = prepare(policy, data, instrument, texts=text is not None)
    capital = float(policy.document.capital or 100_000.0)
    feed_name = f"feed-{uuid.uuid4().hex[:8]}"
    journal = _open_journal(state, policy, data, fresh=fresh, speed=speed)
    if journal is not None:           # the parity ledger re-runs the members the node traded
        journal.set("universe", universe or None)
    feed = ReplayFeed(list(setup.instruments.values()), setup.nautilus_bars(), setup.seconds[setup.used[0]],
                      venue=setup.venue, speed=speed)
    FEEDS[feed_name] = feed
    node = build_node(policy, setup, feed_name, capital, leverage, log_level,
                      accelerated=speed is None or speed > 1.0, text=text, instrument_map=instrument_map,
                      universe=universe)
    optimizer: Any = None
    try:
        feed.engine_qsize = engine_qsize(node)
        controller = node.kernel._controller
        _attach(controller, journal, notifier, policy)
        _stop_on_store_failure(node, controller, journal, feed.failures, replay=True)
        optimizer = _self_optimizer(controller, policy, state, blocking=True)
        catch_up = journal.catch_up_until if journal is not None else -1
        pace = feed.speed
        if catch_up >= 0:
            feed.speed = None                 # re-run the handled bars at full speed

        def bar_handled(bar: Any) -> None:
            controller.bar_done(bar.ts_event)
            if bar.ts_event == catch_up and journal is not None:
                _reconcile(controller, journal, bar.ts_event)
                feed.speed = pace
            if on_bar is not None:
                on_bar(bar)
            if view is not None:
                view.update(controller)
        feed.on_bar = bar_handled
        run_until_done(node, feed)
        strategies = dict(controller.strategies)
        result = collect(controller.policy, setup, controller, strategies, capital)
        if journal is not None and feed.done and not feed.failures:
            journal.finish()
        if feed.failures:
            result.notes.append("replay failed: " + "; ".join(feed.failures))
            if journal is not None:
                journal.event("failure", None, cause="; ".join(feed.failures))
                journal.commit()
            from autobot.diagnostics import RunError
            raise RunError("the replay failed: " + "; ".join(feed.failures))
        return LiveRun(result, controller, strategies, feed.published, completed=feed.done)
    finally:
        node.dispose()
        FEEDS.pop(feed_name, None)
        if optimizer is not None:
            optimizer.close()
        _close(journal, notifier)


def _self_optimizer(controller: Any, policy: CompiledPolicy, state: Path | None, blocking: bool) -> Any:
    """The policy's self_optimize: (studies of the journal's bars; needs the journal)."""
    if policy.document.self_optimize is None or state is None:
        return None
    from autobot.live.self_optimize import SelfOptimizer
    controller.self_optimizer = SelfOptimizer(controller, policy.path, state, blocking=blocking)
    return controller.self_optimizer


def _reconcile(controller: Any, journal: Any, ts: int) -> None:
    """After re-running the handled bars: the rebuilt paper positions must be the journal's."""
    held = {}
    for sid, strategy in controller.strategies.items():
        position = strategy.position()
        held[sid] = 0.0 if position is None else round(float(position.signed_qty), 12)
    recorded = journal.positions()
    ok = all(abs(held.get(k, 0.0) - recorded.get(k, 0.0)) < 1e-9 for k in set(held) | set(recorded))
    journal.event("recovery", ts, positions=held, journal_positions=recorded, ok=ok)
    journal.commit()
    if not ok:
        controller.log.error(f"recovery: positions {held} differ from the journal's {recorded}")


#: how long a venue's market data client may take to connect before the run fails
CONNECT_SECONDS = 15.0


def run_venue(policy_path: Path, state: Path | None = None, notifier: Any = None,
              log_level: str = "WARNING", execution: tuple[str, Any, Any] | None = None,
              capital_scale: dict[str, float] | None = None, text: Path | None = None, fresh: bool = False) -> None:
    """Paper-trade the policy on a venue's real market data (the policy's ``live:`` section) until
    the node is stopped (SIGINT/SIGTERM, or ``/stop`` and then a signal). With ``execution`` (a
    real venue's execution client, :mod:`autobot.live.real`), real orders, each strategy's share
    scaled by ``capital_scale`` (its challenge stage's capital)."""
    from autobot.venue.settings import bar_spec_text
    from autobot.venue.instruments import quote_currency
    from autobot.diagnostics import Diagnostic, UserError
    from autobot.live.venues import data_client
    from autobot.portfolio.setup import regime_source

    policy = load_policy(policy_path)
    live = policy.document.live
    if live is None:
        raise UserError([Diagnostic(str(policy_path), 1, 1, 1, 1, "no-live-data",
                                    "the policy has no live: section naming a market data venue",
                                    "add e.g. 'live: {venue: binance}', or run with --replay FILE")])
    from autobot.portfolio.setup import check_text_feed
    check_text_feed(policy, text is not None)
    market = {sid: policy.strategies[sid].document.market for sid in policy.used}
    seconds = {sid: policy.strategies[sid].bar.seconds for sid in policy.used}
    regime_iid, regime_seconds = regime_source(policy)
    regime_seconds = regime_seconds or seconds[policy.used[0]]
    controller = {
        "bar_types": [f"{market[sid].instrument}-{bar_spec_text(seconds[sid])}-EXTERNAL" for sid in policy.used],
        "regime_bar_type": f"{regime_iid}-{bar_spec_text(regime_seconds)}-EXTERNAL",
        "warmup_bars": live.warmup_bars,
        "wall_checks": True,
        "capital_scale": capital_scale,
        "text_path": None if text is None else str(text),
        "text_tail": text is not None,      # a live text feed: what is appended while the node runs
    }
    iids = sorted({m.instrument for m in market.values()} | {regime_iid})
    node = paper_node(policy, iids[0].split(".")[-1], quote_currency(iids[0]),
                      float(policy.document.capital or 100_000.0), 1.0, log_level, False,
                      data_client(live, iids, str(policy_path)), controller, replay=False, execution=execution)
    journal = _open_journal(state, policy, fresh=fresh, venue=live.venue, testnet=live.testnet)
    _attach(node.kernel._controller, journal, notifier, policy)
    failed: list[str] = []
    _stop_on_store_failure(node, node.kernel._controller, journal, failed)
    parity = None
    if state is not None:              # the challenge's parity numbers: the journal's bars re-run elsewhere
        from autobot.live.parity import ParityProvider
        parity = node.kernel._controller.parity = ParityProvider(policy_path, state)
    optimizer = _self_optimizer(node.kernel._controller, policy, state, blocking=False)
    trainer = None
    if any(policy.strategies[s].document.ml for s in policy.used):
        import concurrent.futures
        import multiprocessing

        from autobot.evaluate.learn import Online
        trainer = concurrent.futures.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        Online.background = trainer           # models retrain in another process; the old one predicts meanwhile

    async def connected_or_stop() -> None:
        """A venue that does not connect (bad credentials, no network) ends the run within seconds."""
        await asyncio.sleep(CONNECT_SECONDS + 1.0)
        if not node.kernel.data_engine.check_connected():
            failed.append(f"the {live.venue} market data client did not connect within {CONNECT_SECONDS:g} s "
                          "(bad credentials, no network, or the venue is down: NautilusTrader's log above "
                          "says which)")
            await node.stop_async()
    watcher = node.get_event_loop().create_task(connected_or_stop())
    try:
        node.run()
        if not watcher.done() and not node.get_event_loop().is_closed():
            watcher.cancel()
            node.get_event_loop().run_until_complete(asyncio.gather(watcher, return_exceptions=True))
    finally:
        node.dispose()
        if parity is not None:
            parity.close()
        if optimizer is not None:
            optimizer.close()
        if trainer is not None:
            from autobot.evaluate.learn import Online
            Online.background = None
            trainer.shutdown(wait=False, cancel_futures=True)
        _close(journal, notifier)
    if failed:
        from autobot.diagnostics import RunError
        raise RunError(failed[0])
