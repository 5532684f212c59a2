"""``/v1/meta`` says what runs and against which Bybit network, and nothing secret."""

import httpx

from core_config import Settings


async def test_meta_describes_the_service(client: httpx.AsyncClient, api_settings: Settings) -> None:
    response = await client.get("/v1/meta")
    assert response.status_code == 200
    body = response.json()
    assert body["service"] == "api-service"
    assert body["environment"] == "test"
    assert body["bybit_network"] == api_settings.bybit_network.value
    assert body["bybit_api_url"] == api_settings.bybit_api_url
    assert api_settings.database_url_user.get_secret_value() not in response.text
