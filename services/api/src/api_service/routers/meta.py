"""What this service is and which Bybit network it talks to (never a secret)."""

from importlib.metadata import version

from fastapi import APIRouter

from api_service.dependencies import SettingsDep
from api_service.route_policy import RateLimitGroup, public
from api_service.schemas import Meta

router = APIRouter(tags=["meta"])
SERVICE = "api-service"


@router.get(
    "/v1/meta",
    summary="Service, version, environment and Bybit network",
    openapi_extra=public(RateLimitGroup.ADDRESS),
)
async def meta(settings: SettingsDep) -> Meta:
    return Meta(
        service=SERVICE,
        version=version(SERVICE),
        environment=settings.environment.value,
        bybit_network=settings.bybit_network.value,
        bybit_api_url=settings.bybit_api_url,
    )
