"""Bybit's enumerations used in requests and results."""

from enum import StrEnum


class Category(StrEnum):
    SPOT = "spot"
    LINEAR = "linear"
    INVERSE = "inverse"
    OPTION = "option"


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


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "PostOnly"
