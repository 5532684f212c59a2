"""Error reports to Sentry (``SENTRY_DSN``), with the request id or task id and never a secret.

Unhandled exceptions of the API (FastAPI's integration) and failed tasks of the worker (Celery's)
are reported, with ``request_id`` / ``task_id`` as tags. What leaves is scrubbed twice:
- Sentry's own rules: no request bodies, cookies or authorization headers (``send_default_pii``
  off), no local variables of stack frames, keys such as ``password``, ``secret``, ``token``
  filtered at any depth;
- ours, on every string of the event: each secret this process holds (``secret_values``: its
  SecretStr settings, the passwords inside its URLs, the master keys) replaced, any URL's password,
  any ``Bearer`` token and SQLAlchemy's echo of statement parameters masked.
Imported only when ``SENTRY_DSN`` is set.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, SecretStr

from core_telemetry.logs import bound_ids

FILTERED = "[Filtered]"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")
_PARAMETERS = re.compile(r"\[parameters: [^\n]*")
_EXTRA_DENYLIST = ["api_secret", "master_key", "dsn", "database_url", "redis_url", "ciphertext"]
_MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words


def secret_values(settings: BaseModel) -> list[str]:
    """Every ``SecretStr`` value of ``settings`` and the password inside each of them that is a URL."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
            values.append(text)
            try:
                password = urlsplit(text).password
            except ValueError:
                password = None
            if password:
                values += [password, unquote(password)]
    return values


class Scrubber:
    """Replaces known secrets and masks URL passwords, bearer tokens and statement parameters."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so that a URL goes whole before the password inside it is looked for.
        self._secrets = sorted({s for s in secrets if len(s) >= _MIN_SECRET_LENGTH}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
        value = _URL_PASSWORD.sub(rf"\g<head>{FILTERED}@", value)
        value = _BEARER.sub(rf"\g<1>{FILTERED}", value)
        return _PARAMETERS.sub(f"[parameters: {FILTERED}]", value)

    def walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {key: self.walk(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.walk(item) for item in value]
        return value


def _before_send(scrubber: Scrubber) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    def before_send(event: dict[str, Any], _: Any) -> dict[str, Any]:
        tags = event.setdefault("tags", {})
        for name, value in bound_ids().items():
            tags.setdefault(name, value)
        # A failed task is reported by Sentry's Celery integration after our binding has ended.
        if "celery_task_id" in tags:
            tags.setdefault("task_id", tags["celery_task_id"])
        scrubbed: dict[str, Any] = scrubber.walk(event)
        return scrubbed

    return before_send


def start_error_reports(
    dsn: str, *, service: str, environment: str, release: str | None, secrets: Iterable[str]
) -> None:
    """Report unhandled errors of this process to the Sentry project of ``dsn``."""
    import sentry_sdk  # noqa: PLC0415 - loaded only with a DSN
    from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber  # noqa: PLC0415

    scrubber = Scrubber([*secrets, dsn])
    scrub = _before_send(scrubber)
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release,
        server_name=service,
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        event_scrubber=EventScrubber(denylist=[*DEFAULT_DENYLIST, *_EXTRA_DENYLIST], recursive=True),
        before_send=scrub,  # type: ignore[arg-type]
        before_breadcrumb=lambda crumb, _: scrubber.walk(crumb),
    )
    sentry_sdk.set_tag("service", service)
