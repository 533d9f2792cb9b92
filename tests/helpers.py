"""Test helpers: compile expressions into a plan and run both evaluators over bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autobot.diagnostics import DiagnosticSink, render_text
from autobot.documents.load import load_text
from autobot.documents.validate import validate_document
from autobot.evaluate.batch import evaluate, rule_series
from autobot.evaluate.stream import StreamEvaluator
from autobot.language import plan as P
from autobot.language.compile import CompiledStrategy, compile_strategy

ROOT = Path(__file__).resolve().parents[1]
NS = 1_000_000_000
H = 3600 * NS                       # one hour, in ns
T0 = 1_700_000_000 * NS             # the first hand-made bar's open time
SHARED_DATA = ROOT.parent / "shared" / "data"

TEMPLATE = """strategy: t
market: {{instrument: BTCUSDT.BINANCE, bar: 1h}}
params:
  p_fast: 3
  p_slow: 7
indicators:
{indicators}
entry:
  long: {rule}
"""


def compile_exprs(indicators: dict[str, str] | None = None, rule: str = "true") -> CompiledStrategy:
    """Compile a one-rule strategy with the given indicators; fails the test on any error."""
    lines = "\n".join(f"  {k}: {_quote(v)}" for k, v in (indicators or {}).items()) or "  {}"
    if not indicators:
        text = TEMPLATE.replace("indicators:\n{indicators}\n", "").format(rule=_quote(rule))
    else:
        text = TEMPLATE.format(indicators=lines, rule=_quote(rule))
    source = load_text(text, "test.yaml")
    model, diags = validate_document(source)
    assert model is not None, diags
    sink = DiagnosticSink()
    compiled = compile_strategy(source, model, sink)  # type: ignore[arg-type]
    errors = [render_text(d, text) for d in sink.items if d.severity == "error"]
    assert compiled is not None and not errors, "\n".join(errors)
    return compiled


def _quote(expr: str) -> str:
    return "'" + expr.replace("'", "''") + "'"


def run_stream(plan: P.Plan, bars: Any, externals: list[dict[str, Any]] | None = None,
               observe: Any = None) -> tuple[list[list[Any]], list[tuple[bool, ...]]]:
    """Per node, the values the streaming evaluator held after each bar; and what ``update``
    returned (the rules as they fired) at each bar."""
    ev = StreamEvaluator(plan, observe=observe)
    out: list[list[Any]] = [[] for _ in plan.nodes]
    fired: list[tuple[bool, ...]] = []
    for i in range(len(bars.close)):
        fired.append(ev.update(int(bars.ts[i]), float(bars.open[i]), float(bars.high[i]), float(bars.low[i]),
                               float(bars.close[i]), float(bars.volume[i]),
                               None if externals is None else externals[i]))
        now = ev.values()
        for k in range(len(plan.nodes)):
            out[k].append(now.get(k))
    return out, fired


def same_bits(batch: np.ndarray, stream: list[Any]) -> bool:
    """Bit-for-bit equality of a number series (NaN = undefined on both sides, sign of zero included)."""
    s = np.array(stream, dtype=np.float64)
    b = np.asarray(batch, dtype=np.float64)
    if s.shape != b.shape:
        return False
    nan_b, nan_s = np.isnan(b), np.isnan(s)
    if not np.array_equal(nan_b, nan_s):
        return False
    return bool(np.array_equal(b[~nan_b].view(np.int64), s[~nan_s].view(np.int64)))


def assert_agree(compiled: CompiledStrategy, bars: Any) -> None:
    """Both evaluators agree on every node of the plan at every bar."""
    plan = compiled.plan
    batch = evaluate(plan, bars)
    stream, fired = run_stream(plan, bars)
    for k, name in enumerate(plan.rules):
        assert [f[k] for f in fired] == rule_series(plan, batch, name).tolist(), f"rule {name} fires differently"
    # observing nothing (so pure nodes are inlined into their readers) changes no decision
    _, fired_lean = run_stream(plan, bars, observe=())
    assert fired_lean == fired
    for k, node in enumerate(plan.nodes):
        t = plan.types[k]
        if t == P.RECORD:
            continue
        if t == P.NUMBER:
            assert same_bits(batch[k], stream[k]), _mismatch(plan, k, batch[k], stream[k])
        else:
            assert list(np.asarray(batch[k]).tolist()) == [bool(x) if t == P.BOOL else x for x in stream[k]], \
                _mismatch(plan, k, batch[k], stream[k])


def _mismatch(plan: P.Plan, k: int, batch: Any, stream: list[Any]) -> str:
    b = np.asarray(batch)
    for i, (x, y) in enumerate(zip(b.tolist(), stream)):
        if not (x == y or (x != x and y != y)):
            return f"node {k} {plan.nodes[k]!r} differs first at bar {i}: batch={x!r} stream={y!r}"
    return f"node {k} {plan.nodes[k]!r} differs"


def ohlc_bars(rows: list[tuple[float, float, float, float]]) -> Any:
    """Hourly bars from explicit (open, high, low, close) rows, from T0 (open times); volume is
    large (Nautilus' bar model offers a quarter of a bar's volume at each price)."""
    from autobot.data.bars import Bars
    a = np.array(rows, dtype=float)
    ts = T0 + np.arange(len(a), dtype=np.int64) * H
    return Bars("hand", ts, a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), 1e9), "csv")


FEED_WORDS = ["great rally, buying", "terrible crash, selling everything", "bullish breakout", "bearish, awful news",
              "meh", "love this coin", "scam, hate it"]


def text_feed(compiled: Any, bars: Any, every: int = 24) -> Any:
    """A seeded text feed over ``bars`` (one text every ``every`` bars, at a random minute of the
    bar) for a strategy that reads ``sentiment``; None for one that does not."""
    from autobot.backtest.data import TEXT_NAMES
    if not set(TEXT_NAMES) & compiled.plan.externals:
        return None
    from autobot.data.text import Texts
    rng = np.random.default_rng(11)
    ts = np.sort(np.asarray(bars.ts[::every], dtype=np.int64) + rng.integers(0, 3600, len(bars.ts[::every])) * NS)
    return Texts(ts, [""] * len(ts), [FEED_WORDS[int(k)] for k in rng.integers(0, len(FEED_WORDS), len(ts))])


def strategy_files() -> list[Path]:
    """Every shipped and example strategy document."""
    return sorted((ROOT / "strategies").glob("*.yaml")) + sorted((ROOT / "examples" / "strategies").glob("*.yaml"))


def is_quote_document(path: Path) -> bool:
    return any(line.startswith("quote:") for line in path.read_text().splitlines())


def rule_strategy_files() -> list[Path]:
    """The strategies that trade on bars (entry/exit rules)."""
    return [p for p in strategy_files() if not is_quote_document(p)]


def quote_strategy_files() -> list[Path]:
    """The market-making strategies (a quote: section), which trade on order books."""
    return [p for p in strategy_files() if is_quote_document(p)]


def assert_fills_inside_bars(fills: list[tuple], prepared: Any, seconds: int) -> int:
    """Every fill (ts, side, qty, price, why) lies within the [low, high] of the bar it is stamped
    with; returns the count."""
    close_ts = {int(t) + seconds * NS: k for k, t in enumerate(prepared.ts)}
    for ts, side, qty, price, why in fills:
        k = close_ts[ts]
        assert prepared.low[k] - 1e-9 <= price <= prepared.high[k] + 1e-9, \
            f"{why} {side} at {price} outside bar {k} [{prepared.low[k]}, {prepared.high[k]}]"
    return len(fills)


def decided_at_close(why: str) -> bool:
    """A market order sent at a bar's close (a rule's entry or exit, a reversal, a regime switch's
    or a breaker's flatten): it fills at that close, after the bar's equity was recorded; the
    resting stops and targets fill inside the bar, before."""
    return why not in ("stop_loss", "take_profit", "trailing_stop")


def assert_identity(equity: Any, close_ts: Any, close: Any, fills: list[tuple], capital: float, inst: Any,
                    slack: int = 1) -> int:
    """Equity == cash + every open position marked to its close at every bar, where cash and the
    positions are rebuilt from the run's own fills: each fill moves qty x price x multiplier
    between cash and the position and pays its fee (taker for market and stop fills, maker for
    take-profit limits). A market order sent at a close counts from the next bar (the equity of a
    bar is recorded before its orders); a stop or target that filled inside the bar, at it. The
    venue rounds each fee and each position's unrealised PnL to the currency's cents: ``slack``
    cents of those per bar, plus one per fill so far. Vectorised (a 75,000-bar run in milliseconds).
    Returns the bars checked."""
    from autobot.strategy.costs import unit_commission, unit_fees_of
    mult, maker, taker = float(inst.multiplier), float(inst.maker_fee), float(inst.taker_fee)
    unit = unit_fees_of(inst)                    # a share's per-share commission, an FX pair's half spread
    equity = np.asarray(equity, dtype=np.float64)
    close_ts, close = np.asarray(close_ts, dtype=np.int64), np.asarray(close, dtype=np.float64)
    n = len(equity)
    cash, held, count = np.zeros(n + 1), np.zeros(n + 1), np.zeros(n + 1)
    for ts, side, qty, px, why in fills:
        at = int(np.searchsorted(close_ts, ts, side="right" if decided_at_close(why) else "left"))
        sign = 1.0 if side == "BUY" else -1.0
        value = qty * px * mult
        cash[at] -= sign * value + value * (maker if why == "take_profit" else taker) + \
            unit_commission(qty, value, unit.per_unit, unit.minimum, unit.cap_rate)
        held[at] += sign * qty
        count[at] += 1
    cash, held, count = capital + np.cumsum(cash)[:n], np.cumsum(held)[:n], np.cumsum(count)[:n]
    want = cash + held * close[:n] * mult
    bad = np.abs(equity - want) > 1e-9 * np.abs(want) + 1e-6 + 0.006 * (count + slack)
    if bad.any():
        t = int(np.argmax(bad))
        raise AssertionError(f"bar {t}: equity {equity[t]} != cash {cash[t]} + {held[t]} x {close[t]}")
    return n


def assert_equity_identity(result: Any, settings: Any = None) -> int:
    """:func:`assert_identity` on a single-strategy ``result`` (either engine, either account)."""
    from autobot.venue.instruments import InstrumentSettings, make_instrument
    inst = make_instrument(result.instrument, [result.bars.close], settings or InstrumentSettings())
    close_ts = np.asarray(result.bars.ts, dtype=np.int64) + result.bar_seconds * NS
    return assert_identity(result.equity, close_ts, result.bars.close, list(result.fills), result.capital, inst)


#: the market each shared series holds (its file's provenance in ../shared/data/README.md), so a
#: real-use run charges that market's costs rather than the document's crypto venue's
MARKETS = {
    "binance_adabtc": "ADABTC.BINANCE", "btc_perp": "BTCUSDT.BINANCE", "coinbase_btcusd": "BTCUSD.COINBASE",
    "freqtrade_eth_btc": "ETHBTC.BINANCE", "freqtrade_unittest_btc": "UNITTESTBTC.BINANCE",
    "freqtrade_xrp_usdt": "XRPUSDT.BINANCE", "fxcm_gbpusd": "GBPUSD.FXCM", "oanda_eurusd": "EURUSD.OANDA",
    "oanda_xauusd": "XAUUSD.OANDA", "orcl": "ORCL.NASDAQ", "nvda": "NVDA.NASDAQ", "spy": "SPY.ARCA",
    "xcme_6eh4": "6EH4.XCME", "iwm": "IWM.ARCA", "eem": "EEM.ARCA", "uso": "USO.ARCA", "bno": "BNO.ARCA",
    "eurusd": "EURUSD.OANDA", "gbpusd": "GBPUSD.OANDA", "eurgbp": "EURGBP.OANDA", "xauusd": "XAUUSD.OANDA",
    "btcusd_coinbase": "BTCUSD.COINBASE",
}


def market_of(path: Path) -> str:
    """The instrument id of a shared series (longest matching file-name prefix)."""
    stem = path.stem
    key = max((k for k in MARKETS if stem.startswith(k)), key=len, default=None)
    assert key is not None, f"no market known for {path.name}: add it to tests.helpers.MARKETS"
    return MARKETS[key]


# The matrices run each series' last MATRIX_BARS bars (to its end): the 12-year hourly FX and gold
# files have ~75,000 bars, and running every strategy over all of them cost CI ~5 minutes; 20,000
# hourly bars are still 3+ years. The full-length runs of those files stay in test_matrix (the
# shipped policy on EUR/USD, the issue's own case) and bench_fast.
MATRIX_BARS = 20_000


def matrix_bars(path: Path) -> Any:
    """The bars of a shared series as the matrices run them: its last :data:`MATRIX_BARS`."""
    from autobot.data.bars import load_bars
    bars = load_bars(path)
    return bars.slice(max(0, len(bars) - MATRIX_BARS), len(bars))


def shared_series() -> list[Path]:
    """Every bar series in ../shared/data and ../shared/data/universe (minute to daily; crypto, FX,
    gold, stocks, ETFs)."""
    if not SHARED_DATA.exists():
        return []
    return sorted(SHARED_DATA.glob("*.csv")) + sorted((SHARED_DATA / "universe").glob("*.csv"))


def cash_market(path: Path) -> bool:
    """Where the matrices also run a cash account: a share and an ETF (ORCL, SPY) and crypto spot,
    where a cash account is how the market is traded (not FX, gold CFDs, futures or perpetuals,
    which trade on margin). CI time: margin runs every series."""
    from autobot.venue.instruments import asset_class
    iid = market_of(path)
    if asset_class(iid) == "equity":
        return iid in ("ORCL.NASDAQ", "SPY.ARCA")
    return asset_class(iid) == "crypto" and "perp" not in path.stem
