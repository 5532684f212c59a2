"""Bybit's times: milliseconds since the epoch to aware UTC datetimes and back, exactly.

The one place such conversions live: the worker, the API and the fake exchange import these.
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from itertools import repeat
from operator import floordiv

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
_from_timestamp = datetime.fromtimestamp


def ms_to_datetime(value: int | str) -> datetime:
    """An aware UTC datetime from Bybit's milliseconds (an int or its text; no float rounding)."""
    return EPOCH + int(value) * _ONE_MS


def datetime_to_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (floored; a naive one is a ``TypeError``)."""
    return (value - EPOCH) // _ONE_MS


def ms_texts_to_datetimes(texts: Sequence[str]) -> list[datetime]:
    """``ms_to_datetime`` of a whole column (a page of candle starts) without a Python step per value."""
    if all(map(str.endswith, texts, repeat("000"))):
        # Whole seconds (candles open on whole minutes): fromtimestamp of an integer is exact.
        return list(map(_from_timestamp, map(floordiv, map(int, texts), repeat(1000)), repeat(UTC)))
    return list(map(ms_to_datetime, texts))
