"""Pydantic models of the three document kinds: strategy, regimes and policy.

Models check shape only (keys, kinds of values); the meaning of expressions,
ranges and cross-references is checked by the compiler, which can point at the
exact column. ``schema/*.json`` is generated from these models (``autobot schema``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

#: the most starting capital a run takes (documents and ``--capital``): NautilusTrader's Money holds
#: at most 17,014,118,346,046 (MONEY_MAX); 1e12 leaves room for profits and fees
MAX_CAPITAL = 1e12


def _expression_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise ValueError("expected an expression (text or a number)")


Expression = Annotated[
    str,
    BeforeValidator(_expression_text),
    WithJsonSchema({"type": ["string", "number", "boolean"],
                    "description": "An expression of the AutoBot language (see docs/language.md)."}),
]
Share = Annotated[
    str,
    BeforeValidator(_expression_text),
    WithJsonSchema({"type": ["string", "number"],
                    "description": "A share of capital: a percentage like '60%' or a fraction like 0.6."}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


#: the largest magnitude of a param's default, min, max and step (finite, and max - min stays finite)
MAX_PARAM = 1e15


class ParamSpec(_Model):
    """A tunable number: its default and the range optimisation may explore."""

    default: float = Field(allow_inf_nan=False, ge=-MAX_PARAM, le=MAX_PARAM, description="Value used unless "
                                                                                        "overridden.")
    min: float | None = Field(None, allow_inf_nan=False, ge=-MAX_PARAM, le=MAX_PARAM,
                              description="Smallest value optimisation may try.")
    max: float | None = Field(None, allow_inf_nan=False, ge=-MAX_PARAM, le=MAX_PARAM,
                              description="Largest value optimisation may try.")
    step: float | None = Field(None, allow_inf_nan=False, gt=0, le=MAX_PARAM,
                               description="Step between tried values, above 0 (integers when omitted and the "
                                           "default is whole); (max - min) / step is at most 1,000,000.")
    description: str = Field("", description="What the parameter controls.")


def _param_spec(value: Any) -> Any:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return {"default": value}
    return value


Param = Annotated[
    ParamSpec,
    BeforeValidator(_param_spec),
    WithJsonSchema({"anyOf": [{"type": "number"}, ParamSpec.model_json_schema()],
                    "description": "A number, or {default, min, max, step}."}),
]


#: the description of ``constraints:`` (strategy and regimes documents)
CONSTRAINTS_TEXT = ("Conditions between params that every value must satisfy, e.g. 'slow > fast': the defaults "
                    "must, and optimisation tries only values that do.")


class Market(_Model):
    """What the strategy trades."""

    instrument: str = Field(description="Nautilus InstrumentId, e.g. BTCUSDT.BINANCE (CLI/policy may override).",
                            pattern=r"^[^.\s]+\.[^.\s]+$")
    bar: str = Field(description="Bar size: 1m 5m 15m 1h 4h 1d, or a Nautilus bar spec like 1-HOUR-LAST.")
    price_precision: int | None = Field(None, ge=0, le=9, description="Decimals of prices (default: from the data).")
    size_precision: int | None = Field(None, ge=0, le=9,
                                       description="Decimals of quantities (default: 6 for crypto, 0 otherwise).")
    maker_fee: float | None = Field(None, ge=0, lt=1, description="Maker fee as a fraction (default: the venue's).")
    taker_fee: float | None = Field(None, ge=0, lt=1, description="Taker fee as a fraction (default: the venue's).")


class Sides(_Model):
    """A condition per side; a side left out is not traded."""

    long: Expression | None = Field(None, description="Condition for the long side.")
    short: Expression | None = Field(None, description="Condition for the short side.")


class Risk(_Model):
    """Protective orders, as a price distance (expression) or a percentage of the entry price."""

    stop_loss: Expression | None = Field(None, description="e.g. '2 * atr(14)' or '1.5%'; 'none' for no stop.")
    take_profit: Expression | None = Field(None, description="e.g. '4%' or '3 * atr(14)'; 'none' for none.")
    trailing_stop: Expression | None = Field(None, description="Trailing distance; 'none' for none.")


class Sizing(_Model):
    """How big each entry is: exactly one of the three."""

    risk_per_trade: Expression | None = Field(None, description="Share of equity risked over the stop distance, "
                                                               "e.g. '0.5%'. Needs risk.stop_loss.")
    equity_pct: Expression | None = Field(None, description="Position value as a share of equity, e.g. '20%'.")
    fixed_qty: Expression | None = Field(None, description="A fixed quantity in the instrument's units.")


class Quote(_Model):
    """Market making: quotes (and takes) as expressions of the book, the trades and the inventory,
    evaluated at every quoting step (each ``market.bar``; docs/language.md, Market making)."""

    bid_price: Expression | None = Field(None, description="Price of the best (first) bid.")
    ask_price: Expression | None = Field(None, description="Price of the best (first) ask.")
    bid_size: Expression | None = Field(None, description="Quantity of each bid (base units).")
    ask_size: Expression | None = Field(None, description="Quantity of each ask (base units).")
    levels: int = Field(1, ge=1, le=20, description="Quotes per side; level k sits k * level_step behind the first.")
    level_step: Expression | None = Field(None, description="Price distance between levels (default: one tick).")
    refresh: str = Field("10s", pattern=r"^\s*\d{1,6}\s*[smh]\s*$",
                         description="Longest a quote rests before it is replaced (e.g. 5s, 1m).")
    tolerance: Expression | None = Field(None, description="A quote is replaced when its wanted price moves more "
                                                           "than this price distance (default: any tick).")
    max_inventory: float | None = Field(None, gt=0, le=1e12, description="Inventory limit in base units: no bid "
                                                                         "while inventory >= it, no ask while "
                                                                         "inventory <= -it.")
    min_spread: Expression | None = Field(None, description="Smallest ask - bid; narrower quotes are widened "
                                                           "around their centre.")
    stand_aside: Expression | None = Field(None, description="While true: no quotes (resting ones are cancelled).")
    take_buy: Expression | None = Field(None, description="When true: buy take_size at the ask (a taker order).")
    take_sell: Expression | None = Field(None, description="When true: sell take_size at the bid (a taker order).")
    take_size: Expression | None = Field(None, description="Quantity of each take (base units).")


class MLTarget(_Model):
    """What a model predicts, over an explicit horizon."""

    kind: Literal["up", "return"] = Field("up", description="up: the probability that the close `horizon` bars "
                                                           "later is higher; return: that log return.")
    horizon: int = Field(description="Bars ahead the target looks (at least 1).", ge=1, le=10_000)


class MLModel(_Model):
    """A walk-forward model whose prediction is a series of the language (docs/ml.md)."""

    kind: Literal["linear", "lightgbm", "lstm"] = Field("lightgbm", description="Model kind.")
    features: list[Expression] = Field(description="Expressions of the language (market series).",
                                       min_length=1, max_length=64)
    target: MLTarget = Field(description="What the model predicts.")
    train_bars: int = Field(1000, ge=20, le=100_000, description="Rows (bars) each training uses.")
    retrain_every: int = Field(250, ge=1, le=100_000, description="Bars between trainings.")
    embargo: int = Field(0, ge=0, le=10_000, description="Bars left out between the last training label and "
                                                       "the bar the model is trained at (beyond the horizon's purge).")
    params: dict[str, float] = Field(default_factory=dict, description="Hyperparameters of the kind.")
    seed: int = Field(7, ge=0, le=2**31 - 1, description="Training seed (training is deterministic).")


class StrategyDocument(_Model):
    """A trading strategy (``strategies/*.yaml``)."""

    strategy: str = Field(description="Strategy id, unique in a policy.", pattern=r"^[A-Za-z_][A-Za-z0-9_\-]*$")
    description: str = Field("", description="One line on what it does.")
    market: Market = Field(description="Instrument and bar size.")
    params: dict[str, Param] = Field(default_factory=dict, description="Tunable numbers, usable by name.")
    constraints: list[Expression] = Field(default_factory=list, description=CONSTRAINTS_TEXT)
    indicators: dict[str, Expression] = Field(default_factory=dict,
                                              description="Named expressions usable in every rule.")
    ml: dict[str, MLModel] = Field(default_factory=dict, description="Walk-forward models; each name is a "
                                                                     "prediction series usable in rules.")
    entry: Sides | None = Field(None, description="When to open a position.")
    exit: Sides | None = Field(None, description="When to close a position.")
    quote: Quote | None = Field(None, description="Market-making quotes, instead of entry/exit.")
    confidence: Expression | None = Field(None, description="Optional condition that must hold for any entry.")
    risk: Risk = Field(default_factory=Risk, description="Stops and targets.")
    sizing: Sizing = Field(default_factory=Sizing, description="Position sizing.")


class RegimeMarket(_Model):
    """Where regimes are computed when it differs from the strategies' own market."""

    instrument: str | None = Field(None, description="Instrument whose bars decide the regime.",
                                   pattern=r"^[^.\s]+\.[^.\s]+$")
    bar: str | None = Field(None, description="Bar size for the regime, e.g. 4h.")


class RegimesDocument(_Model):
    """Market regimes (``regimes/*.yaml``): the first matching regime wins, in order."""

    regimes: dict[str, Expression] = Field(description="Regime name -> condition, tried in order.",
                                           min_length=1)
    confirm_bars: int = Field(1, ge=1, description="Bars a new regime must hold before it counts.")
    params: dict[str, Param] = Field(default_factory=dict, description="Tunable numbers, usable by name.")
    constraints: list[Expression] = Field(default_factory=list, description=CONSTRAINTS_TEXT)
    indicators: dict[str, Expression] = Field(default_factory=dict, description="Named expressions.")
    market: RegimeMarket | None = Field(None, description="Compute regimes on another instrument or bar size.")


_COOLDOWN = re.compile(r"^\s*\d+(\.\d+)?\s*(m|h|d|w|bars?)\s*$")


def _on_trip(value: Any) -> Any:
    """``halt``, ``next_day`` or ``{cooldown: DURATION}``, with one clear message otherwise."""
    if value in ("halt", "next_day", "demote"):
        return value
    if isinstance(value, dict) and set(value) == {"cooldown"} and _COOLDOWN.match(str(value["cooldown"])):
        return {"cooldown": str(value["cooldown"]).strip()}
    raise ValueError(f"on_trip must be halt, next_day, demote or {{cooldown: DURATION}} with a duration like 30m, "
                     f"12h, 7d, 2w or '24 bars', got {value!r}")


OnTrip = Annotated[
    Any,
    BeforeValidator(_on_trip),
    WithJsonSchema({"anyOf": [{"enum": ["halt", "next_day", "demote"]},
                              {"type": "object", "properties": {"cooldown": {"type": "string",
                                                                             "pattern": _COOLDOWN.pattern}},
                               "required": ["cooldown"], "additionalProperties": False}],
                    "description": "halt (for good), next_day (until the next UTC day), demote (back to paper: "
                                   "the challenge again), or {cooldown: 7d}."}),
]


def _duration_type(units: str, example: str) -> Any:
    """A duration written with one of ``units`` (e.g. 'h|d|w'), with one clear message otherwise."""
    pattern = re.compile(rf"^\s*\d+(\.\d+)?\s*({units})\s*$")

    def check(value: Any) -> Any:
        text = str(value).strip()
        if not pattern.match(text):
            raise ValueError(f"expected a duration like {example} (units: {units.replace('|', ', ')}), got {value!r}")
        return text
    return Annotated[str, BeforeValidator(check),
                     WithJsonSchema({"type": "string", "pattern": pattern.pattern,
                                     "description": f"A duration, e.g. {example}."})]


Days = _duration_type("h|d|w", "7d")
BarsOrTime = _duration_type("m|h|d|w|bars?", "'3 bars' or 10m")
Seconds = _duration_type("s|m|h", "30s")


class PolicyRisk(_Model):
    """Portfolio limits and circuit breakers."""

    max_drawdown: Share | None = Field(None, description="From the equity peak: flatten and demote to paper (or as "
                                                         "on_trip says; afterwards the peak restarts).")
    daily_loss_limit: Share | None = Field(None, description="Flatten and pause until the next UTC day.")
    max_gross_exposure: Share | None = Field(None, description="Gross position value over equity.")
    max_net_exposure: Share | None = Field(None, description="Net position value (longs less shorts) over equity.")
    max_position: Share | None = Field(None, description="Largest position value per strategy over equity.")
    max_open_positions: int | None = Field(None, ge=1, description="Open positions across the portfolio.")
    max_consecutive_losses: int | None = Field(None, ge=1, description="Pause after this many losing trades.")
    max_instrument_exposure: Share | None = Field(None, description="Gross position value in one instrument, over "
                                                                    "all strategies (and universe members), over "
                                                                    "equity.")
    max_asset_class_exposure: dict[Literal["crypto", "fx", "equity"], Share] = Field(
        default_factory=dict, description="Gross position value per asset class over equity, e.g. {crypto: 30%, "
                                          "fx: 100%} (classes as the cost models read them: docs/backtest.md).")
    target_volatility: Share | None = Field(None, description="Annualised volatility the portfolio aims at: the "
                                                              "regime's shares are scaled down (never up) to it, "
                                                              "from a shrunk covariance of the strategies' recent "
                                                              "returns (the portfolio extra).")
    drawdown_scaling: bool = Field(False, description="Scale every share down continuously as the drawdown nears "
                                                      "max_drawdown: x (1 - (drawdown / max_drawdown)^2).")
    kill_file: str | None = Field(None, description="Path (relative to the policy) of a file whose existence "
                                                    "flattens everything and halts trading: a manual kill switch.")
    max_bar_gap: int | None = Field(None, ge=1, le=100_000,
                                    description="Data quality: more than this many bar lengths between two bars "
                                                "pauses new entries (for as many bars, or as on_trip says).")
    max_stale: BarsOrTime | None = Field(None, description="Data quality (live): no bar for this long by the wall clock (e.g. "
                                              "'3 bars' or 10m) pauses new entries until bars flow again.")
    max_clock_skew: Seconds | None = Field(None, description="Data quality (live): a bar closing further than this from "
                                                   "the wall clock (e.g. 30s) pauses new entries for a bar.")
    on_trip: dict[Literal["max_drawdown", "daily_loss_limit", "max_consecutive_losses", "max_bar_gap", "max_stale",
                          "max_clock_skew"], OnTrip] = \
        Field(default_factory=dict, description="What each breaker does when it trips (the kill switch always "
                                                "halts): halt, next_day, demote, or {cooldown: DURATION}.")


class ChallengeStage(_Model):
    """A capital stage: a share of the strategy's (or portfolio's) capital, held at least ``days``."""

    capital: Share = Field(description="Share of its capital this stage trades, e.g. 10%.")
    days: float | None = Field(None, gt=0, le=3650, description="Days in this stage before the next one "
                                                                "(none: the last stage).")


class ChallengeChecks(_Model):
    """What two weeks of paper trading can show, checked beside ``promote_when``."""

    min_trades: int = Field(5, ge=0, description="Closed paper trades in the window.")
    max_tracking_error: Share = Field("1%", description="Paper vs its own backtest on the same bars (parity "
                                                        "ledger): root mean square of the daily return differences.")
    max_slippage_bps: float = Field(20.0, ge=0, description="Mean |paper fill - backtest fill| in basis points.")
    min_fill_ratio: Share = Field("95%", description="Backtest fills the paper run also made, over backtest fills.")
    no_breaker_trip: bool = Field(True, description="No circuit breaker tripped in the window.")
    max_drift: Share = Field("3%", description="In a capital stage: a tracking error above this demotes.")


def _default_stages() -> list[ChallengeStage]:
    return [ChallengeStage(capital="10%", days=7), ChallengeStage(capital="25%", days=14),
            ChallengeStage(capital="100%")]


class Challenge(_Model):
    """The paper-trading challenge that decides what may trade capital (docs/challenge.md)."""

    paper_days: int = Field(14, ge=1, le=3650, description="Days of paper trading before the first check.")
    promote_when: Expression = Field(
        "sharpe > 1.5 and max_drawdown < 5% and win_rate > 55% and trades >= 20",
        description="Condition over the paper window's metrics.")
    checks: ChallengeChecks = Field(default_factory=ChallengeChecks, description="Always checked as well.")
    stages: list[ChallengeStage] = Field(default_factory=_default_stages, min_length=1, max_length=20,
                                         description="Capital stages after the paper stage, in order.")
    approval: Literal["auto", "manual"] = Field(
        "auto", description="candidate -> first capital stage: after a day (auto), or by 'autobot challenge "
                            "promote' (manual).")


class SelfDiscover(_Model):
    """The node searches new strategy documents on its own recent bars (``autobot discover``)."""

    budget: int = Field(200, ge=10, le=100_000, description="Candidates each search evaluates (all counted).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="The first search's seed (each later search adds 1).")
    sides: Literal["long", "short", "both"] = Field("both", description="The sides candidates may trade.")
    equity_pct: Share = Field("10%", description="Every candidate's sizing: this share of equity a trade.")
    holdout: Share = Field("30%", description="The final share of the window the search never sees.")


class SelfOptimize(_Model):
    """The node re-optimises its strategies on its own recent bars (docs/challenge.md)."""

    every: Days = Field("7d", description="How often a study starts (e.g. 7d), once the window's bars are there.")
    window: Days = Field("90d", description="The recent bars the study searches (walk-forward inside them).")
    trials: int = Field(50, ge=1, le=10_000, description="Trials per walk-forward window.")
    windows: int = Field(3, ge=1, le=50, description="Walk-forward windows.")
    objective: Literal["sharpe", "sortino", "calmar", "annual_return", "seed_bar"] = Field(
        "sharpe", description="What the study maximises.")
    strategies: list[str] | None = Field(None, description="Strategy ids to study (default: every strategy of the "
                                                           "policy with params: ranges; [] studies none).")
    discover: SelfDiscover | None = Field(
        None, description="Also search new strategies on the window (docs/discover.md): a discovered one trades as "
                          "a shadow through the paper challenge and, when it passes, is written beside the policy "
                          "(discovered/) as a candidate; it never gets capital by itself.")


class LiveMarket(_Model):
    """Where a live node gets market data (paper execution stays on Nautilus' sandbox)."""

    venue: Literal["binance", "binance_futures", "bybit", "bybit_linear", "interactive_brokers"] = Field(
        description="The venue adapter of NautilusTrader whose market data the node uses.")
    testnet: bool = Field(False, description="Use the venue's test network.")
    api_key_env: str = Field("AUTOBOT_API_KEY", description="Environment variable holding the API key "
                                                            "(credentials are never written in YAML).")
    api_secret_env: str = Field("AUTOBOT_API_SECRET", description="Environment variable holding the API secret.")
    host: str = Field("127.0.0.1", description="Interactive Brokers gateway host.")
    port: int = Field(7497, ge=1, le=65535, description="Interactive Brokers gateway port.")
    warmup_bars: int = Field(500, ge=0, description="Historical bars requested at start to warm the indicators.")


class PolicyDocument(_Model):
    """The autonomous portfolio (``policy.yaml``)."""

    policy: str = Field(description="Policy name.")
    regimes: str = Field(description="Path of the regimes document, relative to this file.")
    strategies: list[str] = Field(default_factory=lambda: ["strategies/*.yaml"],
                                  description="Strategy files or globs, relative to this file.")
    allocations: dict[str, dict[str, Share]] = Field(description="Regime -> strategy -> share of capital.")
    universe: dict[str, str] | None = Field(
        None, max_length=500,
        description="Instrument id -> bar file (relative to this file): every strategy runs on every instrument, "
                    "each (strategy, instrument) with its own position; a strategy's share is split evenly "
                    "between its instruments before the allocation method (docs/portfolio.md, Universes).")
    subsets: dict[str, list[str]] | None = Field(
        None, max_length=100,
        description="Named groups of universe instruments, e.g. {energy: [USO.ARCA, BNO.ARCA]}, for markets.")
    markets: dict[str, list[str]] | None = Field(
        None, max_length=1000,
        description="Strategy id -> the universe markets it trades: instrument ids, asset classes (equity, fx, "
                    "crypto) or subset names, e.g. {tsmom: [equity, fx], gold: [XAUUSD.SIM]}; a strategy not "
                    "named trades every instrument of the universe.")
    allocation_method: Literal["fixed", "inverse_volatility", "performance", "hrp", "evidence"] = Field(
        "fixed", description="How shares are set: as written, risk parity, tilted to recent performance, "
                             "hierarchical risk parity (hrp: the portfolio extra), or only to strategies whose "
                             "record beats noise (evidence; the rest stays in cash).")
    evidence_priors: dict[str, str] | None = Field(
        None, max_length=1000,
        description="Strategy id -> an 'autobot optimize --json' file (relative to this file): allocation_method "
                    "evidence counts that study's out-of-sample record with the strategy's own record in the run.")
    rebalance_every: int | None = Field(
        None, ge=1, le=100_000,
        description="Compute the current regime's shares again every N primary bars (from the strategies' recent "
                    "returns, as at a regime switch); without it, shares change only at regime switches.")
    capital: float | None = Field(None, gt=0, le=MAX_CAPITAL, allow_inf_nan=False,
                                  description="Starting capital for backtests and paper trading, above 0 up to 1e12.")
    account: Literal["margin", "cash"] = Field(
        "margin", description="The account the policy trades in: margin (long and short, leverage) or cash (long "
                              "only, each entry paid in full from the free cash). Backtests (unless --account) and "
                              "the paper node use it.")
    on_stop: Literal["keep", "cancel_orders", "flatten"] = Field(
        "keep", description="When a live node stops (SIGINT/SIGTERM): keep orders and positions, cancel the open "
                            "orders, or flatten everything.")
    on_leave: Literal["close", "keep"] = Field(
        "close", description="When a regime switch drops a strategy: close its position now, or keep it "
                             "until its own exit rules close it (no new entries either way).")
    risk: PolicyRisk = Field(default_factory=PolicyRisk, description="Limits and circuit breakers.")
    challenge: Challenge = Field(default_factory=Challenge, description="Paper challenge criteria.")
    live: LiveMarket | None = Field(None, description="Market data for 'autobot live' without --replay.")
    self_optimize: SelfOptimize | None = Field(None, description="Studies run by the live node on its recent bars; "
                                                                 "a significant one becomes a shadow candidate.")
    reload_may_remove_exits: bool = Field(
        False, description="Let a hot reload apply a strategy edit that removes an exit rule or a stop_loss, "
                           "take_profit or trailing_stop the running version has (refused otherwise).")


DOCUMENT_MODELS: dict[str, type[_Model]] = {
    "strategy": StrategyDocument,
    "regimes": RegimesDocument,
    "policy": PolicyDocument,
}
