"""``TokenScope``: what an API token may do (a column of ``api_tokens`` and a choice of ``api-admin``)."""

from enum import StrEnum


class TokenScope(StrEnum):
    """What a token may do: ``user`` acts on its user's own data (``/v1/me/*``); ``operator`` runs
    the service (enqueues syncs, reads any task)."""

    USER = "user"
    OPERATOR = "operator"
