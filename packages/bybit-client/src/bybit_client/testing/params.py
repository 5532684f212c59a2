"""Reading a request's parameters as Bybit does: required ones, numbers, categories, pages and time
windows, each refusal a ``FakeError`` 10001 ("params error")."""

from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import quote

from bybit_client.enums import Category
from bybit_client.testing.refusals import FakeError

T = TypeVar("T")
Params = dict[str, Any]
WINDOW_MS = 7 * 86_400_000  # the longest range of one history or executions query


def text(params: Params, name: str) -> str | None:
    value = params.get(name)
    return None if value is None or value == "" else str(value)


def required(params: Params, name: str) -> str:
    value = text(params, name)
    if value is None:
        raise FakeError(10001, f"params error: {name} is required")
    return value


def integer(params: Params, name: str, default: int | None = None) -> int:
    value = text(params, name)
    if value is None:
        if default is None:
            raise FakeError(10001, f"params error: {name} is required")
        return default
    if not value.lstrip("-").isdigit():
        raise FakeError(10001, f"params error: {name} invalid")
    return int(value)


def decimal(params: Params, name: str) -> Decimal | None:
    value = text(params, name)
    if value is None:
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise FakeError(10001, f"params error: {name} invalid") from None
    if not number.is_finite() or number <= 0:
        raise FakeError(10001, f"params error: {name} invalid")
    return number


def category(params: Params, allowed: Sequence[str] = tuple(Category)) -> Category:
    value = params.get("category", "")
    if value not in allowed:
        raise FakeError(10001, "params error: category invalid")
    return Category(value)


def limit(params: Params, default: int, maximum: int) -> int:
    count = integer(params, "limit", default)
    if not 1 <= count <= maximum:
        raise FakeError(10001, f"params error: limit must be 1..{maximum}")
    return count


def offset_cursor(offset: int) -> str:
    # Bybit's cursors arrive percent-encoded inside the JSON; clients must send them back as they are.
    return quote(f"{offset}:1,{offset}:1", safe="")


def offset_page(rows: list[T], params: Params, default: int, maximum: int) -> tuple[list[T], str]:
    """A page of a list that does not change between requests (instruments), by offset."""
    count = limit(params, default, maximum)
    cursor = text(params, "cursor")
    offset = 0
    if cursor:
        head = cursor.split(",", 1)[0].split(":", 1)[0]
        if not head.isdigit():
            raise FakeError(10001, "params error: cursor invalid")
        offset = int(head)
    end = offset + count
    return rows[offset:end], offset_cursor(end) if end < len(rows) else ""


def keyset_page(
    rows: list[T], key: Callable[[T], tuple[int, str]], params: Params, default: int, maximum: int
) -> tuple[list[T], str]:
    """A page of ``rows`` (sorted newest first by ``key``: a time and an id) after the cursor's row.

    The cursor names the last row handed out, not a position: rows added meanwhile (new fills,
    new orders) neither repeat nor push a row off the next page.
    """
    count = limit(params, default, maximum)
    cursor = text(params, "cursor")
    start = 0
    if cursor:
        moment, _, last_id = cursor.partition(",")
        if not moment.isdigit() or not last_id:
            raise FakeError(10001, "params error: cursor invalid")
        after = (int(moment), last_id)
        start = next((index for index, row in enumerate(rows) if key(row) < after), len(rows))
    page = rows[start : start + count]
    more = start + count < len(rows)
    if not (more and page):
        return page, ""
    moment_ms, row_id = key(page[-1])
    return page, quote(f"{moment_ms},{row_id}", safe="")


def time_window(params: Params, now_ms: int) -> tuple[int, int]:
    """[start, end] of a history or executions query: the last 7 days by default, 7 days from a
    lone start or to a lone end, at most 7 days when both are given."""
    start = integer(params, "startTime") if text(params, "startTime") else None
    end = integer(params, "endTime") if text(params, "endTime") else None
    if start is None and end is None:
        return now_ms - WINDOW_MS, now_ms
    if end is None:
        assert start is not None
        return start, start + WINDOW_MS
    if start is None:
        return end - WINDOW_MS, end
    if start > end or end - start > WINDOW_MS:
        raise FakeError(10001, "params error: endTime - startTime must be between 0 and 7 days")
    return start, end
