"""How a policy's strategies are configured, shared by the backtest and the live node."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from autobot.backtest.data import TEXT_NAMES, bar_seconds, bar_size, calendar_opens, resample
from autobot.venue.instruments import InstrumentSettings, account_currency, make_instrument, quote_currency
from autobot.data.bars import Bars
from autobot.diagnostics import UserError
from autobot.language.compile import parse_bar_spec
from autobot.workspace import CompiledPolicy


def strategy_config(policy: CompiledPolicy, sid: str, bar_type: Any, index: int) -> Any:
    """The ``RuleStrategyConfig`` of strategy ``sid`` (the ``index``-th the policy uses)."""
    from nautilus_trader.model.identifiers import InstrumentId

    from autobot.strategy.rule_strategy import STRATEGY_OMS, RuleStrategyConfig
    from autobot.strategy.plans import register
    cs = register(policy.strategies[sid], {})          # the strategy takes this plan at its start
    return RuleStrategyConfig(document=cs.source.text, document_name=cs.source.path,
                              instrument_id=InstrumentId.from_str(cs.document.market.instrument),
                              bar_type=bar_type, overrides={}, order_id_tag=f"{index + 1:03d}",
                              capital_share=0.0, oms_type=STRATEGY_OMS)


@dataclass
class PortfolioSetup:
    """The series, bar types and instruments a policy runs on (the same for backtest and live)."""

    used: list[str]
    market: dict[str, Any]                      # strategy id -> its market section
    seconds: dict[str, int]                     # strategy id -> bar size
    series: dict[tuple[str, int], Bars]         # (instrument, bar size) -> bars
    regime_key: tuple[str, int]
    primary_key: tuple[str, int]
    iids: list[str]
    venue: str
    currency: Any
    instruments: dict[str, Any]
    bar_types: dict[tuple[str, int], Any]
    notes: list[str] = field(default_factory=list)
    cost_models: dict[str, str] = field(default_factory=dict)   # instrument -> the costs its fills pay

    @property
    def primary(self) -> Bars:
        return self.series[self.primary_key]

    def strategy_bar_types(self) -> list[Any]:
        return [self.bar_types[(self.market[sid].instrument, self.seconds[sid])] for sid in self.used]

    def nautilus_bars(self) -> list[Any]:
        """Every series as Nautilus bars, in time order; the regime's bar first at equal times."""
        from autobot.backtest.data import to_nautilus
        out: list[Any] = []
        for key in sorted(self.series, key=lambda k: k != self.regime_key):
            out.extend(to_nautilus(self.series[key], self.bar_types[key], self.instruments[key[0]], key[1]))
        out.sort(key=lambda b: b.ts_event)      # stable: the regime's bars stay first at equal times
        return out


def regime_source(policy: CompiledPolicy) -> tuple[str, int | None]:
    """The instrument the regimes are computed on, and their bar size (None: the first strategy's)."""
    market = policy.regimes.document.market
    iid = market.instrument if market and market.instrument else \
        policy.strategies[policy.used[0]].document.market.instrument
    spec = parse_bar_spec(market.bar) if market and market.bar else None
    return iid, (spec.seconds if spec is not None else None)


def _error_at(policy: CompiledPolicy, sid: str, message: str, hint: str) -> UserError:
    cs = policy.strategies[sid]
    node, _ = cs.source.node_at(("market", "instrument"))
    start, end = (node.start, node.end) if node is not None else (0, 1)
    return UserError([cs.source.diagnostic(start, end, "no-data", message, hint)])


def _series_for(bars: Bars, seconds: int, notes: list[str], iid: str) -> Bars:
    """The bars a strategy (or the regimes) of ``seconds`` runs on: resampled as a strategy alone
    would be (:func:`autobot.backtest.data.strategy_bars`: stubs merged, said in ``notes``), else
    as they are."""
    have = bar_seconds(bars)
    if not (have < seconds and seconds % have == 0):
        return bars
    said: list[str] = []
    out = resample(bars, seconds, said)
    notes.extend(f"{iid}: {note}" for note in said)
    return out


def check_text_feed(policy: CompiledPolicy, texts: bool) -> None:
    """A strategy that reads ``sentiment`` needs the run to have a text feed."""
    for sid in policy.used:
        if set(TEXT_NAMES) & policy.strategies[sid].plan.externals and not texts:
            cs = policy.strategies[sid]
            raise UserError([cs.use_diagnostic(TEXT_NAMES, "no-text-feed",
                                               f"'{sid}' reads 'sentiment', which needs a text feed",
                                               "pass --text FILE (timestamped texts: timestamp, symbol, text)")])


def prepare(policy: CompiledPolicy, data: dict[str, Bars], instrument: InstrumentSettings,
            texts: bool = False) -> PortfolioSetup:
    """Bind data to the policy's strategies and regimes; build instruments and bar types."""
    from nautilus_trader.model.data import BarType

    from autobot.venue.settings import bar_spec_text

    used = policy.used
    if not used:
        raise UserError([policy.regimes.source.diagnostic(0, 1, "no-strategies", "the policy allocates to no strategy",
                                                           "give some regime a share of a strategy")])
    for sid in used:
        if policy.strategies[sid].document.quote is not None:
            cs = policy.strategies[sid]
            raise UserError([cs.source.diagnostic(0, 1, "not-in-a-policy",
                                                  f"'{sid}' is a quote: (market-making) strategy, which a policy "
                                                  "does not run yet", "run it alone on book data: autobot backtest "
                                                  "MM.yaml --data BOOKFILE, or autobot live MM.yaml --replay "
                                                  "BOOKFILE")])
    check_text_feed(policy, texts)
    read: list[str] = []          # period-end labels read as closes, stubs merged (as a strategy alone)
    for iid in list(data):
        said: list[str] = []
        data = {**data, iid: calendar_opens(data[iid], said)}
        read.extend(f"{iid}: {note}" for note in said)
    market = {sid: policy.strategies[sid].document.market for sid in used}
    for sid in used:
        if market[sid].instrument not in data:
            raise _error_at(policy, sid, f"no data for {market[sid].instrument}, which '{sid}' trades",
                            f"pass --data {market[sid].instrument}=FILE")
    regime_iid, regime_bar = regime_source(policy)
    if regime_iid not in data:
        raise UserError([policy.regimes.source.diagnostic(0, 1, "no-data", f"no data for {regime_iid}, "
                                                           "which the regimes are computed on",
                                                           f"pass --data {regime_iid}=FILE")])
    seconds = {sid: bar_size(policy.strategies[sid].bar.seconds if policy.strategies[sid].bar else None,
                             data[market[sid].instrument]) for sid in used}
    regime_seconds = bar_size(regime_bar, data[regime_iid]) if regime_bar is not None else seconds[used[0]]
    series: dict[tuple[str, int], Bars] = {}
    for sid in used:
        key = (market[sid].instrument, seconds[sid])
        if key not in series:
            series[key] = _series_for(data[key[0]], key[1], read, key[0])
    if (regime_iid, regime_seconds) not in series:
        series[(regime_iid, regime_seconds)] = _series_for(data[regime_iid], regime_seconds, read, regime_iid)
    iids = sorted({k[0] for k in series})
    venues = {iid.split(".")[-1] for iid in iids}
    quotes = {quote_currency(iid, instrument) for iid in iids}
    if len(venues) > 1 or len(quotes) > 1:
        raise UserError([policy.regimes.source.diagnostic(0, 1, "mixed-venues",
                                                           f"a portfolio backtest trades one venue and currency, "
                                                           f"got {sorted(venues)} / {sorted(quotes)}",
                                                           "use instruments of one venue and quote currency")])
    primary_key = (market[used[0]].instrument, seconds[used[0]])
    notes = [f"{k[0]}: {len(v):,} bars of {k[1]} s" for k, v in series.items()] + read
    for sid in used:
        want = policy.strategies[sid].bar.seconds if policy.strategies[sid].bar else None
        if want is not None and want != seconds[sid]:
            notes.append(f"'{sid}' asks for {want} s bars; the data has {seconds[sid]} s bars and is used as it is")

    insts = {iid: make_instrument(iid, [b.close for (i, _), b in series.items() if i == iid], instrument)
             for iid in iids}
    from autobot.venue.instruments import cost_model, market_note
    costs = {iid: cost_model(inst) for iid, inst in insts.items()}
    for iid, inst in insts.items():
        bars_ = next(b for (i, _), b in series.items() if i == iid)
        mismatch = market_note(iid, bars_.close, float(inst.maker_fee), float(inst.taker_fee), bars_.path)
        if mismatch is not None:
            notes.append(mismatch)
    quote = next(iter(quotes))
    currency = account_currency(quote, insts[iids[0]])
    bar_types = {key: BarType.from_str(f"{key[0]}-{bar_spec_text(key[1])}-EXTERNAL") for key in series}
    return PortfolioSetup(used, market, seconds, series, (regime_iid, regime_seconds), primary_key, iids,
                          next(iter(venues)), currency, insts, bar_types, notes, costs)
