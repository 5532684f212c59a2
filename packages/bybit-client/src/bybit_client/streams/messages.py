"""Typed stream messages: the WebSocket pushes parsed into pydantic models, as the REST results are.

``parse_message`` turns one decoded JSON object into its message class by the topic's family;
topics this module does not know, and pushes whose shape it cannot read, come back as
``RawMessage`` rather than being dropped (or ending the stream).

Private pushes carry the very models of the REST results (``Order``, ``Execution``, ``Position``,
``WalletBalance``), so what a stream said and what a lookup says compare directly. The stream does
not promise order or uniqueness (and replays nothing missed while down): a consumer recognises a
push it has seen, or one that arrives late, by the item's own marks, never by arrival order:

- an execution by its ``exec_id`` (unique: seen before means a duplicate);
- an order by ``Order.version`` (executed quantity, finality, ``updatedTime``): greater is newer,
  equal is the same state again, smaller arrived out of order and is older than what is known;
- a position by ``Position.version`` (Bybit's cross sequence ``seq``, then ``updatedTime``);
- a wallet push carries no sequence: order them by the message's ``creation_time`` (equal times
  cannot be ordered: read the balance by REST when that matters). Every private message has an
  ``id``: the same id twice is the same message.
"""

import logging
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bybit_client.enums import Interval
from bybit_client.models import (
    Execution,
    Kline,
    MsDatetime,
    OptionalDecimal,
    Order,
    Position,
    TickerFields,
    WalletBalance,
)

logger = logging.getLogger(__name__)


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)
    kind: ClassVar[str] = ""


class StreamCandle(_Message):
    """One candle as the kline stream pushes it; ``confirm`` is true once the candle has closed."""

    start: MsDatetime
    end: MsDatetime
    interval: Interval
    open: Decimal
    close: Decimal
    high: Decimal
    low: Decimal
    volume: Decimal
    turnover: Decimal
    confirm: bool
    timestamp: MsDatetime

    def kline(self) -> Kline:
        """The candle as the REST client's ``Kline``, ready for the same storage path."""
        return Kline(self.start, self.open, self.high, self.low, self.close, self.volume, self.turnover)


class KlineMessage(_Message):
    kind: ClassVar[str] = "kline"
    topic: str
    type: str = "snapshot"
    ts: MsDatetime
    candles: list[StreamCandle] = Field(alias="data")

    @property
    def symbol(self) -> str:
        return self.topic.rsplit(".", 1)[1]

    @property
    def interval(self) -> Interval:
        return Interval(self.topic.split(".")[1])


class TickerUpdate(TickerFields):
    """A ticker snapshot, or a delta where only the changed fields are set (derivatives)."""

    bid1_size: OptionalDecimal = Field(None, alias="bid1Size")
    ask1_size: OptionalDecimal = Field(None, alias="ask1Size")
    high_price_24h: OptionalDecimal = Field(None, alias="highPrice24h")
    low_price_24h: OptionalDecimal = Field(None, alias="lowPrice24h")


class TickerMessage(_Message):
    kind: ClassVar[str] = "tickers"
    topic: str
    type: Literal["snapshot", "delta"] = "snapshot"
    ts: MsDatetime
    ticker: TickerUpdate = Field(alias="data")


class PublicTrade(_Message):
    time: MsDatetime = Field(alias="T")
    symbol: str = Field(alias="s")
    side: str = Field(alias="S")
    size: Decimal = Field(alias="v")
    price: Decimal = Field(alias="p")
    trade_id: str = Field(alias="i")
    block_trade: bool = Field(False, alias="BT")


class TradeMessage(_Message):
    kind: ClassVar[str] = "publicTrade"
    topic: str
    ts: MsDatetime
    trades: list[PublicTrade] = Field(alias="data")


Level = tuple[Decimal, Decimal]


class OrderBookMessage(_Message):
    """A snapshot or delta of ``orderbook.{depth}.{symbol}``; a level of size 0 removes that price."""

    kind: ClassVar[str] = "orderbook"
    topic: str
    type: Literal["snapshot", "delta"]
    ts: MsDatetime
    symbol: str
    bids: list[Level]
    asks: list[Level]
    update_id: int
    seq: int | None = None

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> "OrderBookMessage":
        data = raw["data"]
        return cls.model_validate(
            {
                "topic": raw["topic"],
                "type": raw["type"],
                "ts": raw["ts"],
                "symbol": data["s"],
                "bids": data["b"],
                "asks": data["a"],
                "update_id": data["u"],
                "seq": data.get("seq"),
            }
        )


class _PrivateMessage(_Message):
    """The header of every private push: its id, the topic and when Bybit created the data."""

    id: str = ""
    topic: str
    creation_time: MsDatetime = Field(alias="creationTime")


class OrderMessage(_PrivateMessage):
    kind: ClassVar[str] = "order"
    orders: list[Order] = Field(alias="data")


class ExecutionMessage(_PrivateMessage):
    kind: ClassVar[str] = "execution"
    executions: list[Execution] = Field(alias="data")


class PositionMessage(_PrivateMessage):
    kind: ClassVar[str] = "position"
    positions: list[Position] = Field(alias="data")


class WalletMessage(_PrivateMessage):
    kind: ClassVar[str] = "wallet"
    wallets: list[WalletBalance] = Field(alias="data")


class RawMessage(_Message):
    """A push of a topic this module has no model for, kept as decoded JSON."""

    kind: ClassVar[str] = "raw"
    topic: str
    data: Any = None
    raw: dict[str, Any] = Field(default_factory=dict, repr=False)


StreamMessage = (
    KlineMessage
    | TickerMessage
    | TradeMessage
    | OrderBookMessage
    | OrderMessage
    | ExecutionMessage
    | PositionMessage
    | WalletMessage
    | RawMessage
)

_BY_KIND: dict[str, type[_Message]] = {
    model.kind: model
    for model in (
        KlineMessage,
        TickerMessage,
        TradeMessage,
        OrderMessage,
        ExecutionMessage,
        PositionMessage,
        WalletMessage,
    )
}


def parse_message(raw: dict[str, Any]) -> StreamMessage:
    """The typed message of one decoded push (a dict with a ``topic``)."""
    topic: str = raw["topic"]
    kind = topic.split(".", 1)[0]
    if kind == "orderbook":
        return OrderBookMessage.from_raw(raw)
    model = _BY_KIND.get(kind)
    if model is None:
        return RawMessage(topic=topic, data=raw.get("data"), raw=raw)
    try:
        message: StreamMessage = model.model_validate(raw)  # type: ignore[assignment]
    except ValidationError as error:
        # A shape we cannot read (a field Bybit changed) must not end the stream: hand it on raw.
        logger.warning("unreadable %s push: %s", kind, error.errors()[0].get("msg", error))
        return RawMessage(topic=topic, data=raw.get("data"), raw=raw)
    return message


class StreamEvent(BaseModel):
    """Something that happened to the connection, delivered in order with the messages."""

    model_config = ConfigDict(frozen=True)
    kind: ClassVar[str] = "event"
    at: datetime


class Connected(StreamEvent):
    """Every subscription is live again. ``reconnects`` is 0 for the first connection: from 1 on, data
    pushed while the connection was down is lost and should be fetched again (REST backfill)."""

    kind: ClassVar[str] = "connected"
    reconnects: int
    topics: tuple[str, ...]
    down_seconds: float = 0.0


class Disconnected(StreamEvent):
    """The connection was lost; a new one is on its way after ``retry_in`` seconds."""

    kind: ClassVar[str] = "disconnected"
    reason: str
    retry_in: float


class OrderBookResync(StreamEvent):
    """A gap in a book's update ids: the book was dropped and a fresh snapshot asked for."""

    kind: ClassVar[str] = "orderbook_resync"
    topic: str
    expected: int | None
    received: int
