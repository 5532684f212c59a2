"""The two baselines of the API benchmark, served exactly as ``api-serve`` serves the real API.

- ``hello``: a bare FastAPI app with one route, ``GET /hello`` -> ``{"status": "ok"}``, with
  uvicorn's own access log on (its default logging configuration), written to stderr as the
  API's lines are: both sides write one line per request to the same kind of sink.
- ``instruments``: ``GET /v1/market/instruments?limit=`` running the API's query (the same SQL:
  columns, decimal text, order and limit + 1 for the next cursor) through a raw psycopg pool in
  autocommit (one round trip, as the API's reader), answered with orjson in the API's JSON shape.

A third, ``unbounded-api``, is the real API under those options without the ones that bound what a
caller can hold (``serve.bounds``: uvicorn's defaults instead).

Run as ``python reference_apps.py hello|instruments|unbounded-api``: settings (port, host, database URL, pool
sizes) come from the environment through core-config, and the uvicorn options are the ones
``api-serve`` passes, read from ``api_service.serve`` itself so the baseline cannot drift from it
(``hello`` changes only its logging, as said above).
"""

import copy
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any
from unittest import mock

import orjson
import uvicorn
from fastapi import FastAPI, Query, Response
from psycopg_pool import AsyncConnectionPool

from api_service import serve
from core_config import get_settings, libpq_url
from db_general import LISTED_INSTRUMENT_COLUMNS
from db_general.pagination import encode_cursor

# The keys of the API's listing; the query below is written out, as a raw baseline's would be.
INSTRUMENT_COLUMNS = tuple(column.name for column in LISTED_INSTRUMENT_COLUMNS)
# The statement db_general.list_instruments sends without filters (its select list comes from the
# table metadata there): keep the two in step (the benchmark checks both sides answer the same JSON).
INSTRUMENTS_QUERY = """
    SELECT category, symbol, status, base_coin, quote_coin, tick_size::text, qty_step::text,
           min_order_qty::text, max_order_qty::text, min_notional::text, launch_time, first_seen_at,
           updated_at, delisted_at
    FROM instruments
    ORDER BY category, symbol LIMIT %(limit)s
"""


def hello_app() -> FastAPI:
    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"status": "ok"}

    return app


def instruments_app() -> FastAPI:
    settings = get_settings()
    conninfo = libpq_url(settings.database_url_general.get_secret_value())
    pool = AsyncConnectionPool(
        conninfo,
        min_size=settings.db_pool_size,
        max_size=settings.db_pool_size + settings.db_max_overflow,
        timeout=settings.db_pool_timeout,
        # The API's statement timeout; UTC so that orjson writes ``Z`` times as the API does.
        kwargs={
            "autocommit": True,
            "application_name": "bench-raw-psycopg",
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms} -c TimeZone=UTC",
        },
        open=False,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/v1/market/instruments")
    async def instruments(limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Response:
        async with pool.connection() as connection:
            cursor = await connection.execute(INSTRUMENTS_QUERY, {"limit": limit + 1})
            rows = await cursor.fetchall()
        items = [dict(zip(INSTRUMENT_COLUMNS, row, strict=True)) for row in rows[:limit]]
        next_cursor = encode_cursor(items[-1]["category"], items[-1]["symbol"]) if len(rows) > limit else None
        body = orjson.dumps({"items": items, "next_cursor": next_cursor}, option=orjson.OPT_UTC_Z)
        return Response(body, media_type="application/json")

    return app


FACTORIES: dict[str, Callable[[], FastAPI]] = {"hello": hello_app, "instruments": instruments_app}
# The real API with uvicorn's bounds left at uvicorn's defaults (httptools, no header limit, no
# connection cap): what the bounds cost, side by side with ``api-serve``.
UNBOUNDED_API = "unbounded-api"


def api_serve_options() -> dict[str, Any]:
    """The keyword arguments ``api-serve`` gives ``uvicorn.run`` (and its logging set-up, done)."""
    captured: dict[str, Any] = {}
    with mock.patch.object(uvicorn, "run", lambda _app, **options: captured.update(options)):
        serve.main()
    return captured


def uvicorn_access_log_options() -> dict[str, Any]:
    """Uvicorn's own access log on, its default logging configuration, every line to stderr."""
    config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["handlers"]["access"]["stream"] = "ext://sys.stderr"
    return {"access_log": True, "log_config": config}


def main(name: str) -> None:
    if name not in (*FACTORIES, UNBOUNDED_API):
        raise SystemExit(f"usage: reference_apps.py {'|'.join([*FACTORIES, UNBOUNDED_API])}")
    options = api_serve_options()
    if name == UNBOUNDED_API:
        for option in serve.bounds(get_settings()):
            options.pop(option)
        uvicorn.run("api_service.app:app_from_environment", **options)
        return
    if name == "hello":
        options.update(uvicorn_access_log_options())
    uvicorn.run(f"reference_apps:{FACTORIES[name].__name__}", **options)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "")
