"""Query models (``Annotated[Model, Query()]``): documented as query parameters, bad values refused
with a 422 locating the field, unknown keys ignored."""

import re
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from api_service.routers.market import InstrumentFilters, KlineQuery

QUERY_MODELS = [("/v1/market/instruments", InstrumentFilters), ("/v1/market/klines", KlineQuery)]
KLINES = {"category": "linear", "symbol": "BTCUSDT", "interval": "60"}


@pytest.mark.parametrize(("path", "model"), QUERY_MODELS)
async def test_each_field_is_documented_as_a_query_parameter(
    client: httpx.AsyncClient, path: str, model: type[BaseModel]
) -> None:
    openapi = (await client.get("/openapi.json")).json()
    documented = openapi["paths"][path]["get"]["parameters"]
    assert [(p["name"], p["in"]) for p in documented] == [(name, "query") for name in model.model_fields]
    required = {name for name, field in model.model_fields.items() if field.is_required()}
    assert {p["name"] for p in documented if p["required"]} == required
    for ref in re.findall(r"'\$ref': '#/components/schemas/(\w+)'", str(documented)):
        assert "enum" in openapi["components"]["schemas"][ref]  # Bybit's terms, documented as enums


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
