"""Query-string models validated in one call.

FastAPI reads a query model (``Annotated[Model, Query()]``) field by field and inspects each
field's type again on every request; for a five-field filter that costs more than the database
query behind it. ``query_model(Model)`` validates the whole query string with one
``model_validate`` and fails as FastAPI does (``RequestValidationError``, locations under
``query``); ``query_parameters(Model)`` documents the fields in OpenAPI as the query parameters
they are.
"""

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)
# Enums (Bybit's terms) are referenced where FastAPI documents them: the API's shared components.
ENUM_REF = "#/components/schemas/{model}"


def query_model(model: type[Model]) -> Callable[[Request], Awaitable[Model]]:
    """A dependency giving ``model`` validated from the request's query string (extra keys ignored)."""

    async def from_query(request: Request) -> Model:
        try:
            return model.model_validate(request.query_params)
        except ValidationError as exc:
            errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors(include_url=False)]
            raise RequestValidationError(errors) from None

    return from_query


def query_parameters(model: type[BaseModel]) -> dict[str, Any]:
    """The route's ``openapi_extra``: each field of ``model`` as a query parameter."""
    schema = model.model_json_schema(ref_template=ENUM_REF)
    for name, definition in schema.get("$defs", {}).items():
        if "enum" not in definition:
            raise TypeError(f"{model.__name__}: query field type {name} must be a plain value or an enum")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field in schema["properties"].items():
        if "$ref" not in field:  # pydantic leaves the title out beside an enum's reference; FastAPI does not
            field.setdefault("title", name.replace("_", " ").title())
        parameter = {"name": name, "in": "query", "required": name in required, "schema": field}
        if "description" in field:
            parameter["description"] = field["description"]
        parameters.append(parameter)
    return {"parameters": parameters}
