"""Bybit's times: milliseconds since the epoch to aware UTC datetimes and back, exactly.

The one pair of conversions in the tree: the worker, the API and the fake exchange import these.
"""

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def ms_to_datetime(value: int | str) -> datetime:
    """An aware UTC datetime from Bybit's milliseconds (an int or its text; no float rounding)."""
    return EPOCH + timedelta(milliseconds=int(value))


def datetime_to_ms(value: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (floored; a naive one is a ``TypeError``)."""
    return (value - EPOCH) // _ONE_MS
