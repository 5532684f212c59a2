"""Market data from the general database: instruments (keyset pages) and klines (oldest first)."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import AwareDatetime, BaseModel, Field

from api_service.dependencies import GeneralSession
from api_service.errors import ApiError, error_responses
from api_service.schemas import (
    Category,
    Instrument,
    InstrumentPage,
    Interval,
    Kline,
    KlineCategory,
    KlineList,
    Symbol,
)
from db_general import InvalidCursorError, get_instrument, list_instruments, list_klines

router = APIRouter(prefix="/v1/market", tags=["market"])

MAX_INSTRUMENTS = 500
MAX_KLINES = 1000
Status = Literal["Trading", "PreLaunch", "Delivering", "Closed"]


class InstrumentFilters(BaseModel):
    """The list's query parameters, validated in one call rather than one per parameter."""

    category: Category | None = None
    status: Status | None = None
    base_coin: str | None = Field(None, pattern=r"^[A-Z0-9]{1,20}$")
    limit: int = Field(100, ge=1, le=MAX_INSTRUMENTS)
    cursor: str | None = Field(None, max_length=200, description="next_cursor of the previous page")


@router.get("/instruments", summary="Instruments, filtered, in pages", responses=error_responses(400, 422))
async def instruments(
    session: GeneralSession, filters: Annotated[InstrumentFilters, Query()]
) -> InstrumentPage:
    try:
        page = await list_instruments(
            session,
            category=filters.category,
            status=filters.status,
            base_coin=filters.base_coin,
            limit=filters.limit,
            cursor=filters.cursor,
        )
    except InvalidCursorError:
        raise ApiError(400, "invalid_cursor", "cursor is not one this API returned") from None
    return InstrumentPage.model_validate({"items": page.items, "next_cursor": page.next_cursor})


@router.get("/instruments/{category}/{symbol}", summary="One instrument", responses=error_responses(404, 422))
async def instrument(session: GeneralSession, category: Category, symbol: Symbol) -> Instrument:
    row = await get_instrument(session, category, symbol)
    if row is None:
        raise ApiError(404, "instrument_not_found", f"no {category} instrument {symbol}")
    return Instrument.model_validate(row)


@router.get("/klines", summary="Candles of one symbol, oldest first", responses=error_responses(422))
async def klines(
    session: GeneralSession,
    category: KlineCategory,
    symbol: Symbol,
    interval: Interval,
    start: AwareDatetime | None = None,
    end: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_KLINES)] = 200,
) -> KlineList:
    if start is not None and end is not None and start > end:
        raise ApiError(422, "validation_error", "start must not be after end")
    rows = await list_klines(
        session, category=category, symbol=symbol, interval=interval, start=start, end=end, limit=limit
    )
    return KlineList(
        category=category,
        symbol=symbol,
        interval=interval,
        items=[Kline.model_validate(row) for row in rows],
    )
