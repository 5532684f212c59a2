"""The request id: taken from ``X-Request-ID`` when the caller sends a sane one, made otherwise."""

import re
import secrets

from starlette.types import Scope

from core_config import REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def current_request_id() -> str | None:
    """The id of the request being served, if any (the middleware sets it)."""
    return REQUEST_ID.get()


def request_id_for(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _VALID_ID.match(text):
                return text
            break
    return secrets.token_hex(16)  # 128 random bits, 32 hex digits
