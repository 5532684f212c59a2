"""Typed results: pydantic models with Decimal prices and quantities and aware UTC datetimes."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from itertools import repeat
from typing import Annotated, Any, Generic, NamedTuple, TypeVar, cast

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bybit_client.enums import (
    Category,
    ExecType,
    Interval,
    MarketUnit,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from bybit_client.permissions import may_trade
from bybit_client.times import EPOCH, ms_texts_to_datetimes, ms_to_datetime

_new_tuple = tuple.__new__


def _optional_ms(value: object) -> object:
    if value in (None, "", "0", 0):
        return None
    if isinstance(value, str | int):
        return ms_to_datetime(value)
    return value


def _optional_text(value: object) -> object:
    return None if value == "" else value


def _optional_iso(value: object) -> object:
    return None if value in (None, "") else value


def _optional_term(value: object) -> object:
    # Bybit sends "" (and, for an execution's order type, "UNKNOWN") where a term does not apply.
    return None if value in ("", "UNKNOWN", "None") else value


MsDatetime = Annotated[
    datetime, BeforeValidator(lambda v: ms_to_datetime(v) if isinstance(v, str | int) else v)
]
OptionalMsDatetime = Annotated[datetime | None, BeforeValidator(_optional_ms)]
OptionalDecimal = Annotated[Decimal | None, BeforeValidator(_optional_text)]
OptionalSide = Annotated[Side | None, BeforeValidator(_optional_term)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ServerTime(_Model):
    time: datetime
    time_nano: int = Field(alias="timeNano")

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, data: Any) -> Any:
        if isinstance(data, dict) and "timeNano" in data and "time" not in data:
            nano = int(data["timeNano"])
            return {"timeNano": nano, "time": ms_to_datetime(nano // 1_000_000)}
        return data


class Instrument(_Model):
    """One instrument of any category; fields a category does not have are None. ``raw`` keeps all."""

    category: Category
    symbol: str
    status: str
    base_coin: str = Field(alias="baseCoin")
    quote_coin: str = Field(alias="quoteCoin")
    settle_coin: str | None = Field(None, alias="settleCoin")
    contract_type: str | None = Field(None, alias="contractType")
    options_type: str | None = Field(None, alias="optionsType")
    launch_time: OptionalMsDatetime = Field(None, alias="launchTime")
    delivery_time: OptionalMsDatetime = Field(None, alias="deliveryTime")
    tick_size: Decimal = Field(alias="tickSize")
    qty_step: OptionalDecimal = Field(None, alias="qtyStep")
    min_order_qty: Decimal = Field(alias="minOrderQty")
    max_order_qty: Decimal = Field(alias="maxOrderQty")
    min_notional_value: OptionalDecimal = Field(None, alias="minNotionalValue")
    base_precision: OptionalDecimal = Field(None, alias="basePrecision")
    quote_precision: OptionalDecimal = Field(None, alias="quotePrecision")
    min_order_amt: OptionalDecimal = Field(None, alias="minOrderAmt")
    max_order_amt: OptionalDecimal = Field(None, alias="maxOrderAmt")
    max_mkt_order_qty: OptionalDecimal = Field(None, alias="maxMktOrderQty")
    min_price: OptionalDecimal = Field(None, alias="minPrice")
    max_price: OptionalDecimal = Field(None, alias="maxPrice")
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _flatten_filters(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "raw" in data:
            return data
        flat = {key: value for key, value in data.items() if not isinstance(value, dict)}
        flat.update(data.get("priceFilter", {}))
        flat.update(data.get("lotSizeFilter", {}))
        flat["raw"] = {key: value for key, value in data.items() if key != "category"}
        return flat


ItemT = TypeVar("ItemT")


class _Page(_Model, Generic[ItemT]):
    """One page of a cursor-paged list of one category (``result.list`` and ``nextPageCursor``)."""

    category: Category
    items: list[ItemT]
    next_page_cursor: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, data: Any) -> Any:
        if isinstance(data, dict) and "list" in data:
            return {
                "category": data["category"],
                "items": cls._items(data["category"], data["list"]),
                "next_page_cursor": data.get("nextPageCursor") or "",
            }
        return data

    @staticmethod
    def _items(category: str, rows: list[Any]) -> list[Any]:
        return rows


class InstrumentsPage(_Page[Instrument]):
    @staticmethod
    def _items(category: str, rows: list[Any]) -> list[Any]:
        # An instrument row does not repeat its category: each gets the page's.
        return [{**row, "category": category} for row in rows]


class TickerFields(_Model):
    """A ticker's fields, as ``/v5/market/tickers`` and the tickers stream name them; any may be absent
    (a category does not have it, a stream delta did not change it)."""

    symbol: str
    last_price: OptionalDecimal = Field(None, alias="lastPrice")
    bid1_price: OptionalDecimal = Field(None, alias="bid1Price")
    ask1_price: OptionalDecimal = Field(None, alias="ask1Price")
    volume_24h: OptionalDecimal = Field(None, alias="volume24h")
    turnover_24h: OptionalDecimal = Field(None, alias="turnover24h")
    price_24h_pcnt: OptionalDecimal = Field(None, alias="price24hPcnt")
    mark_price: OptionalDecimal = Field(None, alias="markPrice")
    index_price: OptionalDecimal = Field(None, alias="indexPrice")
    open_interest: OptionalDecimal = Field(None, alias="openInterest")
    funding_rate: OptionalDecimal = Field(None, alias="fundingRate")
    next_funding_time: OptionalMsDatetime = Field(None, alias="nextFundingTime")


class Ticker(TickerFields):
    """A ticker of ``/v5/market/tickers``: its last price and 24 h volume and turnover are always there."""

    last_price: Decimal = Field(alias="lastPrice")
    volume_24h: Decimal = Field(alias="volume24h")
    turnover_24h: Decimal = Field(alias="turnover24h")


class Kline(NamedTuple):
    """One candle; ``start`` is its opening time.

    A typed named tuple rather than a model: a range sync parses hundreds of thousands of them.
    Pydantic validates and serialises it in models.
    """

    start: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    turnover: Decimal

    @classmethod
    def from_row(cls, row: list[str]) -> "Kline":
        """Bybit's ``[startTime, open, high, low, close, volume, turnover]`` row."""
        return klines_from_rows([row])[0]


# Every symbol's candles open at the same times, and the newest candles are fetched again and
# again: one shared datetime per start text (datetimes are immutable).
_STARTS: dict[str, datetime] = {}
_STARTS_MAX = 20_000
# Exact at any precision.
_decimal = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN).create_decimal


def _start_datetimes(texts: Sequence[str]) -> list[datetime]:
    known = list(map(_STARTS.get, texts))
    if all(known):
        return cast(list[datetime], known)
    # A sliding window (the newest candles again) misses one start or two: only those are computed.
    fresh = [text for text, start in zip(texts, known, strict=True) if start is None]
    computed = dict(zip(fresh, ms_texts_to_datetimes(fresh), strict=True))
    if len(_STARTS) + len(computed) > _STARTS_MAX:
        _STARTS.clear()
    _STARTS.update(computed)
    return list(map(computed.get, texts, known))  # type: ignore[arg-type]


def klines_from_rows(rows: Iterable[Sequence[str]]) -> list[Kline]:
    """Candles of Bybit's ``[startTime, open, high, low, close, volume, turnover]`` rows, in their order.

    Column by column through C-level ``zip`` and ``map``: no Python step per row or per value.
    """
    columns = list(zip(*rows, strict=True))  # a row of another length is a malformed page
    if not columns:
        return []
    starts, opens, highs, lows, closes, volumes, turnovers = columns[:7]
    return list(
        map(
            _new_tuple,
            repeat(Kline),
            zip(
                _start_datetimes(starts),
                map(_decimal, opens),
                map(_decimal, highs),
                map(_decimal, lows),
                map(_decimal, closes),
                map(_decimal, volumes),
                map(_decimal, turnovers),
                strict=True,
            ),
        )
    )


class Klines(_Model):
    """Candles of one symbol and interval, oldest first."""

    category: Category
    symbol: str
    interval: Interval
    items: list[Kline]


class CoinBalance(_Model):
    coin: str
    equity: OptionalDecimal = None
    wallet_balance: OptionalDecimal = Field(None, alias="walletBalance")
    usd_value: OptionalDecimal = Field(None, alias="usdValue")
    locked: OptionalDecimal = None
    unrealised_pnl: OptionalDecimal = Field(None, alias="unrealisedPnl")
    cum_realised_pnl: OptionalDecimal = Field(None, alias="cumRealisedPnl")
    total_order_im: OptionalDecimal = Field(None, alias="totalOrderIM")
    total_position_im: OptionalDecimal = Field(None, alias="totalPositionIM")
    available_to_withdraw: OptionalDecimal = Field(None, alias="availableToWithdraw")


class WalletBalance(_Model):
    """The unified account's balances (``/v5/account/wallet-balance``, or one ``wallet`` push)."""

    account_type: str = Field(alias="accountType")
    total_equity: OptionalDecimal = Field(None, alias="totalEquity")
    total_wallet_balance: OptionalDecimal = Field(None, alias="totalWalletBalance")
    total_margin_balance: OptionalDecimal = Field(None, alias="totalMarginBalance")
    total_available_balance: OptionalDecimal = Field(None, alias="totalAvailableBalance")
    total_initial_margin: OptionalDecimal = Field(None, alias="totalInitialMargin")
    total_perp_upl: OptionalDecimal = Field(None, alias="totalPerpUPL")
    coins: list[CoinBalance] = Field(default_factory=list, alias="coin")

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, data: Any) -> Any:
        if isinstance(data, dict) and "list" in data:
            accounts = data["list"]
            return accounts[0] if accounts else {"accountType": "UNIFIED"}
        return data

    def coin(self, name: str) -> CoinBalance | None:
        """The balance of one coin, if the account (or this push) lists it."""
        return next((coin for coin in self.coins if coin.coin == name), None)


class ApiKeyInfo(_Model):
    """What ``/v5/user/query-api`` says about the key making the call (its secret is never returned)."""

    api_key: str = Field(alias="apiKey")
    note: str = ""
    read_only: bool = Field(alias="readOnly")
    permissions: dict[str, list[str]] = Field(default_factory=dict)
    ips: list[str] = Field(default_factory=list)
    expires_at: Annotated[datetime | None, BeforeValidator(_optional_iso)] = Field(None, alias="expiredAt")
    deadline_day: int | None = Field(None, alias="deadlineDay")
    uta: int | None = None
    user_id: int | None = Field(None, alias="userID")
    is_master: bool | None = Field(None, alias="isMaster")

    @property
    def can_trade(self) -> bool:
        """Whether the key may place orders: not read-only and some order permission granted
        (``permissions.ORDER_PERMISSIONS``)."""
        return not self.read_only and may_trade(self.permissions)


class OrderAck(_Model):
    """Bybit's acknowledgement of an order request: the request was taken, not yet carried out (the
    ``order`` stream or a lookup says what became of it)."""

    order_id: str = Field(alias="orderId")
    order_link_id: str = Field(alias="orderLinkId")


OrderVersion = tuple[Decimal, bool, datetime]


class Order(_Model):
    """An order as ``/v5/order/realtime``, ``/v5/order/history`` and the ``order`` stream show it
    (the stream also names its ``category``; a REST page names it once for all its orders)."""

    category: Category | None = None
    order_id: str = Field(alias="orderId")
    order_link_id: str = Field(alias="orderLinkId")
    symbol: str
    side: Side
    order_type: OrderType = Field(alias="orderType")
    price: OptionalDecimal = None
    qty: Decimal
    order_status: OrderStatus = Field(alias="orderStatus")
    time_in_force: Annotated[TimeInForce | None, BeforeValidator(_optional_term)] = Field(
        None, alias="timeInForce"
    )
    avg_price: OptionalDecimal = Field(None, alias="avgPrice")
    leaves_qty: OptionalDecimal = Field(None, alias="leavesQty")
    leaves_value: OptionalDecimal = Field(None, alias="leavesValue")
    cum_exec_qty: Annotated[Decimal, BeforeValidator(lambda v: "0" if v == "" else v)] = Field(
        Decimal(0), alias="cumExecQty"
    )
    cum_exec_value: OptionalDecimal = Field(None, alias="cumExecValue")
    cum_exec_fee: OptionalDecimal = Field(None, alias="cumExecFee")
    cancel_type: Annotated[str | None, BeforeValidator(_optional_term)] = Field(None, alias="cancelType")
    reject_reason: str | None = Field(None, alias="rejectReason")
    reduce_only: bool = Field(False, alias="reduceOnly")
    position_idx: int = Field(0, alias="positionIdx")
    market_unit: Annotated[MarketUnit | None, BeforeValidator(_optional_term)] = Field(
        None, alias="marketUnit"
    )
    created_time: MsDatetime = Field(alias="createdTime")
    updated_time: MsDatetime = Field(alias="updatedTime")

    @property
    def version(self) -> OrderVersion:
        """Orders what is known of one order: a state with a greater version is newer; an equal
        version is the same state again (a duplicate); a smaller one arrived out of order.

        Executed quantity only grows and a final status never reopens, so they order the states
        first; ``updatedTime`` orders the rest (amendments). Compare versions of one order only.
        """
        return (self.cum_exec_qty, self.order_status.is_final, self.updated_time)


class OrdersPage(_Page[Order]):
    pass


class Execution(_Model):
    """One fill (or funding, delivery, ...): ``/v5/execution/list`` and the ``execution`` stream.

    ``exec_id`` is unique: the same execution seen twice (a stream duplicate, a REST page
    overlapping the stream) is the same fill, never two. ``seq`` is Bybit's cross sequence,
    shared with the position update the fill caused.
    """

    category: Category | None = None
    symbol: str
    exec_id: str = Field(alias="execId")
    order_id: str = Field(alias="orderId")
    order_link_id: str = Field("", alias="orderLinkId")
    side: Side
    order_type: Annotated[OrderType | None, BeforeValidator(_optional_term)] = Field(None, alias="orderType")
    order_price: OptionalDecimal = Field(None, alias="orderPrice")
    order_qty: OptionalDecimal = Field(None, alias="orderQty")
    leaves_qty: OptionalDecimal = Field(None, alias="leavesQty")
    exec_price: Decimal = Field(alias="execPrice")
    exec_qty: Decimal = Field(alias="execQty")
    exec_value: OptionalDecimal = Field(None, alias="execValue")
    exec_fee: OptionalDecimal = Field(None, alias="execFee")
    fee_rate: OptionalDecimal = Field(None, alias="feeRate")
    fee_currency: Annotated[str | None, BeforeValidator(_optional_text)] = Field(None, alias="feeCurrency")
    exec_type: ExecType = Field(ExecType.TRADE, alias="execType")
    is_maker: bool | None = Field(None, alias="isMaker")
    closed_size: OptionalDecimal = Field(None, alias="closedSize")
    mark_price: OptionalDecimal = Field(None, alias="markPrice")
    seq: int | None = None
    exec_time: MsDatetime = Field(alias="execTime")


class ExecutionsPage(_Page[Execution]):
    pass


class Position(_Model):
    """A position (one-way mode: ``position_idx`` 0): ``/v5/position/list`` and the ``position``
    stream. An empty position has size 0 and no side.

    ``version`` orders the states of one position: Bybit's cross sequence ``seq`` grows with every
    fill, ``updatedTime`` breaks its ties. A push that does not change the position repeats them.
    """

    category: Category | None = None
    symbol: str
    side: OptionalSide = None
    size: Decimal
    position_idx: int = Field(0, alias="positionIdx")
    avg_price: OptionalDecimal = Field(None, validation_alias=AliasChoices("avgPrice", "entryPrice"))
    mark_price: OptionalDecimal = Field(None, alias="markPrice")
    position_value: OptionalDecimal = Field(None, alias="positionValue")
    leverage: OptionalDecimal = None
    position_im: OptionalDecimal = Field(None, alias="positionIM")
    unrealised_pnl: OptionalDecimal = Field(None, alias="unrealisedPnl")
    cur_realised_pnl: OptionalDecimal = Field(None, alias="curRealisedPnl")
    cum_realised_pnl: OptionalDecimal = Field(None, alias="cumRealisedPnl")
    position_status: str | None = Field(None, alias="positionStatus")
    seq: int | None = None
    created_time: OptionalMsDatetime = Field(None, alias="createdTime")
    updated_time: OptionalMsDatetime = Field(None, alias="updatedTime")

    @property
    def version(self) -> tuple[int, datetime]:
        return (-1 if self.seq is None else self.seq, self.updated_time or EPOCH)


class PositionsPage(_Page[Position]):
    pass


class RateLimitStatus(_Model):
    """The rate-limit headers of the last answer of an endpoint."""

    endpoint: str
    remaining: int
    limit: int
    reset_at: datetime | None
