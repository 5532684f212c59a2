"""``API_DOCS``: the OpenAPI document and ``/docs`` are served unless switched off, and off by
default in production."""

import httpx

from core_config import Environment, Settings

from .conftest import ClientFor


async def test_docs_switched_off_serve_neither_page_nor_document(
    api_settings: Settings, client_for: ClientFor
) -> None:
    async with client_for(api_settings.model_copy(update={"api_docs": False})) as client:
        for path in ("/openapi.json", "/docs", "/docs/assets/swagger-ui.css"):
            assert (await client.get(path)).status_code == 404, path
        assert (await client.get("/health/live")).status_code == 200


async def test_docs_are_on_by_default_and_off_by_default_in_production(
    api_settings: Settings, client: httpx.AsyncClient
) -> None:
    assert api_settings.api_docs is None
    assert (await client.get("/openapi.json")).status_code == 200
    assert api_settings.docs_enabled
    production = api_settings.model_copy(update={"environment": Environment.PRODUCTION})
    assert not production.docs_enabled
    assert production.model_copy(update={"api_docs": True}).docs_enabled
