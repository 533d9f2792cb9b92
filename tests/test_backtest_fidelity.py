"""Fidelity: the compiled ``strategies/trend.yaml`` and a hand-written Nautilus strategy with the
same rules, TA-Lib indicators, sizing and protective orders produce identical fills and the
identical final balance on real data."""

from __future__ import annotations

import math
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import talib
from talib import stream as ta_stream
from nautilus_trader.backtest.engine import BacktestEngine
from nautilus_trader.config import BacktestEngineConfig, LoggingConfig, StrategyConfig
from nautilus_trader.model.currencies import USDT
from nautilus_trader.model.data import Bar, BarType
from nautilus_trader.model.enums import AccountType, OmsType, OrderSide, PositionSide
from nautilus_trader.model.events import OrderFilled, PositionClosed
from nautilus_trader.model.identifiers import InstrumentId, TraderId, Venue
from nautilus_trader.model.objects import Money, Price
from nautilus_trader.trading.strategy import Strategy

from autobot.backtest.data import resample, to_nautilus
from autobot.backtest.engine import prepare_bars, run_backtest
from autobot.venue.settings import VenueSettings, bar_spec_text, venue_fills
from autobot.venue.instruments import make_instrument
from autobot.data.bars import load_bars
from autobot.workspace import compile_strategy_text
from tests.helpers import ROOT, SHARED_DATA

BTC = SHARED_DATA / "btc_perp_1m_20211231_20220201.csv"
pytestmark = pytest.mark.skipif(not BTC.exists(), reason="shared data not present")


class HandTrendConfig(StrategyConfig, frozen=True):
    instrument_id: InstrumentId
    bar_type: BarType


class HandTrend(Strategy):
    """EMA(12)/EMA(26) cross confirmed by ROC(10); stop 2 x ATR(14), target 4%, risk 0.5% of equity."""

    def __init__(self, config: HandTrendConfig) -> None:
        super().__init__(config)
        self.fills: list[tuple[int, str, float, float]] = []
        self.history: dict[str, list[float]] = {"h": [], "l": [], "c": []}
        self.handles: dict[str, object] = {}
        self.prev_fast = self.prev_slow = math.nan
        self.entry_ids: set = set()
        self.stop_distance = math.nan
        self.target_distance = math.nan

    def on_start(self) -> None:
        self.instrument = self.cache.instrument(self.config.instrument_id)
        self.subscribe_bars(self.config.bar_type)

    def _indicator(self, name: str, need: int, opener, update, *args: float) -> float:
        handle = self.handles.get(name)
        if handle is not None:
            return float(update(handle, *args))
        if len(self.history["c"]) < need:
            return math.nan
        handle = opener()
        self.handles[name] = handle
        return float(handle.value)

    def on_bar(self, bar: Bar) -> None:
        h, lo, c = bar.high.as_double(), bar.low.as_double(), bar.close.as_double()
        for k, v in (("h", h), ("l", lo), ("c", c)):
            self.history[k].append(v)
        arr = {k: np.array(v) for k, v in self.history.items()} if not all(
            n in self.handles for n in ("fast", "slow", "mom", "atr")) else {}
        fast = self._indicator("fast", 12, lambda: ta_stream.EMA(arr["c"], timeperiod=12), lambda s, x: s.update(x), c)
        slow = self._indicator("slow", 26, lambda: ta_stream.EMA(arr["c"], timeperiod=26), lambda s, x: s.update(x), c)
        mom = self._indicator("mom", 11, lambda: ta_stream.ROC(arr["c"], timeperiod=10), lambda s, x: s.update(x), c)
        atr = self._indicator("atr", 15, lambda: ta_stream.ATR(arr["h"], arr["l"], arr["c"], timeperiod=14),
                              lambda s, a, b, x: s.update(a, b, x), h, lo, c)
        up = fast > slow and self.prev_fast <= self.prev_slow
        down = fast < slow and self.prev_fast >= self.prev_slow
        self.prev_fast, self.prev_slow = fast, slow
        opened = self.cache.positions_open(instrument_id=self.config.instrument_id, strategy_id=self.id)
        position = opened[0] if opened else None
        equity = self.portfolio.account(self.instrument.id.venue).balance_total(USDT).as_double()
        if position is not None:
            equity += position.unrealized_pnl(Price(c, self.instrument.price_precision)).as_double()
        side = "flat" if position is None else ("long" if position.side == PositionSide.LONG else "short")
        if (side == "long" and down) or (side == "short" and up):
            self._close(position)
            side = "flat"
        want = "long" if up and mom > 0 else "short" if down and mom < 0 else None
        if want is None or want == side:
            return
        distance = 2.0 * atr
        if not distance > 0:
            return
        units = min(equity * 0.005 / distance, equity * 1.0 / c)     # notional at most equity x leverage 1
        qty = Decimal(repr(units)).quantize(Decimal("0.000001"), rounding="ROUND_FLOOR")
        if qty <= 0:
            return
        if side != "flat":
            self._close(position)
        self.cache.purge_closed_orders(self.clock.timestamp_ns())
        self.stop_distance, self.target_distance = distance, c * 0.04
        order = self.order_factory.market(self.config.instrument_id,
                                          OrderSide.BUY if want == "long" else OrderSide.SELL,
                                          self.instrument.make_qty(qty))
        self.entry_ids.add(order.client_order_id)
        self.submit_order(order)

    def _close(self, position) -> None:
        self.cancel_all_orders(self.config.instrument_id)
        self.submit_order(self.order_factory.market(self.config.instrument_id, position.closing_order_side(),
                                                    position.quantity, reduce_only=True))

    def on_order_filled(self, event: OrderFilled) -> None:
        side = "BUY" if event.order_side == OrderSide.BUY else "SELL"
        self.fills.append((event.ts_event, side, float(event.last_qty), float(str(event.last_px))))
        if event.client_order_id not in self.entry_ids:
            return
        px = float(str(event.last_px))
        sign = 1.0 if event.order_side == OrderSide.BUY else -1.0
        closing = OrderSide.SELL if sign > 0 else OrderSide.BUY
        self.submit_order(self.order_factory.stop_market(
            self.config.instrument_id, closing, event.last_qty,
            self.instrument.make_price(px - sign * self.stop_distance), reduce_only=True))
        self.submit_order(self.order_factory.limit(
            self.config.instrument_id, closing, event.last_qty,
            self.instrument.make_price(px + sign * self.target_distance), reduce_only=True))

    def on_position_closed(self, event: PositionClosed) -> None:
        self.cancel_all_orders(self.config.instrument_id)


def _hand_run(bars, seconds: int) -> tuple[list, float]:
    inst = make_instrument("BTCUSDT.BINANCE", [bars.open, bars.high, bars.low, bars.close])
    bar_type = BarType.from_str(f"BTCUSDT.BINANCE-{bar_spec_text(seconds)}-EXTERNAL")
    engine = BacktestEngine(BacktestEngineConfig(trader_id=TraderId("BACKTESTER-001"),
                                                 logging=LoggingConfig(log_level="ERROR"), run_analysis=False))
    try:
        engine.add_venue(venue=Venue("BINANCE"), oms_type=OmsType.NETTING, account_type=AccountType.MARGIN,
                         starting_balances=[Money(100_000, USDT)], base_currency=USDT, default_leverage=Decimal(1),
                         **venue_fills(VenueSettings()))   # the venue, not the strategy: as autobot sets it up
        engine.add_instrument(inst)
        engine.add_data(to_nautilus(bars, bar_type, inst, seconds))
        strategy = HandTrend(HandTrendConfig(instrument_id=inst.id, bar_type=bar_type, order_id_tag="001"))
        engine.add_strategy(strategy)
        engine.run()
        balance = engine.portfolio.account(inst.id.venue).balance_total(USDT).as_double()
        return list(strategy.fills), balance
    finally:
        engine.dispose()


@pytest.mark.parametrize("bar, n", [("1h", None), ("1m", 6000)], ids=["1h-resampled", "1m"])
def test_trend_yaml_matches_hand_written_strategy(bar: str, n: int | None) -> None:
    text = (ROOT / "strategies" / "trend.yaml").read_text()
    if bar != "1h":
        text = text.replace("  bar: 1h\n", f"  bar: {bar}\n")
    compiled = compile_strategy_text(text, "strategies/trend.yaml")
    bars = load_bars(BTC)
    if n is not None:
        bars = bars.slice(0, n)
    result = run_backtest(compiled, bars)
    prepared, seconds, _ = prepare_bars(compiled, bars)
    hand_fills, hand_balance = _hand_run(prepared, seconds)
    ours = [f[:4] for f in result.fills]
    assert len(ours) >= 10, "too few fills to compare"
    assert ours == hand_fills
    assert result.final_balance == hand_balance
    # and the trades the strategy recorded add up to Nautilus' account (an open trade has paid its entry fee)
    closed = sum(t["pnl"] for t in result.trades if t["exit_reason"] != "open")
    open_fees = sum(t["fees"] for t in result.trades if t["exit_reason"] == "open")
    assert closed - open_fees == pytest.approx(hand_balance - 100_000, abs=1e-6)


def test_resample_keeps_ohlcv() -> None:
    bars = load_bars(BTC).slice(0, 180)
    hourly = resample(bars, 3600)
    first = bars.slice(0, int(np.searchsorted(bars.ts, hourly.ts[1])))
    assert hourly.open[0] == first.open[0] and hourly.close[0] == first.close[-1]
    assert hourly.high[0] == first.high.max() and hourly.low[0] == first.low.min()
    assert hourly.volume[0] == pytest.approx(first.volume.sum())
    assert talib.MAX(hourly.high, 2)[1] == max(hourly.high[:2])
    assert Path(hourly.path) == Path(bars.path)
