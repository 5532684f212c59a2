"""Market data from the general database: instruments (keyset pages) and klines (oldest first)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import AwareDatetime, BaseModel, Field

from api_service.dependencies import GeneralDatabase
from api_service.errors import ApiError, error_responses
from api_service.json_body import json_response
from api_service.route_policy import RateLimitGroup, public
from api_service.schemas import Instrument, InstrumentPage, KlineList, Symbol
from bybit_client import Category, Interval, KlineCategory
from db_general import InvalidCursorError, get_instrument, list_instruments, list_klines

router = APIRouter(prefix="/v1/market", tags=["market"])

MAX_INSTRUMENTS = 500
MAX_KLINES = 1000
Status = Literal["Trading", "PreLaunch", "Delivering", "Closed"]


class InstrumentFilters(BaseModel):
    """The instrument list's query parameters, named as ``list_instruments`` takes them."""

    category: Category | None = None
    status: Status | None = None
    base_coin: str | None = Field(None, pattern=r"^[A-Z0-9]{1,20}$")
    limit: int = Field(100, ge=1, le=MAX_INSTRUMENTS)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")


class KlineQuery(BaseModel):
    """The candle list's query parameters, named as ``list_klines`` takes them; ``start`` and ``end``
    are inclusive."""

    category: KlineCategory
    symbol: Symbol
    interval: Interval
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    limit: int = Field(200, ge=1, le=MAX_KLINES)


# The rows the repository reads are already in the response models' JSON shape (decimal text, UTC
# times) and are written out as they are (``json_body``); test_market holds every body to its model.
@router.get(
    "/instruments",
    summary="Instruments, filtered, in pages",
    response_model=InstrumentPage,
    responses=error_responses(400, 422, 503),
    openapi_extra=public(RateLimitGroup.ADDRESS),
)
async def instruments(general: GeneralDatabase, filters: Annotated[InstrumentFilters, Query()]) -> Response:
    try:
        async with general.reads() as connection:
            page = await list_instruments(connection, **filters.model_dump())
    except InvalidCursorError:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from None
    return json_response({"items": page.items, "next_cursor": page.next_cursor})


@router.get(
    "/instruments/{category}/{symbol}",
    summary="One instrument",
    response_model=Instrument,
    responses=error_responses(404, 422, 503),
    openapi_extra=public(RateLimitGroup.ADDRESS),
)
async def instrument(general: GeneralDatabase, category: Category, symbol: Symbol) -> Response:
    async with general.reads() as connection:
        row = await get_instrument(connection, category, symbol)
    if row is None:
        raise ApiError(404, "instrument_not_found", f"no {category} instrument {symbol}")
    return json_response(row)


@router.get(
    "/klines",
    summary="Candles of one symbol, oldest first",
    response_model=KlineList,
    responses=error_responses(422, 503),
    openapi_extra=public(RateLimitGroup.ADDRESS),
)
async def klines(general: GeneralDatabase, query: Annotated[KlineQuery, Query()]) -> Response:
    if query.start is not None and query.end is not None and query.start > query.end:
        raise ApiError(422, "validation_error", "start must not be after end")
    async with general.reads() as connection:
        rows = await list_klines(connection, **query.model_dump())
    series = {"category": query.category, "symbol": query.symbol, "interval": query.interval}
    return json_response({**series, "items": rows})
