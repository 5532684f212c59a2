"""``/docs``: Swagger UI served by the api itself, so the page works offline and loads nothing
from another host.

FastAPI's "self-hosting JavaScript and CSS for docs" recipe: ``get_swagger_ui_html`` pointed at
local URLs, and the files from a ``StaticFiles`` mount. The files are Swagger UI's own dist build
as the ``swagger-ui-bundle-v2`` package ships it; only the three the page loads are served (no
directory listing, no other file of the package, no path outside it).
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Scope
from swagger_ui_bundle import swagger_ui_path

from api_service.route_policy import RateLimitGroup, public

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
_SCRIPT, _STYLE, _ICON = "swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"
# Swagger UI would show a badge from its online validator, fetched from another host.
_PARAMETERS: dict[str, Any] = {"validatorUrl": None}


class _SwaggerUiFiles(StaticFiles):
    """The files of Swagger UI's dist folder that the docs page loads, and no other."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        if path not in (_SCRIPT, _STYLE, _ICON):
            raise HTTPException(404)
        return await super().get_response(path, scope)


def add_docs_routes(app: FastAPI) -> None:
    """Serve Swagger UI at ``/docs`` (create the app with ``docs_url=None``)."""
    app.mount(ASSETS_URL, _SwaggerUiFiles(directory=str(swagger_ui_path)), name="docs-assets")
    assert app.openapi_url is not None, "the docs page shows the OpenAPI document"
    page = get_swagger_ui_html(
        openapi_url=app.openapi_url,
        title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{ASSETS_URL}/{_SCRIPT}",
        swagger_css_url=f"{ASSETS_URL}/{_STYLE}",
        swagger_favicon_url=f"{ASSETS_URL}/{_ICON}",
        swagger_ui_parameters=_PARAMETERS,
    )

    @app.get(DOCS_URL, include_in_schema=False, openapi_extra=public(RateLimitGroup.ADDRESS))
    async def docs() -> HTMLResponse:
        # A fresh response each time: middlewares may add headers to the one they are given.
        return HTMLResponse(page.body)
