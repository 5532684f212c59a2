"""Stream paths and topic names of Bybit's V5 WebSocket API, built from the enums."""

from bybit_client.enums import PRIVATE_STREAM_PATH, Category, Interval, public_stream_path

PRIVATE_PATH = PRIVATE_STREAM_PATH
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")
# Spot refuses a subscribe request with more than 10 args; the others accept it as well.
MAX_ARGS_PER_REQUEST = 10
ORDERBOOK_DEPTHS = (1, 50, 200, 500, 1000)


def public_path(category: Category | str) -> str:
    """The path of a category's public stream, e.g. ``/v5/public/linear``."""
    return public_stream_path(category)


def public_url(base: str, category: Category | str) -> str:
    """A public stream URL from a WebSocket base such as ``wss://stream.bybit.com``."""
    return base.rstrip("/") + public_path(category)


def private_url(base: str) -> str:
    """The private stream URL from a WebSocket base."""
    return base.rstrip("/") + PRIVATE_PATH


def kline_topic(interval: Interval | str, symbol: str) -> str:
    return f"kline.{Interval(interval).value}.{symbol}"


def ticker_topic(symbol: str) -> str:
    return f"tickers.{symbol}"


def trade_topic(symbol: str) -> str:
    return f"publicTrade.{symbol}"


def orderbook_topic(depth: int, symbol: str) -> str:
    if depth not in ORDERBOOK_DEPTHS:
        raise ValueError(f"order book depth {depth} is not one of {ORDERBOOK_DEPTHS}")
    return f"orderbook.{depth}.{symbol}"


def topic_kind(topic: str) -> str:
    """The family of a topic: ``kline``, ``tickers``, ``publicTrade``, ``orderbook``, ``order``, ..."""
    return topic.split(".", 1)[0]
