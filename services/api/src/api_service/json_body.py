"""JSON bodies written straight from plain rows with orjson.

The general database's reads already hand rows in the API's shape (decimal text, UTC datetimes),
so a route writes them out as they are instead of building and validating a model per row; the
route still declares its response model, which documents the body and which the tests hold it to.
"""

from typing import Any

import orjson
from fastapi.responses import Response


def json_response(content: Any) -> Response:
    """A 200 with ``content`` as JSON; UTC datetimes end in ``Z`` as pydantic writes them."""
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")
