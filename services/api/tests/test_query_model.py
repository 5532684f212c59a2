"""Query models validated in one call: documented and refused exactly as FastAPI's own query models."""

import re
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Query
from pydantic import BaseModel

from api_service.routers.market import InstrumentFilters, KlineQuery

QUERY_MODELS = [("/v1/market/instruments", InstrumentFilters), ("/v1/market/klines", KlineQuery)]
KLINES = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}


@pytest.mark.parametrize(("path", "model"), QUERY_MODELS)
async def test_documented_as_fastapi_documents_a_query_model(
    client: httpx.AsyncClient, path: str, model: type[BaseModel]
) -> None:
    reference = FastAPI()

    @reference.get("/reference")
    async def route(query: Annotated[model, Query()]) -> None:  # type: ignore[valid-type]
        return None

    expected = reference.openapi()["paths"]["/reference"]["get"]["parameters"]
    openapi = (await client.get("/openapi.json")).json()
    documented = openapi["paths"][path]["get"]["parameters"]
    assert documented == expected
    for ref in re.findall(r"'\$ref': '#/components/schemas/(\w+)'", str(documented)):
        assert "enum" in openapi["components"]["schemas"][ref]


@pytest.mark.parametrize(
    ("path", "params", "location"),
    [
        ("/v1/market/instruments", {"limit": "0"}, ["query", "limit"]),
        ("/v1/market/instruments", {"base_coin": "btc"}, ["query", "base_coin"]),
        ("/v1/market/klines", {**KLINES, "symbol": None}, ["query", "symbol"]),
        ("/v1/market/klines", {**KLINES, "end": "soon"}, ["query", "end"]),
    ],
)
async def test_a_bad_query_is_a_422_locating_the_field(
    rolled_back_client: httpx.AsyncClient, path: str, params: dict[str, Any], location: list[str]
) -> None:
    response = await rolled_back_client.get(path, params=params)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [detail["location"] for detail in error["details"]] == [location]


async def test_unknown_query_keys_are_ignored_as_fastapi_does(rolled_back_client: httpx.AsyncClient) -> None:
    response = await rolled_back_client.get("/v1/market/instruments", params={"limit": "2", "colour": "blue"})
    assert response.status_code == 200
