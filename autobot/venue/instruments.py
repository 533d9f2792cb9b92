"""Nautilus instruments and venue defaults for an instrument id and its data.

* ``BTCUSDT.BINANCE`` (a crypto venue, or a symbol ending in a crypto quote currency):
  a crypto ``CurrencyPair`` (base/quote split at the known quote currency), size precision 6,
  Binance-like fees (0.1% maker and taker) on crypto venues.
  The same on any venue when the symbol's base is a coin Nautilus' currency registry knows (BTC,
  ETH, SOL, ...): ``BTCUSD.SIM`` is a crypto pair (fractional sizes), not a share.
* ``GBPUSD.FXCM`` (two ISO currencies): an FX ``CurrencyPair``, whole units, no fees.
* anything else (``ORCL.NASDAQ``, ``6EH4.XCME``): an ``Equity`` quoted in USD (or ``currency``),
  whole units, no fees.

Price precision is inferred from the data (the fewest decimals that write every price
exactly, at most 9) unless given; every default can be overridden.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
from nautilus_trader.model.currencies import Currency
from nautilus_trader.model.enums import CurrencyType
from nautilus_trader.model.identifiers import InstrumentId, Symbol
from nautilus_trader.model.instruments import CurrencyPair, Equity, Instrument
from nautilus_trader.model.objects import Price, Quantity

CRYPTO_VENUES = {"BINANCE", "BINANCEUS", "BYBIT", "OKX", "COINBASE", "KRAKEN", "BITMEX", "DERIBIT", "BITFINEX",
                 "KUCOIN", "HYPERLIQUID", "GATEIO", "MEXC", "HTX", "CRYPTO"}
CRYPTO_QUOTES = ("USDT", "USDC", "FDUSD", "BUSD", "TUSD", "DAI", "USD", "EUR", "BTC", "ETH", "BNB")
#: (maker, taker) fee defaults by venue; others trade without fees unless told
VENUE_FEES = {"BINANCE": ("0.001", "0.001"), "BINANCEUS": ("0.001", "0.001"), "BYBIT": ("0.001", "0.001"),
              "OKX": ("0.0008", "0.001"), "COINBASE": ("0.004", "0.006"), "KRAKEN": ("0.0025", "0.004")}


@dataclass(frozen=True)
class InstrumentSettings:
    """What to build an instrument with; None means: default or inferred from the data."""

    price_precision: int | None = None
    size_precision: int | None = None
    maker_fee: float | None = None
    taker_fee: float | None = None
    currency: str = "USD"


def infer_price_precision(*series: np.ndarray, limit: int = 9) -> int:
    """Fewest decimals that write every value exactly (to 1e-6 of a unit in the last place)."""
    values = np.concatenate([np.asarray(s, dtype=np.float64) for s in series])
    if values.size > 20_000:   # every distinct tick size shows up long before that
        values = values[np.linspace(0, values.size - 1, 20_000).astype(np.int64)]
    for d in range(limit + 1):
        scaled = values * 10.0 ** d
        rounded = np.round(scaled)
        # every value written exactly, and none rounded to zero (a price near 4e-7 once got 0 decimals:
        # every bar read 0.0 and no rule ever fired)
        if np.all(np.abs(scaled - rounded) <= 1e-6 * np.maximum(1.0, np.abs(scaled)) * 1e-3 + 1e-6) and \
                not np.any((rounded == 0) & (values != 0)):
            return d
    return limit


def instrument_id_error(text: str) -> str | None:
    """Why ``text`` is not an instrument id (SYMBOL.VENUE, printable, no whitespace), or None.
    ``'BTCUSDT.BINANCE\\n'`` once ran silently as another venue."""
    if not text or any(c.isspace() or not c.isprintable() for c in text):
        return f"{text!r} holds whitespace or control characters; write an id like BTCUSDT.BINANCE"
    symbol, dot, venue = text.rpartition(".")
    if not dot or not symbol or not venue or "." in venue:
        return f"{text!r} is not an instrument id like BTCUSDT.BINANCE (SYMBOL.VENUE)"
    try:
        InstrumentId.from_str(text)
    except ValueError as exc:
        return f"{text!r} is not an instrument id: {exc}"
    return None


def on_venue(instrument_id: str, venue: str) -> str:
    """``instrument_id``'s symbol on ``venue`` (``--venue``)."""
    return f"{instrument_id.rpartition('.')[0]}.{venue}"


def market_note(instrument_id: str, close: np.ndarray, maker_fee: float, taker_fee: float,
                path: str = "") -> str | None:
    """A note when the file's prices or name suggest another market than the one whose costs the
    run charges: FX-like prices (0.3 - 3, five or more decimals) or an FX pair in the file's name
    charged as crypto; a crypto name run as FX or a share; FX-run prices that are no FX rate."""
    import re
    kind = asset_class(instrument_id)
    finite = np.asarray(close, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return None
    median = float(np.median(finite))
    decimals = infer_price_precision(finite[:2000])
    stem = re.sub(r"[^a-z]", " ", Path(path).stem.lower()) if path else ""
    pairs = [w[:6].upper() for w in stem.split() if len(w) >= 6 and _fiat(w[:3].upper()) and _fiat(w[3:6].upper())]
    crypto_name = any(w in ("btc", "eth", "usdt", "xrp", "ada", "sol", "bnb") or w.startswith(("btc", "eth"))
                      for w in stem.split())
    fee = max(maker_fee, taker_fee)
    if kind == "crypto" and fee > 0 and (pairs or (0.3 <= median <= 3.0 and decimals >= 5)):
        why = f"the file's name names {pairs[0]}" if pairs else \
            f"the prices (median {median:.5g}, {decimals} decimals) look like an FX rate"
        return (f"{why}, but {instrument_id} is charged a crypto venue's {fee:.2%} a side: if this is FX data, "
                f"give --instrument {(pairs[0] if pairs else 'EURUSD')}.OANDA (the pair's id) for the FX cost model")
    if kind != "crypto" and crypto_name and not pairs:
        return (f"the file's name suggests a crypto market, but {instrument_id} runs as "
                f"{'an FX pair' if kind == 'fx' else 'a share'}: check --instrument")
    if kind == "fx" and not 0.002 <= median <= 400:
        return (f"the prices (median {median:.5g}) are not an FX rate's level, but {instrument_id} runs as an "
                "FX pair: check --instrument")
    return None


def cost_model(instrument: Instrument) -> str:
    """The cost model a run charges, in words (the run's header and JSON)."""
    from autobot.strategy.costs import unit_fees_of
    iid = instrument.id.value
    kind = asset_class(iid)
    maker, taker = float(instrument.maker_fee), float(instrument.taker_fee)
    what = {"crypto": f"crypto venue {instrument.id.venue.value}", "fx": "FX pair",
            "equity": "share or other instrument"}[kind]
    if maker or taker:
        return f"{what}: maker {maker:.4%}, taker {taker:.4%} of each fill's value"
    unit, cur = unit_fees_of(instrument), instrument.quote_currency.code
    if kind == "fx":
        return (f"{what}: no commission; half a one-pip spread charged on each fill ({unit.per_unit:g} {cur} a unit "
                "of the base currency; the bars' prices are taken as mid)")
    if unit.charged:
        return (f"{what}: {unit.per_unit:g} {cur} a share, at least {unit.minimum:g} {cur} an order, at most "
                f"{unit.cap_rate:.0%} of its value (Interactive Brokers' fixed rates)")
    return f"{what}: no commission"


def _currency(code: str) -> Currency:
    found = Currency.from_str(code, strict=True) if code else None
    if found is not None:
        return found
    return Currency(code, 8, 0, code, CurrencyType.CRYPTO)


def _split_crypto(symbol: str) -> tuple[str, str] | None:
    for quote in CRYPTO_QUOTES:
        if symbol.endswith(quote) and len(symbol) > len(quote):
            return symbol[: -len(quote)].rstrip("-/_"), quote
    return None


def _fiat(code: str) -> bool:
    c = Currency.from_str(code, strict=True)
    return c is not None and c.currency_type == CurrencyType.FIAT


def _crypto(code: str) -> bool:
    c = Currency.from_str(code, strict=True)
    return c is not None and c.currency_type == CurrencyType.CRYPTO


def asset_class(instrument_id: str) -> str:
    """``crypto``, ``fx`` or ``equity`` for an instrument id (see the module docstring)."""
    iid = InstrumentId.from_str(instrument_id)
    symbol, venue = iid.symbol.value.upper(), iid.venue.value.upper()
    pair = _split_crypto(symbol)
    if venue in CRYPTO_VENUES and pair is not None:
        return "crypto"
    if len(symbol) == 6 and _fiat(symbol[:3]) and _fiat(symbol[3:]):
        return "fx"
    if pair is not None and pair[1] in ("USDT", "USDC", "BTC", "ETH", "BNB", "FDUSD", "BUSD"):
        return "crypto"
    if pair is not None and _crypto(pair[0]):     # BTCUSD.SIM: a coin Nautilus knows, on any venue
        return "crypto"
    return "equity"


def quote_currency(instrument_id: str, settings: InstrumentSettings = InstrumentSettings()) -> str:
    """The currency prices (and the account) are in."""
    kind = asset_class(instrument_id)
    symbol = InstrumentId.from_str(instrument_id).symbol.value.upper()
    if kind == "crypto":
        pair = _split_crypto(symbol)
        assert pair is not None
        return pair[1]
    if kind == "fx":
        return symbol[3:]
    return settings.currency


def account_currency(quote: str, instrument: Instrument) -> Currency:
    """The currency a venue account for ``instrument`` keeps its balance in: ``quote`` when
    Nautilus knows it, else the instrument's quote currency."""
    return Currency.from_str(quote) if Currency.from_str(quote, strict=True) else instrument.quote_currency


def _fees(kind: str, venue: str, settings: InstrumentSettings) -> tuple[Decimal, Decimal]:
    """(maker, taker) fees: the settings', else the venue's default for crypto, else none."""
    maker, taker = VENUE_FEES.get(venue, ("0", "0")) if kind == "crypto" else ("0", "0")
    return (Decimal(str(settings.maker_fee)) if settings.maker_fee is not None else Decimal(maker),
            Decimal(str(settings.taker_fee)) if settings.taker_fee is not None else Decimal(taker))


def make_instrument(instrument_id: str, prices: list[np.ndarray],
                    settings: InstrumentSettings = InstrumentSettings()) -> Instrument:
    """A Nautilus instrument for ``instrument_id``; precision inferred from ``prices`` unless set."""
    iid = InstrumentId.from_str(instrument_id)
    symbol, venue = iid.symbol.value.upper(), iid.venue.value.upper()
    kind = asset_class(instrument_id)
    pp = settings.price_precision if settings.price_precision is not None else infer_price_precision(*prices)
    maker_fee, taker_fee = _fees(kind, venue, settings)
    price_increment = Price(10.0 ** -pp, pp)
    if kind in ("crypto", "fx"):
        if kind == "crypto":
            pair = _split_crypto(symbol)
            assert pair is not None
            base, quote = pair
            sp = settings.size_precision if settings.size_precision is not None else 6
        else:
            base, quote = symbol[:3], symbol[3:]
            sp = settings.size_precision if settings.size_precision is not None else 0
        return CurrencyPair(
            instrument_id=iid, raw_symbol=Symbol(iid.symbol.value), base_currency=_currency(base),
            quote_currency=_currency(quote), price_precision=pp, size_precision=sp,
            price_increment=price_increment, size_increment=Quantity(10.0 ** -sp, sp), ts_event=0, ts_init=0,
            min_quantity=Quantity(10.0 ** -sp, sp), margin_init=Decimal(0), margin_maint=Decimal(0),
            maker_fee=maker_fee, taker_fee=taker_fee)
    return Equity(
        instrument_id=iid, raw_symbol=Symbol(iid.symbol.value), currency=_currency(settings.currency.upper()),
        price_precision=pp, price_increment=price_increment, lot_size=Quantity.from_int(1), ts_event=0, ts_init=0,
        min_quantity=Quantity.from_int(1), margin_init=Decimal(0), margin_maint=Decimal(0),
        maker_fee=maker_fee, taker_fee=taker_fee)


#: contract multipliers of common CME index futures (points -> USD); others trade at 1
FUTURES_MULTIPLIERS = {"ES": 50, "MES": 5, "NQ": 20, "MNQ": 2, "YM": 5, "RTY": 50}


def book_instrument(instrument_id: str, price_precision: int, size_precision: int, tick: float,
                    settings: InstrumentSettings = InstrumentSettings()) -> Instrument:
    """An instrument for order-book data: its tick and size step from the data (crypto: a
    ``CurrencyPair``, futures sizes in contracts; CME futures: a ``FuturesContract`` with the
    contract's multiplier)."""
    from nautilus_trader.model.enums import AssetClass
    from nautilus_trader.model.instruments import FuturesContract
    iid = InstrumentId.from_str(instrument_id)
    symbol, venue = iid.symbol.value.upper(), iid.venue.value.upper()
    pp = settings.price_precision if settings.price_precision is not None else price_precision
    sp = settings.size_precision if settings.size_precision is not None else size_precision
    spot = symbol.split("-")[0].replace("_PERP", "")         # BTCUSDT-PERP, BTCUSD_PERP: the pair traded
    kind = "crypto" if _split_crypto(spot) is not None and (venue in CRYPTO_VENUES or sp > 0) else "futures"
    if kind == "futures" and sp > 0:
        raise ValueError(f"{instrument_id}: futures trade whole contracts, but the data has sizes with {sp} decimals")
    maker_fee, taker_fee = _fees(kind, venue, settings)
    increment = Price(tick, pp)
    if kind == "crypto":
        pair = _split_crypto(spot)
        assert pair is not None
        base, quote = pair
        return CurrencyPair(
            instrument_id=iid, raw_symbol=Symbol(iid.symbol.value), base_currency=_currency(base),
            quote_currency=_currency(quote), price_precision=pp, size_precision=sp, price_increment=increment,
            size_increment=Quantity(10.0 ** -sp, sp), ts_event=0, ts_init=0, min_quantity=Quantity(10.0 ** -sp, sp),
            margin_init=Decimal(0), margin_maint=Decimal(0), maker_fee=maker_fee, taker_fee=taker_fee)
    root = "".join(c for c in symbol if c.isalpha())[:-1] if symbol[-1:].isdigit() else symbol
    multiplier = FUTURES_MULTIPLIERS.get(root, 1)
    return FuturesContract(
        instrument_id=iid, raw_symbol=Symbol(iid.symbol.value), asset_class=AssetClass.INDEX,
        currency=_currency(settings.currency.upper()), price_precision=pp, price_increment=increment,
        multiplier=Quantity.from_int(multiplier), lot_size=Quantity.from_int(1), underlying=root,
        activation_ns=0, expiration_ns=4_102_444_800_000_000_000, ts_event=0, ts_init=0,
        margin_init=Decimal(0), margin_maint=Decimal(0),
        maker_fee=maker_fee, taker_fee=taker_fee)
