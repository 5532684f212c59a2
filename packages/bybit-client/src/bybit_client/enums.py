"""Bybit's terms, declared once: networks and their hosts, categories, intervals, order enums.

Everything else in the tree imports these (settings, API schemas, the worker, the fake exchange);
this module imports nothing but the standard library, so importing it is cheap.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal, get_args

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FIRST_MONDAY = datetime(1970, 1, 5, tzinfo=UTC)
_INSTANT = timedelta(microseconds=1)


class Network(StrEnum):
    """A Bybit network. An API key works only on the network it was created for.

    ``simulated`` is no network of Bybit's: it is the fake exchange of ``bybit_client.testing``
    served on this machine (``python -m bybit_client.testing``), reached over plain HTTP and WS on
    the loopback ports below unless other URLs are given.
    """

    MAINNET = "mainnet"
    TESTNET = "testnet"
    DEMO = "demo"
    SIMULATED = "simulated"

    @property
    def is_bybit(self) -> bool:
        """Whether the network is one of Bybit's own (not the simulated exchange)."""
        return self is not Network.SIMULATED

    @property
    def rest_url(self) -> str:
        """The REST base URL."""
        return REST_URLS[self]

    def public_stream_url(self, category: "Category") -> str:
        """The public WebSocket URL of a category's market data (demo trading reads mainnet's)."""
        return PUBLIC_STREAM_HOSTS[self] + public_stream_path(category)

    @property
    def private_stream_url(self) -> str:
        """The private WebSocket URL (orders, executions, positions, wallet)."""
        return PRIVATE_STREAM_HOSTS[self] + PRIVATE_STREAM_PATH


PRIVATE_STREAM_PATH = "/v5/private"


def public_stream_path(category: "Category | str") -> str:
    """The path of a category's public stream on any stream host, e.g. ``/v5/public/linear``."""
    return f"/v5/public/{Category(category).value}"


# Where the simulated exchange listens by default (REST, then WebSocket): the local stack starts it
# there.
SIMULATED_REST_URL = "http://127.0.0.1:8810"
SIMULATED_STREAM_URL = "ws://127.0.0.1:8811"

REST_URLS: dict[Network, str] = {
    Network.MAINNET: "https://api.bybit.com",
    Network.TESTNET: "https://api-testnet.bybit.com",
    Network.DEMO: "https://api-demo.bybit.com",
    Network.SIMULATED: SIMULATED_REST_URL,
}
PUBLIC_STREAM_HOSTS: dict[Network, str] = {
    Network.MAINNET: "wss://stream.bybit.com",
    Network.TESTNET: "wss://stream-testnet.bybit.com",
    Network.DEMO: "wss://stream.bybit.com",  # demo trading has no public streams of its own
    Network.SIMULATED: SIMULATED_STREAM_URL,
}
PRIVATE_STREAM_HOSTS: dict[Network, str] = {
    Network.MAINNET: "wss://stream.bybit.com",
    Network.TESTNET: "wss://stream-testnet.bybit.com",
    Network.DEMO: "wss://stream-demo.bybit.com",
    Network.SIMULATED: SIMULATED_STREAM_URL,
}


class Category(StrEnum):
    """A product line; each has its own instruments, symbols and streams."""

    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"
    OPTION = "option"

    def __repr__(self) -> str:
        # Validation messages of a Literal of members (KlineCategory) then read "'spot', 'linear'".
        return repr(self.value)


KlineCategory = Literal[Category.SPOT, Category.LINEAR, Category.INVERSE]
"""The categories that have klines (``/v5/market/kline`` refuses options)."""
KLINE_CATEGORIES: tuple[Category, ...] = get_args(KlineCategory)


class Interval(StrEnum):
    """Kline intervals: minutes as numbers, then day, week and month."""

    MIN_1 = "1"
    MIN_3 = "3"
    MIN_5 = "5"
    MIN_15 = "15"
    MIN_30 = "30"
    HOUR_1 = "60"
    HOUR_2 = "120"
    HOUR_4 = "240"
    HOUR_6 = "360"
    HOUR_12 = "720"
    DAY = "D"
    WEEK = "W"
    MONTH = "M"

    @property
    def milliseconds(self) -> int | None:
        """The fixed length of one candle, or None for the month (its length varies)."""
        if self is Interval.MONTH:
            return None
        if self is Interval.WEEK:
            return 7 * 86_400_000
        if self is Interval.DAY:
            return 86_400_000
        return int(self.value) * 60_000

    def floor(self, moment: datetime) -> datetime:
        """The start of the candle holding ``moment`` (aware), in UTC: a whole number of candles since
        the epoch, weeks opening on Mondays (the epoch was a Thursday), months on the 1st."""
        moment = moment.astimezone(UTC)
        if self is Interval.MONTH:
            return datetime(moment.year, moment.month, 1, tzinfo=UTC)
        length = timedelta(milliseconds=self.milliseconds or 0)
        origin = _FIRST_MONDAY if self is Interval.WEEK else _EPOCH
        return moment - (moment - origin) % length

    def ceil(self, moment: datetime) -> datetime:
        """The start of the first candle opening at or after ``moment``."""
        start = self.floor(moment)
        return start if start == moment else self.after(start)

    def last_closed(self, now: datetime) -> datetime:
        """The start of the newest candle closed at ``now`` (the one holding ``now`` is still open)."""
        return self.before(self.floor(now))

    def after(self, start: datetime) -> datetime:
        """The start of the candle after the one opening at ``start`` (a candle start)."""
        if self is Interval.MONTH:
            year, month = divmod(start.month, 12)
            return start.replace(year=start.year + year, month=month + 1)
        return start + timedelta(milliseconds=self.milliseconds or 0)

    def before(self, start: datetime) -> datetime:
        """The start of the candle before the one opening at ``start`` (a candle start)."""
        return self.floor(start - _INSTANT)

    def candles(self, first: datetime, last: datetime) -> int:
        """How many candles open from ``first`` to ``last`` (candle starts), both included."""
        if last < first:
            return 0
        if self is Interval.MONTH:
            return (last.year - first.year) * 12 + last.month - first.month + 1
        return (last - first) // timedelta(milliseconds=self.milliseconds or 0) + 1


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell: the direction a fill moves a position."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PostOnly"
    RPI = "RPI"  # retail price improvement: post-only, for approved market makers


class OrderStatus(StrEnum):
    """An order's status (Bybit's ``orderStatus``): three open ones, the rest closed."""

    NEW = "New"
    PARTIALLY_FILLED = "PartiallyFilled"
    UNTRIGGERED = "Untriggered"  # a conditional order waiting for its trigger
    REJECTED = "Rejected"
    PARTIALLY_FILLED_CANCELED = "PartiallyFilledCanceled"  # spot only; derivatives say Cancelled
    FILLED = "Filled"
    CANCELLED = "Cancelled"  # in derivatives such an order may have fills
    TRIGGERED = "Triggered"  # an instant between Untriggered and New
    DEACTIVATED = "Deactivated"  # a conditional or TP/SL order cancelled before its trigger

    @property
    def is_open(self) -> bool:
        """Still on the book (or waiting for its trigger): it may change."""
        return self in _OPEN_STATUSES

    @property
    def is_final(self) -> bool:
        """Closed for good: no fill or amendment can follow (Triggered is only an instant)."""
        return not self.is_open and self is not OrderStatus.TRIGGERED


_OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNTRIGGERED})


class ExecType(StrEnum):
    """What produced an execution (Bybit's ``execType``)."""

    TRADE = "Trade"
    ADL_TRADE = "AdlTrade"
    FUNDING = "Funding"
    BUST_TRADE = "BustTrade"
    DELIVERY = "Delivery"
    SETTLE = "Settle"
    BLOCK_TRADE = "BlockTrade"
    MOVE_POSITION = "MovePosition"
    FUTURE_SPREAD = "FutureSpread"
    CORPORATE_ACTION = "CorporateAction"
    UNKNOWN = "UNKNOWN"


class MarketUnit(StrEnum):
    """The unit of a spot market order's ``qty``: Bybit's default is the quote coin for a buy and the
    base coin for a sell."""

    BASE_COIN = "baseCoin"
    QUOTE_COIN = "quoteCoin"


class InstrumentStatus(StrEnum):
    """An instrument's trading status; orders are taken only while ``Trading``."""

    PRE_LAUNCH = "PreLaunch"
    TRADING = "Trading"
    DELIVERING = "Delivering"
    CLOSED = "Closed"
